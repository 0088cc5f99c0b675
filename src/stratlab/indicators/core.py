"""Technical indicators on 1-D price arrays: validated, typed wrappers around the kernels in ``_kernels``.

Conventions shared by every function:

- Output arrays have the input's length. Bar ``i`` uses bars ``<= i`` only.
- Warm-up bars are NaN; a series shorter than the warm-up gives all NaN, not an error.
- A non-finite input (NaN, ±inf) is a gap: outputs whose window reaches it are NaN, and the indicator restarts
  after it as if the series began on the next bar (see ``_kernels``). Leading NaNs are skipped that way too,
  so an indicator of an indicator starts where its input does.
- Periods are integers >= 1 (>= 2 where a smaller one has no meaning); anything else, arrays of different
  lengths or arrays that are not 1-D raise ``ConfigError`` naming the argument.

docs/indicators.md lists the formula, warm-up and test reference of each indicator.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from stratlab.errors import ConfigError
from stratlab.indicators import _kernels as nb
from stratlab.indicators._kernels import (
    REGIME_RANGE_HIGH_VOL,
    REGIME_RANGE_LOW_VOL,
    REGIME_TREND_DOWN_HIGH_VOL,
    REGIME_TREND_DOWN_LOW_VOL,
    REGIME_TREND_UP_HIGH_VOL,
    REGIME_TREND_UP_LOW_VOL,
    REGIME_UNKNOWN,
)
from stratlab.indicators.cache import memoized

FloatArray = npt.NDArray[np.float64]
Int8Array = npt.NDArray[np.int8]

# Indexed by regime code (0..5); REGIME_UNKNOWN (-1) marks warm-up and gaps.
REGIME_NAMES: tuple[str, ...] = (
    "trend_up_low_vol",
    "trend_up_high_vol",
    "trend_down_low_vol",
    "trend_down_high_vol",
    "range_low_vol",
    "range_high_vol",
)


# argument checks -------------------------------------------------------------------------------------------


def _period(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _number(value: object, name: str, low: float, high: float = math.inf) -> float:
    bounds = f">= {low:g}" if high == math.inf else f"from {low:g} to {high:g}"
    message = f"{name} must be a finite number {bounds}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(message)
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ConfigError(message)
    return number


def _read_only(array: FloatArray) -> FloatArray:
    """A read-only view (no copy). Kernels only read their inputs, and numba compiles one specialisation per
    writeability: passing what ``Candles`` holds (read-only) everywhere halves the compile time on a cold cache."""
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


def _series(**arrays: npt.ArrayLike) -> list[FloatArray]:
    """Each argument as a read-only contiguous float64 1-D array (no copy when it already is a contiguous float64
    array); all of one length."""
    out: list[FloatArray] = []
    for name, values in arrays.items():
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} must be a 1-D array of numbers") from exc
        if array.ndim != 1:
            raise ConfigError(f"{name} must be a 1-D array, got shape {array.shape}")
        array = np.ascontiguousarray(array)
        if out and array.size != out[0].size:
            first = next(iter(arrays))
            raise ConfigError(f"{name} has {array.size} values, {first} has {out[0].size}")
        out.append(_read_only(array))
    return out


# moving averages -------------------------------------------------------------------------------------------


@memoized
def sma(values: npt.ArrayLike, period: int) -> FloatArray:
    """Simple moving average of the last ``period`` values. Warm-up: ``period - 1`` bars."""
    p = _period(period, "period")
    (x,) = _series(values=values)
    return nb.sma_nb(x, p)


@memoized
def ema(values: npt.ArrayLike, period: int) -> FloatArray:
    """Exponential moving average, ``alpha = 2 / (period + 1)``, seeded with the SMA of the first ``period``
    values (TA-Lib's convention). Warm-up: ``period - 1`` bars."""
    p = _period(period, "period")
    (x,) = _series(values=values)
    return nb.ema_nb(x, p)


# How close a recursive average must come to its value on a longer history to count as the same (one part in a
# million of the gap the start left): what a strategy's declared memory promises and the history check measures.
MEMORY_RTOL = 1e-6


def smoothing_memory(alpha: float) -> int:
    """Bars after which a recursive average with weight ``alpha`` on the newest value has forgotten its start: the
    gap a different start leaves shrinks by ``1 - alpha`` a bar, so this is where it falls below ``MEMORY_RTOL``."""
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    if alpha == 1.0:
        return 1
    return math.ceil(math.log(MEMORY_RTOL) / math.log(1.0 - alpha))


def ema_memory(period: int) -> int:
    """:func:`smoothing_memory` of :func:`ema` (``alpha = 2 / (period + 1)``), counting its seed window."""
    return period + smoothing_memory(2.0 / (period + 1))


def wilder_memory(period: int) -> int:
    """:func:`smoothing_memory` of Wilder's average (RSI, ATR, ADX: ``alpha = 1 / period``), counting its seed."""
    return period + smoothing_memory(1.0 / period)


@memoized
def ema_slope(values: npt.ArrayLike, period: int, lookback: int = 1) -> FloatArray:
    """Percent change of :func:`ema` (``period``) over ``lookback`` bars: ``100 (ema[i] / ema[i - lookback] - 1)``,
    NaN where either EMA is missing or the earlier one is zero. Warm-up: ``period - 1 + lookback`` bars."""
    p = _period(period, "period")
    lb = _period(lookback, "lookback")
    (x,) = _series(values=values)
    return nb.ema_slope_nb(x, p, lb)


@memoized
def wma(values: npt.ArrayLike, period: int) -> FloatArray:
    """Weighted moving average with linear weights 1..period, the newest bar heaviest. Warm-up: ``period - 1``."""
    p = _period(period, "period")
    (x,) = _series(values=values)
    return nb.wma_nb(x, p)


# oscillators and ranges ------------------------------------------------------------------------------------


@memoized
def rsi(close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Wilder's RSI in [0, 100] (TA-Lib ``RSI``). Warm-up: ``period`` bars. A window without any move gives 50."""
    p = _period(period, "period")
    (c,) = _series(close=close)
    return nb.rsi_nb(c, p)


@memoized
def true_range(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike) -> FloatArray:
    """``max(high - low, |high - prev close|, |low - prev close|)``. Bar 0 (no previous close) is NaN."""
    h, lo, c = _series(high=high, low=low, close=close)
    return nb.true_range_nb(h, lo, c)


@memoized
def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Wilder's average true range (TA-Lib ``ATR``): first value on bar ``period``, the mean TR of bars
    1..period, then ``(prev * (period - 1) + tr) / period``. Warm-up: ``period`` bars."""
    p = _period(period, "period")
    h, lo, c = _series(high=high, low=low, close=close)
    # Writable, as adx_nb hands its DX to wilder_nb: one compiled specialisation serves both.
    return nb.wilder_nb(nb.true_range_nb(h, lo, c), p)


def bollinger(
    close: npt.ArrayLike, period: int = 20, num_std: float = 2.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(middle, upper, lower)``: SMA(``period``) ± ``num_std`` population standard deviations (ddof=0) of the
    same window, like TA-Lib ``BBANDS`` with ``matype=0``. Warm-up: ``period - 1`` bars."""
    p = _period(period, "period")
    k = _number(num_std, "num_std", 0.0)
    (c,) = _series(close=close)
    # The bands of any width come from one cached (mean, deviation) per period: a search varies the width freely.
    middle, deviation = _mean_and_deviation(c, p)
    width = k * deviation
    return middle, _read_only(middle + width), _read_only(middle - width)


@memoized
def _mean_and_deviation(close: FloatArray, period: int) -> tuple[FloatArray, FloatArray]:
    return _rolling_mean_and_deviation(close, period)


def _rolling_mean_and_deviation(values: FloatArray, period: int) -> tuple[FloatArray, FloatArray]:
    """Mean and population standard deviation (ddof=0) of the last ``period`` values."""
    mean, m2 = nb.rolling_moments_nb(values, period)
    return mean, np.sqrt(m2 / period)


@memoized
def stochastic(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    k_period: int = 14,
    d_period: int = 3,
    smooth_k: int = 1,
) -> tuple[FloatArray, FloatArray]:
    """``(%K, %D)``: raw %K = ``100 (close - LL) / (HH - LL)`` over the last ``k_period`` bars (50 when
    ``HH == LL``), %K = SMA(``smooth_k``) of raw %K, %D = SMA(``d_period``) of %K (TA-Lib ``STOCH`` with SMA
    smoothing; ``smooth_k=1`` is the fast stochastic). Warm-up: ``k_period + smooth_k - 2`` bars for %K,
    ``d_period - 1`` more for %D."""
    kp = _period(k_period, "k_period")
    dp = _period(d_period, "d_period")
    sk = _period(smooth_k, "smooth_k")
    h, lo, c = _series(high=high, low=low, close=close)
    # Each stage cached on its own: a search shares raw %K across smoothings and smoothed %K across %D periods.
    slow_k = _smoothed_k(h, lo, c, kp, sk)
    return slow_k, nb.sma_nb(slow_k, dp)


@memoized
def _raw_k(high: FloatArray, low: FloatArray, close: FloatArray, k_period: int) -> FloatArray:
    return _read_only(nb.raw_stochastic_nb(high, low, close, k_period))


@memoized
def _smoothed_k(high: FloatArray, low: FloatArray, close: FloatArray, k_period: int, smooth_k: int) -> FloatArray:
    return _read_only(nb.sma_nb(_raw_k(high, low, close, k_period), smooth_k))


@memoized
def macd(
    close: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(macd, signal, histogram)``: EMA(``fast``) - EMA(``slow``), each SMA-seeded at its own warm-up, the
    signal line an SMA-seeded EMA(``signal``) of it, histogram = macd - signal. Warm-up: ``slow - 1`` bars for
    the MACD line, ``slow + signal - 2`` for signal and histogram. ``fast`` must be smaller than ``slow``.

    This is the textbook definition; TA-Lib ``MACD`` seeds its fast EMA later and differs on early bars."""
    f = _period(fast, "fast")
    s = _period(slow, "slow")
    g = _period(signal, "signal")
    if f >= s:
        raise ConfigError(f"fast must be smaller than slow, got fast={f}, slow={s}")
    (c,) = _series(close=close)
    line = nb.ema_nb(c, f) - nb.ema_nb(c, s)
    signal_line = nb.ema_nb(_read_only(line), g)
    return line, signal_line, line - signal_line


@memoized
def rolling_vwap(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, volume: npt.ArrayLike, period: int
) -> FloatArray:
    """``sum(typical * volume) / sum(volume)`` over the last ``period`` bars, typical = (h + l + c) / 3.
    Warm-up: ``period - 1`` bars; a window without volume is NaN."""
    p = _period(period, "period")
    h, lo, c, v = _series(high=high, low=low, close=close, volume=volume)
    return nb.rolling_vwap_nb(h, lo, c, v, p)


@memoized
def vwap_distance(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, volume: npt.ArrayLike, period: int
) -> FloatArray:
    """How far the close is from :func:`rolling_vwap` (``period``), in percent: ``100 (close / vwap - 1)``.
    Warm-up: ``period - 1`` bars; NaN wherever the VWAP is (a window without volume)."""
    p = _period(period, "period")
    h, lo, c, v = _series(high=high, low=low, close=close, volume=volume)
    return nb.percent_from_nb(c, nb.rolling_vwap_nb(h, lo, c, v, p))


@memoized
def volume_zscore(volume: npt.ArrayLike, period: int) -> FloatArray:
    """``(volume[i] - mean) / std`` over the ``period`` bars ending at ``i`` (the bar itself included), with the
    population standard deviation (ddof=0) as in :func:`bollinger`, so ``period`` >= 2. NaN where the window's
    volumes are all equal (std 0: nothing to compare with). Warm-up: ``period - 1`` bars."""
    p = _period(period, "period", 2)
    (v,) = _series(volume=volume)
    # Not through Bollinger's cached stage: that is keyed on the array it gets, here a read-only view of what the
    # caller passed, which may be a writable array written between two calls. This function's own cache entry is
    # keyed on the caller's array, and skipped when that is writable.
    mean, deviation = _rolling_mean_and_deviation(v, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        z: FloatArray = (v - mean) / deviation
    # 0 / 0 and x / 0 alike: a flat window (a halted market's zero volumes) has no spread to measure a bar with.
    z[deviation == 0.0] = np.nan
    return z


@memoized
def donchian(high: npt.ArrayLike, low: npt.ArrayLike, period: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(upper, lower, middle)``: highest high and lowest low of the last ``period`` bars *including* the
    current one, and their midpoint. Warm-up: ``period - 1`` bars. A breakout rule compares the close with the
    previous bar's channel, since the current bar's own high is part of this one."""
    p = _period(period, "period")
    h, lo = _series(high=high, low=low)
    return nb.donchian_nb(h, lo, p)


@memoized
def rolling_volatility(close: npt.ArrayLike, period: int) -> FloatArray:
    """Sample standard deviation (ddof=1) of the last ``period`` log returns, per bar, not annualised.
    Warm-up: ``period`` bars. A non-positive close is treated as a gap."""
    p = _period(period, "period", 2)
    (c,) = _series(close=close)
    return nb.rolling_volatility_nb(c, p)


@memoized
def rolling_median(values: npt.ArrayLike, period: int) -> FloatArray:
    """Median of the last ``period`` values (mean of the two middle ones when ``period`` is even).
    Warm-up: ``period - 1`` bars."""
    p = _period(period, "period")
    (x,) = _series(values=values)
    return nb.rolling_median_nb(x, np.argsort(x), p)


@memoized
def adx(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(adx, plus_di, minus_di)`` with Wilder smoothing as TA-Lib ``ADX``/``PLUS_DI``/``MINUS_DI`` compute it.
    Warm-up: ``period`` bars for the DIs, ``2 * period - 1`` for ADX."""
    p = _period(period, "period")
    h, lo, c = _series(high=high, low=low, close=close)
    return nb.adx_nb(h, lo, c, p)


# regimes ---------------------------------------------------------------------------------------------------


def regime_warmup(trend_period: int = 50, adx_period: int = 14, vol_period: int = 100, vol_lookback: int = 1000) -> int:
    """Number of leading ``REGIME_UNKNOWN`` bars of :func:`regime` on a series without gaps."""
    tp = _period(trend_period, "trend_period")
    ap = _period(adx_period, "adx_period")
    vp = _period(vol_period, "vol_period", 2)
    lb = _period(vol_lookback, "vol_lookback")
    return max(tp - 1, 2 * ap - 1, vp + lb - 1)


@memoized
def regime(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    trend_period: int = 50,
    adx_period: int = 14,
    adx_threshold: float = 25.0,
    vol_period: int = 100,
    vol_lookback: int = 1000,
) -> Int8Array:
    """Market regime per bar as an int8 code (``REGIME_*``; names in ``REGIME_NAMES``).

    Trend up / down when ADX(``adx_period``) is above ``adx_threshold`` and the close is above / below its
    EMA(``trend_period``) (equivalently, the EMA slopes up / down), range otherwise; crossed with high
    volatility when ``rolling_volatility(close, vol_period)`` is above its median over the last ``vol_lookback``
    bars, low otherwise. ``REGIME_UNKNOWN`` until all parts are warm (:func:`regime_warmup`) and around gaps.
    """
    tp = _period(trend_period, "trend_period")
    ap = _period(adx_period, "adx_period")
    threshold = _number(adx_threshold, "adx_threshold", 0.0, 100.0)
    vp = _period(vol_period, "vol_period", 2)
    lb = _period(vol_lookback, "vol_lookback")
    h, lo, c = _series(high=high, low=low, close=close)
    trend_line = nb.ema_nb(c, tp)
    strength = nb.adx_nb(h, lo, c, ap)[0]
    vol = nb.rolling_volatility_nb(c, vp)
    vol_median = nb.rolling_median_nb(_read_only(vol), np.argsort(vol), lb)
    return nb.regime_codes_nb(c, trend_line, strength, threshold, vol, vol_median)


__all__ = [
    "MEMORY_RTOL",
    "REGIME_NAMES",
    "REGIME_RANGE_HIGH_VOL",
    "REGIME_RANGE_LOW_VOL",
    "REGIME_TREND_DOWN_HIGH_VOL",
    "REGIME_TREND_DOWN_LOW_VOL",
    "REGIME_TREND_UP_HIGH_VOL",
    "REGIME_TREND_UP_LOW_VOL",
    "REGIME_UNKNOWN",
    "FloatArray",
    "Int8Array",
    "adx",
    "atr",
    "bollinger",
    "donchian",
    "ema",
    "ema_memory",
    "ema_slope",
    "macd",
    "regime",
    "regime_warmup",
    "rolling_median",
    "rolling_volatility",
    "rolling_vwap",
    "rsi",
    "sma",
    "smoothing_memory",
    "stochastic",
    "true_range",
    "volume_zscore",
    "vwap_distance",
    "wilder_memory",
    "wma",
]
