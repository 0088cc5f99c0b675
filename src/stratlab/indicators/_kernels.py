"""Compiled indicator kernels (see ``stratlab.indicators.core`` for the public, validated API).

Every kernel takes float64 arrays and scalars and returns new arrays; none writes into its inputs, so the
read-only arrays of ``Candles`` can be passed straight in.

Gaps: a bar whose inputs are not all finite splits the series into runs of finite bars. Each run is computed as
if the series began at its first bar (running sums restart, recursive averages re-seed), and the gap bar's own
output is NaN. Leading NaNs, such as the warm-up of another indicator, are therefore skipped the way TA-Lib's
Python wrapper skips them. TA-Lib itself lets a NaN inside the series poison every later value of a recursive
indicator; restarting keeps later bars usable, and the candle store never holds a non-finite value anyway.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int8Array = npt.NDArray[np.int8]

REGIME_UNKNOWN = -1
REGIME_TREND_UP_LOW_VOL = 0
REGIME_TREND_UP_HIGH_VOL = 1
REGIME_TREND_DOWN_LOW_VOL = 2
REGIME_TREND_DOWN_HIGH_VOL = 3
REGIME_RANGE_LOW_VOL = 4
REGIME_RANGE_HIGH_VOL = 5


# runs of finite bars ---------------------------------------------------------------------------------------


@njit(cache=True)
def finite_runs_nb(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray) -> tuple[IntArray, IntArray]:
    """Start (inclusive) and stop (exclusive) of every maximal run of bars where all four arrays are finite.

    One signature for one to four inputs (pass an array again to fill the slots): each extra numba
    specialisation costs compile time on a cold cache.
    """
    n = a.size
    starts = np.empty(n, dtype=np.int64)
    stops = np.empty(n, dtype=np.int64)
    count = 0
    inside = False
    for i in range(n):
        ok = math.isfinite(a[i]) and math.isfinite(b[i]) and math.isfinite(c[i]) and math.isfinite(d[i])
        if ok and not inside:
            starts[count] = i
            inside = True
        elif not ok and inside:
            stops[count] = i
            count += 1
            inside = False
    if inside:
        stops[count] = n
        count += 1
    return starts[:count], stops[:count]


# moving averages -------------------------------------------------------------------------------------------


@njit(cache=True)
def sma_nb(x: FloatArray, period: int) -> FloatArray:
    """Simple moving average by a running sum, the order of operations of TA-Lib ``SMA``.

    A window of one repeated value gives that value exactly (as pandas does): the running sum still carries the
    rounding of bars that left the window, and two averages of a flat stretch must not differ by a last bit.
    """
    out = np.full(x.size, np.nan)
    starts, stops = finite_runs_nb(x, x, x, x)
    for r in range(starts.size):
        start, stop = starts[r], stops[r]
        total = 0.0
        same = 0
        for i in range(start, stop):
            total += x[i]
            same = same + 1 if i > start and x[i] == x[i - 1] else 1
            if i - start >= period - 1:
                out[i] = x[i] if same >= period else total / period
                total -= x[i - period + 1]
    return out


@njit(cache=True)
def ema_nb(x: FloatArray, period: int) -> FloatArray:
    """EMA with ``alpha = 2 / (period + 1)``, seeded with the SMA of the first ``period`` values (TA-Lib ``EMA``).

    When the update is below rounding (the value is within a few ulps of the EMA), the EMA takes the value: on
    a flat stretch it then reaches the price exactly instead of stalling a few ulps away, so EMAs of different
    periods agree there.
    """
    out = np.full(x.size, np.nan)
    k = 2.0 / (period + 1)
    starts, stops = finite_runs_nb(x, x, x, x)
    for r in range(starts.size):
        start, stop = starts[r], stops[r]
        total = 0.0
        same = 0
        prev = 0.0
        for i in range(start, stop):
            v = x[i]
            if i - start < period:
                total += v
                same = same + 1 if i > start and v == x[i - 1] else 1
                if i - start < period - 1:
                    continue
                prev = v if same >= period else total / period
            else:
                step = prev + (v - prev) * k
                prev = v if step == prev else step
            out[i] = prev
    return out


@njit(cache=True)
def wma_nb(x: FloatArray, period: int) -> FloatArray:
    """Linearly weighted moving average (weights 1..period, newest heaviest), updated as TA-Lib ``WMA`` does:
    the weighted sum gains ``period * new`` and loses the plain sum of the previous window. A window of one
    repeated value gives that value exactly, as in :func:`sma_nb`."""
    out = np.full(x.size, np.nan)
    divider = period * (period + 1) / 2.0
    starts, stops = finite_runs_nb(x, x, x, x)
    for r in range(starts.size):
        start, stop = starts[r], stops[r]
        weighted = 0.0
        plain = 0.0
        same = 0
        for i in range(start, stop):
            v = x[i]
            plain += v
            same = same + 1 if i > start and v == x[i - 1] else 1
            if i - start < period - 1:
                weighted += v * (i - start + 1)
                continue
            weighted += v * period
            out[i] = v if same >= period else weighted / divider
            weighted -= plain
            plain -= x[i - period + 1]
    return out


@njit(cache=True)
def wilder_nb(x: FloatArray, period: int) -> FloatArray:
    """Wilder's smoothing: the mean of the first ``period`` values, then ``(prev * (period - 1) + x) / period``
    (the recursion of TA-Lib ``ATR`` and ``RSI``)."""
    out = np.full(x.size, np.nan)
    starts, stops = finite_runs_nb(x, x, x, x)
    for r in range(starts.size):
        start, stop = starts[r], stops[r]
        if stop - start < period:
            continue
        total = 0.0
        for i in range(start, start + period):
            total += x[i]
        prev = total / period
        out[start + period - 1] = prev
        for i in range(start + period, stop):
            prev = (prev * (period - 1) + x[i]) / period
            out[i] = prev
    return out


# rolling extremes, moments and median ----------------------------------------------------------------------


@njit(cache=True)
def donchian_nb(high: FloatArray, low: FloatArray, period: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Highest high, lowest low (TA-Lib ``MAX`` and ``MIN``) of the last ``period`` bars including the current
    one, and their midpoint, by monotonic deques of bar indices (O(n))."""
    n = high.size
    upper = np.full(n, np.nan)
    lower = np.full(n, np.nan)
    middle = np.full(n, np.nan)
    up_deque = np.empty(n, dtype=np.int64)
    down_deque = np.empty(n, dtype=np.int64)
    starts, stops = finite_runs_nb(high, low, high, low)
    for r in range(starts.size):
        start, stop = starts[r], stops[r]
        up_head = 0
        up_tail = 0
        down_head = 0
        down_tail = 0
        for i in range(start, stop):
            while up_tail > up_head and high[up_deque[up_tail - 1]] <= high[i]:
                up_tail -= 1
            up_deque[up_tail] = i
            up_tail += 1
            if up_deque[up_head] <= i - period:
                up_head += 1
            while down_tail > down_head and low[down_deque[down_tail - 1]] >= low[i]:
                down_tail -= 1
            down_deque[down_tail] = i
            down_tail += 1
            if down_deque[down_head] <= i - period:
                down_head += 1
            if i - start >= period - 1:
                hh = high[up_deque[up_head]]
                ll = low[down_deque[down_head]]
                upper[i] = hh
                lower[i] = ll
                middle[i] = (hh + ll) / 2.0
    return upper, lower, middle


