"""The demo market: deterministic, valid under the data contract, and carrying the structure its model promises."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from stratlab.data import load_ohlcv, validate_frame
from stratlab.data.demo import (
    DEFAULT_SYMBOLS,
    DemoPaths,
    DemoSpec,
    DemoSymbol,
    Regime,
    generate_demo_market,
    generate_demo_paths,
    write_demo_market,
)
from stratlab.data.store import MarketStore
from stratlab.data.timeframes import parse_timeframe
from stratlab.errors import ConfigError
from tests.conftest import FIVE_MIN_MS, JAN_2025_MS, run_cli

BARS_PER_DAY = 24 * 12
DAYS_2025 = (datetime(2026, 1, 1, tzinfo=UTC) - datetime(2025, 1, 1, tzinfo=UTC)).days
BARS_2025 = DAYS_2025 * BARS_PER_DAY
WEEK_BARS = 7 * BARS_PER_DAY
START_PRICES = {"BTC": 95_000.0, "ETH": 3_300.0}


@pytest.fixture(scope="module")
def paths() -> DemoPaths:
    return generate_demo_paths(DemoSpec())


def log_returns(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Close-to-close log returns, the first bar measured from its open."""
    close = frame["close"].to_numpy()
    return np.diff(np.log(close), prepend=math.log(frame["open"].iloc[0]))


def autocorrelation(values: npt.NDArray[np.float64], lag: int) -> float:
    return float(np.corrcoef(values[:-lag], values[lag:])[0, 1])


def variance_ratio(per_day: pd.DataFrame, kinds: list[Regime]) -> float:
    """Daily return variance over the sum of its 5m variances (Lo-MacKinlay): 1 for a random walk."""
    chosen = per_day[per_day["kind"].isin([int(k) for k in kinds])]
    return float((chosen["ret"] ** 2).mean() / chosen["sum_sq"].mean())


def parquet_digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.parquet"))
    }


# determinism -----------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_bars_and_regimes(paths: DemoPaths) -> None:
    again = generate_demo_paths(DemoSpec())
    assert list(again.frames) == ["BTC", "ETH"]
    for name, frame in paths.frames.items():
        pd.testing.assert_frame_equal(again.frames[name], frame, check_exact=True)
    np.testing.assert_array_equal(again.regime, paths.regime)


def test_another_seed_gives_other_bars(paths: DemoPaths) -> None:
    other = generate_demo_paths(DemoSpec(seed=8))
    for name, frame in paths.frames.items():
        assert not np.array_equal(other.frames[name]["close"].to_numpy(), frame["close"].to_numpy())
        assert not np.array_equal(other.frames[name]["volume"].to_numpy(), frame["volume"].to_numpy())
    assert not np.array_equal(other.regime, paths.regime)


def test_a_symbol_does_not_depend_on_which_others_are_generated(paths: DemoPaths) -> None:
    btc_alone = generate_demo_market(DemoSpec(symbols=(DEFAULT_SYMBOLS[0],)))
    assert list(btc_alone) == ["BTC"]
    pd.testing.assert_frame_equal(btc_alone["BTC"], paths.frames["BTC"], check_exact=True)


# shape and the data contract -----------------------------------------------------------------------------


def test_frames_have_the_contract_columns_and_a_full_year_without_gaps(paths: DemoPaths) -> None:
    assert paths.regime.shape == (BARS_2025,)
    for frame in paths.frames.values():
        assert list(frame.columns) == ["timestamp_ms", "open", "high", "low", "close", "volume"]
        assert frame["timestamp_ms"].dtype == np.int64
        assert all(frame[c].dtype == np.float64 for c in ("open", "high", "low", "close", "volume"))
        ts = frame["timestamp_ms"].to_numpy()
        assert len(ts) == BARS_2025
        assert ts[0] == JAN_2025_MS
        assert np.all(np.diff(ts) == FIVE_MIN_MS)
        np.testing.assert_array_equal(ts, paths.timestamp_ms)


