"""Ranking backtests by their KPI records: one score, outlier flags and Pareto sets.

The score of row i is a weighted mean of percentile ranks::

    score_i = Σ_k w_k · r_k(i) / Σ_k w_k        r_k(i) = rank_k(i) / m_k

where ``rank_k`` is the rank (1 = worst, ties averaged) of the row's value of KPI k among the m_k rows where that
value is defined, in the direction that is better for k (a lower drawdown ranks higher). A row without the value
(None/NaN) gets r_k = 0, below every defined value (the worst of which gets 1/m_k). Scores lie in 0..1 and compare
backtests within one table: adding rows changes everyone's ranks.
Sharpe ratios above ``ScoreWeights.sharpe_cap`` rank as the cap: a Sharpe that is too good to be true earns no more
than a merely excellent one.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field, field_validator, model_validator

from stratlab.errors import ConfigError
from stratlab.metrics.settings import KpiSettings
from stratlab.research.thresholds import OneLineModel, check_numeric_kpi, format_value, kpi_column
from stratlab.selection.pareto import pareto_front

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

Better = Literal["higher", "lower"]  # which way of a KPI is better
Objective = Literal["max", "min"]  # maximise or minimise an objective of a Pareto set

# Which way is better, for the KPIs where it is clear (exposure, turnover or beta are choices, not merits).
KPI_BETTER: dict[str, Better] = {
    **dict.fromkeys(
        (
            "return_pct", "cagr_pct", "sharpe", "sortino", "calmar", "profit_factor", "win_rate_pct", "expectancy",
            "expectancy_pct", "avg_win", "avg_loss", "payoff_ratio", "n_trades", "final_equity", "var_95_pct",
            "cvar_95_pct", "var_99_pct", "cvar_99_pct", "tail_ratio", "worst_day_pct", "worst_trade_pct",
            "worst_trade_pnl", "green_days_pct", "daily_pnl_median", "daily_pnl_skew", "n_days", "active_days",
            "alpha_pct", "is_valid",
        ),
        "higher",
    ),
    **dict.fromkeys(
        (
            "max_drawdown_pct", "max_drawdown_bars", "max_drawdown_days", "longest_underwater_bars",
            "longest_underwater_days", "ulcer_index_pct", "top_days_pnl_share_pct", "max_consecutive_losses",
            "fees_paid", "fees_pct_of_gross", "slippage_cost", "slippage_bps", "funding_paid", "capacity_median_pct",
            "capacity_max_pct", "capacity_flag", "sharpe_outlier",
        ),
        "lower",
    ),
}  # fmt: skip

DEFAULT_WEIGHTS: dict[str, float] = {
    "sharpe": 0.25,  # the headline: return per unit of daily volatility
    "calmar": 0.10,  # return per unit of the worst drawdown, which Sharpe does not see
    "max_drawdown_pct": 0.15,  # what a trader has to sit through
    "ulcer_index_pct": 0.10,  # how deep and how long drawdowns last, not only the worst one
    "green_days_pct": 0.15,  # steadiness: a PnL made on many days
    "top_days_pnl_share_pct": 0.15,  # the reverse of luck: profit not hanging on a few days
    "n_trades": 0.10,  # evidence: more trades, figures that mean more
}


class ScoreWeights(OneLineModel):
    """Weight of each KPI in the score (any non-negative numbers; they are normalised) and which way is better.

    ``better`` adds to (or overrides) ``KPI_BETTER``; every weighted KPI needs a direction. ``sharpe_cap`` (None: no
    cap) defaults to the KPI record's own outlier cap.
    """

    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    better: dict[str, Better] = Field(default_factory=lambda: dict(KPI_BETTER))
    sharpe_cap: float | None = Field(default=KpiSettings().sharpe_cap, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _better_adds_to_the_table(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("better"), Mapping):
            return {**data, "better": {**KPI_BETTER, **data["better"]}}
        return data

    @field_validator("weights")
    @classmethod
    def _usable_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        for kpi, weight in weights.items():
            check_numeric_kpi(kpi)
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"the weight of {kpi} must be a finite number >= 0, not {weight!r}")
        if not any(weight > 0 for weight in weights.values()):
            raise ValueError("at least one weight must be above 0")
        return weights

    @field_validator("better")
    @classmethod
    def _known_kpis(cls, better: dict[str, Better]) -> dict[str, Better]:
        for kpi in better:
            check_numeric_kpi(kpi)
        return better

    @model_validator(mode="after")
    def _every_weight_has_a_direction(self) -> Self:
        missing = [kpi for kpi in self.weights if kpi not in self.better]
        if missing:
            raise ConfigError(f"ScoreWeights: say in 'better' which way is better for {', '.join(missing)}")
        return self


def percentile_ranks(values: FloatArray, better: Better) -> FloatArray:
    """rank / m among the m defined values (1 = worst, ties averaged), so 1/m..1; NaN -> 0."""
    oriented = pd.Series(values if better == "higher" else -values)
    defined = int(oriented.notna().sum())
    if defined == 0:
        return np.zeros(len(values))
    ranks = oriented.rank(method="average", na_option="keep").to_numpy(dtype=np.float64) / defined
    return np.nan_to_num(ranks, nan=0.0)


def sharpe_capped(frame: pd.DataFrame, cap: float = KpiSettings().sharpe_cap) -> pd.Series:
    """The Sharpe column with every value above ``cap`` lowered to it (undefined stays NaN)."""
    if not math.isfinite(cap):
        raise ConfigError(f"sharpe cap must be a finite number, not {cap!r}")
    return pd.Series(np.minimum(kpi_column(frame, "sharpe"), cap), index=frame.index, name="sharpe_capped")


def score(frame: pd.DataFrame, weights: ScoreWeights | None = None) -> pd.Series:
    """The score (0..1, see the module notes) of every row of a KPI table, indexed like it."""
    chosen = weights if weights is not None else ScoreWeights()
    total = np.zeros(len(frame))
    for kpi, weight in chosen.weights.items():
        if weight == 0:
            continue
        if kpi == "sharpe" and chosen.sharpe_cap is not None:
            values = sharpe_capped(frame, chosen.sharpe_cap).to_numpy(dtype=np.float64)
        else:
            values = kpi_column(frame, kpi)
        total += weight * percentile_ranks(values, chosen.better[kpi])
    return pd.Series(total / sum(chosen.weights.values()), index=frame.index, name="score")


def outlier_flags(frame: pd.DataFrame, concentrated_share_pct: float = 50.0) -> pd.Series:
    """Per row, what makes its figures suspect ("; "-joined, "" for none), read from the record's own fields.

    A Sharpe flagged above the record's cap (``sharpe_outlier``), an invalid run (its ``invalid_reasons``: too few
    trades or active days, flat returns), the best ``top_k_days`` days making more than ``concentrated_share_pct`` %
    of the PnL, trades too large for the market (``capacity_flag``), a backtest stopped early. A flag whose columns
    the table lacks is not judged.
    """
    found: list[list[str]] = [[] for _ in range(len(frame))]
    flags = (
        _sharpe_flag(frame),
        _validity_flag(frame),
        _concentration_flag(frame, concentrated_share_pct),
        _capacity_flag(frame),
        _stopped_flag(frame),
    )
    for row, message in (flagged for flag in flags for flagged in flag):
        found[row].append(message)
    return pd.Series(["; ".join(messages) for messages in found], index=frame.index, name="flags", dtype=object)


def _true_rows(frame: pd.DataFrame, column: str) -> list[int]:
    if column not in frame.columns:
        return []
    return [int(row) for row in np.flatnonzero(kpi_column(frame, column) == 1.0)]


def _cell(frame: pd.DataFrame, column: str, row: int) -> Any:
    return frame[column].iat[row] if column in frame.columns else None


def _sharpe_flag(frame: pd.DataFrame) -> list[tuple[int, str]]:
    sharpe = kpi_column(frame, "sharpe") if "sharpe" in frame.columns else np.full(len(frame), np.nan)
    return [
        (row, f"Sharpe {format_value(sharpe[row])} above the cap" if math.isfinite(sharpe[row]) else "Sharpe outlier")
        for row in _true_rows(frame, "sharpe_outlier")
    ]


def _validity_flag(frame: pd.DataFrame) -> list[tuple[int, str]]:
    if "is_valid" not in frame.columns:
        return []
    invalid = np.flatnonzero(kpi_column(frame, "is_valid") == 0.0)
    return [(int(row), f"invalid: {_reasons_text(_cell(frame, 'invalid_reasons', int(row)))}") for row in invalid]


def _reasons_text(reasons: Any) -> str:
    """The record's invalid reasons as one phrase, whether the table holds them as a list or as JSON text."""
    if isinstance(reasons, str) and reasons.startswith("["):
        with contextlib.suppress(json.JSONDecodeError):
            reasons = json.loads(reasons)
    if isinstance(reasons, list | tuple | np.ndarray):
        return "; ".join(str(reason) for reason in reasons) or "no reason recorded"
    return str(reasons) if isinstance(reasons, str) and reasons else "no reason recorded"


