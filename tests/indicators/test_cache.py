"""The indicator cache of search loops: same answers, computed once, never shared with writable inputs."""

from __future__ import annotations

import numpy as np
import pytest

from stratlab.indicators import bollinger, indicator_cache, rsi, sma


def read_only(n: int, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).normal(100, 1, n)
    values.flags.writeable = False
    return values


def test_a_repeated_call_is_served_from_the_cache_and_equals_a_fresh_one() -> None:
    close = read_only(5_000)
    fresh_sma, fresh_bands = sma(close, 20), bollinger(close, 20, 2.0)
    with indicator_cache() as store:
        first = sma(close, 20)
        second = sma(close, 20)
        bands = bollinger(close, 20, 2.0)
        bands_again = bollinger(close, 20, 2.0)
        other = sma(close, 21)
    assert second is first and bands_again[1] is bands[1]
    assert (store.hits, store.misses) == (2, 3)
    np.testing.assert_array_equal(first, fresh_sma)
    for cached, fresh in zip(bands, fresh_bands, strict=True):
        np.testing.assert_array_equal(cached, fresh)
    assert not np.array_equal(other, first, equal_nan=True)


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


def test_nothing_is_cached_outside_the_block_and_the_budget_evicts_oldest() -> None:
    close = read_only(10_000)
    assert sma(close, 10) is not sma(close, 10)
    with indicator_cache(budget_bytes=2 * close.nbytes) as store:
        a = sma(close, 10)
        sma(close, 11)
        sma(close, 12)  # over budget: the period-10 result is dropped
        assert sma(close, 10) is not a
        assert store.used <= 2 * close.nbytes
