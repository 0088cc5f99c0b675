"""One hand-written candle table per rule of the README's "Backtests" section.

Each expected number is worked out by hand in the test (the comment shows the arithmetic), never taken from a run.
Rows are (open, high, low, close); bar indices start at 0; a signal on bar i fills at open[i + 1].
"""

from __future__ import annotations

import math

import pytest

from stratlab.engine import run_backtest
from tests.engine.tables import flat_bars, signals, table

NO_COSTS = {"fee_bps": 0.0, "slippage_bps": 0.0}


def one_trade(result):  # type: ignore[no-untyped-def]
    assert result.n_trades == 1, result.trades
    return result.trades.iloc[0]


# entries ---------------------------------------------------------------------------------------------------


def test_a_signal_fills_at_the_next_bars_open() -> None:
    candles = table([(100, 101, 99, 100), (100, 101, 99, 100.5), (102, 103, 101, 102.5), (103, 104, 102, 103)])
    result = run_backtest(candles, signals(4, {1: 1}), {**NO_COSTS, "size_units": 1.0})
    trade = one_trade(result)
    assert trade.entry_bar == 2 and trade.entry_time_ms == candles.timestamp_ms[2]
    assert trade.entry_price == 102.0  # open[2], not close[1] = 100.5
    # Held to the end: closed at the last close, 103 - 102 = 1 per unit.
    assert trade.exit_reason == "end" and trade.exit_bar == 3 and trade.exit_price == 103.0
    assert trade.pnl == pytest.approx(1.0, rel=1e-12)
    # Flat (and unchanged) until the fill; marked to each close after it.
    assert list(result.equity) == pytest.approx([10_000, 10_000, 10_000.5, 10_001.0], rel=1e-12)
    assert list(result.position) == [0.0, 0.0, 1.0, 0.0]


def test_a_signal_on_the_last_bar_is_never_filled() -> None:
    candles = table(flat_bars(3))
    result = run_backtest(candles, signals(3, {2: 1}), NO_COSTS)
    assert result.n_trades == 0
    assert list(result.equity) == [10_000.0] * 3


def test_fees_and_slippage_are_charged_on_both_fills_against_the_trader() -> None:
    candles = table([(100, 100, 100, 100), (100, 100, 100, 100), (100, 111, 99, 110), (110, 110, 110, 110)])
    config = {"fee_bps": 10.0, "slippage_bps": 5.0, "size_units": 10.0}
    trade = one_trade(run_backtest(candles, signals(4, {1: 1, 2: -1}), {**config, "on_opposite": "close"}))
    # Buy 10 at 100 × (1 + 0.0005) = 100.05; sell 10 at 110 × (1 - 0.0005) = 109.945.
    assert trade.entry_price == pytest.approx(100.05, rel=1e-12)
    assert trade.exit_price == pytest.approx(109.945, rel=1e-12)
    # Fees: 0.1 % of each fill's notional: 1.0005 + 1.09945.
    assert trade.fees == pytest.approx(2.09995, rel=1e-12)
    # Slippage cost: 10 × 100 × 0.0005 + 10 × 110 × 0.0005.
    assert trade.slippage_cost == pytest.approx(1.05, rel=1e-12)
    # Pnl: 10 × (109.945 - 100.05) - 2.09995 (the slippage is inside the fill prices already).
    assert trade.pnl == pytest.approx(98.95 - 2.09995, rel=1e-12)
    assert trade.exit_reason == "signal" and trade.exit_bar == 3


def test_size_pct_and_leverage_set_the_notional_from_equity() -> None:
    candles = table([(100, 100, 100, 100), (50, 50, 50, 50), (50, 50, 50, 50)])
    trade = one_trade(run_backtest(candles, signals(3, {0: 1}), {**NO_COSTS, "size_pct": 20.0, "leverage": 3.0}))
    # 20 % of 10,000 as margin × 3 = 6,000 notional at 50: 120 units.
    assert trade["size"] == pytest.approx(120.0, rel=1e-12)