def _concentration_flag(frame: pd.DataFrame, share_pct: float) -> list[tuple[int, str]]:
    if "top_days_pnl_share_pct" not in frame.columns:
        return []
    share = kpi_column(frame, "top_days_pnl_share_pct")
    days = kpi_column(frame, "top_k_days") if "top_k_days" in frame.columns else np.full(len(frame), np.nan)
    rows = np.flatnonzero(share > share_pct)
    return [
        (int(row), f"best {f'{days[row]:.0f}' if math.isfinite(days[row]) else 'few'} days make "
                   f"{share[row]:.0f} % of the PnL")
        for row in rows
    ]  # fmt: skip


def _capacity_flag(frame: pd.DataFrame) -> list[tuple[int, str]]:
    largest = kpi_column(frame, "capacity_max_pct") if "capacity_max_pct" in frame.columns else None
    return [
        (row, "trades too large for the market"
              + (f" (up to {largest[row]:.1f} % of a bar's traded value)" if largest is not None else ""))
        for row in _true_rows(frame, "capacity_flag")
    ]  # fmt: skip


def _stopped_flag(frame: pd.DataFrame) -> list[tuple[int, str]]:
    if "stopped_early" not in frame.columns:
        return []
    return [
        (row, f"stopped early: {value}")
        for row, value in enumerate(frame["stopped_early"])
        if isinstance(value, str) and value
    ]