@njit(cache=True)
def rolling_moments_nb(x: FloatArray, period: int) -> tuple[FloatArray, FloatArray]:
    """Mean and sum of squared deviations (M2) of the last ``period`` values: a sliding Welford update, restarted
    from an exact two-pass sum every ``period`` bars (amortised O(n)).

    Working on deviations from the mean rather than on raw sums of squares keeps a quiet window of prices far
    from zero (BTC near 100,000 moving by cents) precise, where ``E[x²] - E[x]²`` would cancel to noise. A
    window of one repeated value has exactly that mean and M2 = 0, as in :func:`sma_nb`.
    """
    n = x.size
    mean_out = np.full(n, np.nan)
    m2_out = np.full(n, np.nan)
    starts, stops = finite_runs_nb(x, x, x, x)
    for r in range(starts.size):
        start, stop = starts[r], stops[r]
        mean = 0.0
        m2 = 0.0
        same = 0
        for i in range(start, stop):
            same = same + 1 if i > start and x[i] == x[i - 1] else 1
            if i - start < period - 1:
                continue
            if same >= period:
                mean = x[i]
                m2 = 0.0
            elif (i - start + 1) % period == 0:
                # Two-pass over the window every `period` bars: the sliding update's rounding is absolute, not
                # relative to the window's spread, so it would swamp a quiet window after enough bars.
                total = 0.0
                for j in range(i - period + 1, i + 1):
                    total += x[j]
                mean = total / period
                m2 = 0.0
                for j in range(i - period + 1, i + 1):
                    d = x[j] - mean
                    m2 += d * d
            else:
                new = x[i]
                old = x[i - period]
                new_mean = mean + (new - old) / period
                m2 += (new - old) * (new - new_mean + old - mean)
                mean = new_mean
                # Rounding can leave a nearly constant window a hair below zero.
                m2 = max(m2, 0.0)
            mean_out[i] = mean
            m2_out[i] = m2
    return mean_out, m2_out


