"""The per-bar equity curve on UTC days: the series every daily KPI and table starts from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stratlab.data.timeframes import DAY_MS
from stratlab.metrics import _kernels as k

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class DailySeries:
    """The equity curve on UTC days: day start (ms), equity at the day's last bar, PnL and return over the day, and
    the index of the day's last bar in the curve (for anything else sampled on the same days, like closes)."""

    day_ms: Int64Array
    equity: FloatArray
    pnl: FloatArray
    returns: FloatArray
    last_bar: Int64Array

    @property
    def n_days(self) -> int:
        return int(self.day_ms.size)


def day_last_bars(timestamp_ms: Int64Array) -> Int64Array:
    """The index of each UTC day's last bar in ``timestamp_ms`` (sorted bar open times)."""
    last: Int64Array = k.day_last_bars_nb(timestamp_ms)
    return last


def daily_series(
    timestamp_ms: Int64Array, equity: FloatArray, initial_equity: float, last: Int64Array | None = None
) -> DailySeries:
    """A day's equity is its last bar's; its PnL and return are over the previous day's equity (the first day's over
    the initial equity; a return over a non-positive equity is 0). Days without bars are not days. ``last``: the
    days' last bars (``day_last_bars``) when the caller already has them, e.g. for many curves over the same bars."""
    if last is None:
        last = day_last_bars(timestamp_ms)
    day_equity = equity[last]
    previous = np.empty_like(day_equity)
    if day_equity.size:
        previous[0] = initial_equity
        previous[1:] = day_equity[:-1]
    pnl = day_equity - previous
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(previous > 0, pnl / np.where(previous > 0, previous, 1.0), 0.0)
    return DailySeries(timestamp_ms[last] // DAY_MS * DAY_MS, day_equity, pnl, returns, last)


__all__ = ["DailySeries", "daily_series", "day_last_bars"]
