"""The backtest simulation: small numba rules over one state record, and the loop over the bars that drives them.

Every rule of the README's "Backtests" section is decided here, in the rule named after it, and commented where it
is decided. The rules read the settings record and change the state record (both declared in ``schema.py``); they
take records and scalars (a rule that may book a trade gets the trade table's next free row), and no rule knows
whether more bars follow:

- ``step``: one bar. ``trade_bar`` (a time-out at the open: ``time_out``; the order at the open; then the range:
  ``trade_the_range``; then ``pay_funding``) followed by ``mark_close``. A paper runner calls it once per closed
  bar, with the trade table and the position log it writes into.
- ``act_on_order``: an opposite order closes (``exit_position``) and maybe reverses; a flat account opens
  (``open_position``).
- ``trade_the_range``: a gap beyond a level fills at the open (``exit_at_gap``); grid adds (``add_on_grid``); then
  the stop before the take profit (``exit_in_range``).
- ``exit_position``: the one place where a trade is booked, whatever ended it.
- ``mark_close``: the mark to market, the drawdown (``track_drawdown``), the early stops (``stop_early``,
  ``count_idle_bar``) and the position log.
- ``close_at_end``: the end of the data. The last bar of a backtest is ``final_step``: its position is closed at
  its close *before* that close is marked, so that the last equity and the drawdown include the exit's costs.

``simulate_nb`` walks a series: quiet stretches (flat without an order, or held without reaching a level) in tight
loops that do exactly what ``step`` would do to those bars, every other bar through ``step``.

Speed: a numba function that takes arrays pays reference counting on them at each call, and a call that LLVM does
not inline costs a few nanoseconds. So only ``step``, ``final_step`` and ``simulate_nb`` take arrays (the rules get
the rows they may write), and the quiet loops are written out in ``simulate_nb``.

Accounting: ``cash`` is realised equity. Fees and funding leave it when they are paid; a position's price PnL joins
it at the exit, ``side * qty * (exit_fill - average_entry)``. Equity at a bar's close is cash plus the open
position marked to that close. A trade's pnl is therefore exactly the change of cash from just before its entry to
just after its exit: final equity = initial equity + sum of trade pnl, once the last position is closed.

The integer codes live here, not in ``schema.py``: numba freezes module globals into the compiled (and cached) code,
and its cache is keyed on this file, so a code must change in the file that uses it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
Int8Array = npt.NDArray[np.int8]
Int64Array = npt.NDArray[np.int64]
# A numba record: one row of a structured array (the state, the settings, a trade), read and written by field name.
Record = Any
RecordArray = npt.NDArray[np.void]

# Position modes, opposite-signal policies and sizing rules, as ints numba can read.
MODE_NONE, MODE_GRID, MODE_MARTINGALE = 0, 1, 2
OPPOSITE_REVERSE, OPPOSITE_CLOSE, OPPOSITE_IGNORE = 0, 1, 2
SIZING_PCT, SIZING_RISK, SIZING_UNITS = 0, 1, 2

# Why a trade ended (the ``exit_reason`` field); names in EXIT_REASONS, same order.
# A new reason goes at the end: stored trades (paper books, results databases) keep their codes.
EXIT_SIGNAL, EXIT_TAKE_PROFIT, EXIT_STOP_LOSS, EXIT_LIQUIDATION, EXIT_EARLY_STOP, EXIT_END = 0, 1, 2, 3, 4, 5
EXIT_TIME_OUT = 6
EXIT_REASONS = ("signal", "take_profit", "stop_loss", "liquidation", "early_stop", "end", "time_out")
NO_EXIT = -1
# ``hold_until`` when positions never time out: beyond any bar index.
_NEVER = 2**62

# Why the run stopped trading before the end; names in STOP_REASONS, same order.
STOP_NONE, STOP_MAX_DRAWDOWN, STOP_CONSECUTIVE_LOSSES, STOP_IDLE, STOP_RUIN = 0, 1, 2, 3, 4
STOP_REASONS = ("", "max_drawdown", "max_consecutive_losses", "max_idle_bars", "ruin")
# ``simulate_nb`` returns this when every signal it read was -1, 0 or +1; else the bar of the first bad one.
NO_BAD_SIGNAL = -1


# levels -----------------------------------------------------------------------------------------------------------


@njit(cache=True)
def _level_nb(average: float, side: int, distance: float, fraction: float) -> float:
    """A TP (or, with -side, SL) level: a price distance from the average entry, else a fraction of it, else NaN."""
    if not math.isnan(distance):
        level = average + side * distance
    elif not math.isnan(fraction):
        level = average * (1.0 + side * fraction)
    else:
        return np.nan
    return level if level > 0.0 else np.nan


@njit(cache=True)
def _nearer_stop_nb(side: int, stop_loss: float, liquidation: float) -> tuple[float, int]:
    """The adverse level price reaches first from above (long) or below (short), and its exit reason."""
    if math.isnan(stop_loss):
        return liquidation, EXIT_LIQUIDATION
    if math.isnan(liquidation):
        return stop_loss, EXIT_STOP_LOSS
    # A stop at the same price as the liquidation is taken as the stop: the trader's own order fills first.
    if side * (stop_loss - liquidation) >= 0.0:
        return stop_loss, EXIT_STOP_LOSS
    return liquidation, EXIT_LIQUIDATION


@njit(cache=True)
def _triggers_nb(side: int, stop_level: float, tp_level: float, add_level: float) -> tuple[float, float]:
    """(low trigger, high trigger): a bar whose low stays above the first and high below the second reaches no
    level, so it only needs the mark to market. Unset levels (NaN) become ±inf, which no price reaches."""
    adverse = stop_level
    if math.isnan(adverse) or (not math.isnan(add_level) and side * (add_level - adverse) > 0.0):
        adverse = add_level
    if math.isnan(adverse):
        adverse = -side * np.inf
    favourable = side * np.inf if math.isnan(tp_level) else tp_level
    if side > 0:
        return adverse, favourable
    return favourable, adverse


@njit(cache=True)
def set_levels(state: Record, settings: Record) -> None:
    """TP, the nearer of SL and liquidation, and the quiet-bar triggers, from the average entry.

    An isolated position is liquidated when its loss reaches its margin (1/leverage of the entry notional) minus the
    maintenance margin: at average × (1 - side × (1/leverage - maintenance)). The distances fixed at entry are
    reused when a grid add moves the average.
    """
    side = state.side
    average = state.average
    tp_level = _level_nb(average, side, state.trade_tp_distance, settings.tp_fraction)
    sl_level = _level_nb(average, -side, state.trade_sl_distance, settings.sl_fraction)
    liquidation_level = average * (1.0 - side * (1.0 / settings.leverage - settings.maintenance_margin))
    if liquidation_level <= 0.0:
        liquidation_level = np.nan
    stop_level, stop_kind = _nearer_stop_nb(side, sl_level, liquidation_level)
    next_add = np.nan
    if settings.mode == MODE_GRID and state.adds < settings.grid_max_adds:
        next_add = state.last_fill_market * (1.0 - side * settings.grid_step)
    state.tp_level = tp_level
    state.stop_level = stop_level
    state.stop_kind = stop_kind
    state.low_trigger, state.high_trigger = _triggers_nb(side, stop_level, tp_level, next_add)


# the account ------------------------------------------------------------------------------------------------------


@njit(cache=True)
def start_state(state: Record, settings: Record) -> None:
    """A fresh account: flat, all cash, trading, nothing logged."""
    initial_equity = settings.initial_equity
    state.cash = initial_equity
    state.equity = initial_equity
    state.side = 0
    state.qty = 0.0
    state.average = 0.0
    state.entry_bar = -1
    state.entry_time_ms = 0
    state.fees_paid = 0.0
    state.slippage_paid = 0.0
    state.funding_paid = 0.0
    state.adds = 0
    state.last_fill_market = 0.0  # market price (before slippage) of the last fill: the grid steps from it
    state.last_fill_notional = 0.0
    state.trade_tp_distance = np.nan
    state.trade_sl_distance = np.nan
    state.tp_level = np.nan
    state.stop_level = np.nan  # the nearer of SL and liquidation, refreshed whenever they move
    state.stop_kind = EXIT_STOP_LOSS
    state.low_trigger = -np.inf
    state.high_trigger = np.inf
    state.trading = True
    state.stop_reason = STOP_NONE
    state.stop_bar = -1
    state.losses_in_row = 0
    state.idle_bars = 0
    # Drawdown without a division per bar: equity below `trough_floor` (= peak × (1 - max drawdown so far)) is a
    # new maximum; equity at or below `stop_floor` (= peak × (1 - the early-stop limit), -inf when off) stops.
    state.peak = initial_equity
    state.max_drawdown = 0.0
    state.trough_floor = initial_equity
    state.stop_floor = initial_equity * (1.0 - settings.max_drawdown_stop)
    state.n_trades = 0
    state.n_changes = 0
    state.last_position = 0.0


@njit(cache=True)
def track_drawdown(
    equity: float, peak: float, trough_floor: float, stop_floor: float, max_drawdown: float, stop_limit: float
) -> tuple[float, float, float, float]:
    """(peak, trough floor, stop floor, max drawdown) after marking ``equity``; a division only on a new maximum."""
    if equity > peak:
        return equity, equity * (1.0 - max_drawdown), equity * (1.0 - stop_limit), max_drawdown
    if equity < trough_floor:
        return peak, equity, stop_floor, (peak - equity) / peak
    return peak, trough_floor, stop_floor, max_drawdown


@njit(cache=True)
def _track_state_drawdown(state: Record, settings: Record, equity: float) -> None:
    state.peak, state.trough_floor, state.stop_floor, state.max_drawdown = track_drawdown(
        equity, state.peak, state.trough_floor, state.stop_floor, state.max_drawdown, settings.max_drawdown_stop
    )


@njit(cache=True)
def _stop_trading(state: Record, reason: int, bar: int) -> None:
    state.trading = False
    state.stop_reason = reason
    state.stop_bar = bar


# the position -----------------------------------------------------------------------------------------------------


@njit(cache=True)
def clears_costs(settings: Record, fill: float, tp_level: float) -> bool:
    """The cost-margin rule: an entry is taken only if the move to its take profit is at least
    ``min_target_cost_multiple`` × its round-trip costs, fees and slippage of both fills at the entry fill's price
    (fill × 2 × (fee rate + slippage rate)). Off (0), or an entry without a take profit, passes."""
    multiple = settings.min_target_cost_multiple
    if multiple <= 0.0 or math.isnan(tp_level):
        return True
    round_trip = fill * 2.0 * (settings.fee_rate + settings.slippage_rate)
    return bool(abs(tp_level - fill) >= multiple * round_trip)


@njit(cache=True)
def open_position(
    state: Record, settings: Record, bar: int, time_ms: int, bar_open: float, side: int,
    tp_distance: float, sl_distance: float,
) -> None:  # fmt: skip
    """Enter ``side`` at this open, sized by the sizing rule, never with more margin than the equity; nothing when
    the take profit does not clear the costs (``clears_costs``)."""
    fill = bar_open * (1.0 + side * settings.slippage_rate)
    if not clears_costs(settings, fill, _level_nb(fill, side, tp_distance, settings.tp_fraction)):
        return
    sl_level = _level_nb(fill, -side, sl_distance, settings.sl_fraction)
    growth = 1.0
    if settings.mode == MODE_MARTINGALE:
        # After each loss in a row the base size grows, up to martingale_max_steps; a win resets it.
        growth = settings.martingale_mult ** min(state.losses_in_row, settings.martingale_max_steps)
    cash = state.cash
    leverage = settings.leverage
    max_qty = cash * leverage / fill  # never more margin than the equity
    if settings.sizing == SIZING_UNITS:
        qty = settings.size_units * growth
    elif settings.sizing == SIZING_RISK and not math.isnan(sl_level):
        # Risk-based: the loss at the stop (price distance × quantity) is risk_pct of equity.
        qty = settings.risk_fraction * cash * growth / abs(fill - sl_level)
    else:
        qty = settings.size_fraction * cash * leverage * growth / fill
    qty = min(qty, max_qty)
    if not qty > 0.0:
        return
    fee = qty * fill * settings.fee_rate
    state.side = side
    state.qty = qty
    state.average = fill
    state.entry_bar = bar
    state.entry_time_ms = time_ms
    state.fees_paid = fee
    state.slippage_paid = qty * bar_open * settings.slippage_rate
    state.funding_paid = 0.0
    state.adds = 0
    state.cash = cash - fee
    state.last_fill_market = bar_open
    state.last_fill_notional = qty * fill
    state.trade_tp_distance = tp_distance
    state.trade_sl_distance = sl_distance
    state.idle_bars = 0
    set_levels(state, settings)


@njit(cache=True)
def add_on_grid(state: Record, settings: Record, bar_open: float, adverse: float) -> tuple[float, bool]:
    """Grid adds inside the bar; returns (where price is after them, whether any was made).

    Adds trigger on adverse moves of grid_step_pct from the last fill, nearest first, and only while the add level
    comes before the stop: price would meet the stop first otherwise. Each add's notional is the previous fill's ×
    grid_size_mult, within the margin left at leverage.
    """
    side = state.side
    reference = bar_open
    added = False
    while state.adds < settings.grid_max_adds:
        add_level = state.last_fill_market * (1.0 - side * settings.grid_step)
        if side * (adverse - add_level) > 0.0:
            break
        if side * (add_level - state.stop_level) <= 0.0:
            break
        add_market = bar_open if side * (bar_open - add_level) <= 0.0 else add_level
        add_fill = add_market * (1.0 + side * settings.slippage_rate)
        qty = state.qty
        average = state.average
        equity_now = state.cash + side * qty * (add_market - average)
        room = equity_now * settings.leverage - qty * add_market  # margin left, at leverage
        add_notional = min(state.last_fill_notional * settings.grid_size_mult, room)
        if add_notional <= 0.0:
            break
        add_qty = add_notional / add_fill
        add_fee = add_notional * settings.fee_rate
        # The new average is the quantity-weighted mean of every fill; TP/SL and liquidation follow it.
        state.average = (average * qty + add_fill * add_qty) / (qty + add_qty)
        state.qty = qty + add_qty
        state.cash -= add_fee
        state.fees_paid += add_fee
        state.slippage_paid += add_qty * add_market * settings.slippage_rate
        state.adds += 1
        state.last_fill_market = add_market
        state.last_fill_notional = add_notional
        reference = add_market
        added = True
        set_levels(state, settings)
    return reference, added


@njit(cache=True)
def exit_position(
    state: Record, settings: Record, trade: Record, bar: int, time_ms: int, market_price: float, reason: int
) -> None:
    """Close the position at ``market_price`` and book the trade into ``trade`` (the trade table's next free row):
    the one place a trade is written.

    Slippage works against the trader: a long sells lower, a short buys back higher. A trade ended by a signal or a
    level feeds the loss streak (martingale sizing, the consecutive-losses stop); one ended by the end of the data or
    an early stop does not, since trading is over anyway.
    """
    side = state.side
    qty = state.qty
    average = state.average
    slippage_rate = settings.slippage_rate
    fill = market_price * (1.0 - side * slippage_rate)
    exit_fee = qty * fill * settings.fee_rate
    price_pnl = side * qty * (fill - average)
    fees = state.fees_paid + exit_fee
    pnl = price_pnl - fees - state.funding_paid
    trade.entry_time_ms = state.entry_time_ms
    trade.exit_time_ms = time_ms
    trade.side = side
    trade.size = qty
    trade.entry_price = average
    trade.exit_price = fill
    trade.fees = fees
    trade.slippage_cost = state.slippage_paid + qty * market_price * slippage_rate
    trade.funding = state.funding_paid
    trade.pnl = pnl
    trade.exit_reason = reason
    trade.adds = state.adds
    trade.bars_held = bar - state.entry_bar
    trade.entry_bar = state.entry_bar
    trade.exit_bar = bar
    state.n_trades += 1
    state.cash += price_pnl - exit_fee
    state.side = 0
    if reason != EXIT_END and reason != EXIT_EARLY_STOP:  # noqa: PLR1714 - plain comparisons compile simplest
        state.losses_in_row = state.losses_in_row + 1 if pnl < 0.0 else 0
        limit = settings.max_consecutive_losses
        if limit > 0 and state.losses_in_row >= limit and state.trading:
            _stop_trading(state, STOP_CONSECUTIVE_LOSSES, bar)


@njit(cache=True)
def hold_until(state: Record, settings: Record) -> int:
    """The bar at whose open the position times out: ``max_holding_bars`` after its entry bar (a huge bar when the
    rule is off), so that the quiet loop of ``simulate_nb`` can stop short of it with one comparison."""
    if settings.max_holding_bars > 0:
        return int(state.entry_bar + settings.max_holding_bars)
    return _NEVER


@njit(cache=True)
def time_out(state: Record, settings: Record, trade: Record, bar: int, time_ms: int, bar_open: float) -> None:
    """A position held ``max_holding_bars`` bars is closed at this open (``exit_reason="time_out"``), before the
    bar's order is acted on: as a market order decided at the previous close, like a signal's. Its ``bars_held`` is
    exactly ``max_holding_bars``. An order at the same open then finds the account flat and may enter again."""
    if state.side != 0 and bar >= hold_until(state, settings):
        exit_position(state, settings, trade, bar, time_ms, bar_open, EXIT_TIME_OUT)


@njit(cache=True)
def act_on_order(
    state: Record, settings: Record, trade: Record, bar: int, time_ms: int, bar_open: float, order: int,
    tp_distance: float, sl_distance: float,
) -> None:  # fmt: skip
    """The market order of the previous bar's signal (+1/-1), filled at this open.

    Opposite to the position: close at the open (policies reverse and close), then enter the other side (reverse
    only). Same side as the position: ignored in every mode, grid adds follow price, not signals. Flat: enter.
    """
    opposite = settings.opposite
    if state.side != 0 and order != state.side and opposite != OPPOSITE_IGNORE:  # noqa: PLR1714 - plain comparisons compile simplest
        exit_position(state, settings, trade, bar, time_ms, bar_open, EXIT_SIGNAL)
        if opposite == OPPOSITE_CLOSE:
            return
    if state.side == 0 and state.trading and state.cash > 0.0:
        open_position(state, settings, bar, time_ms, bar_open, order, tp_distance, sl_distance)


@njit(cache=True)
def exit_at_gap(state: Record, bar_open: float) -> tuple[int, float]:
    """A bar that opens beyond the stop or the TP fills there at the open, not at the level: (reason, price).

    Level tests rely on NaN comparing False: a level that is not set is never reached.
    """
    side = state.side
    if side * (bar_open - state.stop_level) <= 0.0:
        return state.stop_kind, bar_open
    if side * (bar_open - state.tp_level) >= 0.0:
        return EXIT_TAKE_PROFIT, bar_open
    return NO_EXIT, 0.0


@njit(cache=True)
def exit_in_range(
    state: Record, adverse: float, favourable: float, bar_close: float, reference: float, added: bool
) -> tuple[int, float]:
    """The stop (or liquidation) or the TP reached inside the bar's range: (reason, price), stop first.

    If both are in range the stop is taken: the bar's path is unknown and the pessimistic order is the honest one. A
    stop that an add already moved past fills where price was (``reference``), not at the level. After adds in this
    bar the adverse extreme may have come last: the moved TP counts only if the close is beyond it (price certainly
    crossed it after the adds).
    """
    side = state.side
    stop_level = state.stop_level
    if side * (adverse - stop_level) <= 0.0:
        return state.stop_kind, stop_level if side * (reference - stop_level) > 0.0 else reference
    reach = bar_close if added else favourable
    if side * (reach - state.tp_level) >= 0.0:
        return EXIT_TAKE_PROFIT, state.tp_level
    return NO_EXIT, 0.0


@njit(cache=True)
def trade_the_range(
    state: Record, settings: Record, trade: Record, bar: int, time_ms: int,
    bar_open: float, bar_high: float, bar_low: float, bar_close: float,
) -> None:  # fmt: skip
    """Inside the bar: the open first, then adds and exits. TP/SL are live from the entry bar on, because the open
    fill comes before the rest of the bar's range."""
    side = state.side
    adverse = bar_low if side > 0 else bar_high
    favourable = bar_high if side > 0 else bar_low
    reason, market_price = exit_at_gap(state, bar_open)
    if reason == NO_EXIT:
        reference, added = bar_open, False
        if settings.mode == MODE_GRID:
            reference, added = add_on_grid(state, settings, bar_open, adverse)
        reason, market_price = exit_in_range(state, adverse, favourable, bar_close, reference, added)
    if reason != NO_EXIT:
        exit_position(state, settings, trade, bar, time_ms, market_price, reason)


@njit(cache=True)
def funding_due(signed_qty: float, bar_close: float, funding_per_bar: float) -> float:
    """Constant funding on the notional held through the bar, at its close, pro rata of the bar's length: longs
    pay a positive rate (a positive amount), shorts receive it."""
    return signed_qty * bar_close * funding_per_bar


@njit(cache=True)
def pay_funding(state: Record, settings: Record, bar_close: float) -> None:
    """The position's funding for the bar leaves the cash at its close."""
    if state.side != 0 and settings.funding_per_bar != 0.0:
        funding = funding_due(state.side * state.qty, bar_close, settings.funding_per_bar)
        state.cash -= funding
        state.funding_paid += funding


@njit(cache=True)
def trade_bar(
    state: Record, settings: Record, trade: Record, next_trade: Record, bar: int, time_ms: int,
    bar_open: float, bar_high: float, bar_low: float, bar_close: float,
    order: int, order_tp_distance: float, order_sl_distance: float,
) -> bool:  # fmt: skip
    """The bar's fills and costs, up to its close: the order at the open, the range, funding.

    A position held ``max_holding_bars`` bars times out at the open first (``time_out``).
    ``order`` is the signal decided at the previous bar's close (+1 long, -1 short, 0 none), with the TP/SL price
    distances read on that bar (NaN: the config's fractions). A bar books at most two trades, an exit on its order
    and then one in its range: ``trade`` and ``next_trade`` are the trade table's next two free rows. Returns False,
    changing nothing, when the order is not -1/0/+1 (checked here, where orders are read anyway, instead of a pass
    over all signals first).
    """
    trades_before = state.n_trades
    if order > 1 or order < -1:
        return False  # also after trading stopped: the promise holds for every bar a caller steps
    # A time-out leaves the account flat, so the order below cannot book a second exit: still two trades at most.
    time_out(state, settings, trade, bar, time_ms, bar_open)
    if order != 0 and state.trading:
        act_on_order(state, settings, trade, bar, time_ms, bar_open, order, order_tp_distance, order_sl_distance)
    if state.side != 0:
        free = trade if state.n_trades == trades_before else next_trade
        trade_the_range(state, settings, free, bar, time_ms, bar_open, bar_high, bar_low, bar_close)
    pay_funding(state, settings, bar_close)
    return True


# the close --------------------------------------------------------------------------------------------------------


@njit(cache=True)
def marked_equity(cash: float, signed_qty: float, average: float, bar_close: float) -> float:
    """Cash plus the open position marked to the close."""
    return cash + signed_qty * (bar_close - average)


@njit(cache=True)
def stop_early(
    state: Record, settings: Record, trade: Record, bar: int, time_ms: int, bar_close: float, equity: float
) -> float:
    """Max drawdown and ruin (equity <= 0): close at this close and trade no more. Returns the equity after."""
    ruined = equity <= 0.0
    if not (ruined or equity <= state.stop_floor):
        return equity
    if state.side != 0:
        exit_position(state, settings, trade, bar, time_ms, bar_close, EXIT_EARLY_STOP)
        equity = state.cash
        if equity < state.trough_floor:
            state.max_drawdown = (state.peak - equity) / state.peak
            state.trough_floor = equity
    _stop_trading(state, STOP_RUIN if ruined else STOP_MAX_DRAWDOWN, bar)
    return equity


@njit(cache=True)
def count_idle_bar(state: Record, settings: Record, bar: int) -> None:
    """A flat bar while trading; max_idle_bars of them in a row since the last entry stop the run."""
    if state.side == 0 and settings.max_idle_bars > 0:
        state.idle_bars += 1
        if state.idle_bars >= settings.max_idle_bars:
            _stop_trading(state, STOP_IDLE, bar)


@njit(cache=True)
def log_position(state: Record, change: Record, bar: int) -> None:
    """The signed quantity held after the bar, logged only where it changes (per-bar writes of it would cost a
    third of a run's memory traffic)."""
    position = state.side * state.qty
    if position != state.last_position:
        change.bar = bar
        change.position = position
        state.n_changes += 1
        state.last_position = position


@njit(cache=True)
def mark_close(
    state: Record, settings: Record, trade: Record, change: Record, bar: int, time_ms: int, bar_close: float
) -> None:
    """At the close: the mark to market, the drawdown, the early stops, the position log; ``state.equity`` is the
    bar's equity afterwards. ``trade`` and ``change`` are the next free rows of the trade table and position log."""
    equity = marked_equity(state.cash, state.side * state.qty, state.average, bar_close) if state.side else state.cash
    _track_state_drawdown(state, settings, equity)
    if state.trading:
        equity = stop_early(state, settings, trade, bar, time_ms, bar_close, equity)
        if state.trading:
            count_idle_bar(state, settings, bar)
    state.equity = equity
    log_position(state, change, bar)


@njit(cache=True)
def step(
    state: Record, settings: Record, trades: RecordArray, position_log: RecordArray, bar: int, time_ms: int,
    bar_open: float, bar_high: float, bar_low: float, bar_close: float,
    order: int, order_tp_distance: float, order_sl_distance: float,
) -> bool:  # fmt: skip
    """One closed bar: its fills and costs (``trade_bar``), then its close (``mark_close``).

    ``trades`` and ``position_log`` receive rows at ``state.n_trades`` and ``state.n_changes`` (at most two trades
    and one change per bar). Returns False, changing nothing, for an order other than -1/0/+1.
    """
    if not trade_bar(
        state, settings, trades[state.n_trades], trades[state.n_trades + 1], bar, time_ms,
        bar_open, bar_high, bar_low, bar_close, order, order_tp_distance, order_sl_distance,
    ):  # fmt: skip
        return False
    mark_close(state, settings, trades[state.n_trades], position_log[state.n_changes], bar, time_ms, bar_close)
    return True


@njit(cache=True)
def close_at_end(state: Record, settings: Record, trade: Record, bar: int, time_ms: int, bar_close: float) -> None:
    """The end of the data: a position still open is closed at the last close, with its costs."""
    if state.side != 0:
        exit_position(state, settings, trade, bar, time_ms, bar_close, EXIT_END)


@njit(cache=True)
def final_step(
    state: Record, settings: Record, trades: RecordArray, position_log: RecordArray, bar: int, time_ms: int,
    bar_open: float, bar_high: float, bar_low: float, bar_close: float,
    order: int, order_tp_distance: float, order_sl_distance: float,
) -> bool:  # fmt: skip
    """The last bar of the data: as ``step``, with ``close_at_end`` between the bar's fills and its mark, so the last
    equity is realised and the drawdown and early stops see the exit's costs."""
    if not trade_bar(
        state, settings, trades[state.n_trades], trades[state.n_trades + 1], bar, time_ms,
        bar_open, bar_high, bar_low, bar_close, order, order_tp_distance, order_sl_distance,
    ):  # fmt: skip
        return False
    close_at_end(state, settings, trades[state.n_trades], bar, time_ms, bar_close)
    mark_close(state, settings, trades[state.n_trades], position_log[state.n_changes], bar, time_ms, bar_close)
    return True


# the series -------------------------------------------------------------------------------------------------------


@njit(cache=True)
def simulate_nb(
    time_ms: Int64Array,
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    signals: Int8Array,
    tp_distance: FloatArray,
    sl_distance: FloatArray,
    settings_record: RecordArray,
    first_bar: int,
    last_bar: int,
    equity_out: FloatArray,
    position_log: RecordArray,
    trades: RecordArray,
    state_record: RecordArray,
) -> int:
    """Simulate bars ``[first_bar, last_bar)`` from a fresh ``state_record[0]``; returns ``NO_BAD_SIGNAL`` or the
    bar of the first signal other than -1/0/+1 met (the run stops there).

    ``signals[i]`` (+1 long, -1 short, 0 none) is decided at bar i's close and fills at ``open[i + 1]``; signals
    before ``first_bar`` are not traded. ``tp_distance``/``sl_distance`` are per-bar price distances read on the
    signal bar (NaN: use the fractions in the settings); pass empty arrays when there are none. ``equity_out``
    receives one value per simulated bar; ``trades`` needs a row per entry, ``position_log`` a row per bar with an
    entry, add or exit. Counts, drawdown and the stop reason are left in the state.

    Most bars are quiet: flat with no order, or in a position whose levels the bar does not reach. Both kinds are
    consumed in tight loops here that leave the state exactly as ``step`` would (``tests/engine/test_step.py`` drives
    ``step`` over every bar and checks it); every other bar goes through ``step`` (``final_step`` for the last one).
    The loops are written out here rather than called: as functions of their own (taking the bar arrays) they cost
    about a tenth of the run in call overhead and reference counting.
    """
    settings = settings_record[0]
    state = state_record[0]
    start_state(state, settings)
    has_tp_distance = tp_distance.shape[0] > 0
    has_sl_distance = sl_distance.shape[0] > 0
    bar = first_bar
    while bar < last_bar:
        order = signals[bar - 1] if bar > first_bar else 0
        if state.side == 0 and (order == 0 or not state.trading):
            # Flat with no order to act on: equity is cash and the drawdown cannot move; only idle bars count.
            cash = state.cash
            if not state.trading:
                equity_out[bar - first_bar : last_bar - first_bar] = cash
                break
            if settings.max_idle_bars > 0:
                # One bar at a time: each may end trading.
                while True:
                    equity_out[bar - first_bar] = cash
                    count_idle_bar(state, settings, bar)
                    bar += 1
                    if bar >= last_bar or not state.trading or signals[bar - 1] != 0:
                        break
                continue
            equity_out[bar - first_bar] = cash
            bar += 1
            while bar < last_bar and signals[bar - 1] == 0:
                equity_out[bar - first_bar] = cash
                bar += 1
            continue
        if state.side != 0 and order == 0:
            # In a position, no order, no level within the bar's range (between the triggers): funding and the mark
            # only, in locals. The last bar (the end of the data), and a mark at or below the early-stop floor (or
            # zero), are left to the rules.
            signed_qty = state.side * state.qty
            average = state.average
            funding_per_bar = settings.funding_per_bar
            stop_limit = settings.max_drawdown_stop
            low_trigger = state.low_trigger
            high_trigger = state.high_trigger
            cash = state.cash
            funding_paid = state.funding_paid
            peak = state.peak
            trough_floor = state.trough_floor
            stop_floor = state.stop_floor
            max_drawdown = state.max_drawdown
            held_equity = state.equity
            timeout_bar = hold_until(state, settings)
            while (
                bar < last_bar - 1
                and bar < timeout_bar
                and signals[bar - 1] == 0
                and low[bar] > low_trigger
                and high[bar] < high_trigger
            ):
                bar_close = close[bar]
                funding = funding_due(signed_qty, bar_close, funding_per_bar)
                equity = marked_equity(cash - funding, signed_qty, average, bar_close)
                if not (equity > stop_floor and equity > 0.0):
                    break
                cash -= funding
                funding_paid += funding
                peak, trough_floor, stop_floor, max_drawdown = track_drawdown(
                    equity, peak, trough_floor, stop_floor, max_drawdown, stop_limit
                )
                equity_out[bar - first_bar] = equity
                held_equity = equity
                bar += 1
            state.cash = cash
            state.funding_paid = funding_paid
            state.peak = peak
            state.trough_floor = trough_floor
            state.stop_floor = stop_floor
            state.max_drawdown = max_drawdown
            state.equity = held_equity
            order = signals[bar - 1]
        tp_d = tp_distance[bar - 1] if has_tp_distance and order != 0 else np.nan
        sl_d = sl_distance[bar - 1] if has_sl_distance and order != 0 else np.nan
        if bar < last_bar - 1:
            valid = step(
                state, settings, trades, position_log, bar, time_ms[bar],
                open_[bar], high[bar], low[bar], close[bar], order, tp_d, sl_d,
            )  # fmt: skip
        else:
            valid = final_step(
                state, settings, trades, position_log, bar, time_ms[bar],
                open_[bar], high[bar], low[bar], close[bar], order, tp_d, sl_d,
            )  # fmt: skip
        if not valid:
            return bar - 1
        equity_out[bar - first_bar] = state.equity
        bar += 1
    return NO_BAD_SIGNAL
