"""Invariants of every backtest, on random candles, signals and configs (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratlab.data.candles import Candles
from stratlab.engine import BacktestConfig, run_backtest
from stratlab.engine.config import for_strategy
from stratlab.errors import ConfigError
from tests.engine.tables import START_MS, flat_bars, table

N_BARS = 120


@st.composite
def market(draw: st.DrawFn) -> Candles:
    seed = draw(st.integers(0, 2**32 - 1))
    volatility = draw(st.sampled_from([0.002, 0.01, 0.04]))
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, volatility, N_BARS)))
    # Opens gap away from the previous close now and then, so gap fills are exercised too.
    gaps = np.where(rng.random(N_BARS) < 0.1, rng.normal(0, 3 * volatility, N_BARS), 0.0)
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(gaps)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, volatility, N_BARS)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, volatility, N_BARS)))
    frame = pd.DataFrame(
        {
            "timestamp_ms": START_MS + 300_000 * np.arange(N_BARS, dtype=np.int64),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": np.ones(N_BARS),
        }
    )
    return Candles.from_frame(frame, source="test", symbol="X", timeframe="5m")


@st.composite
def signal_arrays(draw: st.DrawFn) -> np.ndarray:
    seed = draw(st.integers(0, 2**32 - 1))
    rate = draw(st.sampled_from([0.02, 0.1, 0.3]))
    rng = np.random.default_rng(seed)
    events = rng.random(N_BARS) < rate
    return np.where(events, rng.choice(np.array([-1, 1], dtype=np.int8), N_BARS), 0).astype(np.int8)


configs = st.builds(
    BacktestConfig,
    fee_bps=st.sampled_from([0.0, 4.5, 20.0]),
    slippage_bps=st.sampled_from([0.0, 2.0, 10.0]),
    tp_pct=st.sampled_from([None, 0.5, 2.0, 5.0]),
    sl_pct=st.sampled_from([None, 0.5, 1.0, 3.0]),
    position_mode=st.sampled_from(["none", "grid", "martingale"]),
    grid_step_pct=st.sampled_from([0.3, 1.0]),
    grid_max_adds=st.integers(0, 4),
    grid_size_mult=st.sampled_from([0.5, 1.0, 2.0]),
    martingale_mult=st.sampled_from([1.0, 1.5, 2.0]),
    martingale_max_steps=st.integers(0, 4),
    size_pct=st.sampled_from([10.0, 50.0, 100.0]),
    leverage=st.sampled_from([1.0, 3.0, 20.0]),
    on_opposite=st.sampled_from(["reverse", "close", "ignore"]),
    funding_bps_per_8h=st.sampled_from([0.0, 1.0, -3.0]),
    max_drawdown_stop_pct=st.sampled_from([None, 10.0, 30.0]),
    max_consecutive_losses=st.sampled_from([None, 2, 5]),
    max_idle_bars=st.sampled_from([None, 30]),
    max_holding_bars=st.sampled_from([None, 1, 12]),
    min_target_cost_multiple=st.sampled_from([None, 1.0, 5.0]),
)

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(candles=market(), sig=signal_arrays(), config=configs)
def test_final_equity_is_initial_plus_the_sum_of_trade_pnl(
    candles: Candles, sig: np.ndarray, config: BacktestConfig
) -> None:
    result = run_backtest(candles, sig, config)
    trades = result.trades
    assert result.final_equity == pytest.approx(config.initial_equity + trades["pnl"].sum(), rel=1e-9, abs=1e-6)
    # pnl is net: price pnl less fees and funding (slippage is inside the fill prices).
    price_pnl = trades["side"] * trades["size"] * (trades["exit_price"] - trades["entry_price"])
    np.testing.assert_allclose(trades["pnl"], price_pnl - trades["fees"] - trades["funding"], rtol=1e-9, atol=1e-6)
    assert (trades["fees"] >= 0).all() and (trades["slippage_cost"] >= 0).all()
    if config.fee_bps == 0:
        assert (trades["fees"] == 0).all()
    # Every position is closed by the end.
    assert result.position[-1] == 0.0


@PROPERTY_SETTINGS
@given(candles=market(), sig=signal_arrays(), config=configs)
def test_equity_never_changes_while_flat(candles: Candles, sig: np.ndarray, config: BacktestConfig) -> None:
    result = run_backtest(candles, sig, config)
    busy = np.zeros(N_BARS, dtype=bool)  # bars on which a position was open at some moment
    for trade in result.trades.itertuples():
        busy[trade.entry_bar : trade.exit_bar + 1] = True
    flat = ~busy
    flat_after_flat = flat[1:] & flat[:-1]
    np.testing.assert_array_equal(result.equity[1:][flat_after_flat], result.equity[:-1][flat_after_flat])
    assert (result.equity[: int(np.argmax(busy)) if busy.any() else N_BARS] == config.initial_equity).all()


@PROPERTY_SETTINGS
@given(candles=market(), sig=signal_arrays(), config=configs)
def test_every_fill_follows_its_signal(candles: Candles, sig: np.ndarray, config: BacktestConfig) -> None:
    result = run_backtest(candles, sig, config)
    trades = result.trades
    # An entry on bar b was decided by the signal on bar b - 1, of the same side; exits never precede entries.
    assert (trades["entry_bar"] >= 1).all()
    np.testing.assert_array_equal(sig[trades["entry_bar"] - 1], trades["side"])
    assert (trades["exit_bar"] >= trades["entry_bar"]).all()
    assert (trades["entry_bar"].diff().dropna() >= 0).all()
    # The entry fill is the open of its bar, moved by the slippage against the trader (without adds).
    plain = trades[trades["adds"] == 0]
    slip = config.slippage_bps / 10_000
    expected = candles.open[plain["entry_bar"]] * (1 + plain["side"] * slip)
    np.testing.assert_allclose(plain["entry_price"], expected, rtol=1e-12)


@PROPERTY_SETTINGS
@given(candles=market(), sig=signal_arrays(), config=configs)
def test_drawdown_is_the_peak_to_trough_of_the_marked_equity(
    candles: Candles, sig: np.ndarray, config: BacktestConfig
) -> None:
    result = run_backtest(candles, sig, config)
    equity = np.concatenate([[config.initial_equity], result.equity])
    peak = np.maximum.accumulate(equity)
    assert result.kpis["max_drawdown_pct"] == pytest.approx(((peak - equity) / peak).max() * 100, abs=1e-9)
    assert result.kpis["return_pct"] == pytest.approx((equity[-1] / equity[0] - 1) * 100, rel=1e-12, abs=1e-12)


def test_signals_are_checked_at_the_edge() -> None:
    candles = table([(100, 100, 100, 100)] * 3)
    with pytest.raises(ConfigError, match="expected 3 values"):
        run_backtest(candles, np.zeros(4, dtype=np.int8))
    with pytest.raises(ConfigError, match="bar 1 holds 2"):
        run_backtest(candles, np.array([0, 2, 0]))
    with pytest.raises(ConfigError, match="bar 2 holds -5"):
        run_backtest(candles, np.array([0, 0, -5], dtype=np.int8))
    with pytest.raises(ConfigError, match="start/end"):
        run_backtest(candles, np.zeros(3, dtype=np.int8), start=3)
    # Floats and wider ints holding -1/0/1 are accepted.
    assert run_backtest(candles, np.array([1.0, 0.0, 0.0])).n_trades == 1


def test_risk_sizing_without_any_stop_is_refused_where_config_and_strategy_meet() -> None:
    candles = table(flat_bars(3))
    with pytest.raises(ConfigError, match="risk_pct needs a stop loss"):
        run_backtest(candles, np.zeros(3, dtype=np.int8), {"risk_pct": 1})
    with pytest.raises(ConfigError, match=r"risk_pct needs a stop loss.*ma_cross sets no stops"):
        for_strategy({"risk_pct": 1}, {}, strategy_sets_stop_loss=False, strategy="ma_cross")
    # A strategy that sets its own stops may size by risk without a config stop.
    assert for_strategy({"risk_pct": 1}, {}, strategy_sets_stop_loss=True, strategy="scalping").risk_pct == 1


def test_a_strategys_default_sizing_yields_to_a_sizing_field_given() -> None:
    defaults = {"risk_pct": 0.5, "max_holding_bars": 36}
    own = for_strategy({}, defaults, strategy_sets_stop_loss=True, strategy="scalping")
    assert (own.risk_pct, own.max_holding_bars) == (0.5, 36)
    given = for_strategy({"size_units": 2.0}, defaults, strategy_sets_stop_loss=True, strategy="scalping")
    assert (given.risk_pct, given.size_units, given.max_holding_bars) == (None, 2.0, 36)
    assert (
        for_strategy({"max_holding_bars": 5}, defaults, strategy_sets_stop_loss=True, strategy="s").max_holding_bars
        == 5
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"fee_bps": -1}, "fee_bps"),
        ({"initial_equity": 0}, "initial_equity"),
        ({"sl_pct": 100}, "sl_pct"),
        ({"leverage": 0.5}, "leverage"),
        ({"position_mode": "pyramid"}, "position_mode"),
        ({"on_opposite": "flip"}, "on_opposite"),
        ({"grid_max_adds": 1.5}, "grid_max_adds"),
        ({"fee_bps": float("nan")}, "fee_bps"),
        ({"fees_bps": 1}, "fees_bps"),
        ({"tp_pct": 1, "tp_atr": 2}, "tp_pct and tp_atr"),
        ({"sl_pct": 1, "sl_atr": 2}, "sl_pct and sl_atr"),
        ({"min_target_cost_multiple": 0}, "min_target_cost_multiple"),
        ({"max_holding_bars": 0}, "max_holding_bars"),
    ],
)
def test_a_bad_config_field_is_one_line_naming_it(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        BacktestConfig(**changes)  # type: ignore[arg-type]
    message = str(caught.value)
    assert field in message and "\n" not in message
    with pytest.raises(ConfigError, match=field.split(maxsplit=1)[0]):
        BacktestConfig.from_mapping(changes)
