"""A book fed closed bars one at a time trades exactly as ``run_backtest`` over the same bars.

Every strategy, every position mode, with take profit and stop loss (as % and as ATR multiples), funding and the early
stops: the book sees each bar only once it has closed, computes the strategy's signal on the bars seen so far, and
its trades, equity curve and exit reasons must equal the series backtest's bit for bit. The backtest is the
independent reference here: it reads the whole series at once (``simulate_nb``'s quiet-stretch loops), the book
never sees a bar before it closes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stratlab.data.candles import Candles
from stratlab.data.loader import load_ohlcv
from stratlab.engine import BacktestConfig, run_backtest
from stratlab.engine.schema import TRADE_DTYPE
from stratlab.live.book import Book
from stratlab.live.feeds import ClosedBar
from stratlab.strategies import get_strategy, strategy_names

START = 300  # warm-up bars before the first traded one
# scalping's coarser timeframes warm up later (the regime needs 120 half-hours): the grid case's idle stop (400 bars)
# would end its run before its first entry.
LATER_START = {"scalping": 750}

# Parameters that trade often on a few days of 5m bars, so every case has trades to compare.
PARAMS: dict[str, dict[str, object]] = {
    "ma_cross": {"fast": 5, "slow": 20},
    "rsi_reversion": {"period": 7},
    "bollinger_breakout": {"period": 10},
    "range_breakout": {},
    "stochastic": {},
    # 30-minute and 2-hour bars: warm within the six days (the regime needs 120 half-hours, 720 bars).
    "scalping": {"htf_ratio": 4, "min_confidence": 0.3},
}

MODES: dict[str, dict[str, Any]] = {
    "none": {"tp_pct": 1.5, "sl_pct": 0.8, "funding_bps_per_8h": 1.0, "slippage_bps": 2.0, "leverage": 3.0},
    "grid": {
        "position_mode": "grid", "grid_step_pct": 0.3, "grid_max_adds": 2, "size_pct": 30.0, "tp_atr": 4.0,
        "sl_atr": 3.0, "funding_bps_per_8h": -2.0, "max_idle_bars": 400,
    },
    "martingale": {
        "position_mode": "martingale", "martingale_mult": 1.5, "martingale_max_steps": 2, "size_pct": 20.0,
        "sl_pct": 0.5, "tp_pct": 0.5, "max_consecutive_losses": 6, "max_drawdown_stop_pct": 30.0,
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def candles(demo_root: Path) -> Candles:
    return load_ohlcv("demo", "BTC", "5m", "2025-03-01", "2025-03-06", data_root=demo_root)


def closed_bar(candles: Candles, i: int, *, last: bool) -> ClosedBar:
    return ClosedBar(
        int(candles.timestamp_ms[i]), float(candles.open[i]), float(candles.high[i]), float(candles.low[i]),
        float(candles.close[i]), float(candles.volume[i]), last=last,
    )  # fmt: skip


def params_for(strategy: str) -> dict[str, object]:
    return {**get_strategy(strategy).space.defaults(), **PARAMS.get(strategy, {})}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("strategy", strategy_names())
def test_a_book_fed_bar_by_bar_trades_as_the_backtest(candles: Candles, strategy: str, mode: str) -> None:
    config = BacktestConfig(**MODES[mode])
    params = params_for(strategy)
    start = LATER_START.get(strategy, START)
    book = Book(strategy, params, config, candles.slice(0, start))
    n = len(candles)
    equity = []
    trades = []
    for i in range(start, n):
        done = book.advance(closed_bar(candles, i, last=i == n - 1))
        equity.append(done.step.equity)
        trades.append(done.step.trades)
    stepped = np.concatenate(trades) if trades else np.zeros(0, dtype=TRADE_DTYPE)

    runner = get_strategy(strategy)
    expected = run_backtest(
        candles, runner.signals(candles, params), config, stops=runner.stops(candles, params), start=start
    )
    assert expected.n_trades >= 3, f"{strategy}/{mode}: too few trades to compare ({expected.n_trades})"
    assert stepped.shape == expected.trade_rows.shape
    for field in TRADE_DTYPE.names or ():
        np.testing.assert_array_equal(stepped[field], expected.trade_rows[field], err_msg=field)
    np.testing.assert_array_equal(np.array(equity), expected.equity)
    assert book.stepper.max_drawdown_fraction == expected.max_drawdown_fraction
    assert book.stepper.stop_reason == expected.stopped_early


def test_each_mode_exercises_what_it_names(candles: Candles) -> None:
    """The cases above are only worth something if they reach their rules: exits by level, grid adds, martingale
    sizing, funding paid, and an early stop somewhere."""
    reasons: set[str] = set()
    adds = 0
    funding = 0.0
    stops: set[str | None] = set()
    for strategy in strategy_names():
        for mode, values in MODES.items():
            params = params_for(strategy)
            runner = get_strategy(strategy)
            result = run_backtest(
                candles, runner.signals(candles, params), BacktestConfig(**values),
                stops=runner.stops(candles, params), start=START,
            )  # fmt: skip
            trades = result.trades
            reasons.update(trades["exit_reason"])
            adds += int(trades["adds"].sum()) if mode == "grid" else 0
            funding += float(np.abs(trades["funding"]).sum())
            stops.add(result.stopped_early)
    assert {"take_profit", "stop_loss", "signal", "end"} <= reasons
    assert adds > 0
    assert funding > 0
    assert stops - {None}
