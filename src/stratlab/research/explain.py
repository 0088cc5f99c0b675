"""What matters in an experiment: a surrogate of one strategy's backtests (parameters, searched backtest settings
prefixed ``bt.``, → the capped train Sharpe), its SHAP values and their UMAP map, for the Research page.

The design of every backtest is its strategy parameters and the backtest settings the experiment searched, read back
from its stored config (``searched_settings``), so "does the stop-loss matter more than the period?" has an answer.
The score is the train Sharpe capped at the KPI record's outlier cap (``sharpe_capped``): an outlier must not teach the
surrogate that the best region is one lucky point. Backtests without a Sharpe (no variance) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stratlab.errors import DataError
from stratlab.optimize.space import BACKTEST_PREFIX, searched_settings
from stratlab.research.config import ResearchConfig
from stratlab.research.scoring import sharpe_capped
from stratlab.research.surrogate import Design, ShapTable, Surrogate, fit_surrogate, shap_values, trials_design


@dataclass(frozen=True, eq=False)
class Explanation:
    """One strategy's surrogate, the SHAP table of its backtests and the scores it was fitted on."""

    strategy: str
    design: Design
    surrogate: Surrogate
    shap: ShapTable
    score: np.ndarray


def strategy_rows(train: pd.DataFrame, strategy: str, config: ResearchConfig) -> pd.DataFrame:
    """The strategy's train backtests with a Sharpe, each with one ``params`` dict: its parameters and the searched
    backtest settings (``bt.<name>``)."""
    rows = train[(train["strategy"] == strategy) & train["sharpe"].notna()].copy()
    if rows.empty:
        raise DataError(f"no backtest of {strategy} has a train Sharpe to learn from")
    combined = [
        {**params, **{BACKTEST_PREFIX + k: v for k, v in searched_settings(backtest, config.common).items()}}
        for params, backtest in zip(rows["params_json"], rows["config_json"], strict=True)
    ]
    rows["params"] = pd.Series(combined, index=rows.index, dtype=object)
    return rows.reset_index(drop=True)


def explain_strategy(train: pd.DataFrame, strategy: str, config: ResearchConfig, seed: int = 0) -> Explanation:
    """Fit the surrogate of ``strategy`` on the experiment's train backtests; too few rows is one ``DataError``."""
    rows = strategy_rows(train, strategy, config)
    design = trials_design(rows.assign(strategy=strategy), params_column="params")
    return _explained(strategy, design, sharpe_capped(rows).to_numpy(dtype=np.float64), seed)


def completed_run_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """An optimisation run's completed trials with a train return: the rows its surrogate learns from."""
    return trials[(trials["state"] == "COMPLETE") & trials["train_return_pct"].notna()]


def explain_run_trials(trials: pd.DataFrame, strategy: str, seed: int = 0) -> Explanation:
    """Fit the surrogate of ``strategy`` on an optimisation run's completed trials (``trials.csv``: parameters as
    JSON in ``params``, searched settings already prefixed): their train return, the figure the run searched."""
    if "params" not in trials.columns:
        raise DataError("trials.csv: no params column: the surrogate needs each trial's parameters")
    complete = completed_run_trials(trials)
    rows = complete[complete["strategy"] == strategy].reset_index(drop=True)
    if rows.empty:
        raise DataError(f"no completed trial of {strategy} to learn from")
    design = trials_design(rows, params_column="params")
    return _explained(strategy, design, rows["train_return_pct"].to_numpy(dtype=np.float64), seed)


def _explained(strategy: str, design: Design, score: np.ndarray, seed: int) -> Explanation:
    surrogate = fit_surrogate(design, score, seed=seed)
    return Explanation(strategy, design, surrogate, shap_values(surrogate), score)


__all__ = ["Explanation", "completed_run_trials", "explain_run_trials", "explain_strategy", "strategy_rows"]