def test_bars_are_internally_consistent(paths: DemoPaths) -> None:
    for frame in paths.frames.values():
        o, h, lo, c, v = (frame[name].to_numpy() for name in ("open", "high", "low", "close", "volume"))
        assert np.isfinite(np.column_stack([o, h, lo, c, v])).all()
        assert (lo > 0).all()
        assert (lo <= np.minimum(o, c)).all()
        assert (h >= np.maximum(o, c)).all()
        assert (v >= 0).all()
        # Each bar opens where the previous one closed.
        np.testing.assert_array_equal(o[1:], c[:-1])


def test_intrabar_ranges_match_close_to_close_volatility(paths: DemoPaths) -> None:
    """Parkinson (1980): for Brownian motion E[ln(H/L)²] = 4 ln 2 σ², so ranges must agree with E[r²]."""
    for frame in paths.frames.values():
        o, h, lo, c = (frame[name].to_numpy() for name in ("open", "high", "low", "close"))
        parkinson_variance = np.mean(np.log(h / lo) ** 2) / (4.0 * math.log(2.0))
        close_variance = np.mean(np.log(c / o) ** 2)
        assert 0.8 < parkinson_variance / close_variance < 1.2
        # Wicks on both sides in nearly every bar: high/low are not just the body.
        assert np.mean(h > np.maximum(o, c)) > 0.9
        assert np.mean(lo < np.minimum(o, c)) > 0.9
        median_range_pct = np.median((h - lo) / c) * 100.0
        assert 0.05 < median_range_pct < 0.6


def test_price_scale_and_ticks(paths: DemoPaths) -> None:
    ticks = {"BTC": 1.0, "ETH": 0.1}
    for name, frame in paths.frames.items():
        start = START_PRICES[name]
        assert frame["open"].iloc[0] == start
        prices = frame[["open", "high", "low", "close"]].to_numpy()
        assert prices.min() > start / 3.0
        assert prices.max() < start * 3.0
        in_ticks = prices / ticks[name]
        np.testing.assert_allclose(in_ticks, np.round(in_ticks), rtol=0, atol=1e-6)


def test_realised_volatility_is_crypto_like(paths: DemoPaths) -> None:
    annual = {
        name: float(np.std(log_returns(frame)) * math.sqrt(BARS_PER_DAY * 365)) for name, frame in paths.frames.items()
    }
    assert 0.3 < annual["BTC"] < 0.8
    assert annual["BTC"] < annual["ETH"] < 1.2


# statistical structure ---------------------------------------------------------------------------------------


def test_btc_and_eth_returns_are_correlated(paths: DemoPaths) -> None:
    correlation = np.corrcoef(log_returns(paths.frames["BTC"]), log_returns(paths.frames["ETH"]))[0, 1]
    assert 0.6 < correlation < 0.9


def test_volatility_clusters(paths: DemoPaths) -> None:
    for frame in paths.frames.values():
        returns = log_returns(frame)
        for lag in range(1, 11):
            assert autocorrelation(np.abs(returns), lag) > 0.15
            assert abs(autocorrelation(returns, lag)) < 0.05


