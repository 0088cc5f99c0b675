"""Order-book features: a 2-level book worked out by hand, a plain-loop reference on random books, and the per-bar
join that never reads a snapshot at or after a bar's close."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stratlab.data.dates import day_start_ms
from stratlab.data.orderbook import (
    BarBookFeatures,
    OrderBookStore,
    SnapshotFeatures,
    bar_book_features,
    book_arrays,
    snapshot_features,
)
from stratlab.data.orderbook.schema import BookSnapshot, snapshots_frame
from stratlab.errors import ConfigError
from tests.data.test_orderbook_store import snapshot

SOURCE, SYMBOL = "hyperliquid_perps", "BTC"
MINUTE = 60_000
T0 = day_start_ms("2025-03-10")


def features_of(*snapshots: BookSnapshot, depth_levels: int = 5, depth_bps: float = 10.0) -> SnapshotFeatures:
    return snapshot_features(
        book_arrays(snapshots_frame(list(snapshots))), depth_levels=depth_levels, depth_bps=depth_bps
    )


def test_a_two_level_book_by_hand() -> None:
    # bids 99 x 2, 98 x 1; asks 101 x 1, 102 x 3
    book = snapshot(T0, [(99.0, 2.0), (98.0, 1.0)], [(101.0, 1.0), (102.0, 3.0)])
    mid = (99 + 101) / 2  # 100
    one = features_of(book, depth_levels=1, depth_bps=150.0)
    two = features_of(book, depth_levels=2, depth_bps=250.0)
    assert one.mid[0] == mid
    assert one.spread_bps[0] == pytest.approx((101 - 99) / 100 * 1e4)  # 200 bps
    assert one.imbalance[0] == pytest.approx((2 - 1) / (2 + 1))  # top level only: 1/3
    assert two.imbalance[0] == pytest.approx((3 - 4) / (3 + 4))  # both levels: -1/7
    microprice = (101 * 2 + 99 * 1) / (2 + 1)  # the ask weighted by the bid size and vice versa: 100.333...
    assert one.microprice_bps[0] == pytest.approx((microprice - 100) / 100 * 1e4)  # +33.33 bps
    # Within 150 bps of 100: bids >= 98.5 (99 x 2), asks <= 101.5 (101 x 1), in quote notional.
    assert (one.depth_bid_quote[0], one.depth_ask_quote[0], one.depth_quote[0]) == (198.0, 101.0, 299.0)
    # Within 250 bps every level counts: 99*2 + 98*1 = 296 and 101*1 + 102*3 = 407.
    assert (two.depth_bid_quote[0], two.depth_ask_quote[0]) == (296.0, 407.0)
    # Distances from the mid in bps: 100 (99), 200 (98), 100 (101), 200 (102), weighted by sizes 2, 1, 1, 3.
    assert one.weighted_mid_distance_bps[0] == pytest.approx((100 * 2 + 200 * 1 + 100 * 1 + 200 * 3) / 7)


def test_a_band_edge_counts_and_more_levels_than_recorded_use_what_is_there() -> None:
    book = snapshot(T0, [(99.0, 2.0), (98.0, 1.0)], [(101.0, 1.0), (102.0, 3.0)])
    exactly_100_bps = features_of(book, depth_bps=100.0)  # 99 and 101 sit on the band's edges
    assert exactly_100_bps.depth_quote[0] == 99 * 2 + 101 * 1
    deep = features_of(book, depth_levels=50)
    assert deep.imbalance[0] == pytest.approx(-1 / 7)


def _reference(book: BookSnapshot, depth_levels: int, depth_bps: float) -> list[float]:
    """The definitions written out level by level, in plain Python."""
    bids = list(zip(book.bid_price.tolist(), book.bid_size.tolist(), strict=True))
    asks = list(zip(book.ask_price.tolist(), book.ask_size.tolist(), strict=True))
    mid = (bids[0][0] + asks[0][0]) / 2
    b = sum(s for _, s in bids[:depth_levels])
    a = sum(s for _, s in asks[:depth_levels])
    micro = (asks[0][0] * bids[0][1] + bids[0][0] * asks[0][1]) / (bids[0][1] + asks[0][1])
    lo, hi = mid * (1 - depth_bps / 1e4), mid * (1 + depth_bps / 1e4)
    depth = sum(p * s for p, s in bids if p >= lo) + sum(p * s for p, s in asks if p <= hi)
    levels = bids + asks
    distance = sum(s * abs(p - mid) / mid * 1e4 for p, s in levels) / sum(s for _, s in levels)
    return [(asks[0][0] - bids[0][0]) / mid * 1e4, (b - a) / (b + a), (micro - mid) / mid * 1e4, depth, distance]


def test_vectorised_features_match_the_definitions_on_random_books_of_uneven_depth() -> None:
    rng = np.random.default_rng(3)
    books = []
    for i in range(200):
        mid = 100 * np.exp(rng.normal(0, 0.01))
        n_bid, n_ask = rng.integers(1, 8, size=2)
        spread = rng.uniform(0.001, 0.2)
        bid_px = mid - spread / 2 - np.cumsum(rng.uniform(0.001, 0.1, n_bid)) + 0.001
        ask_px = mid + spread / 2 + np.cumsum(rng.uniform(0.001, 0.1, n_ask)) - 0.001
        books.append(BookSnapshot(T0 + i, bid_px, rng.uniform(0.01, 5, n_bid), ask_px, rng.uniform(0.01, 5, n_ask)))
    got = features_of(*books, depth_levels=3, depth_bps=25.0)
    columns = np.column_stack(
        [got.spread_bps, got.imbalance, got.microprice_bps, got.depth_quote, got.weighted_mid_distance_bps]
    )
    expected = np.array([_reference(book, 3, 25.0) for book in books])
    np.testing.assert_allclose(columns, expected, rtol=1e-12, atol=1e-9)


# the per-bar join ---------------------------------------------------------------------------------------------


def _book_with_spread(ts: int, spread: float, bid_size: float = 1.0) -> BookSnapshot:
    return snapshot(ts, [(100.0 - spread / 2, bid_size)], [(100.0 + spread / 2, 1.0)])


@pytest.fixture
def three_bars(data_root: Path) -> Path:
    """Bars [T0, +1m), [+1m, +2m), [+2m, +3m): two snapshots in the first, one exactly at its close (so in the
    second) with a spread no other snapshot has, none in the third, and one after the last bar."""
    OrderBookStore(data_root).write_snapshots(
        SOURCE,
        SYMBOL,
        [
            _book_with_spread(T0 - 1, 0.5),  # before the first bar: no bar sees it
            _book_with_spread(T0, 0.02),
            _book_with_spread(T0 + MINUTE - 1, 0.04, bid_size=3.0),
            _book_with_spread(T0 + MINUTE, 1.0),  # the first bar's close: belongs to the second
            _book_with_spread(T0 + 3 * MINUTE, 2.0),  # the third bar's close: no bar after it here
        ],
    )
    return data_root


def test_a_bar_sees_only_snapshots_inside_it_and_a_bar_without_one_is_nan(three_bars: Path) -> None:
    opens = T0 + MINUTE * np.arange(3, dtype=np.int64)
    features = bar_book_features(SOURCE, SYMBOL, opens, MINUTE, data_root=three_bars, depth_levels=1)
    assert isinstance(features, BarBookFeatures)
    assert features.snapshots.tolist() == [2.0, 1.0, 0.0]
    assert features.coverage == pytest.approx(2 / 3)
    # Bar 0: the mean of spreads 2 and 4 bps; the 100 bps snapshot taken at its close is not in it.
    assert features.spread_bps[0] == pytest.approx((0.02 / 100 * 1e4 + 0.04 / 100 * 1e4) / 2)
    assert features.spread_bps[1] == pytest.approx(1.0 / 100 * 1e4)
    assert features.imbalance[0] == pytest.approx((0.0 + 0.5) / 2)  # (1-1)/2 and (3-1)/4
    for name in ("spread_bps", "imbalance", "microprice_bps", "depth_quote", "weighted_mid_distance_bps"):
        values = getattr(features, name)
        assert values.dtype == np.float64 and values.shape == (3,)
        assert np.isnan(values[2]) and np.isfinite(values[:2]).all(), name


def test_the_arrays_are_read_only_and_a_slice_keeps_its_bars_coverage(three_bars: Path) -> None:
    opens = T0 + MINUTE * np.arange(3, dtype=np.int64)
    features = bar_book_features(SOURCE, SYMBOL, opens, MINUTE, data_root=three_bars)
    assert features is not None
    with pytest.raises(ValueError, match="read-only"):
        features.imbalance[0] = 1.0
    tail = features.slice(1, 3)
    assert tail.snapshots.tolist() == [1.0, 0.0] and tail.coverage == 0.5
    assert tail.spread_bps[0] == features.spread_bps[1]
    assert features.slice(3, 3).coverage == 0.0


def test_the_join_never_reads_a_snapshot_at_or_after_a_bars_close(three_bars: Path) -> None:
    # Cut the store's view at each bar's close: the bar's value must not change (nothing after it was read).
    opens = T0 + MINUTE * np.arange(3, dtype=np.int64)
    whole = bar_book_features(SOURCE, SYMBOL, opens, MINUTE, data_root=three_bars)
    first_only = bar_book_features(SOURCE, SYMBOL, opens[:1], MINUTE, data_root=three_bars)
    assert whole is not None and first_only is not None
    assert first_only.spread_bps[0] == whole.spread_bps[0]
    # Shorter bars that close one ms earlier lose the snapshot at T0 + 1m - 1 and nothing else.
    short = bar_book_features(SOURCE, SYMBOL, opens[:1], MINUTE - 1, data_root=three_bars)
    assert short is not None and short.snapshots.tolist() == [1.0]
    assert short.spread_bps[0] == pytest.approx(2.0)


def test_no_data_for_the_series_or_the_span_is_none(three_bars: Path) -> None:
    opens = T0 + MINUTE * np.arange(3, dtype=np.int64)
    assert bar_book_features(SOURCE, "ETH", opens, MINUTE, data_root=three_bars) is None
    assert bar_book_features("ccxt_binance", SYMBOL, opens, MINUTE, data_root=three_bars) is None
    later = opens + 10 * MINUTE
    assert bar_book_features(SOURCE, SYMBOL, later, MINUTE, data_root=three_bars) is None
    assert bar_book_features(SOURCE, SYMBOL, opens[:0], MINUTE, data_root=three_bars) is None


def test_the_data_root_defaults_to_the_configured_store(three_bars: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stratlab.settings import get_settings

    monkeypatch.setenv("STRATLAB_DATA_ROOT", str(three_bars))
    get_settings.cache_clear()
    features = bar_book_features(SOURCE, SYMBOL, np.array([T0], dtype=np.int64), MINUTE)
    assert features is not None and features.snapshots.tolist() == [2.0]


@pytest.mark.parametrize(
    ("opens", "bar_ms", "settings", "message"),
    [
        (np.array([T0, T0 + 30_000]), MINUTE, {}, "bar 1 opens 30000 ms after the previous one"),
        (np.array([T0 + MINUTE, T0]), MINUTE, {}, "bars must be sorted"),
        (np.array([float(T0)]), MINUTE, {}, "expected a 1-d integer array"),
        (np.array([T0]), 0, {}, "bar_ms: expected a whole number of ms > 0"),
        (np.array([T0]), MINUTE, {"depth_levels": 0}, "depth_levels: expected a whole number >= 1"),
        (np.array([T0]), MINUTE, {"depth_bps": float("nan")}, "depth_bps: expected a finite number > 0"),
    ],
)
def test_bad_arguments_are_config_errors(
    three_bars: Path, opens: np.ndarray, bar_ms: int, settings: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        bar_book_features(SOURCE, SYMBOL, opens, bar_ms, data_root=three_bars, **settings)  # type: ignore[arg-type]
