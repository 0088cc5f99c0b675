"""Indicators of a coarser timeframe on the bars of a finer one, without look-ahead.

A strategy on 5-minute bars that reads the hourly trend computes the hourly indicator on ``higher_timeframe(base,
"1h")`` and brings it back with ``align_to_base``: each hourly value appears on the first 5-minute bar that closes
when (or after) its hour has closed, and stays until the next hour's value replaces it.

Both keep what they build in the active ``indicator_cache``: an optimiser calls a strategy thousands of times on
the same candles, and the same hourly arrays each time let the indicators computed on them be cached as well.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stratlab.data.candles import Candles
from stratlab.data.resample import resample
from stratlab.data.timeframes import Timeframe, parse_timeframe
from stratlab.errors import ConfigError
from stratlab.indicators.cache import memoized
from stratlab.indicators.core import FloatArray

IntArray = npt.NDArray[np.int64]


def higher_timeframe(base: Candles, timeframe: str | Timeframe) -> Candles:
    """``resample(base, timeframe)``: the coarser bars, without the incomplete first and last buckets.

    Inside ``indicator_cache()`` the same base gives the same arrays again, so indicators of the coarser bars are
    cached across calls too. A timeframe that ``base``'s bars do not nest into raises ``ConfigError``.
    """
    target = parse_timeframe(timeframe)
    timestamp_ms, open_, high, low, close, volume = _resampled(base, target)
    return Candles(
        source=base.source,
        symbol=base.symbol,
        timeframe=target,
        timestamp_ms=timestamp_ms,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        files=base.files,
    )


@memoized
def _resampled(
    candles: Candles, target: Timeframe
) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    # Arrays out, not Candles: the cache freezes the arrays and counts their bytes.
    out = resample(candles, target)
    return out.timestamp_ms, out.open, out.high, out.low, out.close, out.volume


def align_to_base(base: Candles, higher: Candles, values: npt.ArrayLike) -> FloatArray:
    """One value per bar of ``base`` from ``values``, one per bar of the coarser ``higher`` (normally
    ``higher_timeframe(base, ...)``).

    Bar ``i`` of ``base`` gets the value of the last ``higher`` bar that closed at or before ``base`` bar ``i``
    closed (close = the next bar's open time on each grid), NaN before any has. So the 5-minute bar opening at
    10:55 is the first to see the hour 10:00-11:00; when that bar is missing, the first bar that closes after
    11:00 sees it. No bar sees a value its own close could not know. Integer values (regime codes) come back as
    floats. ``ConfigError`` when ``higher`` is not coarser than ``base`` or ``values`` does not have one value
    per ``higher`` bar.
    """
    fine = base.timeframe
    coarse = higher.timeframe
    if coarse.approx_ms <= fine.approx_ms:
        raise ConfigError(f"higher must be a coarser timeframe than base ({fine.name}), got {coarse.name}")
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError("values must be a 1-D array of numbers") from exc
    if array.ndim != 1:
        raise ConfigError(f"values must be a 1-D array, got shape {array.shape}")
    if array.size != len(higher):
        raise ConfigError(f"values has {array.size} values, higher has {len(higher)} bars")
    source = _alignment(base.timestamp_ms, fine, higher.timestamp_ms, coarse)
    out = np.full(len(base), np.nan)
    seen = source >= 0
    out[seen] = array[source[seen]]
    out.flags.writeable = False
    return out


@memoized
def _alignment(
    base_ms: npt.NDArray[np.int64], base_tf: Timeframe, higher_ms: npt.NDArray[np.int64], higher_tf: Timeframe
) -> IntArray:
    """Per base bar, the index of the last higher bar closed by its close (-1 before the first): the part of an
    alignment that depends on the bar times only, shared by every indicator aligned on the same pair."""
    base_close = base_tf.next_open(base_ms)
    higher_close = higher_tf.next_open(higher_ms)
    # Candles are sorted and unique, so the close times are increasing; "right" counts a higher bar that closes
    # exactly when the base bar closes as closed.
    return np.searchsorted(higher_close, base_close, side="right").astype(np.int64) - 1


__all__ = ["align_to_base", "higher_timeframe"]
