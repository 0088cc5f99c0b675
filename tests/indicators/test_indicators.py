"""Indicators against independent references: TA-Lib where it has the indicator and the same convention, pandas
formulas written here where it has not, and small tables computed by hand. Never against our own output, except
for the structural properties (causality, gaps), which compare a series with its own prefix or suffix."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import talib
from talib import MA_Type

from stratlab.errors import ConfigError
from stratlab.indicators import (
    REGIME_NAMES,
    REGIME_RANGE_HIGH_VOL,
    REGIME_RANGE_LOW_VOL,
    REGIME_TREND_DOWN_HIGH_VOL,
    REGIME_TREND_DOWN_LOW_VOL,
    REGIME_TREND_UP_HIGH_VOL,
    REGIME_TREND_UP_LOW_VOL,
    REGIME_UNKNOWN,
    adx,
    atr,
    bollinger,
    confirmed_swings,
    donchian,
    ema,
    ema_slope,
    macd,
    regime,
    regime_warmup,
    rolling_median,
    rolling_volatility,
    rolling_vwap,
    rsi,
    sma,
    stochastic,
    support_resistance,
    true_range,
    volume_zscore,
    vwap_distance,
    wma,
)

FloatArray = npt.NDArray[np.float64]
Bars = dict[str, FloatArray]
Outputs = tuple[npt.NDArray[np.generic], ...]

RTOL = 1e-9
# Prices are near 100 and oscillators in [0, 100]: 1e-10 absolute is far below anything that matters, and lets
# values that cross zero (MACD) be compared where a relative tolerance means nothing.
ATOL = 1e-10
N_BARS = 5_000
# Around the warm-ups of periods 2, 14 and 30 (ADX's is 2 * period - 1), plus empty and single-bar series.
EDGE_LENGTHS = (0, 1, 2, 3, 13, 14, 15, 27, 28, 29, 30, 59, 60)
PERIODS = (2, 14, 30)
SMALL_REGIME = {"trend_period": 50, "adx_period": 14, "vol_period": 20, "vol_lookback": 200}


def random_walk(n: int, seed: int) -> Bars:
    """Realistic candles: a log random walk near 100 with 0.2 % bar moves, wicks up to 0.1 %, positive volume
    with a stretch of zero volume (a halted market) in the middle."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    open_ = np.concatenate([[100.0], close[:-1]])[:n]
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.001, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.001, n))
    volume = rng.uniform(1.0, 10.0, n)
    volume[n // 2 : n // 2 + 40] = 0.0
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def head(bars: Bars, n: int) -> Bars:
    return {k: v[:n] for k, v in bars.items()}


@pytest.fixture(scope="module")
def bars() -> Bars:
    return random_walk(N_BARS, seed=20250101)


def assert_same(actual: npt.NDArray[np.generic], expected: npt.NDArray[np.generic]) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg="NaN positions differ")
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, equal_nan=True)


def nan_array(*values: float) -> FloatArray:
    return np.array(values, dtype=np.float64)


# TA-Lib: same conventions, same numbers ---------------------------------------------------------------------

Pair = tuple[Callable[[Bars, int], Outputs], Callable[[Bars, int], Outputs]]

TALIB_CASES: dict[str, Pair] = {
    "sma": (lambda b, p: (sma(b["close"], p),), lambda b, p: (talib.SMA(b["close"], p),)),
    "ema": (lambda b, p: (ema(b["close"], p),), lambda b, p: (talib.EMA(b["close"], p),)),
    "wma": (lambda b, p: (wma(b["close"], p),), lambda b, p: (talib.WMA(b["close"], p),)),
    "rsi": (lambda b, p: (rsi(b["close"], p),), lambda b, p: (talib.RSI(b["close"], p),)),
    "atr": (
        lambda b, p: (atr(b["high"], b["low"], b["close"], p),),
        lambda b, p: (talib.ATR(b["high"], b["low"], b["close"], p),),
    ),
    "true_range": (
        lambda b, p: (true_range(b["high"], b["low"], b["close"]),),
        lambda b, p: (talib.TRANGE(b["high"], b["low"], b["close"]),),
    ),
    "bollinger": (
        lambda b, p: bollinger(b["close"], p, 2.0),
        # BBANDS returns (upper, middle, lower); its deviation is the population one (ddof=0).
        lambda b, p: tuple(talib.BBANDS(b["close"], p, 2.0, 2.0, MA_Type.SMA)[i] for i in (1, 0, 2)),
    ),
    "bollinger_1.5": (
        lambda b, p: bollinger(b["close"], p, 1.5),
        lambda b, p: tuple(talib.BBANDS(b["close"], p, 1.5, 1.5, MA_Type.SMA)[i] for i in (1, 0, 2)),
    ),
    "adx": (
        lambda b, p: adx(b["high"], b["low"], b["close"], p),
        lambda b, p: (
            talib.ADX(b["high"], b["low"], b["close"], p),
            talib.PLUS_DI(b["high"], b["low"], b["close"], p),
            talib.MINUS_DI(b["high"], b["low"], b["close"], p),
        ),
    ),
    "donchian": (
        lambda b, p: donchian(b["high"], b["low"], p),
        lambda b, p: (
            talib.MAX(b["high"], p),
            talib.MIN(b["low"], p),
            (talib.MAX(b["high"], p) + talib.MIN(b["low"], p)) / 2.0,
        ),
    ),
}


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("name", sorted(TALIB_CASES))
def test_matches_talib(bars: Bars, name: str, period: int) -> None:
    ours, theirs = TALIB_CASES[name]
    for n in (*EDGE_LENGTHS, N_BARS):
        part = head(bars, n)
        for actual, expected in zip(ours(part, period), theirs(part, period), strict=True):
            assert_same(actual, expected)