def test_returns_have_fat_tails_and_jumps(paths: DemoPaths) -> None:
    for frame in paths.frames.values():
        returns = pd.Series(log_returns(frame))
        standardised = (returns - returns.mean()) / returns.std(ddof=0)
        excess_kurtosis = float(np.mean(standardised.to_numpy() ** 4)) - 3.0
        assert excess_kurtosis > 20.0
        # Jumps: moves far beyond the local scale (a robust sigma from the day around each bar), which
        # Gaussian shocks, even with clustered volatility, practically never produce.
        local_sigma = returns.abs().rolling(BARS_PER_DAY, center=True, min_periods=BARS_PER_DAY // 4).median()
        local_sigma /= 0.6745
        assert int((returns.abs() / local_sigma > 10.0).sum()) >= 5


def test_hidden_regimes_cover_every_kind_and_last_days_to_weeks(paths: DemoPaths) -> None:
    regime = paths.regime
    assert regime.dtype == np.int8
    assert set(np.unique(regime).tolist()) == {int(r) for r in Regime}
    boundaries = np.flatnonzero(np.diff(regime)) + 1
    lengths_days = np.diff(np.concatenate([[0], boundaries, [regime.size]])) / BARS_PER_DAY
    # The first and last segments are cut by the year's edges, so only inner ones have their full length.
    inner = lengths_days[1:-1]
    assert inner.size >= 10
    assert inner.min() >= 0.9
    assert 3.0 < np.median(inner) < 30.0


def test_regimes_shape_the_returns(paths: DemoPaths) -> None:
    regime = paths.regime
    for frame in paths.frames.values():
        returns = log_returns(frame)
        mean_per_day = {r: returns[regime == r].mean() * BARS_PER_DAY for r in Regime}
        assert mean_per_day[Regime.TREND_UP] > 0.003
        assert mean_per_day[Regime.TREND_DOWN] < -0.003
        assert abs(mean_per_day[Regime.RANGE]) < 0.003

        weekly = pd.Series(np.log(frame["close"].to_numpy())).diff(WEEK_BARS).dropna()
        assert weekly.max() > math.log(1.10)
        assert weekly.min() < math.log(1 / 1.10)

        # Variance ratio of days lying wholly in one regime: a range pulls back (ratio well below 1).
        days = pd.DataFrame({"day": np.arange(returns.size) // BARS_PER_DAY, "r": returns, "regime": regime})
        per_day = days.groupby("day").agg(
            ret=("r", "sum"),
            sum_sq=("r", lambda r: float(np.sum(r**2))),
            kinds=("regime", "nunique"),
            kind=("regime", "first"),
        )
        per_day = per_day[per_day["kinds"] == 1]
        ranging = variance_ratio(per_day, [Regime.RANGE])
        trending = variance_ratio(per_day, [Regime.TREND_UP, Regime.TREND_DOWN])
        assert ranging < 0.6
        assert trending > ranging + 0.2


def test_volume_has_intraday_seasonality_and_follows_volatility(paths: DemoPaths) -> None:
    for name, frame in paths.frames.items():
        volume = frame["volume"].to_numpy()
        hour = (frame["timestamp_ms"].to_numpy() // 3_600_000) % 24
        by_hour = pd.Series(volume).groupby(hour).mean()
        assert by_hour.max() / by_hour.min() > 1.4
        busiest, quietest = int(by_hour.to_numpy().argmax()), int(by_hour.to_numpy().argmin())
        assert 12 <= by_hour.index[busiest] <= 18
        assert by_hour.index[quietest] <= 6
        assert np.corrcoef(volume, np.abs(log_returns(frame)))[0, 1] > 0.3
        symbol = next(s for s in DEFAULT_SYMBOLS if s.name == name)
        assert volume.mean() == pytest.approx(symbol.daily_volume / BARS_PER_DAY, rel=0.01)


@pytest.mark.parametrize(("timeframe", "bars_per_day"), [("1m", 1440), ("1h", 24)])
def test_other_intraday_timeframes_give_valid_bars(timeframe: str, bars_per_day: int) -> None:
    frames = generate_demo_market(DemoSpec(timeframe=timeframe, months=1, start="2025-02-01"))
    for frame in frames.values():
        validate_frame(frame, f"demo {timeframe}", parse_timeframe(timeframe))
        assert len(frame) == 28 * bars_per_day
        np.testing.assert_array_equal(frame["open"].to_numpy()[1:], frame["close"].to_numpy()[:-1])


# configuration -------------------------------------------------------------------------------------------


def btc_with(**changes: Any) -> DemoSymbol:
    fields: dict[str, Any] = {
        "name": "BTC",
        "start_price": 95_000.0,
        "annual_vol": 0.5,
        "market_loading": 0.9,
        "daily_volume": 1.0,
    }
    return DemoSymbol(**{**fields, **changes})


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: DemoSpec(seed=-1), "seed"),
        (lambda: DemoSpec(seed=True), "seed"),
        (lambda: DemoSpec(months=0), "months"),
        (lambda: DemoSpec(start="2025-13-01"), "start"),
        (lambda: DemoSpec(timeframe="1d"), "timeframe"),
        (lambda: DemoSpec(timeframe="7m"), "timeframe"),
        (lambda: DemoSpec(symbols=()), "symbols"),
        (lambda: DemoSpec(symbols=(DEFAULT_SYMBOLS[0], DEFAULT_SYMBOLS[0])), "symbols"),
        (lambda: btc_with(start_price=0.0), "start_price"),
        (lambda: btc_with(start_price=float("nan")), "start_price"),
        (lambda: btc_with(annual_vol=-0.1), "annual_vol"),
        (lambda: btc_with(market_loading=1.0), "market_loading"),
        (lambda: btc_with(daily_volume=0.0), "daily_volume"),
        (lambda: btc_with(name="BTC/USD"), "symbol"),
    ],
)
def test_a_bad_field_is_named_in_the_error(build: Any, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build()
    assert str(caught.value).startswith(field)


# the store and the CLI -----------------------------------------------------------------------------------


def test_written_market_loads_and_covers_the_year(data_root: Path) -> None:
    summary = write_demo_market(MarketStore(data_root))
    for name in ("BTC", "ETH"):
        candles = load_ohlcv("demo", name, "5m", data_root=data_root)
        assert len(candles) == BARS_2025
        assert candles.timestamp_ms[0] == JAN_2025_MS
        assert np.all(np.diff(candles.timestamp_ms) == FIVE_MIN_MS)
    stored = sorted(data_root.rglob("*.parquet"))
    assert len(stored) == 2 * 12
    assert sorted(summary.files) == stored
    assert summary.size_bytes == sum(p.stat().st_size for p in stored)
    assert summary.bars == 2 * BARS_2025
    assert str(summary).startswith("demo market: BTC, ETH · 5m · 2025-01-01 .. 2025-12-31 · 210,240 bars · ")
    assert str(summary).endswith(f" MB in {data_root}")


def test_writing_again_with_the_same_seed_changes_no_byte(data_root: Path) -> None:
    store = MarketStore(data_root)
    write_demo_market(store, seed=3)
    first = parquet_digests(data_root)
    write_demo_market(store, seed=3)
    assert parquet_digests(data_root) == first
    write_demo_market(store, seed=4)
    assert parquet_digests(data_root).keys() == first.keys()
    assert parquet_digests(data_root) != first  # a new seed replaces every bar: incoming wins


def test_cli_writes_the_demo_market_and_prints_the_summary(data_root: Path) -> None:
    result = run_cli("data", "demo", "--data-root", str(data_root))
    assert result.returncode == 0, result.stderr
    size_mb = sum(p.stat().st_size for p in data_root.rglob("*.parquet")) / 1e6
    assert result.stdout.strip() == (
        f"demo market: BTC, ETH · 5m · 2025-01-01 .. 2025-12-31 · 210,240 bars · {size_mb:.1f} MB in {data_root}"
    )
    assert "INFO stratlab.data.demo: demo BTC 5m" in result.stderr
    assert load_ohlcv("demo", "ETH", "5m", data_root=data_root).close[-1] > 0


def test_cli_rejects_a_negative_seed(data_root: Path) -> None:
    result = run_cli("data", "demo", "--data-root", str(data_root), "--seed", "-1")
    assert result.returncode == 1
    assert "seed" in result.stderr
    assert not list(data_root.rglob("*.parquet"))