# take profit and stop loss ---------------------------------------------------------------------------------


def test_take_profit_fills_at_its_level() -> None:
    candles = table([(100, 100, 100, 100), (100, 101, 99.5, 100.5), (101, 102.5, 100.5, 102), (102, 103, 101, 102)])
    trade = one_trade(run_backtest(candles, signals(4, {0: 1}), {**NO_COSTS, "size_units": 1.0, "tp_pct": 2.0}))
    # Entry 100 at open[1]; TP = 102; bar 1 high 101 < 102; bar 2 high 102.5 reaches it.
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (2, "take_profit", pytest.approx(102.0))
    assert trade.pnl == pytest.approx(2.0, rel=1e-12)


def test_stop_loss_fills_at_its_level_for_a_short() -> None:
    candles = table([(100, 100, 100, 100), (100, 100.5, 99, 100), (100, 101.2, 99.5, 101), (101, 101, 100, 100)])
    trade = one_trade(run_backtest(candles, signals(4, {0: -1}), {**NO_COSTS, "size_units": 2.0, "sl_pct": 1.0}))
    # Short 2 at 100; SL = 101; bar 2 high 101.2 reaches it: loss 2 × (101 - 100).
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (2, "stop_loss", pytest.approx(101.0))
    assert trade.side == -1 and trade.pnl == pytest.approx(-2.0, rel=1e-12)


def test_when_one_bar_holds_both_levels_the_stop_loss_is_taken() -> None:
    candles = table([(100, 100, 100, 100), (100, 100.5, 99.5, 100), (100, 103, 98, 101), (101, 101, 101, 101)])
    config = {**NO_COSTS, "size_units": 1.0, "tp_pct": 2.0, "sl_pct": 1.0}
    trade = one_trade(run_backtest(candles, signals(4, {0: 1}), config))
    # Bar 2 spans 98..103: TP 102 and SL 99 both inside; pessimistic order: SL.
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (2, "stop_loss", pytest.approx(99.0))


def test_levels_are_live_on_the_entry_bar() -> None:
    candles = table([(100, 100, 100, 100), (100, 100.5, 98.5, 99), (99, 99.5, 98, 99)])
    trade = one_trade(run_backtest(candles, signals(3, {0: 1}), {**NO_COSTS, "size_units": 1.0, "sl_pct": 1.0}))
    # Filled at open[1] = 100; the same bar later trades down to 98.5 < SL 99: stopped on the entry bar.
    assert (trade.entry_bar, trade.exit_bar, trade.exit_reason) == (1, 1, "stop_loss")
    assert trade.exit_price == pytest.approx(99.0) and trade.bars_held == 0


def test_take_profit_on_the_entry_bar() -> None:
    candles = table([(100, 100, 100, 100), (100, 103, 99.9, 101), (101, 101, 101, 101)])
    trade = one_trade(run_backtest(candles, signals(3, {0: -1}), {**NO_COSTS, "size_units": 1.0, "tp_pct": 0.05}))
    # Short at 100, TP = 99.95; bar 1 low 99.9 reaches it on the entry bar.
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (1, "take_profit", pytest.approx(99.95))


@pytest.mark.parametrize(
    ("side", "gap_open", "reason"),
    [(1, 97.0, "stop_loss"), (1, 104.0, "take_profit"), (-1, 103.0, "stop_loss"), (-1, 96.0, "take_profit")],
)
def test_a_bar_that_opens_beyond_a_level_fills_at_the_open(side: int, gap_open: float, reason: str) -> None:
    candles = table([(100, 100, 100, 100), (100, 100.5, 99.5, 100), (gap_open, gap_open + 1, gap_open - 1, gap_open)])
    config = {**NO_COSTS, "size_units": 1.0, "tp_pct": 2.0, "sl_pct": 2.0}
    trade = one_trade(run_backtest(candles, signals(3, {0: side}), config))
    # Levels 98/102 (long) or 102/98 (short); the open of bar 2 is already past one: filled there, not at it.
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (2, reason, gap_open)
    assert trade.pnl == pytest.approx(side * (gap_open - 100.0), rel=1e-12)


