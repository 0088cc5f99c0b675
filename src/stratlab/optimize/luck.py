"""How much of a run's champion is luck: the statistics of ``stratlab.selection`` on a run, and the gates' verdict.

What each statistic is computed on (and why):

- The trials' Sharpe ratios, PBO and SPA use the matrix of every completed trial's daily returns on train
  (``trial_returns.parquet``): train is what the optimiser searched, so that matrix is the search's own record.
- The champion's Sharpe ratio, skewness and kurtosis (PSR, DSR) use its daily returns on every part that chose it:
  train then the selection part (test, or validation). N is the number of completed trials across all strategies (no
  clustering into "effective" trials: correlated trials make N an over-count, which makes the DSR conservative).
- V, the variance of the trials' Sharpe ratios in the DSR, is the variance of one Sharpe estimate over the champion's
  days when no trial has skill, 1/(T − 1) (the PSR's variance at a Sharpe ratio of 0). The variance measured across
  the trials is reported too (``sharpe_variance``) but not used: when an edge is real, good and bad settings truly
  differ, their spread grows, and the expected best-by-luck Sharpe ratio grows with it until it hides the very edge
  it should reveal (on markets with a planted edge, the measured spread flagged every champion; on pure noise, both
  variances agree). The expected maximum is the luck of N trials with no skill, which is the null being tested.
- SPA and White's Reality Check test the best trial on train against cash (zero returns) and against buy-and-hold of
  the instrument on the same days; the gate uses the test against cash.
- PBO by CSCV with S blocks of days (``RunRequest.cscv_blocks``, default 16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from stratlab.data.candles import Candles
from stratlab.errors import ConfigError
from stratlab.metrics.daily import daily_series
from stratlab.selection.gates import Gates, Verdict, judge
from stratlab.selection.overfitting import (
    SharpeShape,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_ratio,
)
from stratlab.selection.reality_check import superior_predictive_ability

FloatArray = npt.NDArray[np.float64]


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def buy_and_hold_daily_returns(candles: Candles, start: int, end: int) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Daily returns of holding the instrument over bars ``[start, end)``: closes at each day's last bar, the first
    day over the first bar's open (the same days as a backtest's daily returns over the same bars)."""
    closes = candles.close[start:end].astype(np.float64)
    daily = daily_series(candles.timestamp_ms[start:end], closes, float(candles.open[start]))
    return daily.day_ms, daily.returns


@dataclass(frozen=True)
class SearchRecord:
    """What the search leaves for the statistics: the trials' daily returns on train (days × trials, no gaps) and
    buy-and-hold's on the same days."""

    returns: FloatArray
    buy_and_hold: FloatArray

    @property
    def n_trials(self) -> int:
        return int(self.returns.shape[1])

    def sharpe_variance(self) -> float | None:
        """Variance (ddof 1) of the trials' Sharpe ratios; trials without variance (no trade) have none."""
        sharpes = [s for s in (sharpe_ratio(self.returns[:, i]) for i in range(self.n_trials)) if s is not None]
        return float(np.var(sharpes, ddof=1)) if len(sharpes) >= 2 else None


def search_record(matrix: pd.DataFrame, candles: Candles, start: int, end: int) -> SearchRecord:
    """The record of a search whose trials all traded bars ``[start, end)`` (``matrix``: days × trials)."""
    days, benchmark = buy_and_hold_daily_returns(candles, start, end)
    aligned = matrix.reindex(index=days)
    values = aligned.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise ConfigError("trial returns: a trial has no return on a day of its part (the matrix is incomplete)")
    return SearchRecord(values, benchmark)


def _deflated(shape: SharpeShape | None, n_trials: int, variance: float | None) -> dict[str, float | None]:
    out: dict[str, float | None] = {"psr": None, "dsr": None, "expected_max_sharpe": None}
    if shape is None:
        return out
    try:
        out["psr"] = probabilistic_sharpe_ratio(shape)
        if n_trials >= 2 and variance is not None:
            out["expected_max_sharpe"] = expected_max_sharpe(n_trials, variance)
            out["dsr"] = deflated_sharpe_ratio(shape, n_trials, variance)
    except ConfigError:
        pass  # an extreme shape: the statistic is undefined and its gate says so
    return out


