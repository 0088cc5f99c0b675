"""``resample``: aggregate candles to a coarser timeframe on UTC boundaries.

open = first, high = max, low = min, close = last, volume = sum over the source bars of each target bucket.
A bucket that the data does not cover from its start to its end (the still-forming last one, or a first one the
data enters halfway) is dropped: its open or close would be wrong. Buckets with missing bars inside (exchange
outages, weekends) are kept and aggregate the bars that exist, as exchanges build their own coarser candles.
"""

from __future__ import annotations

import numpy as np

from stratlab.data.candles import Candles
from stratlab.data.timeframes import DAY_MS, Timeframe, parse_timeframe
from stratlab.errors import ConfigError


def _check_nesting(source: Timeframe, target: Timeframe) -> None:
    if source.fixed_ms is None:
        raise ConfigError(f"timeframe: cannot resample from calendar months ({source.name}) to {target.name}")
    if target.fixed_ms is None:
        nests = DAY_MS % source.fixed_ms == 0
    else:
        nests = (
            target.fixed_ms > source.fixed_ms
            and target.fixed_ms % source.fixed_ms == 0
            and (target.origin_ms - source.origin_ms) % source.fixed_ms == 0
        )
    if not nests:
        raise ConfigError(f"timeframe: {source.name} bars do not nest into {target.name} bars; pick a coarser multiple")


def resample(candles: Candles, timeframe: str | Timeframe) -> Candles:
    """``candles`` aggregated to ``timeframe`` (a coarser timeframe whose bars are unions of source bars)."""
    target = parse_timeframe(timeframe)
    source_tf = candles.timeframe
    _check_nesting(source_tf, target)
    ts = candles.timestamp_ms
    if len(ts) == 0:
        return _empty_like(candles, target)

    buckets = target.floor(ts)
    starts = np.flatnonzero(np.concatenate([[True], buckets[1:] != buckets[:-1]]))
    ends = np.concatenate([starts[1:], [len(ts)]])  # exclusive

    keep = np.ones(len(starts), dtype=bool)
    # First bucket: complete only if its first source bar opens at the bucket's open.
    keep[0] = ts[starts[0]] == buckets[starts[0]]
    # Last bucket: complete only if the last source bar closes when the bucket closes.
    last_close = source_tf.next_open(ts[-1:])[0]
    keep[-1] = keep[-1] and last_close >= target.next_open(buckets[-1:])[0]

    opens = candles.open[starts]
    highs = np.maximum.reduceat(candles.high, starts)
    lows = np.minimum.reduceat(candles.low, starts)
    closes = candles.close[ends - 1]
    volumes = np.add.reduceat(candles.volume, starts)
    return Candles(
        source=candles.source,
        symbol=candles.symbol,
        timeframe=target,
        timestamp_ms=buckets[starts][keep],
        open=opens[keep],
        high=highs[keep],
        low=lows[keep],
        close=closes[keep],
        volume=volumes[keep],
        files=candles.files,
    )


def _empty_like(candles: Candles, target: Timeframe) -> Candles:
    empty = np.empty(0, dtype=np.float64)
    return Candles(
        source=candles.source,
        symbol=candles.symbol,
        timeframe=target,
        timestamp_ms=np.empty(0, dtype=np.int64),
        open=empty,
        high=empty,
        low=empty,
        close=empty,
        volume=empty,
        files=candles.files,
    )


__all__ = ["resample"]