# opposite signals ------------------------------------------------------------------------------------------


def test_an_opposite_signal_closes_and_reverses_at_the_same_open() -> None:
    candles = table([(100, 100, 100, 100), (100, 101, 99, 101), (105, 106, 104, 104), (102, 103, 101, 102)])
    result = run_backtest(candles, signals(4, {0: 1, 1: -1}), {**NO_COSTS, "size_units": 1.0})
    long, short = result.trades.iloc[0], result.trades.iloc[1]
    assert (long.side, long.entry_bar, long.exit_bar, long.exit_reason) == (1, 1, 2, "signal")
    assert long.exit_price == 105.0 and long.pnl == pytest.approx(5.0)
    assert (short.side, short.entry_bar, short.entry_price) == (-1, 2, 105.0)
    assert (short.exit_reason, short.exit_price, short.pnl) == ("end", 102.0, pytest.approx(3.0))
    assert list(result.position) == [0.0, 1.0, -1.0, 0.0]


def test_close_policy_only_closes() -> None:
    candles = table([(100, 100, 100, 100), (100, 101, 99, 101), (105, 106, 104, 104), (102, 103, 101, 102)])
    result = run_backtest(candles, signals(4, {0: 1, 1: -1}), {**NO_COSTS, "size_units": 1.0, "on_opposite": "close"})
    trade = one_trade(result)
    assert (trade.side, trade.exit_bar, trade.exit_reason, trade.exit_price) == (1, 2, "signal", 105.0)
    assert list(result.position) == [0.0, 1.0, 0.0, 0.0]


def test_ignore_policy_and_same_side_signals_keep_the_position() -> None:
    candles = table([(100, 100, 100, 100), (100, 101, 99, 101), (105, 106, 104, 104), (102, 103, 101, 102)])
    config = {**NO_COSTS, "size_units": 1.0, "on_opposite": "ignore"}
    trade = one_trade(run_backtest(candles, signals(4, {0: 1, 1: -1, 2: 1}), config))
    assert (trade.entry_bar, trade.exit_bar, trade.exit_reason, trade["size"]) == (1, 3, "end", 1.0)


# position modes --------------------------------------------------------------------------------------------


def test_grid_adds_on_adverse_steps_and_moves_the_average_and_levels() -> None:
    rows = [(100, 100, 100, 100), (100, 100.2, 99.5, 99.6), (99.6, 99.7, 97.9, 98.2), (98.2, 101.6, 98.1, 101.0)]
    config = {
        **NO_COSTS,
        "position_mode": "grid",
        "size_pct": 10.0,
        "grid_step_pct": 1.0,
        "grid_max_adds": 3,
        "grid_size_mult": 2.0,
        "tp_pct": 1.0,
    }
    trade = one_trade(run_backtest(table(rows), signals(4, {0: 1}), config))
    # Entry: 1,000 notional at 100 = 10 units. Add 1 at 99 (1 % below 100): 2,000 notional = 20.2020.. units.
    # Add 2 at 98.01 (1 % below 99): 4,000 notional = 40.8121.. units; the next level 97.0299 is not reached.
    q1, q2, q3 = 10.0, 2000 / 99.0, 4000 / 98.01
    average = (1000 + 2000 + 4000) / (q1 + q2 + q3)
    assert trade.adds == 2
    assert trade["size"] == pytest.approx(q1 + q2 + q3, rel=1e-12)
    assert trade.entry_price == pytest.approx(average, rel=1e-12)
    # TP follows the average: average × 1.01 ≈ 99.558. Bar 2's high 99.7 may have come before its low (and the
    # adds), so bar 2 only counts the TP if it closes beyond it (98.2: no); bar 3 (high 101.6) takes it.
    assert (trade.exit_bar, trade.exit_reason) == (3, "take_profit")
    assert trade.exit_price == pytest.approx(average * 1.01, rel=1e-12)
    assert trade.pnl == pytest.approx((q1 + q2 + q3) * average * 0.01, rel=1e-9)


