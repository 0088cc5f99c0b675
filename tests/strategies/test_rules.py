"""Each strategy's rule on a tiny hand-built series whose event bars are worked out by hand in the comments.

The expected bars come from the arithmetic written here, not from running the strategy code.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pytest

from stratlab.data import Candles, parse_timeframe
from stratlab.strategies import get_strategy
from tests.conftest import FIVE_MIN_MS, JAN_2025_MS

FloatArray = npt.NDArray[np.float64]


def bars(
    close: list[float] | FloatArray,
    high: list[float] | FloatArray | None = None,
    low: list[float] | FloatArray | None = None,
) -> Candles:
    """Candles from closes; open is the previous close, high/low span open and close unless given."""
    c = np.asarray(close, dtype=np.float64)
    o = np.concatenate([c[:1], c[:-1]])
    h = np.maximum(o, c) if high is None else np.asarray(high, dtype=np.float64)
    lo = np.minimum(o, c) if low is None else np.asarray(low, dtype=np.float64)
    return Candles(
        source="hand",
        symbol="X",
        timeframe=parse_timeframe("5m"),
        timestamp_ms=JAN_2025_MS + FIVE_MIN_MS * np.arange(c.size, dtype=np.int64),
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=np.ones(c.size),
    )


def flat_bars(close: list[float] | FloatArray) -> Candles:
    """Bars with open = high = low = close, so range-based indicators see the closes only."""
    c = np.asarray(close, dtype=np.float64)
    return Candles(
        source="hand",
        symbol="X",
        timeframe=parse_timeframe("5m"),
        timestamp_ms=JAN_2025_MS + FIVE_MIN_MS * np.arange(c.size, dtype=np.int64),
        open=c,
        high=c,
        low=c,
        close=c,
        volume=np.ones(c.size),
    )


def events_at(name: str, candles: Candles, params: Mapping[str, object]) -> dict[int, int]:
    signals = get_strategy(name).signals(candles, params)
    return {int(i): int(signals[i]) for i in np.flatnonzero(signals)}


# ma_cross ------------------------------------------------------------------------------------------------------

# Bars 0..29 close at 100, bars 30..89 at 110, bars 90..119 at 100.
STEPS = [100.0] * 30 + [110.0] * 60 + [100.0] * 30


@pytest.mark.parametrize("ma_type", ["sma", "ema"])
def test_ma_cross_on_a_step_up_and_down(ma_type: str) -> None:
    # On the flat start both averages equal 100 exactly (fast <= slow holds with equality).
    # Bar 30, the step up: SMA5 = (4*100 + 110)/5 = 102 > SMA20 = (19*100 + 110)/20 = 100.5;
    #   EMA5 = 100 + 10 * 2/6 = 103.33 > EMA20 = 100 + 10 * 2/21 = 100.95. The fast one moves further: +1 on bar 30.
    # While at 110 the fast average stays at or above the slow one (both climb to 110, the fast one first).
    # Bar 90, the step down: SMA5 = (4*110 + 100)/5 = 108 < SMA20 = (19*110 + 100)/20 = 109.5, both 110 on bar 89;
    #   EMA5 ~ 110 - 10/3 = 106.67 < EMA20 ~ 110 - 10 * 2/21 = 109.05 (after 60 bars EMA20 is within 0.03 of 110,
    #   and EMA5 above it). -1 on bar 90.
    params = {"fast": 5, "slow": 20, "ma_type": ma_type}
    assert events_at("ma_cross", bars(STEPS), params) == {30: 1, 90: -1}


def test_ma_cross_direction_keeps_one_side() -> None:
    params: dict[str, object] = {"fast": 5, "slow": 20, "ma_type": "sma"}
    assert events_at("ma_cross", bars(STEPS), {**params, "direction": "long"}) == {30: 1}
    assert events_at("ma_cross", bars(STEPS), {**params, "direction": "short"}) == {90: -1}


def test_ma_cross_needs_both_averages_defined() -> None:
    # The step at bar 30 comes before SMA50 exists (first on bar 49): no cross can be seen there. SMA50 first
    # exists on bar 49 where SMA5 = 110 > SMA50 already, and bar 48 has no SMA50, so no event; the step down
    # at bar 90 is a real cross: SMA5 = 108 < SMA50 = (49*110 + 100)/50 = 109.8, and on bar 89 both were 110.
    assert events_at("ma_cross", bars(STEPS), {"fast": 5, "slow": 50, "ma_type": "sma"}) == {90: -1}


# rsi_reversion -------------------------------------------------------------------------------------------------


def test_rsi_reversion_leaves_the_zones() -> None:
    # Bars 0..30 fall by 1 (200 .. 170): every move a loss, Wilder RSI(14) = 0 from bar 14 on.
    # Bar 31 rises by 13 (183): avg_gain = (0*13 + 13)/14 = 13/14, avg_loss = (1*13 + 0)/14 = 13/14, RSI = 50.
    #   RSI goes 0 -> 50 through lower = 30: +1 on bar 31.
    # Bars 32..61 rise by 1: gains dominate, RSI climbs past 70 (no event: entering the zone is not a signal).
    #   On bar 61 avg_gain ~ 1, avg_loss = 13/14 * (13/14)^30 ~ 0.10, RSI ~ 91.
    # Bar 62 falls by 13: avg_gain ~ 13/14, avg_loss ~ (0.10*13 + 13)/14 ~ 1.02, RSI ~ 48: 91 -> 48 through
    #   upper = 70: -1 on bar 62.
    close = [200.0 - k for k in range(31)]
    close.append(close[-1] + 13)
    close += [close[-1] + 1 + k for k in range(30)]
    close.append(close[-1] - 13)
    assert len(close) == 63
    assert events_at("rsi_reversion", bars(close), {"period": 14, "lower": 30, "upper": 70}) == {31: 1, 62: -1}
    # RSI peaks near 91 on bar 61, so an upper level of 95 is never left from above: no short event.
    assert events_at("rsi_reversion", bars(close), {"period": 14, "lower": 30, "upper": 95}) == {31: 1}


# bollinger_breakout --------------------------------------------------------------------------------------------


def test_bollinger_breakout_crosses_the_bands() -> None:
    # Closes alternate 99 (even bars) / 101 (odd bars); bar 40 jumps to 110; bar 80 drops to 90.
    # Bar 39: window 20..39 holds ten 99s and ten 101s: mean 100, population sd 1, bands 98 .. 102; 101 inside.
    # Bar 40: window 21..40 = ten 101s, nine 99s and 110: mean 2011/20 = 100.55, squared deviations
    #   10 * 0.45^2 + 9 * 1.55^2 + 9.45^2 = 112.95, sd = sqrt(112.95/20) = 2.3765, upper = 100.55 + 4.753 = 105.30.
    #   110 > 105.30 and 101 <= 102 the bar before: +1 on bar 40.
    # Bars 41..79 stay at 99/101, inside the bands (wider while 110 is in the window, 98 .. 102 after).
    # Bar 80: window 61..80 = ten 101s, nine 99s and 90: mean 1991/20 = 99.55, squared deviations
    #   10 * 1.45^2 + 9 * 0.55^2 + 9.55^2 = 114.95, sd = 2.3974, lower = 99.55 - 4.795 = 94.75 > 90: -1 on bar 80.
    close = [99.0 if k % 2 == 0 else 101.0 for k in range(100)]
    close[40] = 110.0
    close[80] = 90.0
    assert events_at("bollinger_breakout", bars(close), {"period": 20, "num_std": 2.0}) == {40: 1, 80: -1}
    # With 4 sd the bands are 100.55 + 9.506 = 110.06 on bar 40 and 99.55 - 9.590 = 89.96 on bar 80: no breakout.
    assert events_at("bollinger_breakout", bars(close), {"period": 20, "num_std": 4.0}) == {}


# stochastic ----------------------------------------------------------------------------------------------------

# Bars 0..29 fall by 1 (200 .. 171), bar 30 rises by 1 (172), bars 31..59 keep rising by 1 (173 .. 201),
# bar 60 falls by 1 (200). High = low = close, so the stochastic sees the closes only.
STOCH = [200.0 - k for k in range(30)] + [172.0 + k for k in range(30)] + [200.0]


@pytest.mark.parametrize("smooth_k", [1, 3])
def test_stochastic_crosses_in_the_zones(smooth_k: int) -> None:
    # Raw %K(14) on the falling bars is 0 (the close is the lowest low), so %K = %D = 0 there.
    # Bar 30: window 17..30 = 183 .. 171 then 172: HH 183, LL 171, raw %K = 100 * 1/12 = 8.33.
    #   smooth_k 1: %K 8.33, %D = (0 + 0 + 8.33)/3 = 2.78;  smooth_k 3: %K = 8.33/3 = 2.78, %D = 2.78/3 = 0.93.
    #   %K crosses above %D below oversold 20: +1 on bar 30. On the climb %K rises faster than %D: no cross.
    # From bar 36 on raw %K = 100 (the close is the window's high), so %K = %D = 100 before bar 60.
    # Bar 60: window 47..60 = 189 .. 201 then 200: HH 201, LL 189, raw %K = 100 * 11/12 = 91.67.
    #   smooth_k 1: %K 91.67 < %D = (100 + 100 + 91.67)/3 = 97.22;  smooth_k 3: %K 97.22 < %D 99.07.
    #   %K crosses below %D above overbought 80: -1 on bar 60.
    params = {"k_period": 14, "d_period": 3, "smooth_k": smooth_k, "oversold": 20, "overbought": 80}
    assert events_at("stochastic", flat_bars(STOCH), params) == {30: 1, 60: -1}


def test_stochastic_crosses_outside_the_zones_do_not_count() -> None:
    # Same crosses with smooth_k 1: %K is 8.33 on bar 30 (not below oversold 5) and 91.67 on bar 60 (not above
    # overbought 95), so neither cross is an event.
    params = {"k_period": 14, "d_period": 3, "smooth_k": 1, "oversold": 5, "overbought": 95}
    assert events_at("stochastic", flat_bars(STOCH), params) == {}


# range_breakout ------------------------------------------------------------------------------------------------


def breakout_bars() -> Candles:
    # Every bar: high 101, low 99, close 100, except
    #   bar 20: high 102.5, low 99.5, close 102 (breaks above);  bar 21: high 103.5, low 101.5, close 103 (still above);
    #   bar 40: high 100, low 96.5, close 97 (breaks below).
    n = 50
    high, low, close = np.full(n, 101.0), np.full(n, 99.0), np.full(n, 100.0)
    high[20], low[20], close[20] = 102.5, 99.5, 102.0
    high[21], low[21], close[21] = 103.5, 101.5, 103.0
    high[40], low[40], close[40] = 100.0, 96.5, 97.0
    return bars(close, high, low)


PARAMS = {"lookback": 10, "atr_period": 5, "stop_atr": 1.5, "target_atr": 3.0}


def test_range_breakout_fires_on_the_first_bar_of_a_break() -> None:
    # Bar 20: the highest high of bars 10..19 is 101 and 102 > 101, while bar 19 closed at 100 <= 101: +1.
    # Bar 21: 103 > 102.5 (highest high of bars 11..20), but bar 20 already closed above its range: no event.
    # Bar 22 (close 100) is back inside 99 .. 103.5.
    # Bar 40: the lowest low of bars 30..39 is 99 and 97 < 99, bar 39 closed at 100 >= 99: -1.
    assert events_at("range_breakout", breakout_bars(), PARAMS) == {20: 1, 40: -1}
    # The current bar's own high is not part of its range: bar 20's high of 102.5 does not hide its break.
    assert events_at("range_breakout", breakout_bars(), {**PARAMS, "stop_atr": 0.0, "target_atr": 0.0}) == {
        20: 1,
        40: -1,
    }


def test_range_breakout_stop_distances_are_atr_multiples() -> None:
    # True range of bars 1..19: max(101 - 99, |101 - 100|, |99 - 100|) = 2. Wilder ATR(5) is first defined on bar 5
    # (mean TR of bars 1..5 = 2) and stays 2 to bar 19. Bar 20: TR = max(3, 2.5, 0.5) = 3, ATR = (2*4 + 3)/5 = 2.2.
    stops = get_strategy("range_breakout").stops(breakout_bars(), PARAMS)
    assert stops is not None
    assert np.isnan(stops.stop_loss[:5]).all() and np.isnan(stops.take_profit[:5]).all()
    np.testing.assert_allclose(stops.stop_loss[5:20], 1.5 * 2.0)
    np.testing.assert_allclose(stops.take_profit[5:20], 3.0 * 2.0)
    assert stops.stop_loss[20] == pytest.approx(1.5 * 2.2)
    assert stops.take_profit[20] == pytest.approx(3.0 * 2.2)


def test_range_breakout_zero_multiple_disables_that_side() -> None:
    stops = get_strategy("range_breakout").stops(breakout_bars(), {**PARAMS, "stop_atr": 0.0})
    assert stops is not None
    assert np.isnan(stops.stop_loss).all()
    np.testing.assert_allclose(stops.take_profit[5:20], 6.0)
