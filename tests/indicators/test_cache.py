"""The indicator cache of search loops: same answers, computed once, never shared with writable inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pytest

from stratlab.data import Candles, parse_timeframe
from stratlab.data.orderbook.features import BarBookFeatures
from stratlab.indicators import bollinger, donchian, indicator_cache, rsi, sma, stochastic, volume_zscore
from stratlab.indicators.cache import memoized


def read_only(n: int, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).normal(100, 1, n)
    values.flags.writeable = False
    return values


def test_a_repeated_call_is_served_from_the_cache_and_equals_a_fresh_one() -> None:
    close = read_only(5_000)
    high, low = read_only(5_000, seed=1) + 1.0, read_only(5_000, seed=2) - 1.0
    high.flags.writeable = low.flags.writeable = False
    fresh_sma, fresh_channel = sma(close, 20), donchian(high, low, 20)
    with indicator_cache() as store:
        first = sma(close, 20)
        second = sma(close, 20)
        channel = donchian(high, low, 20)
        channel_again = donchian(high, low, 20)
        other = sma(close, 21)
    assert second is first and channel_again[1] is channel[1]
    assert (store.hits, store.misses) == (2, 3)
    np.testing.assert_array_equal(first, fresh_sma)
    for cached, fresh in zip(channel, fresh_channel, strict=True):
        np.testing.assert_array_equal(cached, fresh)
    assert not np.array_equal(other, first, equal_nan=True)


def test_staged_indicators_share_their_stages_across_parameters() -> None:
    """Bollinger bands of any width reuse one (mean, deviation) per period; stochastics reuse raw %K per look-back
    and smoothed %K per (look-back, smoothing). Values equal an uncached computation exactly."""
    close = read_only(5_000)
    high, low = read_only(5_000, seed=1) + 1.0, read_only(5_000, seed=2) - 1.0
    high.flags.writeable = low.flags.writeable = False
    widths = (1.0, 1.5, 2.0, 3.25)
    fresh_bands = [bollinger(close, 30, w) for w in widths]
    fresh_stochastics = [stochastic(high, low, close, 14, d, 3) for d in (2, 3, 5)]
    with indicator_cache() as store:
        bands = [bollinger(close, 30, w) for w in widths]
        assert (store.hits, store.misses) == (3, 1)
        stochastics = [stochastic(high, low, close, 14, d, 3) for d in (2, 3, 5)]
        assert (store.hits, store.misses) == (3 + 2, 1 + 3 + 2)  # one raw %K and one smoothed %K, three %D
    assert all(b[0] is bands[0][0] for b in bands)
    for got, want in zip([*bands, *stochastics], [*fresh_bands, *fresh_stochastics], strict=True):
        for cached, fresh in zip(got, want, strict=True):
            np.testing.assert_array_equal(cached, fresh)


def test_cached_results_are_read_only() -> None:
    close = read_only(100)
    with indicator_cache():
        result = rsi(close, 14)
        with pytest.raises(ValueError, match="read-only"):
            result[20] = 0.0


def test_writable_inputs_bypass_the_cache() -> None:
    close = np.random.default_rng(1).normal(100, 1, 100)
    with indicator_cache() as store:
        before = sma(close, 5)
        close[50] += 10.0  # a writable array may change: a cache keyed on its memory would go stale
        after = sma(close, 5)
    assert (store.hits, store.misses) == (0, 0)
    assert after[50] != before[50]


def test_a_writable_volume_written_between_two_z_scores_gets_fresh_ones() -> None:
    volume = np.random.default_rng(3).uniform(1, 10, 100)
    with indicator_cache():
        before = volume_zscore(volume, 5).copy()
        volume[:] = volume[::-1]
        after = volume_zscore(volume, 5)
    np.testing.assert_array_equal(after, volume_zscore(volume.copy(), 5))
    assert not np.array_equal(after, before, equal_nan=True)


def test_nothing_is_cached_outside_the_block_and_the_budget_evicts_oldest() -> None:
    close = read_only(10_000)
    assert sma(close, 10) is not sma(close, 10)
    with indicator_cache(budget_bytes=2 * close.nbytes) as store:
        a = sma(close, 10)
        sma(close, 11)
        sma(close, 12)  # over budget: the period-10 result is dropped
        assert sma(close, 10) is not a
        assert store.used <= 2 * close.nbytes


def test_a_series_loaded_where_a_freed_one_lived_gets_its_own_values() -> None:
    """Arrays are keyed by their memory address: a series freed inside the block must not lend its results to the
    next one allocated at the same address (as the robustness check's other symbols, loaded one after the other)."""
    with indicator_cache():
        for level in range(200):
            close = np.full(1_000, float(level))
            close.flags.writeable = False
            assert sma(close, 5)[-1] == float(level), f"series {level} got another series' average"
            del close  # its memory is free for the next series, unless the cache still holds it


def test_candles_are_keyed_by_every_field_book_included_and_parameters_by_their_content() -> None:
    """A function of ``Candles`` may read any field (the order book too), and of a parameter mapping any value: two
    calls share a result only when all of them are the same."""
    calls: list[int] = []

    @memoized
    def last(candles: Candles, params: Mapping[str, object]) -> np.ndarray:
        calls.append(1)
        book = 0.0 if candles.book is None else float(candles.book.imbalance[-1])
        return np.array([candles.close[-1] * float(params["scale"]) + book])  # type: ignore[arg-type]

    n = 10
    plain = Candles(
        source="x", symbol="X", timeframe=parse_timeframe("5m"), timestamp_ms=np.arange(n, dtype=np.int64) * 300_000,
        open=np.ones(n), high=np.ones(n), low=np.ones(n), close=np.full(n, 2.0), volume=np.ones(n),
    )  # fmt: skip
    arrays = {name: read_only(n) for name in ("spread_bps", "depth_quote", "weighted_mid_distance_bps", "snapshots")}
    with_book = replace(
        plain, book=BarBookFeatures(imbalance=np.full(n, 0.5), microprice_bps=read_only(n), coverage=1.0, **arrays)
    )
    assert with_book.book is not None
    with indicator_cache():
        assert last(plain, {"scale": 1.0})[0] == 2.0
        assert last(plain, {"scale": 1.0}) is last(plain, dict({"scale": 1.0}))  # the same content: one entry
        assert last(plain, {"scale": 3.0})[0] == 6.0
        assert len(calls) == 2
        # A writable book array may change: the call bypasses the cache (computed each time).
        assert last(with_book, {"scale": 1.0})[0] == last(with_book, {"scale": 1.0})[0] == 2.5
        assert len(calls) == 4
        with_book.book.imbalance.flags.writeable = False
        assert last(with_book, {"scale": 1.0})[0] == last(with_book, {"scale": 1.0})[0] == 2.5
        assert len(calls) == 5
        # The same arrays on another timeframe, or another slice of them, are other candles.
        last(replace(plain, timeframe=parse_timeframe("1h")), {"scale": 1.0})
        last(plain.slice(0, n - 1), {"scale": 1.0})
        assert len(calls) == 7
        # A mapping holding an array is not keyed by it (the array could leave the mapping and its memory be reused).
        last(plain, {"scale": 1.0, "weights": read_only(3)})  # type: ignore[dict-item]
        last(plain, {"scale": 1.0, "weights": read_only(3)})  # type: ignore[dict-item]
        assert len(calls) == 9