def test_after_adds_a_bar_takes_the_moved_take_profit_only_if_it_closes_beyond_it() -> None:
    rows = [(100, 100, 100, 100), (100, 100.2, 98.9, 99.8), (99.8, 99.8, 99.8, 99.8)]
    config = {**NO_COSTS, "position_mode": "grid", "size_pct": 10.0, "grid_step_pct": 1.0, "tp_pct": 0.25}
    trade = one_trade(run_backtest(table(rows), signals(3, {0: 1}), config))
    # One add at 99 (1,000 notional each): average = 2,000 / (10 + 1000/99) ≈ 99.4975, TP ≈ 99.7462. Bar 1 closes
    # at 99.8, beyond it: price went from the low of 98.9 up through the TP after the add.
    average = 2000 / (10 + 1000 / 99)
    assert (trade.adds, trade.exit_bar, trade.exit_reason) == (1, 1, "take_profit")
    assert trade.exit_price == pytest.approx(average * 1.0025, rel=1e-12)


def test_grid_stops_adding_at_max_adds() -> None:
    rows = [(100, 100, 100, 100), (100, 100, 90, 90), (90, 90, 90, 90)]
    config = {**NO_COSTS, "position_mode": "grid", "size_pct": 10.0, "grid_step_pct": 1.0, "grid_max_adds": 2}
    trade = one_trade(run_backtest(table(rows), signals(3, {0: 1}), config))
    # Levels 99, 98.01, 97.03, ... are all inside 90..100, but only two adds are allowed: 10 + 1000/99 + 1000/98.01.
    assert trade.adds == 2
    assert trade["size"] == pytest.approx(10 + 1000 / 99 + 1000 / 98.01, rel=1e-12)


def test_a_stop_nearer_than_the_next_grid_level_is_taken_first() -> None:
    rows = [(100, 100, 100, 100), (100, 100, 98, 98.5), (98.5, 98.5, 98.5, 98.5)]
    config = {**NO_COSTS, "position_mode": "grid", "size_pct": 10.0, "grid_step_pct": 1.5, "sl_pct": 1.0}
    trade = one_trade(run_backtest(table(rows), signals(3, {0: 1}), config))
    # SL 99 lies above the first grid level 98.5: price meets the stop first, no add.
    assert (trade.adds, trade.exit_reason, trade.exit_price) == (0, "stop_loss", pytest.approx(99.0))


def test_martingale_grows_after_losses_up_to_max_steps_and_resets_after_a_win() -> None:
    # Five long trades on flat-open bars; SL 1 % losers at 99, TP 1 % winners at 101.
    loser = (100.0, 100.0, 98.5, 100.0)
    winner = (100.0, 101.5, 100.0, 100.0)
    rows = [(100.0, 100.0, 100.0, 100.0), loser, loser, loser, winner, loser, (100.0, 100.0, 100.0, 100.0)]
    config = {
        **NO_COSTS,
        "position_mode": "martingale",
        "size_pct": 10.0,
        "martingale_mult": 2.0,
        "martingale_max_steps": 2,
        "sl_pct": 1.0,
        "tp_pct": 1.0,
    }
    result = run_backtest(table(rows), signals(7, {0: 1, 1: 1, 2: 1, 3: 1, 4: 1}), config)
    trades = result.trades
    assert list(trades.exit_reason) == ["stop_loss", "stop_loss", "stop_loss", "take_profit", "stop_loss"]
    equity = 10_000.0
    expected_notional = []
    for step, won in [(0, False), (1, False), (2, False), (2, True), (0, False)]:
        # Base 10 % of equity × 2^step; step counts losses in a row, capped at 2, and a win resets it.
        notional = 0.10 * equity * 2.0**step
        expected_notional.append(notional)
        equity += notional * (0.01 if won else -0.01)
    assert list(trades["size"] * trades["entry_price"]) == pytest.approx(expected_notional, rel=1e-12)
    assert result.final_equity == pytest.approx(equity, rel=1e-12)


