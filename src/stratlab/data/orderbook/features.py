"""Order-book features per snapshot, and per bar for a strategy (no look-ahead).

Per snapshot, from its levels (``mid = (best bid + best ask) / 2``):

- ``spread_bps``: ``(best ask - best bid) / mid * 1e4``.
- ``imbalance``: ``(B - A) / (B + A)`` where ``B`` and ``A`` are the bid and ask sizes (base units) summed over the
  top ``depth_levels`` levels of each side (over the levels recorded, when a snapshot holds fewer). In [-1, 1];
  positive when bids outweigh asks.
- ``microprice_bps``: ``(microprice - mid) / mid * 1e4`` with ``microprice = (ask * bid_size + bid * ask_size) /
  (bid_size + ask_size)`` at level 0: the mid leaned towards the side with less size (where the price is likelier
  to go).
- ``depth_bid_quote``, ``depth_ask_quote``, ``depth_quote``: quote notional (``price * size``) resting within
  ``depth_bps`` of the mid: bids with ``price >= mid * (1 - depth_bps / 1e4)``, asks with ``price <= mid * (1 +
  depth_bps / 1e4)`` (bounds included), and their sum. Only recorded levels count, so a band wider than the
  recorded book is cut at its last level.
- ``weighted_mid_distance_bps``: the size-weighted mean distance of the book from the mid,
  ``sum(size_i * |price_i - mid| / mid * 1e4) / sum(size_i)`` over every recorded level of both sides (sizes in
  base units). Small when liquidity sits near the mid; it depends on how many levels were recorded.

Per bar (``bar_book_features``): bar ``i`` opens at ``o_i`` and closes at ``o_i + bar_ms``; it sees the snapshots
with ``o_i <= t < o_i + bar_ms``, and each feature is the mean over them (NaN when there are none). A snapshot taken
exactly at a bar's close belongs to the next bar. A strategy deciding at bar ``i``'s close therefore reads only
snapshots taken before that close. The mean is used rather than the last snapshot: a bar's book is noisy from one
block to the next, and the mean of a bar's snapshots is the steadier description of the liquidity it traded in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from stratlab.data.orderbook.schema import ASK, BID
from stratlab.data.orderbook.store import OrderBookStore
from stratlab.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BookArrays:
    """Snapshots side by side: ``(snapshots, levels)`` arrays, best level first, NaN past a side's last level."""

    timestamp_ms: Int64Array
    bid_price: FloatArray
    bid_size: FloatArray
    ask_price: FloatArray
    ask_size: FloatArray


@dataclass(frozen=True)
class SnapshotFeatures:
    """One value per snapshot (see the module docstring for the definitions)."""

    timestamp_ms: Int64Array
    mid: FloatArray
    spread_bps: FloatArray
    imbalance: FloatArray
    microprice_bps: FloatArray
    depth_bid_quote: FloatArray
    depth_ask_quote: FloatArray
    depth_quote: FloatArray
    weighted_mid_distance_bps: FloatArray


@dataclass(frozen=True)
class BarBookFeatures:
    """One float64 value per bar, NaN where the bar saw no snapshot; ``snapshots`` counts them per bar and
    ``coverage`` is the share of bars with at least one."""

    spread_bps: FloatArray
    imbalance: FloatArray
    microprice_bps: FloatArray
    depth_quote: FloatArray
    weighted_mid_distance_bps: FloatArray
    snapshots: FloatArray
    coverage: float

    def slice(self, start: int, stop: int) -> BarBookFeatures:
        """Bars ``[start, stop)`` by position, as ``Candles.slice`` cuts the candles they belong to."""
        snapshots = self.snapshots[start:stop]
        return BarBookFeatures(
            spread_bps=self.spread_bps[start:stop],
            imbalance=self.imbalance[start:stop],
            microprice_bps=self.microprice_bps[start:stop],
            depth_quote=self.depth_quote[start:stop],
            weighted_mid_distance_bps=self.weighted_mid_distance_bps[start:stop],
            snapshots=snapshots,
            coverage=float((snapshots > 0).mean()) if snapshots.size else 0.0,
        )