@njit(cache=True)
def rolling_median_nb(x: FloatArray, order: IntArray, period: int) -> FloatArray:
    """Median of the last ``period`` values (the mean of the two middle ones for an even window), like pandas
    ``rolling(period).median()``, in O(n log n).

    ``order`` is ``np.argsort(x)``, sorted outside because numba's sort takes seconds to compile. A Fenwick
    tree over the ranks counts the values in the current window; the k-th smallest is found by descending its
    implicit binary tree. The ranking is only an ordering device: each output is the exact median of its window
    and depends on no other bar.
    """
    n = x.size
    out = np.full(n, np.nan)
    ordered = np.empty(n)
    rank = np.zeros(n, dtype=np.int64)
    m = 0
    for j in range(n):
        i = order[j]
        if math.isfinite(x[i]):
            rank[i] = m
            ordered[m] = x[i]
            m += 1
    tree = np.zeros(m + 1, dtype=np.int64)
    top = 1
    while top * 2 <= m:
        top *= 2
    # The two middle order statistics (1-based); equal when the window is odd.
    lower_k = (period + 1) // 2
    upper_k = period // 2 + 1
    starts, stops = finite_runs_nb(x, x, x, x)
    for r in range(starts.size):
        start, stop = starts[r], stops[r]
        for i in range(start, stop + period):
            # Bars stop..stop+period-1 only drain the window, leaving the tree empty for the next run.
            if i < stop:
                j = rank[i] + 1
                while j <= m:
                    tree[j] += 1
                    j += j & -j
            if i - start >= period:
                j = rank[i - period] + 1
                while j <= m:
                    tree[j] -= 1
                    j += j & -j
            if i >= stop or i - start < period - 1:
                continue
            total = 0.0
            for wanted in (lower_k, upper_k):
                k = wanted
                pos = 0
                step = top
                while step > 0:
                    nxt = pos + step
                    if nxt <= m and tree[nxt] < k:
                        pos = nxt
                        k -= tree[nxt]
                    step >>= 1
                total += ordered[pos]
            out[i] = 0.5 * total
    return out


# oscillators, ranges and bands -----------------------------------------------------------------------------


