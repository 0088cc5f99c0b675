"""The loops the KPI families need, as one-pass numba kernels: drawdown statistics of the per-bar equity, UTC day
ends, losing streaks, bars covered by trades. Everything else in the metrics is whole-array numpy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from stratlab.data.timeframes import DAY_MS

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]


@njit(cache=True)
def drawdown_stats_nb(equity: FloatArray, initial: float) -> tuple[float, int, int, int, int, int, float]:
    """Drawdown of the equity curve against its running peak (the initial equity counts as the first peak).

    Returns (max drawdown fraction, bar of the peak before it (-1: the initial equity), bar of its trough, bar where
    equity first regains that peak (-1: never), longest run of bars under water, the bar that run starts on, and
    the sum of squared percent drawdowns over all bars (for the Ulcer index)).
    """
    peak = initial
    peak_bar = -1
    max_dd = 0.0
    max_peak_bar = -1
    max_trough_bar = -1
    under_since = -1  # first bar of the current stretch under water
    longest = 0
    longest_start = -1
    sum_sq = 0.0
    for i in range(equity.size):
        value = equity[i]
        if value >= peak:
            if under_since >= 0 and i - under_since > longest:
                longest = i - under_since
                longest_start = under_since
            under_since = -1
            peak = value
            peak_bar = i
            continue
        if under_since < 0:
            under_since = i
        dd = (peak - value) / peak
        sum_sq += (100.0 * dd) * (100.0 * dd)
        if dd > max_dd:
            max_dd = dd
            max_peak_bar = peak_bar
            max_trough_bar = i
    if under_since >= 0 and equity.size - under_since > longest:
        longest = equity.size - under_since
        longest_start = under_since
    recovery = -1
    if max_trough_bar >= 0:
        level = initial if max_peak_bar < 0 else equity[max_peak_bar]
        for i in range(max_trough_bar + 1, equity.size):
            if equity[i] >= level:
                recovery = i
                break
    return max_dd, max_peak_bar, max_trough_bar, recovery, longest, longest_start, sum_sq


@njit(cache=True)
def day_last_bars_nb(timestamp_ms: Int64Array) -> Int64Array:
    """Index of the last bar of each UTC day that has bars, in order (timestamps sorted)."""
    n = timestamp_ms.size
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    k = 0
    # Compare against the next midnight instead of dividing every timestamp: a division per bar costs more than
    # the whole rest of the loop.
    next_midnight = (timestamp_ms[0] // DAY_MS + 1) * DAY_MS
    for i in range(n - 1):
        if timestamp_ms[i + 1] >= next_midnight:
            out[k] = i
            k += 1
            next_midnight = (timestamp_ms[i + 1] // DAY_MS + 1) * DAY_MS
    out[k] = n - 1
    return out[: k + 1]


@njit(cache=True)
def max_losing_streak_nb(pnl: FloatArray) -> int:
    """Longest run of trades with pnl < 0, in exit order."""
    longest = 0
    run = 0
    for value in pnl:
        if value < 0.0:
            run += 1
            longest = max(longest, run)
        else:
            run = 0
    return longest


@njit(cache=True)
def covered_bars_nb(entry_bar: Int64Array, exit_bar: Int64Array, first_bar: int, n_bars: int) -> int:
    """Bars of ``[first_bar, first_bar + n_bars)`` on which some trade was open (entry and exit bars included)."""
    covered = 0
    last_counted = first_bar - 1
    # Trades are in exit order and never overlap except on a shared reversal bar, so a running high-water mark of
    # counted bars avoids double counting without a per-bar array.
    for t in range(entry_bar.size):
        start = max(entry_bar[t], last_counted + 1)
        stop = exit_bar[t]
        if stop >= start:
            covered += stop - start + 1
            last_counted = stop
    return min(covered, n_bars)
