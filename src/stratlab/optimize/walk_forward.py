"""The walk-forward figures of a run: each window's champion traded on the window's out-of-sample part, stitched.

Per window (``RunContext.windows``): the champion chosen by the run's rule on the window's train and validation parts,
its return over those in-sample parts (train then validation, compounded) and over the out-of-sample part that follows
(after the embargo), each annualised over calendar days, ``(1 + r) ** (365.25 / days) - 1``. A window without a
champion stays in cash out of sample (a 0 % return: that is what following the rule would have done).

- Walk-forward efficiency (WFE): the annualised return of the stitched out-of-sample equity divided by the mean of the
  windows' annualised in-sample returns; undefined (None) when that mean is not positive (nothing to keep).
- Profitable share: the share of windows whose out-of-sample return is above zero.
- Parameter stability: each window's strategy and parameters, side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from stratlab.data.timeframes import DAY_MS
from stratlab.engine import BacktestResult
from stratlab.optimize.context import RunContext
from stratlab.optimize.evaluate import Evaluator
from stratlab.optimize.luck import buy_and_hold_daily_returns
from stratlab.optimize.space import split_trial_params
from stratlab.optimize.trial_returns import daily_returns
from stratlab.report.split import PartName, SplitPart

if TYPE_CHECKING:
    from stratlab.optimize.report import WindowSelection

DAYS_PER_YEAR = 365.25


def calendar_days(first_bar_ms: int, last_bar_ms: int, bar_ms: int) -> float:
    """Calendar days from the first bar's open to the last bar's close."""
    return (last_bar_ms - first_bar_ms + bar_ms) / DAY_MS


def annualised_pct(return_pct: float, days: float) -> float | None:
    """A return over ``days`` as a yearly rate, compounded; None for a total loss or no time."""
    growth = 1.0 + return_pct / 100.0
    if days <= 0 or growth <= 0:
        return None
    try:
        return float((growth ** (DAYS_PER_YEAR / days) - 1.0) * 100.0)
    except OverflowError:
        return None


def _compounded_pct(*results: BacktestResult) -> float:
    growth = 1.0
    for result in results:
        growth *= 1.0 + result.return_pct / 100.0
    return (growth - 1.0) * 100.0


def _span_days(first: SplitPart, last: SplitPart, bar_ms: int) -> float:
    return calendar_days(first.first_bar_ms, last.last_bar_ms, bar_ms)


def stitched_equity(
    days: Sequence[npt.NDArray[np.int64]], returns: Sequence[npt.NDArray[np.float64]]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The windows' out-of-sample daily returns one after the other as one equity curve from 1, one point per UTC
    day: a day shared by two windows (one ends and the next starts within it) compounds both returns."""
    if not days:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    all_days = np.concatenate(days)
    growth = 1.0 + np.concatenate(returns).astype(np.float64)
    if all_days.size == 0:
        return all_days, growth
    starts = np.flatnonzero(np.r_[True, all_days[1:] != all_days[:-1]])
    per_day: npt.NDArray[np.float64] = np.multiply.reduceat(growth, starts)
    return all_days[starts], np.cumprod(per_day, dtype=np.float64)


def walk_forward_block(
    context: RunContext, selections: Sequence[WindowSelection], evaluator: Evaluator
) -> dict[str, Any]:
    """report.json's ``luck.walk_forward``: each window, the stitched out-of-sample equity, WFE, profitable share."""
    bar_ms = evaluator.candles.timeframe.approx_ms
    windows: list[dict[str, Any]] = []
    stitched_days: list[npt.NDArray[np.int64]] = []
    stitched_returns: list[npt.NDArray[np.float64]] = []
    for k, selected in enumerate(selections):
        train, validation, oos = selected.parts
        row: dict[str, Any] = {
            "window": k, "train_start_ms": train.first_bar_ms, "train_end_ms": validation.last_bar_ms,
            "oos_start_ms": oos.first_bar_ms, "oos_end_ms": oos.last_bar_ms, "strategy": None, "trial": None,
            "params": None, "is_return_pct": None, "oos_return_pct": 0.0, "is_annual_return_pct": None,
            "oos_annual_return_pct": 0.0, "oos_trades": 0,
        }  # fmt: skip
        champion = selected.choice.champion if selected.choice else None
        if champion is None:
            days, _ = buy_and_hold_daily_returns(evaluator.candles, oos.start, oos.end)
            stitched_days.append(days)
            stitched_returns.append(np.zeros(days.size))  # no champion: the rule stays in cash
        else:
            params, searched = split_trial_params(champion.params, context.request.common)
            in_sample = selected.results[(champion.strategy, champion.trial)]
            traded = evaluator.evaluate(champion.strategy, params, searched, oos)
            is_return = _compounded_pct(in_sample[PartName.TRAIN], in_sample[validation.name])
            days, returns = daily_returns(traded)
            stitched_days.append(days)
            stitched_returns.append(returns.astype(np.float64))
            row.update(
                strategy=champion.strategy, trial=champion.trial, params=params, is_return_pct=is_return,
                oos_return_pct=traded.return_pct, oos_trades=traded.n_trades,
                is_annual_return_pct=annualised_pct(is_return, _span_days(train, validation, bar_ms)),
                oos_annual_return_pct=annualised_pct(traded.return_pct, _span_days(oos, oos, bar_ms)),
            )  # fmt: skip
        windows.append(row)
    days, equity = stitched_equity(stitched_days, stitched_returns)
    oos_days = sum(_span_days(s.parts[2], s.parts[2], bar_ms) for s in selections)
    oos_total = (float(equity[-1]) - 1.0) * 100.0 if equity.size else 0.0
    oos_annual = annualised_pct(oos_total, oos_days)
    in_sample_annual = [w["is_annual_return_pct"] for w in windows if w["is_annual_return_pct"] is not None]
    mean_in_sample = float(np.mean(in_sample_annual)) if in_sample_annual else None
    efficiency = (
        oos_annual / mean_in_sample
        if oos_annual is not None and mean_in_sample is not None and mean_in_sample > 0
        else None
    )
    spec = context.request.walk_forward
    return {
        "windows": windows,
        "anchored": bool(spec.anchored) if spec else False,
        "embargo_bars": spec.embargo_bars if spec else 0,
        "oos_return_pct": oos_total,
        "oos_annual_return_pct": oos_annual,
        "mean_is_annual_return_pct": mean_in_sample,
        "efficiency": None if efficiency is None or not math.isfinite(efficiency) else efficiency,
        "profitable_share": float(np.mean([w["oos_return_pct"] > 0 for w in windows])) if windows else None,
        "oos_equity": {"day_ms": [int(d) for d in days], "equity": [float(e) for e in equity]},
    }


__all__ = ["annualised_pct", "calendar_days", "stitched_equity", "walk_forward_block"]
