"""Swings (fractals) and support / resistance: hand series for the confirmation delay, the tie rule and the levels,
and a plain-Python reference written from the definitions for random series with ties. Causality and the restart
after a gap are checked with every indicator in test_indicators.py."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from stratlab.indicators import confirmed_swings, support_resistance, swing_warmup

FloatArray = npt.NDArray[np.float64]
NAN = math.nan


def same(actual: FloatArray, expected: list[float]) -> None:
    np.testing.assert_array_equal(actual, np.array(expected, dtype=np.float64))


# the definitions, bar by bar ---------------------------------------------------------------------------------


def reference_swings(high: FloatArray, low: FloatArray, k: int) -> tuple[list[float], list[float]]:
    """Swing highs and lows as (confirmation bar -> price) lists, straight from the definition."""
    n = len(high)
    swing_high = [NAN] * n
    swing_low = [NAN] * n
    for p in range(k, n - k):
        before = range(p - k, p)
        after = range(p + 1, p + k + 1)
        if all(high[p] > high[j] for j in before) and all(high[p] >= high[j] for j in after):
            swing_high[p + k] = float(high[p])
        if all(low[p] < low[j] for j in before) and all(low[p] <= low[j] for j in after):
            swing_low[p + k] = float(low[p])
    return swing_high, swing_low


def reference_last_swings(high: FloatArray, low: FloatArray, k: int) -> tuple[list[float], list[float]]:
    swing_high, swing_low = reference_swings(high, low, k)
    last_high: list[float] = []
    last_low: list[float] = []
    h = lo = NAN
    for sh, sl in zip(swing_high, swing_low, strict=True):
        h = sh if not math.isnan(sh) else h
        lo = sl if not math.isnan(sl) else lo
        last_high.append(h)
        last_low.append(lo)
    return last_high, last_low


def reference_levels(
    high: FloatArray, low: FloatArray, close: FloatArray, k: int, memory: int
) -> tuple[list[float], list[float], int]:
    """Support and resistance per bar, and how many closes sat exactly on a remembered level."""
    swing_high, swing_low = reference_swings(high, low, k)
    levels: list[float] = []
    support: list[float] = []
    resistance: list[float] = []
    on_a_level = 0
    for i, c in enumerate(close):
        levels += [x for x in (swing_high[i], swing_low[i]) if not math.isnan(x)]
        recent = levels[-memory:]
        support.append(max((x for x in recent if x < c), default=NAN))
        resistance.append(min((x for x in recent if x > c), default=NAN))
        on_a_level += c in recent
    return support, resistance, on_a_level


def rounded_walk(n: int, seed: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """High, low, close of a random walk rounded to a tenth, so that equal highs and lows (ties) are common."""
    rng = np.random.default_rng(seed)
    close = np.round(100.0 + np.cumsum(rng.normal(0.0, 0.3, n)), 1)
    high = close + np.round(rng.uniform(0.0, 0.3, n), 1)
    low = close - np.round(rng.uniform(0.0, 0.3, n), 1)
    return high, low, close


# swings ------------------------------------------------------------------------------------------------------


def test_a_swing_is_known_exactly_k_bars_after_it() -> None:
    # Peak at bar 4, trough at bar 8; k = 3: the peak is confirmed on bar 7, the trough on bar 11.
    high = np.array([1.0, 2.0, 3.0, 4.0, 9.0, 4.0, 3.0, 2.0, 1.5, 2.0, 3.0, 4.0, 5.0])
    low = high - 1.0
    last_high, last_low = confirmed_swings(high, low, 3)
    same(last_high, [NAN] * 7 + [9.0] * 6)
    same(last_low, [NAN] * 11 + [0.5] * 2)
    # Cut one bar before the confirmation: nothing is known yet, since the third bar after the peak might be higher.
    assert np.isnan(confirmed_swings(high[:7], low[:7], 3)[0]).all()
    assert np.isnan(confirmed_swings(high[:11], low[:11], 3)[1]).all()


def test_tie_rule_strictly_above_the_bars_before_at_least_the_bars_after() -> None:
    # A flat top (5, 5) is one swing, on its first bar (bar 1): strictly above bar 0, equal to bar 2 counts. Bar 2
    # is not a swing: it does not rise above bar 1. With k = 1 the swing at bar 1 is confirmed on bar 2.
    high = np.array([1.0, 5.0, 5.0, 1.0, 1.0])
    last_high, _ = confirmed_swings(high, high - 1.0, 1)
    same(last_high, [NAN, NAN, 5.0, 5.0, 5.0])
    # Lows mirror it: a flat bottom's first bar is the swing low.
    bottom = np.array([5.0, 1.0, 1.0, 5.0, 5.0])
    _, last_low = confirmed_swings(bottom + 1.0, bottom, 1)
    same(last_low, [NAN, NAN, 1.0, 1.0, 1.0])
    # The second bar of the flat top adds no level either, which the memory of support_resistance shows: with one
    # level remembered, the swing low 0 (bar 1, also confirmed on bar 2, after the high) stays the level on bar 3.
    # Were bar 2 a swing high too, its 5 would replace it there (support NaN, resistance 5).
    low = np.array([0.5, 0.0, 4.0, 0.5, 0.5])
    close = np.array([0.8, 2.0, 4.5, 0.8, 0.8])
    support, resistance = support_resistance(high, low, close, 1, 1)
    same(support, [NAN, NAN, 0.0, 0.0, 0.5])
    same(resistance, [NAN, NAN, NAN, NAN, NAN])


def test_swing_warmup_is_the_first_bar_that_can_hold_a_swing() -> None:
    assert swing_warmup(1) == 2
    assert swing_warmup(5) == 10
    # A V shape with its tip on bar k: the earliest possible swing, confirmed on bar 2k.
    k = 4
    low = np.abs(np.arange(-k, k + 3, dtype=np.float64)) + 10.0
    _, last_low = confirmed_swings(low + 1.0, low, k)
    assert np.isnan(last_low[: swing_warmup(k)]).all()
    assert last_low[swing_warmup(k)] == 10.0


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_swings_match_the_definition_on_random_series_with_ties(k: int) -> None:
    high, low, _ = rounded_walk(3_000, seed=k)
    last_high, last_low = confirmed_swings(high, low, k)
    expected_high, expected_low = reference_last_swings(high, low, k)
    same(last_high, expected_high)
    same(last_low, expected_low)
    # The series holds enough swings and ties to test something: many swings, and many bars equal to a neighbour.
    assert len(np.unique(last_high[~np.isnan(last_high)])) > 20
    assert (np.diff(high) == 0.0).sum() > 50


# support and resistance --------------------------------------------------------------------------------------


def test_support_and_resistance_by_hand() -> None:
    # k = 1. Swing highs: bar 1 (5), bar 3 (3), bar 5 (6), confirmed on bars 2, 4, 6. Swing lows: bar 2 (0),
    # bar 4 (0.5), bar 6 (1, equal to bar 7's low), confirmed on bars 3, 5, 7. With memory 3 the levels are
    # bar 2 [5]; bar 3 [5, 0]; bar 4 [5, 0, 3]; bar 5 [0, 3, 0.5] (5 has left); bar 6 [3, 0.5, 6]; bar 7 [0.5, 6, 1].
    high = np.array([2.0, 5.0, 2.0, 3.0, 1.0, 6.0, 2.0, 2.0])
    low = np.array([1.0, 4.0, 0.0, 2.0, 0.5, 5.0, 1.0, 1.0])
    close = np.array([1.5, 4.5, 1.0, 2.5, 0.8, 5.5, 1.5, 1.0])
    support, resistance = support_resistance(high, low, close, 1, 3)
    # Bar 5 closes at 5.5 above every level: no resistance, and support 3, as 5 has left the memory.
    # Bar 6 closes at 1.5: 0.5 below, 3 above. Bar 7 closes at 1.0, on the level 1: neither support nor resistance.
    same(support, [NAN, NAN, NAN, 0.0, 0.0, 3.0, 0.5, 0.5])
    same(resistance, [NAN, NAN, 5.0, 5.0, 3.0, NAN, 3.0, 6.0])
    # With a longer memory 5 is still there on bar 5, and on bar 7 the 3 that memory 3 had dropped.
    support, resistance = support_resistance(high, low, close, 1, 10)
    same(support, [NAN, NAN, NAN, 0.0, 0.0, 5.0, 0.5, 0.5])
    same(resistance, [NAN, NAN, 5.0, 5.0, 3.0, NAN, 3.0, 3.0])


def test_support_and_resistance_with_a_high_and_a_low_confirmed_on_one_bar() -> None:
    # Bar 1 is an outside bar: a swing high (9) and a swing low (1) at once, both confirmed on bar 2, high first. With
    # memory 1 only the low is left.
    high = np.array([5.0, 9.0, 6.0, 6.0])
    low = np.array([4.0, 1.0, 3.0, 3.0])
    close = np.array([4.5, 5.0, 5.0, 5.0])
    support, resistance = support_resistance(high, low, close, 1, 1)
    same(support, [NAN, NAN, 1.0, 1.0])
    same(resistance, [NAN, NAN, NAN, NAN])
    support, resistance = support_resistance(high, low, close, 1, 2)
    same(support, [NAN, NAN, 1.0, 1.0])
    same(resistance, [NAN, NAN, 9.0, 9.0])


@pytest.mark.parametrize(("k", "memory"), [(1, 1), (2, 3), (3, 8), (5, 20)])
def test_support_and_resistance_match_the_definition_on_random_series(k: int, memory: int) -> None:
    high, low, close = rounded_walk(3_000, seed=100 + k)
    support, resistance = support_resistance(high, low, close, k, memory)
    expected_support, expected_resistance, on_a_level = reference_levels(high, low, close, k, memory)
    same(support, expected_support)
    same(resistance, expected_resistance)
    # Closes sit on a level now and then (prices in tenths), so the strict comparison is exercised.
    assert on_a_level > 10
    assert np.isfinite(support).mean() > 0.3 and np.isfinite(resistance).mean() > 0.3


def test_levels_restart_after_a_bar_without_a_close() -> None:
    # Highs and lows go on through bar j, the close does not (an indicator of an indicator): the levels after it are
    # those of a series that starts on bar j + 1, even for swings whose window spans bar j.
    high, low, close = rounded_walk(600, seed=7)
    j = 300
    gapped = np.where(np.arange(close.size) == j, np.nan, close)
    support, resistance = support_resistance(high, low, gapped, 3, 8)
    after = support_resistance(high[j + 1 :], low[j + 1 :], close[j + 1 :], 3, 8)
    before = support_resistance(high[:j], low[:j], close[:j], 3, 8)
    for out, pre, post in zip((support, resistance), before, after, strict=True):
        np.testing.assert_array_equal(out[:j], pre)
        assert np.isnan(out[j])
        np.testing.assert_array_equal(out[j + 1 :], post)