def test_risk_based_size_loses_risk_pct_of_equity_at_the_stop() -> None:
    candles = table([(100, 100, 100, 100), (200, 200, 195, 196), (196, 196, 196, 196)])
    config = {**NO_COSTS, "risk_pct": 1.0, "sl_pct": 2.0, "leverage": 5.0}
    trade = one_trade(run_backtest(candles, signals(3, {0: 1}), config))
    # Entry 200, SL 196 (2 %): 1 % of 10,000 = 100 lost over a 4.0 distance: 25 units (5,000 notional).
    assert trade["size"] == pytest.approx(25.0, rel=1e-12)
    assert (trade.exit_reason, trade.exit_price) == ("stop_loss", pytest.approx(196.0))
    assert trade.pnl == pytest.approx(-100.0, rel=1e-12)


def test_risk_based_size_is_capped_by_equity_times_leverage() -> None:
    candles = table([(100, 100, 100, 100), (100, 100, 99.95, 100), (100, 100, 100, 100)])
    config = {**NO_COSTS, "risk_pct": 1.0, "sl_pct": 0.1, "leverage": 2.0}
    trade = one_trade(run_backtest(candles, signals(3, {0: 1}), config))
    # Uncapped: 100 / 0.1 = 1,000 units = 100,000 notional; the account allows 10,000 × 2 = 20,000: 200 units.
    assert trade["size"] == pytest.approx(200.0, rel=1e-12)


def test_a_leveraged_long_is_liquidated_when_its_loss_reaches_the_margin() -> None:
    candles = table([(100, 100, 100, 100), (100, 100, 95, 96), (96, 96, 90, 91), (91, 92, 90, 91)])
    config = {**NO_COSTS, "leverage": 10.0, "maintenance_margin_pct": 0.5, "size_pct": 50.0}
    result = run_backtest(candles, signals(4, {0: 1}), config)
    trade = one_trade(result)
    # Margin 5,000 × 10 = 50,000 notional = 500 units at 100. Liquidation at 100 × (1 - (1/10 - 0.005)) = 90.5.
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (2, "liquidation", pytest.approx(90.5))
    assert trade.pnl == pytest.approx(500 * (90.5 - 100), rel=1e-12)  # -4,750: the margin less the maintenance
    assert result.final_equity == pytest.approx(10_000 - 4_750, rel=1e-12)


def test_a_stop_above_the_liquidation_price_is_taken_instead() -> None:
    candles = table([(100, 100, 100, 100), (100, 100, 85, 86), (86, 86, 86, 86)])
    config = {**NO_COSTS, "leverage": 10.0, "size_pct": 50.0, "sl_pct": 5.0}
    trade = one_trade(run_backtest(candles, signals(3, {0: 1}), config))
    assert (trade.exit_reason, trade.exit_price) == ("stop_loss", pytest.approx(95.0))


def test_short_liquidation_price_mirrors_the_long_one() -> None:
    candles = table([(100, 100, 100, 100), (100, 106, 99, 105), (105, 105, 105, 105)])
    config = {**NO_COSTS, "leverage": 20.0, "maintenance_margin_pct": 1.0, "size_units": 10.0}
    trade = one_trade(run_backtest(candles, signals(3, {0: -1}), config))
    # 100 × (1 + (1/20 - 0.01)) = 104.
    assert (trade.exit_reason, trade.exit_price) == ("liquidation", pytest.approx(104.0))


# funding ---------------------------------------------------------------------------------------------------