@pytest.mark.parametrize(("k_period", "d_period", "smooth_k"), [(14, 3, 1), (14, 3, 3), (5, 1, 2), (30, 5, 4)])
def test_stochastic_matches_talib(bars: Bars, k_period: int, d_period: int, smooth_k: int) -> None:
    for n in (*EDGE_LENGTHS, N_BARS):
        h, lo, c = (bars[k][:n] for k in ("high", "low", "close"))
        k, d = stochastic(h, lo, c, k_period, d_period, smooth_k)
        slow_k, slow_d = talib.STOCH(h, lo, c, k_period, smooth_k, MA_Type.SMA, d_period, MA_Type.SMA)
        assert_same(d, slow_d)
        # TA-Lib reports slow %K only from the first %D bar; STOCHF's %D is the same SMA of raw %K without that
        # delay, so it checks our %K over its whole length, warm-up included.
        assert_same(k, talib.STOCHF(h, lo, c, k_period, smooth_k, MA_Type.SMA)[1])
        defined = ~np.isnan(slow_k)
        np.testing.assert_allclose(k[defined], slow_k[defined], rtol=RTOL, atol=ATOL)


def test_flat_stretches_match_talib(bars: Bars) -> None:
    # Zero true range, zero spread and zero moves: the division-by-zero corners. A flat start followed by the walk,
    # then the walk followed by a long flat stretch (where Wilder sums decay towards zero).
    walk = head(bars, 300)
    flat_then_walk = {k: np.concatenate([np.full(40, 100.0), v]) for k, v in walk.items()}
    walk_then_flat = {k: np.concatenate([v, np.full(400, walk["close"][-1])]) for k, v in walk.items()}
    for b in (flat_then_walk, walk_then_flat):
        for name in ("adx", "atr", "bollinger", "sma", "ema", "wma", "donchian"):
            ours, theirs = TALIB_CASES[name]
            for actual, expected in zip(ours(b, 5), theirs(b, 5), strict=True):
                assert_same(actual, expected)
    # RSI after moves that then stop: both averages decay together, so the ratio, and RSI, hold (TA-Lib agrees).
    assert_same(rsi(walk_then_flat["close"], 14), talib.RSI(walk_then_flat["close"], 14))


def test_talib_skips_leading_nans_as_we_do(bars: Bars) -> None:
    close = np.concatenate([np.full(7, np.nan), bars["close"][:500]])
    assert_same(ema(close, 14), talib.EMA(close, 14))
    assert_same(rsi(close, 14), talib.RSI(close, 14))


# MACD: textbook seeding, checked against pandas --------------------------------------------------------------


def ema_reference(values: pd.Series, span: int) -> pd.Series:
    """SMA-seeded EMA: NaN before the first full window, the window's mean on its last bar, then the recursion
    ``y = (1 - a) y + a x`` with ``a = 2 / (span + 1)`` (pandas ``ewm(adjust=False)`` from that seed)."""
    valid = values.dropna()
    if len(valid) < span:
        return pd.Series(np.nan, index=values.index)
    seeded = valid.copy()
    seeded.iloc[: span - 1] = np.nan
    seeded.iloc[span - 1] = valid.iloc[:span].mean()
    return seeded.ewm(span=span, adjust=False).mean().reindex(values.index)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (3, 10, 4), (1, 2, 1)])
