"""``load_ohlcv``: read a stored series (optionally a UTC day range) as validated ``Candles``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from stratlab.data.candles import Candles
from stratlab.data.dates import day_end_exclusive_ms, day_start_ms, format_ms
from stratlab.data.orderbook.features import bar_book_features
from stratlab.data.store import MarketStore
from stratlab.data.timeframes import parse_timeframe
from stratlab.errors import ConfigError, DataError


def load_ohlcv(
    source: str,
    symbol: str,
    timeframe: str,
    start: str | None = None,
    end: str | None = None,
    data_root: Path | str | None = None,
) -> Candles:
    """Candles of ``source/symbol/timeframe`` from ``start`` 00:00 UTC to the end of day ``end`` (inclusive).

    ``start``/``end`` are ``YYYY-MM-DD`` or None for the first/last stored bar. Only the month files that overlap
    the range are read; each is validated (``DataError`` naming the file and its first bad row). Where the store
    holds order-book snapshots of the series in the period, ``Candles.book`` carries them summarised per bar.
    """
    tf = parse_timeframe(timeframe)
    start_ms = day_start_ms(start, "start") if start is not None else None
    end_ms = day_end_exclusive_ms(end, "end") if end is not None else None
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise ConfigError(f"end: {end} is before start {start}")

    store = MarketStore(data_root)
    files = store.require_month_files(source, symbol, tf)
    selected = [
        f
        for f in files
        if (start_ms is None or f.window_ms[1] > start_ms) and (end_ms is None or f.window_ms[0] < end_ms)
    ]
    frames = [store.read_month(f, tf) for f in selected]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(frame):
        ts = frame["timestamp_ms"].to_numpy(dtype=np.int64)
        keep = np.ones(len(ts), dtype=bool)
        if start_ms is not None:
            keep &= ts >= start_ms
        if end_ms is not None:
            keep &= ts < end_ms
        frame = frame.loc[keep].reset_index(drop=True)
    if len(frame) == 0:
        first = store.read_month(files[0], tf)["timestamp_ms"]
        last = store.read_month(files[-1], tf)["timestamp_ms"]
        span = (
            f"{format_ms(int(first.iloc[0]))} .. {format_ms(int(last.iloc[-1]))}" if len(first) and len(last) else "?"
        )
        raise DataError(
            f"{source}/{symbol}/{tf.name}: no bars between {start or 'start'} and {end or 'end'} (stored: {span})"
        )
    candles = Candles.from_frame(
        frame, source=source, symbol=symbol, timeframe=tf, files=tuple(str(f.path) for f in selected)
    )
    if tf.fixed_ms is None:
        return candles  # calendar months: no fixed bar length to cut snapshots by
    book = bar_book_features(source, symbol, candles.timestamp_ms, tf.fixed_ms, data_root=data_root)
    return candles if book is None else replace(candles, book=book)


__all__ = ["load_ohlcv"]