def test_funding_is_charged_on_notional_at_each_close_held_through() -> None:
    closes = [100.0, 100.0, 102.0, 104.0, 103.0]
    candles = table([(c, c + 1, c - 1, c) for c in closes])
    config = {**NO_COSTS, "size_units": 2.0, "funding_bps_per_8h": 10.0, "on_opposite": "close"}
    result = run_backtest(candles, signals(5, {0: 1, 3: -1}), config)
    trade = one_trade(result)
    # Long 2 from open[1] to open[4]: held through the closes of bars 1, 2 and 3. A 5m bar is 1/96 of 8 h:
    # 2 × (100 + 102 + 104) × 0.001 / 96.
    expected = 2 * (100 + 102 + 104) * 0.001 / 96
    assert trade.funding == pytest.approx(expected, rel=1e-12)
    assert trade.pnl == pytest.approx(2 * (103 - 100) - expected, rel=1e-12)


def test_a_short_receives_positive_funding() -> None:
    candles = table([(100.0, 101, 99, 100)] * 3)
    config = {**NO_COSTS, "size_units": 1.0, "funding_bps_per_8h": 8.0}
    trade = one_trade(run_backtest(candles, signals(3, {0: -1}), config))
    # Held through closes 1 and 2: receives 2 × 100 × 0.0008 / 96.
    assert trade.funding == pytest.approx(-2 * 100 * 0.0008 / 96, rel=1e-12)
    assert trade.pnl == pytest.approx(2 * 100 * 0.0008 / 96, rel=1e-12)


# time-out -------------------------------------------------------------------------------------------------


def test_a_position_held_max_holding_bars_is_closed_at_that_open() -> None:
    rows = [
        (100, 100, 100, 100), (101, 102, 100, 101), (102, 103, 101, 102), (104, 105, 103, 104), (105, 106, 104, 105),
    ]  # fmt: skip
    config = {**NO_COSTS, "size_units": 1.0, "max_holding_bars": 2}
    trade = one_trade(run_backtest(table(rows), signals(5, {0: 1}), config))
    # Entered at open[1] = 101; held through bars 1 and 2; closed at the open of bar 1 + 2 = 3, at 104.
    assert (trade.entry_bar, trade.exit_bar, trade.bars_held) == (1, 3, 2)
    assert (trade.exit_reason, trade.exit_price, trade.pnl) == ("time_out", 104.0, 3.0)


def test_a_time_out_comes_before_the_order_at_the_same_open() -> None:
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (100, 101, 99, 100), (97, 98, 96, 97), (97, 98, 96, 97)]
    config = {**NO_COSTS, "size_units": 1.0, "max_holding_bars": 2}
    # A long from bar 1 times out at the open of bar 3, where the short decided on bar 2 enters: the time-out books
    # the exit, and the short opens on a flat account (no "signal" exit).
    result = run_backtest(table(rows), signals(5, {0: 1, 2: -1}), config)
    first, second = result.trades.iloc[0], result.trades.iloc[1]
    assert (first.exit_bar, first.exit_reason, first.exit_price) == (3, "time_out", 97.0)
    assert (second.entry_bar, second.side, second.entry_price, second.exit_reason) == (3, -1, 97.0, "end")


def test_a_stop_inside_the_holding_time_comes_first() -> None:
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (100, 100, 97, 98), (98, 99, 97, 98), (98, 99, 97, 98)]
    config = {**NO_COSTS, "size_units": 1.0, "sl_pct": 2.0, "max_holding_bars": 3}
    trade = one_trade(run_backtest(table(rows), signals(5, {0: 1}), config))
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (2, "stop_loss", 98.0)


# cost margin ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tp_pct", "trades"), [(0.19, 0), (0.21, 1)])
def test_an_entry_whose_target_does_not_clear_its_costs_is_skipped(tp_pct: float, trades: int) -> None:
    rows = [(100, 100, 100, 100), (100, 100.5, 99.9, 100), (100, 100.5, 99.9, 100)]
    config = {"fee_bps": 4.0, "slippage_bps": 1.0, "size_units": 1.0, "tp_pct": tp_pct, "min_target_cost_multiple": 2.0}
    # Round trip at the fill 100.01: 2 × (4 + 1) bps = 10 bps; twice that is 0.20 %: a 0.19 % target is refused,
    # a 0.21 % one taken.
    assert run_backtest(table(rows), signals(3, {0: 1}), config).n_trades == trades


