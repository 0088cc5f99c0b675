"""The scalping strategy's own rules, by hand: the coarser timeframes it picks, the confidence score, the regime
filters, the structure exits, the order-book group, and its backtest defaults. The contract suite covers the rest
(causality, warm-up, sampled parameter sets)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratlab.data import Candles, parse_timeframe
from stratlab.data.demo import DEFAULT_SYMBOLS, DemoSpec, generate_demo_market
from stratlab.data.orderbook.features import BarBookFeatures
from stratlab.indicators import (
    REGIME_RANGE_LOW_VOL,
    REGIME_TREND_DOWN_HIGH_VOL,
    REGIME_TREND_DOWN_LOW_VOL,
    REGIME_TREND_UP_HIGH_VOL,
    REGIME_TREND_UP_LOW_VOL,
    align_to_base,
    atr,
    higher_timeframe,
    indicator_cache,
    regime,
    support_resistance,
)
from stratlab.strategies import get_strategy, scalping
from stratlab.strategies.scalping import REGIME_SETTINGS, _Features, coarser_timeframe, confidence

SCALPING = get_strategy("scalping")
NAN = np.nan


@pytest.fixture(scope="module")
def candles() -> Candles:
    frame = generate_demo_market(DemoSpec(months=1, symbols=DEFAULT_SYMBOLS[:1]))["BTC"]
    return Candles.from_frame(frame, source="demo", symbol="BTC", timeframe="5m")


@pytest.mark.parametrize(
    ("base", "ratio", "expected"),
    [("5m", 12, "1h"), ("5m", 144, "12h"), ("5m", 4, "30m"), ("5m", 16, "2h"), ("1h", 12, "12h"), ("1d", 144, None)],
)
def test_the_coarser_timeframe_is_the_first_nesting_interval_long_enough(
    base: str, ratio: int, expected: str | None
) -> None:
    found = coarser_timeframe(parse_timeframe(base), ratio)
    assert (found.name if found else None) == expected


def features(n: int, **given: np.ndarray | None) -> _Features:
    """Inputs of ``n`` bars where every condition is neutral (no input) unless given."""
    zeros = np.zeros(n)
    values: dict[str, np.ndarray | None] = {
        "close": np.full(n, 100.0), "atr": np.ones(n), "rsi": np.full(n, 50.0), "hist_change": zeros,
        "vwap_distance": zeros, "volume_z": zeros, "upper": zeros, "lower": zeros, "support": zeros,
        "resistance": zeros, "trend_slope": None, "trend_hist": None, "trend_rsi": None, "trend_regime": None,
        "bias_slope": None, "book_imbalance": None, "book_microprice": None,
    }  # fmt: skip
    values.update(given)
    return _Features(**values)  # type: ignore[arg-type]


WEIGHTS = {"w_trend": 0.5, "w_momentum": 0.3, "w_flow": 0.2, "w_book": 0.0}


def test_confidence_is_the_weighted_share_of_conditions_that_hold() -> None:
    f = features(
        3,
        trend_slope=np.array([1.0, 1.0, -1.0]),
        bias_slope=np.array([1.0, -1.0, -1.0]),
        trend_hist=np.array([1.0, 1.0, -1.0]),
        hist_change=np.array([1.0, -1.0, -1.0]),
        trend_rsi=np.array([60.0, 60.0, 40.0]),
        volume_z=np.array([1.0, 0.2, 0.2]),
        vwap_distance=np.array([0.1, 0.1, -0.1]),
    )
    long = confidence(f, WEIGHTS, side=1, breakout=True)
    # Bar 0: all hold -> 1. Bar 1: trend 2/3, momentum 1/2, flow 1/2 (volume z 0.2 < 0.5) ->
    # (0.5 × 2/3 + 0.3 × 1/2 + 0.2 × 1/2) / 1.0. Bar 2: nothing holds for a long.
    np.testing.assert_allclose(long, [1.0, 0.5 * 2 / 3 + 0.15 + 0.1, 0.0])
    short = confidence(f, WEIGHTS, side=-1, breakout=True)
    # Bar 2 for a short: trend 3/3, momentum 2/2, flow: volume 0 of 1, close below VWAP (beyond, for a breakout) 1.
    assert short[2] == pytest.approx(0.5 + 0.3 + 0.2 * 0.5)
    # A reversion wants the close behind its VWAP: the long's VWAP condition flips.
    assert confidence(f, WEIGHTS, side=1, breakout=False)[0] == pytest.approx(0.5 + 0.3 + 0.2 * 0.5)


def test_an_unknown_input_means_no_score_and_zero_weights_mean_full_confidence() -> None:
    f = features(2, trend_slope=np.array([NAN, 1.0]))
    assert np.isnan(confidence(f, WEIGHTS, side=1, breakout=True)[0])
    zero = dict.fromkeys(WEIGHTS, 0.0)
    np.testing.assert_array_equal(confidence(f, zero, side=1, breakout=True), [1.0, 1.0])


def test_the_book_counts_only_on_bars_with_snapshots() -> None:
    f = features(
        3,
        trend_slope=np.array([1.0, 1.0, 1.0]),
        book_imbalance=np.array([0.5, 0.05, NAN]),
        book_microprice=np.array([1.0, 1.0, NAN]),
    )
    weights = {"w_trend": 1.0, "w_momentum": 0.0, "w_flow": 0.0, "w_book": 1.0}
    # Bar 0: trend 1, book 2/2 -> 1. Bar 1: book 1/2 (imbalance 0.05 under 0.1) -> (1 + 0.5) / 2. Bar 2: no
    # snapshot: the trend alone.
    np.testing.assert_allclose(confidence(f, weights, side=1, breakout=True), [1.0, 0.75, 1.0])


def test_regime_filters_keep_reversions_out_of_trends_and_breakouts_out_of_dead_ranges(candles: Candles) -> None:
    hourly = higher_timeframe(candles, "1h")
    codes = align_to_base(candles, hourly, regime(hourly.high, hourly.low, hourly.close, **REGIME_SETTINGS))
    trends = np.isin(codes, [REGIME_TREND_UP_HIGH_VOL, REGIME_TREND_UP_LOW_VOL, REGIME_TREND_DOWN_HIGH_VOL,
                             REGIME_TREND_DOWN_LOW_VOL])  # fmt: skip
    loose = {"min_confidence": 0.0, "htf_ratio": 12}
    reversions = SCALPING.signals(candles, {**loose, "setup": "reversion"}) != 0
    breakouts = SCALPING.signals(candles, {**loose, "setup": "breakout"}) != 0
    assert reversions.sum() >= 5 and breakouts.sum() >= 5
    assert not (reversions & trends).any()
    assert not (breakouts & (codes == REGIME_RANGE_LOW_VOL)).any()
    # Both filters bite on this market: without them there would be entries there.
    assert trends.any() and (codes == REGIME_RANGE_LOW_VOL).any()


def test_a_higher_threshold_keeps_a_subset_of_the_entries(candles: Candles) -> None:
    low = SCALPING.signals(candles, {"min_confidence": 0.3})
    high = SCALPING.signals(candles, {"min_confidence": 0.8})
    assert 0 < np.count_nonzero(high) < np.count_nonzero(low)
    # A stricter threshold only drops entries: each one it keeps is an entry of the looser run, or the first of a
    # pair of same-side setups whose earlier neighbour the looser run took (and the stricter one dropped).
    for i in np.flatnonzero(high):
        assert low[i] == high[i] or (low[i - 1] == high[i] and high[i - 1] == 0), i


def test_structure_exits_sit_beyond_the_nearest_level_and_fall_back_to_atr(candles: Candles) -> None:
    params = {"stop_rule": "structure", "target_rule": "structure", "swing_k": 3, "min_confidence": 0.3}
    signals = SCALPING.signals(candles, params)
    stops = SCALPING.stops(candles, params)
    assert stops is not None
    support, resistance = support_resistance(candles.high, candles.low, candles.close, 3, 20)
    average_range = atr(candles.high, candles.low, candles.close, 14)
    close = candles.close
    checked = {"level": 0, "fallback": 0}
    for i in np.flatnonzero(signals):
        side = int(signals[i])
        below, above = close[i] - support[i], resistance[i] - close[i]
        behind, ahead = (below, above) if side == 1 else (above, below)
        if np.isnan(behind):
            assert stops.stop_loss[i] == pytest.approx(1.5 * average_range[i])
            checked["fallback"] += 1
        else:
            assert stops.stop_loss[i] == pytest.approx(behind + 0.25 * average_range[i])
            checked["level"] += 1
        expected_target = 3.0 * average_range[i] if np.isnan(ahead) else ahead
        assert stops.take_profit[i] == pytest.approx(expected_target)
    assert checked["level"] >= 5 and checked["fallback"] >= 1


def test_the_book_filter_changes_entries_and_the_notes_say_whether_it_ran(candles: Candles) -> None:
    n = len(candles)
    covered = np.arange(n) >= n // 2
    against = np.where(covered, -0.9, NAN)  # a book leaning hard against every long and for every short
    book = BarBookFeatures(
        spread_bps=np.where(covered, 1.0, NAN), imbalance=against, microprice_bps=np.where(covered, -1.0, NAN),
        depth_quote=np.where(covered, 1e6, NAN), weighted_mid_distance_bps=np.where(covered, 5.0, NAN),
        snapshots=covered.astype(np.float64), coverage=0.5,
    )  # fmt: skip
    with_book = replace(candles, book=book)
    params = {"w_book": 1.0, "min_confidence": 0.6}
    plain, filtered = SCALPING.signals(candles, params), SCALPING.signals(with_book, params)
    half = n // 2
    np.testing.assert_array_equal(plain[:half], filtered[:half])  # no snapshots: the same entries
    assert (filtered[half:] == 1).sum() < (plain[half:] == 1).sum()
    assert SCALPING.notes(candles, params) == (
        "scalping: order-book filter off (no order-book data for demo/BTC in the period)",
    )
    assert SCALPING.notes(with_book, params) == (
        "scalping: order-book filter on 50% of bars (the rest run without it)",
    )
    assert "w_book is 0" in SCALPING.notes(with_book, {"w_book": 0.0})[0]
    # A slice keeps the book's bars with the candles'.
    tail = with_book.slice(half, n)
    assert tail.book is not None and tail.book.coverage == 1.0


def test_in_a_search_a_trials_stops_reuse_its_signals_work_and_the_book_keeps_its_own_entries(
    candles: Candles, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = len(candles)
    covered = np.arange(n) >= n // 2

    def frozen(values: np.ndarray) -> np.ndarray:
        values.flags.writeable = False
        return values

    book = BarBookFeatures(
        spread_bps=frozen(np.where(covered, 1.0, NAN)), imbalance=frozen(np.where(covered, -0.9, NAN)),
        microprice_bps=frozen(np.where(covered, -1.0, NAN)), depth_quote=frozen(np.where(covered, 1e6, NAN)),
        weighted_mid_distance_bps=frozen(np.where(covered, 5.0, NAN)), snapshots=frozen(covered.astype(np.float64)),
        coverage=0.5,
    )  # fmt: skip
    with_book = replace(candles, book=book)
    params = {"w_book": 1.0, "min_confidence": 0.6, "stop_rule": "structure", "target_rule": "structure"}
    fresh = [(SCALPING.signals(c, params), SCALPING.stops(c, params)) for c in (candles, with_book)]
    computed: list[Candles] = []
    features = scalping._features

    def counted(c: Candles, p: Mapping[str, object]) -> object:
        computed.append(c)
        return features(c, p)

    monkeypatch.setattr(scalping, "_features", counted)
    with indicator_cache():
        for c, (signals, stops) in zip((candles, with_book), fresh, strict=True):
            np.testing.assert_array_equal(SCALPING.signals(c, params), signals)
            cached = SCALPING.stops(c, params)
            assert stops is not None and cached is not None
            np.testing.assert_array_equal(cached.stop_loss, stops.stop_loss)
            np.testing.assert_array_equal(cached.take_profit, stops.take_profit)
    assert computed == [candles, with_book]  # once per trial: the stops reuse the signals' entries
    assert not np.array_equal(fresh[0][0], fresh[1][0])  # the book changed the entries (and the cache kept both)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), cut=st.floats(0.3, 0.95), setup=st.sampled_from(["breakout", "reversion", "both"])
)
def test_changing_any_bar_after_i_never_changes_a_signal_or_a_stop_at_or_before_i(
    seed: int, cut: float, setup: str
) -> None:
    """Three weeks of 5-minute bars, 30-minute and 2-hour timeframes: a different future (prices and volumes) after
    bar i leaves every event and every stop distance up to bar i as it was."""
    rng = np.random.default_rng(seed)
    n = 6_048

    def market(generator: np.random.Generator, size: int, start: float) -> tuple[np.ndarray, ...]:
        close = start * np.exp(np.cumsum(generator.normal(0.0, 0.002, size)))
        open_ = np.concatenate([[start], close[:-1]])
        high = np.maximum(open_, close) * (1 + generator.uniform(0, 0.001, size))
        low = np.minimum(open_, close) * (1 - generator.uniform(0, 0.001, size))
        return open_, high, low, close, generator.uniform(1.0, 100.0, size)

    base = market(rng, n, 100.0)
    last = int(cut * n)
    tail = market(np.random.default_rng(seed + 1), n - last - 1, float(base[3][last]))
    changed = tuple(np.concatenate([a[: last + 1], b]) for a, b in zip(base, tail, strict=True))

    def candles(arrays: tuple[np.ndarray, ...]) -> Candles:
        open_, high, low, close, volume = arrays
        return Candles(
            source="random", symbol="X", timeframe=parse_timeframe("5m"),
            timestamp_ms=np.arange(n, dtype=np.int64) * 300_000, open=open_, high=high, low=low, close=close,
            volume=volume,
        )  # fmt: skip

    params = {
        "htf_ratio": 4,
        "setup": setup,
        "min_confidence": 0.3,
        "stop_rule": "structure",
        "target_rule": "structure",
    }
    first, second = candles(base), candles(changed)
    np.testing.assert_array_equal(
        SCALPING.signals(first, params)[: last + 1], SCALPING.signals(second, params)[: last + 1]
    )
    a, b = SCALPING.stops(first, params), SCALPING.stops(second, params)
    assert a is not None and b is not None
    np.testing.assert_array_equal(a.stop_loss[: last + 1], b.stop_loss[: last + 1])
    np.testing.assert_array_equal(a.take_profit[: last + 1], b.take_profit[: last + 1])