def test_macd_matches_textbook_formula(bars: Bars, fast: int, slow: int, signal: int) -> None:
    # TA-Lib's MACD seeds the fast EMA with the SMA of the bars just before the slow EMA's first value (not of the
    # first `fast` bars) and reports the MACD line only from the signal's first bar, so its early values follow
    # another definition. The reference here is the textbook one: two EMAs each seeded at its own warm-up.
    for n in (*EDGE_LENGTHS, N_BARS):
        close = pd.Series(bars["close"][:n])
        line_ref = ema_reference(close, fast) - ema_reference(close, slow)
        signal_ref = ema_reference(line_ref, signal)
        line, signal_line, histogram = macd(close.to_numpy(), fast, slow, signal)
        assert_same(line, line_ref.to_numpy())
        assert_same(signal_line, signal_ref.to_numpy())
        assert_same(histogram, (line_ref - signal_ref).to_numpy())


def test_macd_agrees_with_talib_once_its_seeding_has_decayed(bars: Bars) -> None:
    line, signal_line, histogram = macd(bars["close"])
    t_line, t_signal, t_hist = talib.MACD(bars["close"], 12, 26, 9)
    assert not np.allclose(line[40:60], t_line[40:60], rtol=1e-6)
    late = slice(1_000, None)
    for ours, theirs in ((line, t_line), (signal_line, t_signal), (histogram, t_hist)):
        np.testing.assert_allclose(ours[late], theirs[late], rtol=RTOL, atol=ATOL)


# pandas formulas for what TA-Lib does not have ---------------------------------------------------------------


