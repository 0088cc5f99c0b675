"""The Data page's order-book section, its data: the series recorded, and one UTC day of a series as per-snapshot
depth and imbalance, thinned for display to at most ``MAX_POINTS`` points (bucket means, in time order)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from stratlab.data.orderbook.features import book_arrays, snapshot_features
from stratlab.data.orderbook.store import BookSeriesKey, BookSeriesSummary, OrderBookStore
from stratlab.data.timeframes import DAY_MS

MAX_POINTS = 2_000
Signature = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class BookDay:
    """One day of a series for the chart: ``frame`` has ``time`` (UTC), ``depth_bid_quote``, ``depth_ask_quote``
    and ``imbalance``; ``per_point`` snapshots were averaged into each row."""

    frame: pd.DataFrame
    snapshots: int
    per_point: int


def book_signature(data_root: Path, key: BookSeriesKey) -> Signature:
    """(file, size, mtime) of a series' day files: changes whenever the recorder flushes."""
    files = OrderBookStore(data_root).day_files(key.source, key.symbol)
    return tuple((str(f.path), f.path.stat().st_size, f.path.stat().st_mtime_ns) for f in files)


@st.cache_data(max_entries=32, show_spinner=False)
def cached_book_summary(data_root: str, key: BookSeriesKey, signature: Signature) -> BookSeriesSummary:
    return OrderBookStore(data_root).summarize(key)


def day_starts(data_root: Path, key: BookSeriesKey) -> list[int]:
    """The UTC days (epoch ms at 00:00) the series has a file for, newest first."""
    return sorted((f.window_ms[0] for f in OrderBookStore(data_root).day_files(key.source, key.symbol)), reverse=True)


def thinned_for_display(frame: pd.DataFrame, keep: int) -> tuple[pd.DataFrame, int]:
    """Means of consecutive groups of rows, at most ``keep`` groups (display only)."""
    per_point = max(1, -(-len(frame) // keep))
    if per_point == 1:
        return frame, 1
    group = np.arange(len(frame)) // per_point
    return frame.groupby(group).mean().reset_index(drop=True), per_point


@st.cache_data(max_entries=16, show_spinner="Reading the order book…")
def cached_book_day(
    data_root: str, key: BookSeriesKey, day_ms: int, depth_bps: float, depth_levels: int, signature: Signature
) -> BookDay:
    rows = OrderBookStore(data_root).read_span(key.source, key.symbol, day_ms, day_ms + DAY_MS)
    if len(rows) == 0:
        return BookDay(pd.DataFrame(columns=["time", "depth_bid_quote", "depth_ask_quote", "imbalance"]), 0, 1)
    features = snapshot_features(book_arrays(rows), depth_levels=depth_levels, depth_bps=depth_bps)
    frame = pd.DataFrame(
        {
            "time_ms": features.timestamp_ms.astype(np.float64),
            "depth_bid_quote": features.depth_bid_quote,
            "depth_ask_quote": features.depth_ask_quote,
            "imbalance": features.imbalance,
        }
    )
    thinned, per_point = thinned_for_display(frame, MAX_POINTS)
    thinned.insert(0, "time", pd.to_datetime(thinned.pop("time_ms").round().astype(np.int64), unit="ms"))
    return BookDay(thinned, len(frame), per_point)


__all__ = [
    "MAX_POINTS",
    "BookDay",
    "book_signature",
    "cached_book_day",
    "cached_book_summary",
    "day_starts",
    "thinned_for_display",
]