@njit(cache=True)
def true_range_nb(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """``max(high - low, |high - prev close|, |low - prev close|)`` (TA-Lib ``TRANGE``); NaN on a run's first
    bar, which has no previous close. Wilder-smoothed, it is TA-Lib's ``ATR``."""
    out = np.full(high.size, np.nan)
    starts, stops = finite_runs_nb(high, low, close, close)
    for r in range(starts.size):
        for i in range(starts[r] + 1, stops[r]):
            prev = close[i - 1]
            out[i] = max(high[i] - low[i], abs(high[i] - prev), abs(low[i] - prev))
    return out


# Far above the subnormal range (< 2.2e-308), where a ratio of two averages would lose its precision, and far
# below any real price move.
_RSI_FLOOR = 1e-290


@njit(cache=True)
def rsi_nb(close: FloatArray, period: int) -> FloatArray:
    """Wilder RSI (TA-Lib ``RSI``): ``100 * avg_gain / (avg_gain + avg_loss)``, the averages seeded with the mean
    of the first ``period`` moves, then ``(prev * (period - 1) + move) / period``.

    When both averages are zero the ratio is undefined. On a flat stretch both decay by the same factor each bar,
    so the RSI keeps its value; once they decay into subnormal numbers (below ``_RSI_FLOOR``) their ratio is
    rounding noise, so the RSI keeps the value it had (a jump would be a signal made of rounding). Only a series
    that has not moved since it began gives 50 (TA-Lib: 0).
    """
    out = np.full(close.size, np.nan)
    starts, stops = finite_runs_nb(close, close, close, close)
    for r in range(starts.size):
        start, stop = starts[r], stops[r]
        gain = 0.0
        loss = 0.0
        for i in range(start + 1, stop):
            move = close[i] - close[i - 1]
            up = max(move, 0.0)
            down = max(-move, 0.0)
            moves = i - start
            if moves < period:
                gain += up
                loss += down
                continue
            if moves == period:
                gain = (gain + up) / period
                loss = (loss + down) / period
            else:
                gain = (gain * (period - 1) + up) / period
                loss = (loss * (period - 1) + down) / period
            total = gain + loss
            if total > _RSI_FLOOR:
                out[i] = 100.0 * (gain / total)
            elif moves > period:
                out[i] = out[i - 1]
            else:
                out[i] = 50.0
    return out


@njit(cache=True)
def raw_stochastic_nb(high: FloatArray, low: FloatArray, close: FloatArray, k_period: int) -> FloatArray:
    """Raw %K ``100 (c - LL) / (HH - LL)`` over the last ``k_period`` bars, 50 where ``HH == LL``."""
    highest, lowest, _ = donchian_nb(high, low, k_period)
    raw = np.full(close.size, np.nan)
    for i in range(close.size):
        hh = highest[i]
        ll = lowest[i]
        c = close[i]
        if math.isfinite(hh) and math.isfinite(c):
            spread = hh - ll
            raw[i] = 100.0 * (c - ll) / spread if spread != 0.0 else 50.0
    return raw


@njit(cache=True)
def rolling_vwap_nb(
    high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray, period: int
) -> FloatArray:
    """``sum(typical * volume) / sum(volume)`` over the last ``period`` bars, typical = (h + l + c) / 3;
    NaN while the window holds no volume."""
    n = close.size
    out = np.full(n, np.nan)
    starts, stops = finite_runs_nb(high, low, close, volume)
    for r in range(starts.size):
        start, stop = starts[r], stops[r]
        pv_sum = 0.0
        v_sum = 0.0
        traded = 0
        for i in range(start, stop):
            v = volume[i]
            pv_sum += (high[i] + low[i] + close[i]) / 3.0 * v
            v_sum += v
            if v != 0.0:
                traded += 1
            if i - start >= period:
                old = i - period
                w = volume[old]
                pv_sum -= (high[old] + low[old] + close[old]) / 3.0 * w
                v_sum -= w
                if w != 0.0:
                    traded -= 1
            if traded == 0:
                # Exactly zero, not the rounding residue of removed bars, so the next traded bar starts clean.
                pv_sum = 0.0
                v_sum = 0.0
            elif i - start >= period - 1:
                out[i] = pv_sum / v_sum
    return out


# percent changes and distances -----------------------------------------------------------------------------


@njit(cache=True)
def percent_from_nb(x: FloatArray, reference: FloatArray) -> FloatArray:
    """``100 (x / reference - 1)``, NaN where either is not finite or the reference is zero (no ratio)."""
    out = np.full(x.size, np.nan)
    for i in range(x.size):
        v = x[i]
        ref = reference[i]
        if math.isfinite(v) and math.isfinite(ref) and ref != 0.0:
            out[i] = 100.0 * (v / ref - 1.0)
    return out


@njit(cache=True)
def ema_slope_nb(x: FloatArray, period: int, lookback: int) -> FloatArray:
    """Percent change of ``ema_nb(x, period)`` over ``lookback`` bars: ``100 (ema[i] / ema[i - lookback] - 1)``.

    Both ends must lie in one run of finite bars: the EMA restarts after a gap, and a change measured from the
    previous run's EMA would compare two unrelated averages.
    """
    line = ema_nb(x, period)
    earlier = np.full(x.size, np.nan)
    starts, stops = finite_runs_nb(x, x, x, x)
    for r in range(starts.size):
        for i in range(starts[r] + lookback, stops[r]):
            earlier[i] = line[i - lookback]
    return percent_from_nb(line, earlier)


# volatility and trend strength -----------------------------------------------------------------------------


@njit(cache=True)
def rolling_volatility_nb(close: FloatArray, period: int) -> FloatArray:
    """Sample standard deviation (ddof=1) of the last ``period`` log returns ``log(c[i]) - log(c[i-1])``, not
    annualised. A non-positive close has no log and counts as a gap."""
    n = close.size
    log_close = np.full(n, np.nan)
    for i in range(n):
        if close[i] > 0.0:
            log_close[i] = math.log(close[i])
    returns = np.full(n, np.nan)
    for i in range(1, n):
        # Non-finite when either log is: a gap for rolling_moments_nb, so the bar after a gap has no return.
        returns[i] = log_close[i] - log_close[i - 1]
    out = rolling_moments_nb(returns, period)[1]
    for i in range(n):
        out[i] = math.sqrt(out[i] / (period - 1))
    return out


@njit(cache=True)
def adx_nb(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Wilder's ADX, +DI and -DI with TA-Lib's ``ADX``/``PLUS_DI``/``MINUS_DI`` recursion.

    +DM = up-move if it is positive and larger than the down-move, -DM likewise, else 0. DM and TR are smoothed as
    Wilder sums: the sum of the first ``period - 1`` values, then ``s - s / period + x`` from bar ``period`` on
    (TA-Lib's start, one value short of Wilder's book, so the first DI sits on bar ``period``).
    DI = 100 * DM sum / TR sum; DX = 100 |+DI - -DI| / (+DI + -DI); ADX = Wilder average of DX, first on bar
    ``2 * period - 1``. A zero TR sum (a run that starts with flat bars) gives DI 0, and zero DIs give DX 0, as
    TA-Lib does.
    """
    n = close.size
    plus_di = np.full(n, np.nan)
    minus_di = np.full(n, np.nan)
    dx = np.full(n, np.nan)
    starts, stops = finite_runs_nb(high, low, close, close)
    for r in range(starts.size):
        start, stop = starts[r], stops[r]
        plus_dm = 0.0
        minus_dm = 0.0
        tr = 0.0
        for i in range(start + 1, stop):
            up = high[i] - high[i - 1]
            down = low[i - 1] - low[i]
            prev_close = close[i - 1]
            bar_tr = max(high[i] - low[i], abs(high[i] - prev_close), abs(low[i] - prev_close))
            if i - start >= period:
                plus_dm -= plus_dm / period
                minus_dm -= minus_dm / period
                tr = tr - tr / period + bar_tr
            else:
                tr += bar_tr
            if down > 0.0 and up < down:
                minus_dm += down
            elif up > 0.0 and up > down:
                plus_dm += up
            if i - start < period:
                continue
            if tr != 0.0:
                p = 100.0 * (plus_dm / tr)
                m = 100.0 * (minus_dm / tr)
            else:
                p = 0.0
                m = 0.0
            plus_di[i] = p
            minus_di[i] = m
            dx[i] = 100.0 * (abs(m - p) / (m + p)) if m + p != 0.0 else 0.0
    return wilder_nb(dx, period), plus_di, minus_di


# swings and levels ----------------------------------------------------------------------------------------


@njit(cache=True)
def swing_points_nb(high: FloatArray, low: FloatArray, k: int) -> tuple[FloatArray, FloatArray]:
    """Swing highs and lows (fractals of ``k`` bars each side), each placed on the bar that confirms it.

    A swing high at bar ``p``: ``high[p]`` strictly above each of the ``k`` highs before it and at least each of the
    ``k`` highs after it, so a flat top of equal highs gives one swing, on its first bar (the bars after it do not
    rise above it). A swing low mirrors it with lows. The ``k`` bars after ``p`` must have closed before anyone can
    know, so the swing is written on bar ``p + k`` (its price, NaN on every other bar): a strategy reading bar ``i``
    sees only swings confirmed by then.

    The two sides are ``donchian_nb`` windows of ``k`` bars: the highest of ``p-k..p-1`` is ``upper[p-1]``, the
    highest of ``p+1..p+k`` is ``upper[p+k]``. Each is NaN when its window leaves its run of finite bars, and bar
    ``p`` itself must be finite, so a swing never spans a gap.
    """
    n = high.size
    swing_high = np.full(n, np.nan)
    swing_low = np.full(n, np.nan)
    upper, lower, _ = donchian_nb(high, low, k)
    for i in range(2 * k, n):
        p = i - k
        h = high[p]
        lo = low[p]
        if not (math.isfinite(h) and math.isfinite(lo)):
            continue
        # A NaN side compares false: no swing.
        if h > upper[p - 1] and h >= upper[i]:
            swing_high[i] = h
        if lo < lower[p - 1] and lo <= lower[i]:
            swing_low[i] = lo
    return swing_high, swing_low


@njit(cache=True)
def last_swings_nb(high: FloatArray, low: FloatArray, k: int) -> tuple[FloatArray, FloatArray]:
    """Per bar, the price of the latest swing high and swing low confirmed at or before it (``swing_points_nb``);
    NaN before the first of each in a run of finite bars. A gap forgets them, as every indicator here starts again
    after a gap."""
    n = high.size
    swing_high, swing_low = swing_points_nb(high, low, k)
    last_high = np.full(n, np.nan)
    last_low = np.full(n, np.nan)
    starts, stops = finite_runs_nb(high, low, high, low)
    for r in range(starts.size):
        h = np.nan
        lo = np.nan
        for i in range(starts[r], stops[r]):
            if math.isfinite(swing_high[i]):
                h = swing_high[i]
            if math.isfinite(swing_low[i]):
                lo = swing_low[i]
            last_high[i] = h
            last_low[i] = lo
    return last_high, last_low


@njit(cache=True)
def support_resistance_nb(
    high: FloatArray, low: FloatArray, close: FloatArray, k: int, memory: int
) -> tuple[FloatArray, FloatArray]:
    """Per bar: among the last ``memory`` swing levels confirmed at or before it (swing highs and lows alike, in
    the order they were confirmed; a high and a low confirmed on one bar enter high first), support = the highest
    level strictly below the close, resistance = the lowest strictly above it; NaN when there is none.

    The levels live in a ring buffer of ``memory`` slots, emptied at every gap, and each bar scans it: O(n memory).
    A level is taken only when its whole ``2k + 1``-bar window lies in the close's run too (swing_points_nb
    already keeps it inside the run of finite highs and lows).
    """
    n = close.size
    support = np.full(n, np.nan)
    resistance = np.full(n, np.nan)
    swing_high, swing_low = swing_points_nb(high, low, k)
    ring = np.empty(memory)
    starts, stops = finite_runs_nb(high, low, close, close)
    for r in range(starts.size):
        start, stop = starts[r], stops[r]
        count = 0
        slot = 0
        for i in range(start, stop):
            if i - 2 * k >= start:
                for level in (swing_high[i], swing_low[i]):
                    if math.isfinite(level):
                        ring[slot] = level
                        slot = (slot + 1) % memory
                        count = min(count + 1, memory)
            c = close[i]
            below = -np.inf
            above = np.inf
            for j in range(count):
                level = ring[j]
                if below < level < c:
                    below = level
                elif c < level < above:
                    above = level
            if below > -np.inf:
                support[i] = below
            if above < np.inf:
                resistance[i] = above
    return support, resistance


# regimes ---------------------------------------------------------------------------------------------------


@njit(cache=True)
def regime_codes_nb(
    close: FloatArray,
    trend_line: FloatArray,
    strength: FloatArray,
    adx_threshold: float,
    vol: FloatArray,
    vol_median: FloatArray,
) -> Int8Array:
    """Per bar: trend up / trend down / range, crossed with high / low volatility (the ``REGIME_*`` codes).

    Trend: ADX (``strength``) above ``adx_threshold``, up when the close is above its EMA (``trend_line``), down
    when below; anything else is a range. For an EMA this is the sign of its slope as well, since
    ``ema[i] - ema[i-1] = alpha (close[i] - ema[i-1])`` and ``close[i] - ema[i] = (1 - alpha)(close[i] - ema[i-1])``.
    High volatility: ``vol`` above ``vol_median``. ``REGIME_UNKNOWN`` where any input is NaN.
    """
    n = close.size
    out = np.full(n, REGIME_UNKNOWN, dtype=np.int8)
    for i in range(n):
        a = strength[i]
        e = trend_line[i]
        v = vol[i]
        med = vol_median[i]
        c = close[i]
        if not (math.isfinite(a) and math.isfinite(e) and math.isfinite(v) and math.isfinite(med)):
            continue
        if a > adx_threshold and c > e:
            code = REGIME_TREND_UP_LOW_VOL
        elif a > adx_threshold and c < e:
            code = REGIME_TREND_DOWN_LOW_VOL
        else:
            code = REGIME_RANGE_LOW_VOL
        if v > med:
            code += 1
        out[i] = code
    return out


__all__ = [
    "REGIME_RANGE_HIGH_VOL",
    "REGIME_RANGE_LOW_VOL",
    "REGIME_TREND_DOWN_HIGH_VOL",
    "REGIME_TREND_DOWN_LOW_VOL",
    "REGIME_TREND_UP_HIGH_VOL",
    "REGIME_TREND_UP_LOW_VOL",
    "REGIME_UNKNOWN",
    "adx_nb",
    "donchian_nb",
    "ema_nb",
    "ema_slope_nb",
    "finite_runs_nb",
    "last_swings_nb",
    "percent_from_nb",
    "raw_stochastic_nb",
    "regime_codes_nb",
    "rolling_median_nb",
    "rolling_moments_nb",
    "rolling_volatility_nb",
    "rolling_vwap_nb",
    "rsi_nb",
    "sma_nb",
    "support_resistance_nb",
    "swing_points_nb",
    "true_range_nb",
    "wilder_nb",
    "wma_nb",
]