@pytest.mark.parametrize("period", [1, 5, 20, 60])
def test_rolling_vwap_matches_pandas(bars: Bars, period: int) -> None:
    for n in (*EDGE_LENGTHS, N_BARS):
        frame = pd.DataFrame(head(bars, n))
        typical = (frame["high"] + frame["low"] + frame["close"]) / 3.0
        pv = (typical * frame["volume"]).rolling(period).sum()
        volume = frame["volume"].rolling(period).sum()
        no_volume = (frame["volume"] != 0.0).rolling(period).sum() == 0
        expected = (pv / volume).mask(no_volume)
        actual = rolling_vwap(frame["high"], frame["low"], frame["close"], frame["volume"], period)
        assert_same(actual, expected.to_numpy())
    # The zero-volume stretch is 40 bars long: windows inside it have no price.
    assert np.isnan(rolling_vwap(bars["high"], bars["low"], bars["close"], bars["volume"], 20)[N_BARS // 2 + 39])


@pytest.mark.parametrize("period", [2, 5, 20, 100])
def test_rolling_volatility_matches_pandas(bars: Bars, period: int) -> None:
    for n in (*EDGE_LENGTHS, N_BARS):
        close = pd.Series(bars["close"][:n])
        expected = np.log(close).diff().rolling(period).std()
        assert_same(rolling_volatility(close, period), expected.to_numpy())


@pytest.mark.parametrize("period", [1, 2, 5, 20, 201])
def test_rolling_median_matches_pandas(bars: Bars, period: int) -> None:
    # Rounded so that windows hold ties, which a rank-based median must handle.
    values = np.round(bars["close"], 1)
    for n in (*EDGE_LENGTHS, N_BARS):
        expected = pd.Series(values[:n]).rolling(period).median().to_numpy()
        assert_same(rolling_median(values[:n], period), expected)


@pytest.mark.parametrize(("period", "lookback"), [(1, 1), (2, 1), (14, 1), (14, 5), (50, 12)])
def test_ema_slope_matches_pandas_ewm_from_the_sma_seed(bars: Bars, period: int, lookback: int) -> None:
    for n in (*EDGE_LENGTHS, N_BARS):
        line = ema_reference(pd.Series(bars["close"][:n]), period)
        expected = 100.0 * (line / line.shift(lookback) - 1.0)
        assert_same(ema_slope(bars["close"][:n], period, lookback), expected.to_numpy())


@pytest.mark.parametrize("period", [1, 5, 20, 60])
def test_vwap_distance_matches_pandas(bars: Bars, period: int) -> None:
    for n in (*EDGE_LENGTHS, N_BARS):
        frame = pd.DataFrame(head(bars, n))
        typical = (frame["high"] + frame["low"] + frame["close"]) / 3.0
        vwap = (typical * frame["volume"]).rolling(period).sum() / frame["volume"].rolling(period).sum()
        no_volume = (frame["volume"] != 0.0).rolling(period).sum() == 0
        expected = (100.0 * (frame["close"] / vwap - 1.0)).mask(no_volume)
        actual = vwap_distance(frame["high"], frame["low"], frame["close"], frame["volume"], period)
        assert_same(actual, expected.to_numpy())
    # Inside the 40-bar zero-volume stretch a 20-bar window has no VWAP to measure from.
    assert np.isnan(vwap_distance(bars["high"], bars["low"], bars["close"], bars["volume"], 20)[N_BARS // 2 + 39])


@pytest.mark.parametrize("period", [2, 5, 20, 100])
def test_volume_zscore_matches_pandas_population_std(bars: Bars, period: int) -> None:
    for n in (*EDGE_LENGTHS, N_BARS):
        volume = pd.Series(bars["volume"][:n])
        rolling = volume.rolling(period)
        std = rolling.std(ddof=0)
        expected = ((volume - rolling.mean()) / std).mask(std == 0.0).to_numpy()
        actual = volume_zscore(volume, period)
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg="NaN positions differ")
        # z-scores are of order 1, so an absolute tolerance. Not 1e-10: the rolling deviation's rounding is absolute
        # (a few ulps of the volumes), so two nearly equal volumes in a 2-bar window (7.0911 and 7.0921) leave
        # a z of 1 - 4e-9 instead of exactly 1 (pandas: 1 - 2e-11). Far below any threshold a rule would use.
        np.testing.assert_allclose(actual, expected, rtol=0.0, atol=1e-7, equal_nan=True)
    # Windows wholly inside the zero-volume stretch have no spread: NaN, not 0 / 0 noise.
    z = volume_zscore(bars["volume"], 20)
    assert np.isnan(z[N_BARS // 2 + 19 : N_BARS // 2 + 40]).all()
    assert np.isfinite(z[N_BARS // 2 + 18])


# hand-computed tables -----------------------------------------------------------------------------------------


def test_sma_ema_wma_by_hand() -> None:
    x = [2.0, 4.0, 6.0, 8.0, 4.0]
    assert_same(sma(x, 3), nan_array(np.nan, np.nan, 4.0, 6.0, 6.0))
    # alpha = 2 / 4: seed 4 (the mean of 2, 4, 6), then 4 + (8 - 4) / 2 = 6, then 6 + (4 - 6) / 2 = 5.
    assert_same(ema(x, 3), nan_array(np.nan, np.nan, 4.0, 6.0, 5.0))
    # weights 1, 2, 3 over 6: (2 + 8 + 18) / 6, (4 + 12 + 24) / 6, (6 + 16 + 12) / 6.
    assert_same(wma(x, 3), nan_array(np.nan, np.nan, 28 / 6, 40 / 6, 34 / 6))
    assert_same(sma(x, 1), np.array(x))
    assert_same(sma(x, 6), np.full(5, np.nan))


def test_rsi_by_hand() -> None:
    # Moves +1, -1, +1. Period 2: gains (1 + 0) / 2 and losses (0 + 1) / 2 give 50; then gain (0.5 + 1) / 2 = 0.75
    # and loss (0.5 + 0) / 2 = 0.25 give 75.
    assert_same(rsi([1.0, 2.0, 1.0, 2.0], 2), nan_array(np.nan, np.nan, 50.0, 75.0))
    up = np.arange(1.0, 31.0)
    assert_same(rsi(up, 14)[14:], np.full(16, 100.0))
    assert_same(rsi(up[::-1], 14)[14:], np.full(16, 0.0))
    # No move at all: neither buying nor selling pressure, so the midpoint (TA-Lib returns 0 here).
    assert_same(rsi(np.full(30, 7.0), 14)[14:], np.full(16, 50.0))
    assert np.isnan(rsi(up, 14)[:14]).all()


def test_rsi_keeps_its_value_through_a_flat_stretch_that_underflows_its_averages() -> None:
    # After a fall the average gain is exactly 0 and the average loss halves every bar (period 2) until it underflows
    # to 0 after about 1,075 bars. The RSI is 0 all along and must not jump to 50 when the loss reaches 0.
    falling_then_flat = np.concatenate([np.linspace(100.0, 90.0, 20), np.full(3_000, 90.0)])
    values = rsi(falling_then_flat, 2)
    assert (values[2:] == 0.0).all()
    # Mixed moves, then flat: gain and loss decay alike, so the ratio, and the RSI, stay where they were.
    mixed_then_flat = np.concatenate([[100.0, 101.0, 100.5, 101.5, 101.0], np.full(3_000, 101.0)])
    values = rsi(mixed_then_flat, 2)
    np.testing.assert_allclose(values[5:], values[4], rtol=1e-9)


def test_atr_and_true_range_by_hand() -> None:
    high = [10.0, 11.0, 12.0, 11.0]
    low = [9.0, 10.0, 10.0, 9.0]
    close = [9.5, 10.5, 11.0, 10.0]
    # TR: bar 1 max(1, |11 - 9.5|, |10 - 9.5|) = 1.5; bar 2 max(2, 1.5, 0.5) = 2; bar 3 max(2, 0, 2) = 2.
    assert_same(true_range(high, low, close), nan_array(np.nan, 1.5, 2.0, 2.0))
    # Period 2: mean of bars 1..2 = 1.75, then (1.75 * 1 + 2) / 2.
    assert_same(atr(high, low, close, 2), nan_array(np.nan, np.nan, 1.75, 1.875))


def test_stochastic_by_hand_and_flat_window() -> None:
    high = [2.0, 3.0, 4.0, 4.0]
    low = [1.0, 1.0, 2.0, 3.0]
    close = [1.5, 2.0, 3.0, 3.5]
    k, d = stochastic(high, low, close, k_period=3, d_period=2, smooth_k=1)
    # Bar 2: HH 4, LL 1 -> 100 * 2 / 3; bar 3: HH 4, LL 1 -> 100 * 2.5 / 3.
    assert_same(k, nan_array(np.nan, np.nan, 200 / 3, 250 / 3))
    assert_same(d, nan_array(np.nan, np.nan, np.nan, 225 / 3))
    # HH == LL: the close is the whole range; raw %K is 50 by our convention (TA-Lib gives 0).
    flat = np.full(10, 5.0)
    k, d = stochastic(flat, flat, flat, k_period=3, d_period=3, smooth_k=2)
    assert_same(k, np.r_[np.full(3, np.nan), np.full(7, 50.0)])
    assert_same(d, np.r_[np.full(5, np.nan), np.full(5, 50.0)])


def test_donchian_includes_the_current_bar() -> None:
    upper, lower, middle = donchian([1.0, 3.0, 2.0, 5.0], [0.0, 2.0, 1.0, 4.0], 2)
    assert_same(upper, nan_array(np.nan, 3.0, 3.0, 5.0))
    assert_same(lower, nan_array(np.nan, 0.0, 1.0, 1.0))
    assert_same(middle, nan_array(np.nan, 1.5, 2.0, 3.0))


def test_rolling_volatility_and_vwap_by_hand() -> None:
    close = np.exp(np.cumsum([0.0, 0.01, -0.01, 0.02]))
    # Returns 0.01, -0.01, 0.02; sample std of (0.01, -0.01) is 0.01 * sqrt(2), of (-0.01, 0.02) 0.015 * sqrt(2).
    assert_same(rolling_volatility(close, 2), nan_array(np.nan, np.nan, 0.01 * math.sqrt(2), 0.015 * math.sqrt(2)))
    high = [3.0, 6.0, 9.0]
    low = [3.0, 0.0, 9.0]
    close3 = [3.0, 3.0, 9.0]
    # Typical prices 3, 3, 9 with volumes 1, 0, 0: a window without volume has no price.
    assert_same(rolling_vwap(high, low, close3, [1.0, 0.0, 0.0], 2), nan_array(np.nan, 3.0, np.nan))
    assert_same(rolling_vwap(high, low, close3, [1.0, 1.0, 2.0], 2), nan_array(np.nan, 3.0, 7.0))


def test_ema_slope_vwap_distance_and_volume_zscore_by_hand() -> None:
    # EMA(1) is the series itself: slopes are plain percent changes; 0 in the denominator has no ratio.
    x = [100.0, 110.0, 99.0, 0.0, 5.0]
    assert_same(ema_slope(x, 1, 1), nan_array(np.nan, 10.0, -10.0, -100.0, np.nan))
    assert_same(ema_slope(x, 1, 2), nan_array(np.nan, np.nan, -1.0, -100.0, 100.0 * (5.0 / 99.0 - 1.0)))
    # EMA(3) of 2, 4, 6, 8 is 4, 6 (seed, then 4 + (8 - 4) / 2): +50 %.
    assert_same(ema_slope([2.0, 4.0, 6.0, 8.0], 3), nan_array(np.nan, np.nan, np.nan, 50.0))
    # Typical prices (h + l + c) / 3 of 100 and 107; volumes 1 and 3 give a VWAP of (100 + 3 * 107) / 4 = 105.25.
    high, low, close = [100.0, 112.0], [100.0, 104.0], [100.0, 105.0]
    assert_same(vwap_distance(high, low, close, [1.0, 3.0], 2), nan_array(np.nan, 100.0 * (105.0 / 105.25 - 1.0)))
    assert_same(vwap_distance(high, low, close, [0.0, 3.0], 2), nan_array(np.nan, 100.0 * (105.0 / 107.0 - 1.0)))
    assert_same(vwap_distance(high, low, close, [0.0, 0.0], 2), nan_array(np.nan, np.nan))
    # Window 1, 2, 3, 6: mean 3, population std sqrt(14 / 4); the last bar is 3 / sqrt(3.5) above.
    assert_same(volume_zscore([1.0, 2.0, 3.0, 6.0], 4), nan_array(np.nan, np.nan, np.nan, 3.0 / math.sqrt(3.5)))
    # Windows (1, 3) and (3, 1): mean 2, std 1; the flat window (1, 1) has no z-score.
    assert_same(volume_zscore([1.0, 3.0, 1.0, 1.0], 2), nan_array(np.nan, 1.0, -1.0, np.nan))


def test_bollinger_by_hand() -> None:
    middle, upper, lower = bollinger([1.0, 3.0, 5.0], period=2, num_std=2.0)
    # Population std of (1, 3) and (3, 5) is 1.
    assert_same(middle, nan_array(np.nan, 2.0, 4.0))
    assert_same(upper, nan_array(np.nan, 4.0, 6.0))
    assert_same(lower, nan_array(np.nan, 0.0, 2.0))


def test_averages_of_a_flat_stretch_are_the_price_exactly() -> None:
    # After noise, a market that stops at 3333.3: running sums carry rounding from the noisy bars, but averages of
    # different periods must agree exactly there, or a crossover rule would trade on the last bit.
    rng = np.random.default_rng(5)
    x = np.round(np.concatenate([rng.normal(3333.3, 5.0, 500), np.full(2000, 3333.3)]), 1)
    flat = slice(700, None)
    for period in (5, 20, 50):
        assert (sma(x, period)[flat] == 3333.3).all()
        assert (wma(x, period)[flat] == 3333.3).all()
        assert (ema(x, period)[1500:] == 3333.3).all()
        middle, upper, lower = bollinger(x, period)
        assert (middle[flat] == 3333.3).all()
        assert (upper[flat] == 3333.3).all()
        assert (lower[flat] == 3333.3).all()


# structural properties over every indicator ---------------------------------------------------------------------

ALL: dict[str, Callable[[Bars], Outputs]] = {
    "sma": lambda b: (sma(b["close"], 10),),
    "ema": lambda b: (ema(b["close"], 10),),
    "wma": lambda b: (wma(b["close"], 10),),
    "rsi": lambda b: (rsi(b["close"], 14),),
    "true_range": lambda b: (true_range(b["high"], b["low"], b["close"]),),
    "atr": lambda b: (atr(b["high"], b["low"], b["close"], 14),),
    "bollinger": lambda b: bollinger(b["close"], 20, 2.0),
    "stochastic": lambda b: stochastic(b["high"], b["low"], b["close"], 14, 3, 3),
    "macd": lambda b: macd(b["close"], 12, 26, 9),
    "rolling_vwap": lambda b: (rolling_vwap(b["high"], b["low"], b["close"], b["volume"], 20),),
    "donchian": lambda b: donchian(b["high"], b["low"], 20),
    "rolling_volatility": lambda b: (rolling_volatility(b["close"], 20),),
    "rolling_median": lambda b: (rolling_median(b["close"], 25),),
    "adx": lambda b: adx(b["high"], b["low"], b["close"], 14),
    "regime": lambda b: (regime(b["high"], b["low"], b["close"], **SMALL_REGIME),),
    # A look-back longer than the EMA's warm-up: after a gap the EMA is back before the look-back has been.
    "ema_slope": lambda b: (ema_slope(b["close"], 3, 10),),
    "vwap_distance": lambda b: (vwap_distance(b["high"], b["low"], b["close"], b["volume"], 20),),
    "volume_zscore": lambda b: (volume_zscore(b["volume"], 20),),
    "confirmed_swings": lambda b: confirmed_swings(b["high"], b["low"], 3),
    "support_resistance": lambda b: support_resistance(b["high"], b["low"], b["close"], 3, 8),
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_causal_later_bars_never_change_earlier_outputs(name: str) -> None:
    compute = ALL[name]
    base = random_walk(1_200, seed=11)
    other = random_walk(1_200, seed=12)
    reference = compute(base)
    for cut in (0, 1, 9, 57, 300, 640, 1_100):
        changed = {k: np.concatenate([v[: cut + 1], other[k][cut + 1 :] * 1.3]) for k, v in base.items()}
        for before, after in zip(reference, compute(changed), strict=True):
            np.testing.assert_array_equal(after[: cut + 1], before[: cut + 1])


@pytest.mark.parametrize("name", sorted(ALL))
def test_a_gap_restarts_the_indicator(name: str) -> None:
    # A missing bar (NaN everywhere) at bar j: outputs before it are those of the prefix, its own are missing, and
    # after it the indicator starts again as on a series that began at j + 1.
    compute = ALL[name]
    base = random_walk(1_200, seed=13)
    j = 500
    gapped = {k: np.where(np.arange(v.size) == j, np.nan, v) for k, v in base.items()}
    before = compute(head(base, j))
    after = compute({k: v[j + 1 :] for k, v in base.items()})
    for out, pre, post in zip(compute(gapped), before, after, strict=True):
        np.testing.assert_array_equal(out[:j], pre)
        missing = REGIME_UNKNOWN if out.dtype == np.int8 else np.nan
        np.testing.assert_array_equal(out[j], missing)
        np.testing.assert_array_equal(out[j + 1 :], post)


def test_read_only_inputs_like_candles_arrays(bars: Bars) -> None:
    frozen = {k: v.copy() for k, v in bars.items()}
    for v in frozen.values():
        v.flags.writeable = False
    assert_same(sma(frozen["close"], 20), sma(bars["close"], 20))
    assert_same(atr(frozen["high"], frozen["low"], frozen["close"]), atr(bars["high"], bars["low"], bars["close"]))


def test_accepts_lists_series_and_numpy_integers(bars: Bars) -> None:
    close = bars["close"][:100]
    expected = sma(close, 5)
    assert_same(sma(list(close), 5), expected)
    assert_same(sma(pd.Series(close), np.int64(5)), expected)
    assert_same(sma(bars["close"][:200:2], 5), sma(np.array(bars["close"][:200:2]), 5))
    assert sma(close, 5).dtype == np.float64


# bad arguments ----------------------------------------------------------------------------------------------------

X = np.linspace(1.0, 2.0, 50)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sma(X, 0), "period must be an integer >= 1, got 0"),
        (lambda: ema(X, 2.0), "period must be an integer >= 1, got 2.0"),
        (lambda: wma(X, True), "period must be an integer >= 1, got True"),
        (lambda: rsi(X, "14"), "period must be an integer >= 1, got '14'"),
        (lambda: atr(X, X, X, -3), "period must be an integer >= 1, got -3"),
        (lambda: rolling_volatility(X, 1), "period must be an integer >= 2, got 1"),
        (lambda: rolling_median(X, 0), "period must be"),
        (lambda: rolling_vwap(X, X, X, X, 0), "period must be"),
        (lambda: donchian(X, X, 0), "period must be"),
        (lambda: adx(X, X, X, 0), "period must be"),
        (lambda: bollinger(X, 0), "period must be"),
        (lambda: bollinger(X, 20, -1.0), "num_std must be a finite number >= 0, got -1.0"),
        (lambda: bollinger(X, 20, math.nan), "num_std must be a finite number"),
        (lambda: bollinger(X, 20, "2"), "num_std must be a finite number"),
        (lambda: stochastic(X, X, X, k_period=0), "k_period must be an integer >= 1, got 0"),
        (lambda: stochastic(X, X, X, d_period=0), "d_period must be an integer >= 1, got 0"),
        (lambda: stochastic(X, X, X, smooth_k=0), "smooth_k must be an integer >= 1, got 0"),
        (lambda: macd(X, fast=0), "fast must be an integer >= 1, got 0"),
        (lambda: macd(X, slow=0), "slow must be an integer >= 1, got 0"),
        (lambda: macd(X, signal=0), "signal must be an integer >= 1, got 0"),
        (lambda: macd(X, fast=26, slow=12), "fast must be smaller than slow, got fast=26, slow=12"),
        (lambda: regime(X, X, X, trend_period=0), "trend_period must be an integer >= 1"),
        (lambda: regime(X, X, X, adx_period=0), "adx_period must be an integer >= 1"),
        (lambda: regime(X, X, X, adx_threshold=101.0), "adx_threshold must be a finite number from 0 to 100"),
        (lambda: regime(X, X, X, vol_period=1), "vol_period must be an integer >= 2, got 1"),
        (lambda: regime(X, X, X, vol_lookback=0), "vol_lookback must be an integer >= 1, got 0"),
        (lambda: regime_warmup(vol_lookback=0), "vol_lookback must be an integer >= 1, got 0"),
        (lambda: ema_slope(X, 0), "period must be an integer >= 1, got 0"),
        (lambda: ema_slope(X, 5, 0), "lookback must be an integer >= 1, got 0"),
        (lambda: vwap_distance(X, X, X, X, 0), "period must be an integer >= 1, got 0"),
        (lambda: vwap_distance(X, X, X, X[1:], 5), "volume has 49 values, high has 50"),
        (lambda: volume_zscore(X, 1), "period must be an integer >= 2, got 1"),
        (lambda: confirmed_swings(X, X, 0), "k must be an integer >= 1, got 0"),
        (lambda: support_resistance(X, X, X, 2, 0), "memory must be an integer >= 1, got 0"),
        (lambda: support_resistance(X, X, X[:3], 2, 5), "close has 3 values, high has 50"),
        (lambda: atr(X, X[:-1], X), "low has 49 values, high has 50"),
        (lambda: rolling_vwap(X, X, X, X[:10], 5), "volume has 10 values, high has 50"),
        (lambda: stochastic(X, X, X[1:]), "close has 49 values, high has 50"),
        (lambda: sma(np.ones((5, 2)), 2), r"values must be a 1-D array, got shape \(5, 2\)"),
        (lambda: sma(["a", "b"], 2), "values must be a 1-D array of numbers"),
        (lambda: sma(3.0, 2), r"values must be a 1-D array, got shape \(\)"),
    ],
)
def test_bad_arguments_raise_config_error_naming_them(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()


def test_short_series_are_all_nan_not_errors() -> None:
    three = [1.0, 2.0, 3.0]
    assert np.isnan(sma(three, 10)).all()
    assert np.isnan(adx(three, three, three, 14)[0]).all()
    assert (regime(three, three, three) == REGIME_UNKNOWN).all()
    assert sma([], 3).shape == (0,)
    assert regime([], [], []).dtype == np.int8


# regimes ------------------------------------------------------------------------------------------------------------


def steady_trend(n: int, drift: float, seed: int) -> Bars:
    """A steady trend of ``drift`` log-return per bar with noise a third of it; wicks proportional to price."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(drift + rng.normal(0.0, abs(drift) / 3.0, n)))
    wick = close * abs(drift) / 2.0
    return {"high": close + wick, "low": close - wick, "close": close}


def noisy_flat(n: int, seed: int, sigma: FloatArray | float = 0.05) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100.0 + rng.normal(0.0, 1.0, n) * sigma
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) + rng.uniform(0.0, 0.02, n)
    low = np.minimum(open_, close) - rng.uniform(0.0, 0.02, n)
    return {"high": high, "low": low, "close": close}


def regime_of(b: Bars, **params: float) -> npt.NDArray[np.int8]:
    return regime(b["high"], b["low"], b["close"], **{**SMALL_REGIME, **params})  # type: ignore[arg-type]


def test_regime_codes_and_names() -> None:
    codes = [
        REGIME_TREND_UP_LOW_VOL,
        REGIME_TREND_UP_HIGH_VOL,
        REGIME_TREND_DOWN_LOW_VOL,
        REGIME_TREND_DOWN_HIGH_VOL,
        REGIME_RANGE_LOW_VOL,
        REGIME_RANGE_HIGH_VOL,
    ]
    assert codes == list(range(6))
    assert len(REGIME_NAMES) == 6
    assert REGIME_NAMES[REGIME_TREND_DOWN_HIGH_VOL] == "trend_down_high_vol"
    assert REGIME_UNKNOWN == -1


def test_regime_warmup_is_unknown_then_known() -> None:
    b = steady_trend(1_500, 0.001, seed=1)
    warm = regime_warmup(**SMALL_REGIME)
    assert warm == 20 + 200 - 1
    codes = regime_of(b)
    assert (codes[:warm] == REGIME_UNKNOWN).all()
    assert (codes[warm:] != REGIME_UNKNOWN).all()
    # With the default 1000-bar volatility lookback the warm-up is 1099 bars.
    assert regime_warmup() == 1_099
    default = regime(b["high"], b["low"], b["close"])
    assert (default[:1_099] == REGIME_UNKNOWN).all()
    assert (default[1_099:] != REGIME_UNKNOWN).all()


def test_regime_steady_uptrend_and_downtrend() -> None:
    warm = regime_warmup(**SMALL_REGIME)
    up = regime_of(steady_trend(2_000, 0.001, seed=2))[warm:]
    assert np.isin(up, [REGIME_TREND_UP_LOW_VOL, REGIME_TREND_UP_HIGH_VOL]).all()
    down = regime_of(steady_trend(2_000, -0.001, seed=3))[warm:]
    assert np.isin(down, [REGIME_TREND_DOWN_LOW_VOL, REGIME_TREND_DOWN_HIGH_VOL]).all()


def test_regime_flat_noise_is_a_range() -> None:
    warm = regime_warmup(**SMALL_REGIME)
    codes = regime_of(noisy_flat(3_000, seed=4))[warm:]
    in_range = np.isin(codes, [REGIME_RANGE_LOW_VOL, REGIME_RANGE_HIGH_VOL])
    # ADX of pure noise wanders above 25 now and then for a few bars; that is ADX, not a trend call to fix.
    assert in_range.mean() > 0.9
    # Volatility is stationary, so it sits above its own median about half the time.
    assert 0.3 < (codes % 2 == 1).mean() < 0.7


def test_regime_volatility_burst_flips_to_high_volatility() -> None:
    burst = 1_500
    sigma = np.where(np.arange(2_000) >= burst, 0.5, 0.05)
    codes = regime_of(noisy_flat(2_000, seed=6, sigma=sigma), vol_lookback=500)
    # Once most of the 20-return volatility window is inside the burst, and while the burst is still a minority of
    # the 500-bar median window, every bar is high-volatility.
    during = codes[burst + 12 : burst + 200]
    assert np.isin(during, [REGIME_TREND_UP_HIGH_VOL, REGIME_TREND_DOWN_HIGH_VOL, REGIME_RANGE_HIGH_VOL]).all()
    assert (codes[1_000:burst] % 2 == 0).any()