# early stop ------------------------------------------------------------------------------------------------


def test_max_drawdown_stop_closes_at_that_close_and_trades_no_more() -> None:
    rows = [(100, 100, 100, 100), (100, 100, 96, 97), (97, 97, 93, 94), (94, 95, 93, 95), (95, 96, 94, 96)]
    config = {**NO_COSTS, "size_units": 100.0, "max_drawdown_stop_pct": 5.0}
    result = run_backtest(table(rows), signals(5, {0: 1, 3: 1}), config)
    trade = one_trade(result)
    # 100 units from 100: equity 9,700 at close 97 (3 % down), 9,400 at close 94 (6 % ≥ 5 %): closed there.
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (2, "early_stop", 94.0)
    assert result.stopped_early == "max_drawdown" and result.stopped_at_bar == 2
    assert list(result.equity) == pytest.approx([10_000, 9_700, 9_400, 9_400, 9_400])  # the signal on 3 is ignored


def test_max_consecutive_losses_stops_new_entries() -> None:
    loser = (100.0, 100.0, 98.0, 100.0)
    rows = [(100.0, 100.0, 100.0, 100.0), loser, loser, loser, loser]
    config = {**NO_COSTS, "size_units": 1.0, "sl_pct": 1.0, "max_consecutive_losses": 2}
    result = run_backtest(table(rows), signals(5, {0: 1, 1: 1, 2: 1, 3: 1}), config)
    assert result.n_trades == 2
    assert result.stopped_early == "max_consecutive_losses" and result.stopped_at_bar == 2


def test_max_idle_bars_stops_a_run_that_stays_flat() -> None:
    result = run_backtest(table(flat_bars(10)), signals(10, {6: 1}), {**NO_COSTS, "max_idle_bars": 5})
    # Flat on bars 0..4: the fifth idle bar stops the run, so the signal on bar 6 never trades.
    assert result.n_trades == 0
    assert result.stopped_early == "max_idle_bars" and result.stopped_at_bar == 4


def test_a_position_open_at_the_end_is_closed_at_the_last_close_with_its_costs() -> None:
    candles = table([(100, 100, 100, 100), (100, 101, 99, 100), (100, 106, 99, 105)])
    result = run_backtest(candles, signals(3, {0: 1}), {"fee_bps": 10.0, "slippage_bps": 0.0, "size_units": 1.0})
    trade = one_trade(result)
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (2, "end", 105.0)
    assert trade.fees == pytest.approx(0.1 + 0.105, rel=1e-12)
    # The last equity value is after the closing fill: initial + pnl.
    assert result.final_equity == pytest.approx(10_000 + 5 - 0.205, rel=1e-12)


def test_backtest_window_warms_up_before_start_and_trades_only_inside() -> None:
    rows = [(100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i) for i in range(10)]
    result = run_backtest(table(rows), signals(10, {2: 1, 5: -1}), {**NO_COSTS, "size_units": 1.0}, start=4, end=8)
    # The long signal on bar 2 is before the window; the short on 5 fills at open[6] = 106, closes at close[7].
    trade = one_trade(result)
    assert (trade.side, trade.entry_bar, trade.exit_bar, trade.entry_price, trade.exit_price) == (-1, 6, 7, 106, 107.5)
    assert len(result.equity) == 4 and result.timestamp_ms[0] == table(rows).timestamp_ms[4]


def test_no_trades_means_flat_equity_and_zero_return() -> None:
    result = run_backtest(table(flat_bars(5)), signals(5, {}), None)
    assert result.n_trades == 0 and len(result.trades) == 0
    assert result.kpis["return_pct"] == 0.0 and result.kpis["max_drawdown_pct"] == 0.0
    assert not math.isnan(result.final_equity)