def pareto_set(frame: pd.DataFrame, objectives: Mapping[str, Objective]) -> BoolArray:
    """Which rows of a KPI table no other row dominates on ``objectives`` (column -> "max" or "min").

    A row dominates another if it is at least as good on every objective and better on one; exact copies do not
    dominate each other, and a row with a NaN or infinite objective is never in the set (the conventions of
    ``stratlab.selection.pareto``). One objective: the rows at its best value. Two: ``pareto_front``, O(n log n).
    More: rows in descending lexicographic order, each checked against the set kept so far, O(n · set size · k)
    (O(n²) at worst): a dominating row always comes earlier in that order, and what dominates a dropped row dominates
    every row that row dominates.
    """
    if not objectives:
        raise ConfigError("pareto set: name at least one objective")
    for column, way in objectives.items():
        if way not in ("max", "min"):
            raise ConfigError(f"pareto set: objective {column!r} must be 'max' or 'min', not {way!r}")
    # every objective turned into one to maximise
    gains = np.column_stack(
        [kpi_column(frame, column) * (1.0 if way == "max" else -1.0) for column, way in objectives.items()]
    ).reshape(len(frame), len(objectives))
    finite = np.isfinite(gains).all(axis=1)
    mask = np.zeros(len(frame), dtype=np.bool_)
    if not finite.any():
        return mask
    if gains.shape[1] == 1:
        mask[finite] = gains[finite, 0] == gains[finite, 0].max()
    elif gains.shape[1] == 2:
        mask[pareto_front(gains[:, 0], -gains[:, 1])] = True
    else:
        mask[_non_dominated_by_sweep(gains, np.flatnonzero(finite))] = True
    return mask


def _non_dominated_by_sweep(gains: FloatArray, rows: npt.NDArray[np.intp]) -> list[int]:
    # lexsort sorts by its last key first: reversed columns, negated for descending order
    order = rows[np.lexsort(tuple(-gains[rows, k] for k in reversed(range(gains.shape[1]))))]
    kept: list[int] = []
    for row in order:
        point = gains[row]
        front = gains[kept]
        if not ((front >= point).all(axis=1) & (front > point).any(axis=1)).any():
            kept.append(int(row))
    return kept


__all__ = [
    "DEFAULT_WEIGHTS",
    "KPI_BETTER",
    "Better",
    "Objective",
    "ScoreWeights",
    "outlier_flags",
    "pareto_set",
    "percentile_ranks",
    "score",
    "sharpe_capped",
]
