"""``step`` driven bar by bar from Python gives exactly what the whole-series kernel gives.

A paper runner will call ``step`` once per closed bar, with no knowledge of the bars to come; the series loop
(``simulate_nb``) takes its quiet stretches in tight loops of its own and calls ``step`` for the rest. Here every bar
goes through ``step`` (and the last through ``final_step``, the end of the data), one Python call each, and the
trades, equity, position log, drawdown and stop must match ``run_backtest`` bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratlab.data.candles import Candles
from stratlab.engine import BacktestConfig, BacktestResult, run_backtest
from stratlab.engine import _kernel as k
from stratlab.engine.schema import POSITION_CHANGE_DTYPE, TRADE_DTYPE, new_state, pack_settings
from tests.engine.tables import START_MS
from tests.engine.test_properties import N_BARS, configs, market, signal_arrays
from tests.engine.test_vs_reference import Stops, per_bar_stops


@dataclass
class Stepped:
    trades: npt.NDArray[np.void]
    equity: list[float]
    position_log: npt.NDArray[np.void]
    max_drawdown: float
    stop_reason: int
    stop_bar: int


def drive_step(
    candles: Candles, signals: npt.NDArray[np.int8], config: BacktestConfig, stops: Stops | None, start: int
) -> Stepped:
    """One ``step`` call per bar from ``start``, each given only that bar and the order of the bar before."""
    packed = pack_settings(config, candles.timeframe.approx_ms)
    state = new_state(packed)
    n = len(candles)
    trades = np.zeros(n + 1, dtype=TRADE_DTYPE)
    position_log = np.zeros(n + 1, dtype=POSITION_CHANGE_DTYPE)
    equity = []
    for bar in range(start, n):
        order = int(signals[bar - 1]) if bar > start else 0
        tp = float(stops.take_profit[bar - 1]) if stops is not None and order else math.nan
        sl = float(stops.stop_loss[bar - 1]) if stops is not None and order else math.nan
        rule = k.final_step if bar == n - 1 else k.step  # the caller knows where its data ends; step does not
        valid = rule(
            state[0], packed[0], trades, position_log, bar, int(candles.timestamp_ms[bar]),
            float(candles.open[bar]), float(candles.high[bar]), float(candles.low[bar]), float(candles.close[bar]),
            order, tp, sl,
        )  # fmt: skip
        assert valid
        equity.append(float(state[0]["equity"]))
    record = state[0]
    return Stepped(
        trades=trades[: record["n_trades"]],
        equity=equity,
        position_log=position_log[: record["n_changes"]],
        max_drawdown=float(record["max_drawdown"]),
        stop_reason=int(record["stop_reason"]),
        stop_bar=int(record["stop_bar"]),
    )


def assert_same_run(stepped: Stepped, result: BacktestResult) -> None:
    assert stepped.trades.shape == result.trade_rows.shape
    for field in TRADE_DTYPE.names or ():
        np.testing.assert_array_equal(stepped.trades[field], result.trade_rows[field], err_msg=field)
    np.testing.assert_array_equal(np.array(stepped.equity), result.equity)
    np.testing.assert_array_equal(stepped.position_log, result.position_changes)
    assert stepped.max_drawdown == result.max_drawdown_fraction
    assert (k.STOP_REASONS[stepped.stop_reason] or None) == result.stopped_early
    if result.stopped_at_bar is not None:
        assert stepped.stop_bar == result.stopped_at_bar


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), candles=market(), sig=signal_arrays(), config=configs, start=st.sampled_from([0, 0, 7]))
def test_step_bar_by_bar_equals_the_whole_series(
    data: st.DataObject, candles: Candles, sig: npt.NDArray[np.int8], config: BacktestConfig, start: int
) -> None:
    stops = data.draw(per_bar_stops(candles))
    result = run_backtest(candles, sig, config, stops=stops, start=start)
    assert_same_run(drive_step(candles, sig, config, stops, start), result)


def trending_market(seed: int, n: int = 400, volatility: float = 0.01) -> Candles:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, volatility, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    frame = pd.DataFrame(
        {
            "timestamp_ms": START_MS + 300_000 * np.arange(n, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, volatility, n))),
            "low": np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, volatility, n))),
            "close": close,
            "volume": np.ones(n),
        }
    )
    return Candles.from_frame(frame, source="test", symbol="X", timeframe="5m")


def random_signals(seed: int, n: int, rate: float) -> npt.NDArray[np.int8]:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < rate, rng.choice(np.array([-1, 1], dtype=np.int8), n), 0).astype(np.int8)


# Each case names what it must exercise, and checks that it did: a case that stops exercising it fails.
CASES: dict[str, tuple[dict[str, Any], Callable[[BacktestResult], object]]] = {
    "grid adds with funding": (
        {"position_mode": "grid", "size_pct": 20.0, "grid_step_pct": 0.5, "grid_max_adds": 4, "tp_pct": 3.0,
         "sl_pct": 4.0, "funding_bps_per_8h": 5.0},
        lambda r: r.trades["adds"].sum() > 0 and (r.trades["funding"] != 0).any(),
    ),
    "martingale": (
        {"position_mode": "martingale", "size_pct": 5.0, "martingale_mult": 2.0, "tp_pct": 1.0, "sl_pct": 1.0},
        lambda r: r.trades["size"].nunique() > 1 and (r.trades["exit_reason"] == "stop_loss").any(),
    ),
    "liquidation": (
        {"leverage": 50.0, "maintenance_margin_pct": 0.5},
        lambda r: (r.trades["exit_reason"] == "liquidation").any(),
    ),
    "max drawdown stop": (
        {"leverage": 5.0, "max_drawdown_stop_pct": 15.0},
        lambda r: r.stopped_early == "max_drawdown" and (r.trades["exit_reason"] == "early_stop").any(),
    ),
    "consecutive losses stop": (
        {"tp_pct": 3.0, "sl_pct": 0.3, "max_consecutive_losses": 3},
        lambda r: r.stopped_early == "max_consecutive_losses",
    ),
    "time-out": (
        {"max_holding_bars": 6, "sl_pct": 3.0, "on_opposite": "ignore"},
        lambda r: (r.trades["exit_reason"] == "time_out").any() and (r.trades["bars_held"] <= 6).all(),
    ),
    "idle stop": ({"max_idle_bars": 5, "tp_pct": 0.5, "sl_pct": 0.5}, lambda r: r.stopped_early == "max_idle_bars"),
    "close policy, end of data": (
        {"on_opposite": "close", "funding_bps_per_8h": -2.0},
        lambda r: (r.trades["exit_reason"] == "signal").any() and r.trades["exit_reason"].iloc[-1] == "end",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_step_equals_the_whole_series_where_each_rule_fires(case: str) -> None:
    changes, exercised = CASES[case]
    fired = False
    for seed in range(6):
        candles = trending_market(seed)
        sig = random_signals(seed + 100, len(candles), rate=0.01 if "idle" in case else 0.05)
        config = BacktestConfig(**changes)
        result = run_backtest(candles, sig, config)
        assert_same_run(drive_step(candles, sig, config, None, 0), result)
        fired = fired or bool(exercised(result))
    assert fired, f"{case}: no seed exercised the rule"


def test_step_refuses_an_order_other_than_minus_one_zero_or_one_and_changes_nothing() -> None:
    candles = trending_market(0, n=5)
    packed = pack_settings(BacktestConfig(), candles.timeframe.approx_ms)
    state = new_state(packed)
    before = state.copy()
    trades = np.zeros(6, dtype=TRADE_DTYPE)
    log = np.zeros(6, dtype=POSITION_CHANGE_DTYPE)
    assert not k.step(state[0], packed[0], trades, log, 1, START_MS, 100.0, 101.0, 99.0, 100.0, 2, math.nan, math.nan)
    # Field by field: the bytes between aligned fields are padding, which numba may write when it stores a record.
    for name in state.dtype.names:
        np.testing.assert_array_equal(state[name], before[name], err_msg=name)
    assert k.step(state[0], packed[0], trades, log, 1, START_MS, 100.0, 101.0, 99.0, 100.0, 1, math.nan, math.nan)
    assert state[0]["side"] == 1 and state[0]["n_changes"] == 1


def test_the_end_of_data_is_the_callers_rule_not_steps() -> None:
    # Stepping the last bar leaves the position open and marked; final_step closes it (reason "end").
    candles = trending_market(1, n=N_BARS)
    sig = np.zeros(N_BARS, dtype=np.int8)
    sig[3] = 1
    packed = pack_settings(BacktestConfig(), candles.timeframe.approx_ms)
    outputs = (np.zeros(N_BARS + 1, dtype=TRADE_DTYPE), np.zeros(N_BARS + 1, dtype=POSITION_CHANGE_DTYPE))
    for rule, trades_after in ((k.step, 0), (k.final_step, 1)):
        state = new_state(packed)
        for bar in range(N_BARS):
            order = int(sig[bar - 1]) if bar else 0
            last = bar == N_BARS - 1
            chosen = rule if last else k.step
            chosen(
                state[0], packed[0], *outputs, bar, START_MS,
                candles.open[bar], candles.high[bar], candles.low[bar], candles.close[bar], order, math.nan, math.nan,
            )  # fmt: skip
        assert state[0]["n_trades"] == trades_after
        assert (state[0]["side"] == 0) == (trades_after == 1)
    assert k.EXIT_REASONS[outputs[0][0]["exit_reason"]] == "end"