def _read_only(values: FloatArray) -> FloatArray:
    # Like Candles' arrays: one strategy cannot alter what another reads.
    values.flags.writeable = False
    return values


def book_arrays(frame: pd.DataFrame) -> BookArrays:
    """A validated long-format frame (sorted, unique, contiguous levels) as side-by-side arrays."""
    ts = frame["timestamp_ms"].to_numpy(dtype=np.int64)
    side = frame["side"].to_numpy()
    level = frame["level"].to_numpy().astype(np.intp)
    price = frame["price"].to_numpy(dtype=np.float64)
    size = frame["size"].to_numpy(dtype=np.float64)
    stamps, snapshot = np.unique(ts, return_inverse=True)
    depth = int(level.max()) + 1 if level.size else 0
    out = {name: np.full((stamps.size, depth), np.nan) for name in ("bid_price", "bid_size", "ask_price", "ask_size")}
    for which, code in (("bid", BID), ("ask", ASK)):
        rows = side == code
        out[f"{which}_price"][snapshot[rows], level[rows]] = price[rows]
        out[f"{which}_size"][snapshot[rows], level[rows]] = size[rows]
    return BookArrays(stamps, out["bid_price"], out["bid_size"], out["ask_price"], out["ask_size"])


def check_feature_settings(depth_levels: int, depth_bps: float) -> None:
    if isinstance(depth_levels, bool) or not isinstance(depth_levels, int | np.integer) or depth_levels < 1:
        raise ConfigError(f"depth_levels: expected a whole number >= 1, got {depth_levels!r}")
    if not isinstance(depth_bps, int | float) or not math.isfinite(depth_bps) or depth_bps <= 0:
        raise ConfigError(f"depth_bps: expected a finite number > 0, got {depth_bps!r}")


def snapshot_features(book: BookArrays, *, depth_levels: int = 5, depth_bps: float = 10.0) -> SnapshotFeatures:
    """Every feature of every snapshot, vectorised over snapshots and levels."""
    check_feature_settings(depth_levels, depth_bps)
    bid, ask = book.bid_price[:, 0], book.ask_price[:, 0]
    bid_size, ask_size = book.bid_size[:, 0], book.ask_size[:, 0]
    mid = (bid + ask) / 2.0
    top_bids = np.nansum(book.bid_size[:, :depth_levels], axis=1)
    top_asks = np.nansum(book.ask_size[:, :depth_levels], axis=1)
    microprice = (ask * bid_size + bid * ask_size) / (bid_size + ask_size)
    band = depth_bps / 1e4
    centre = mid[:, None]
    # NaN padding compares False, so absent levels never count as inside the band.
    bid_inside = book.bid_price >= centre * (1.0 - band)
    ask_inside = book.ask_price <= centre * (1.0 + band)
    depth_bid = np.where(bid_inside, book.bid_price * book.bid_size, 0.0).sum(axis=1)
    depth_ask = np.where(ask_inside, book.ask_price * book.ask_size, 0.0).sum(axis=1)
    prices = np.concatenate([book.bid_price, book.ask_price], axis=1)
    sizes = np.concatenate([book.bid_size, book.ask_size], axis=1)
    distance_bps = np.abs(prices - centre) / centre * 1e4
    weighted = np.nansum(sizes * distance_bps, axis=1) / np.nansum(sizes, axis=1)
    return SnapshotFeatures(
        timestamp_ms=book.timestamp_ms,
        mid=mid,
        spread_bps=(ask - bid) / mid * 1e4,
        imbalance=(top_bids - top_asks) / (top_bids + top_asks),
        microprice_bps=(microprice - mid) / mid * 1e4,
        depth_bid_quote=depth_bid,
        depth_ask_quote=depth_ask,
        depth_quote=depth_bid + depth_ask,
        weighted_mid_distance_bps=weighted,
    )