def overfitting_statistics(record: SearchRecord, blocks: int, *, seed: int = 0) -> dict[str, Any]:
    """PBO (with its logits and degradation), the Sharpe dispersion and the SPA / Reality Check p-values of a
    search; what cannot be computed on this record is None, with the reason under ``why_missing``."""
    missing: dict[str, str] = {}
    out: dict[str, Any] = {"n_trials": record.n_trials, "n_train_days": int(record.returns.shape[0])}
    out["sharpe_variance"] = record.sharpe_variance()
    out.update(pbo=None, pbo_logits=[], degradation_slope=None, probability_of_loss=None, cscv_blocks=blocks)
    try:
        cscv = probability_of_backtest_overfitting(record.returns, blocks)
        out.update(
            pbo=cscv.pbo, pbo_logits=[round(float(x), 6) for x in cscv.logits],
            degradation_slope=_number(cscv.degradation_slope), probability_of_loss=cscv.probability_of_loss,
        )  # fmt: skip
    except ConfigError as exc:
        missing["pbo"] = str(exc)
    for name, benchmark in (("zero", np.zeros_like(record.buy_and_hold)), ("buy_and_hold", record.buy_and_hold)):
        out[f"spa_pvalue_{name}"] = out[f"reality_check_pvalue_{name}"] = None
        try:
            tested = superior_predictive_ability(record.returns, benchmark, seed=seed)
        except ConfigError as exc:
            missing.setdefault("spa", str(exc))
            continue
        if tested is None:
            missing.setdefault("spa", "no trial's returns vary")
            continue
        out[f"spa_pvalue_{name}"] = tested.spa_pvalue
        out[f"reality_check_pvalue_{name}"] = tested.reality_check_pvalue
    out["why_missing"] = missing
    return out


def candidate_statistics(
    in_sample_returns: npt.ArrayLike, selection_trades: int, search: dict[str, Any]
) -> dict[str, Any]:
    """The Sharpe shape, PSR and DSR of one candidate (its daily returns on train then the selection part) given
    the search's statistics, and its trades on the selection part."""
    values = np.asarray(in_sample_returns, dtype=np.float64)
    shape = SharpeShape.of(values)
    out: dict[str, Any] = {
        "n_days": int(values.size),
        "champion_sharpe": shape.sharpe if shape else None,
        "skewness": _number(shape.skewness) if shape else None,
        "kurtosis": _number(shape.kurtosis) if shape else None,
        "selection_trades": int(selection_trades),
    }
    null_variance = 1.0 / (values.size - 1) if values.size >= 2 else None
    out["null_sharpe_variance"] = null_variance
    out.update(_deflated(shape, int(search["n_trials"]), null_variance))
    return out


def verdict_of(
    candidate: dict[str, Any], search: dict[str, Any], gates: Gates, walk_forward_efficiency: float | None = None
) -> Verdict:
    """The gates' verdict on one candidate of a search."""
    why = dict(search.get("why_missing", {}))
    if candidate.get("dsr") is None:
        why["dsr"] = "no variance of daily returns, too few trials, or an extreme return shape"
    if walk_forward_efficiency is None:
        why["wfe"] = "no walk-forward in this run"
    statistics = {
        "dsr": candidate.get("dsr"), "pbo": search.get("pbo"), "spa": search.get("spa_pvalue_zero"),
        "wfe": walk_forward_efficiency, "trades": float(candidate["selection_trades"]),
    }  # fmt: skip
    return judge(statistics, gates, why_missing=why)


def luck_block(
    candidate: dict[str, Any] | None,
    search: dict[str, Any],
    gates: Gates,
    *,
    walk_forward: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """report.json's ``luck``: the verdict on the champion (None without one), its gates and every statistic."""
    efficiency = walk_forward.get("efficiency") if walk_forward else None
    statistics = {k: v for k, v in search.items() if k != "why_missing"}
    statistics["walk_forward_efficiency"] = efficiency
    if candidate is None:
        return {"verdict": None, "summary": "no champion to judge", "gates": [], "statistics": statistics,
                "walk_forward": walk_forward}  # fmt: skip
    verdict = verdict_of(candidate, search, gates, efficiency)
    statistics.update(candidate)
    return {
        "verdict": str(verdict.verdict),
        "summary": verdict.summary,
        "gates": [gate.as_json() for gate in verdict.gates],
        "statistics": statistics,
        "walk_forward": walk_forward,
    }


__all__ = [
    "SearchRecord",
    "buy_and_hold_daily_returns",
    "candidate_statistics",
    "luck_block",
    "overfitting_statistics",
    "search_record",
    "verdict_of",
]