def bar_of_snapshots(timestamp_ms: Int64Array, bar_open_ms: Int64Array, bar_ms: int) -> npt.NDArray[np.intp]:
    """For each snapshot, the bar whose ``[open, open + bar_ms)`` holds it, or -1 (before, between or after
    the bars). A snapshot exactly at a close is past that bar: it goes to the bar opening then, if there is one."""
    bar = np.searchsorted(bar_open_ms, timestamp_ms, side="right") - 1
    inside = (bar >= 0) & (timestamp_ms < bar_open_ms[np.maximum(bar, 0)] + bar_ms)
    return np.where(inside, bar, -1)


def bar_means(values: FloatArray, bar: npt.NDArray[np.intp], bars: int) -> FloatArray:
    """Mean of ``values`` per bar over the finite ones; NaN for a bar without any."""
    use = (bar >= 0) & np.isfinite(values)
    sums = np.bincount(bar[use], weights=values[use], minlength=bars)
    counts = np.bincount(bar[use], minlength=bars)
    with np.errstate(invalid="ignore", divide="ignore"):
        means: FloatArray = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return means


def _checked_bars(bar_open_ms: Int64Array, bar_ms: int) -> Int64Array:
    opens = np.asarray(bar_open_ms)
    if opens.ndim != 1 or opens.dtype.kind not in "iu":
        raise ConfigError(f"bar_open_ms: expected a 1-d integer array of epoch ms, got {opens.dtype} {opens.shape}")
    if isinstance(bar_ms, bool) or not isinstance(bar_ms, int | np.integer) or bar_ms <= 0:
        raise ConfigError(f"bar_ms: expected a whole number of ms > 0, got {bar_ms!r}")
    steps = np.diff(opens.astype(np.int64))
    if (steps < bar_ms).any():
        row = int(np.flatnonzero(steps < bar_ms)[0]) + 1
        raise ConfigError(
            f"bar_open_ms: bar {row} opens {int(steps[row - 1])} ms after the previous one; bars must be sorted and "
            f"at least bar_ms ({bar_ms}) apart, or a snapshot would belong to two bars"
        )
    return opens.astype(np.int64)


def bar_book_features(
    source: str,
    symbol: str,
    bar_open_ms: Int64Array,
    bar_ms: int,
    *,
    data_root: Path | str | None = None,
    depth_levels: int = 5,
    depth_bps: float = 10.0,
) -> BarBookFeatures | None:
    """The stored order book of ``source``/``symbol`` summarised per bar (mean over the bar's snapshots, NaN
    without one; see the module docstring). None when the store holds no snapshot of that series within
    ``[first open, last open + bar_ms)``. ``data_root`` defaults to ``STRATLAB_DATA_ROOT``."""
    opens = _checked_bars(bar_open_ms, bar_ms)
    check_feature_settings(depth_levels, depth_bps)
    if opens.size == 0:
        return None
    store = OrderBookStore(data_root)
    frame = store.read_span(source, symbol, int(opens[0]), int(opens[-1]) + bar_ms)
    if len(frame) == 0:
        return None
    features = snapshot_features(book_arrays(frame), depth_levels=depth_levels, depth_bps=depth_bps)
    bar = bar_of_snapshots(features.timestamp_ms, opens, bar_ms)
    counts = np.bincount(bar[bar >= 0], minlength=opens.size).astype(np.float64)
    return BarBookFeatures(
        spread_bps=_read_only(bar_means(features.spread_bps, bar, opens.size)),
        imbalance=_read_only(bar_means(features.imbalance, bar, opens.size)),
        microprice_bps=_read_only(bar_means(features.microprice_bps, bar, opens.size)),
        depth_quote=_read_only(bar_means(features.depth_quote, bar, opens.size)),
        weighted_mid_distance_bps=_read_only(bar_means(features.weighted_mid_distance_bps, bar, opens.size)),
        snapshots=_read_only(counts),
        coverage=float((counts > 0).mean()),
    )


__all__ = [
    "BarBookFeatures",
    "BookArrays",
    "SnapshotFeatures",
    "bar_book_features",
    "bar_means",
    "bar_of_snapshots",
    "book_arrays",
    "snapshot_features",
]
