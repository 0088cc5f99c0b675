"""A frozen copy of the backtest kernel as it was before it was split into named rules, for benchmarks/engine.py only.

Why it is here: the kernel must stay as fast as this single-function version it replaced (within 10 %), and the
machine the benchmark runs on is shared and noisy, so the two are timed in the same run and compared as a ratio. The
code below is ``src/stratlab/engine/_kernel.py`` of that time unchanged, except this docstring and
``pack_settings_before`` at the end (its settings vector, then built in ``engine/backtest.py``). Nothing in the
package or the tests imports it.

Accounting: ``cash`` is realised equity. Fees and funding leave it when they are paid; a position's price PnL joins
it at the exit, ``side * qty * (exit_fill - average_entry)``. Equity at a bar's close is cash plus the open
position marked to that close.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
Int8Array = npt.NDArray[np.int8]

# Position modes, opposite-signal policies and sizing rules, as ints numba can read.
MODE_NONE, MODE_GRID, MODE_MARTINGALE = 0, 1, 2
OPPOSITE_REVERSE, OPPOSITE_CLOSE, OPPOSITE_IGNORE = 0, 1, 2
SIZING_PCT, SIZING_RISK, SIZING_UNITS = 0, 1, 2

# Why a trade ended (the ``exit_reason`` column); names in EXIT_REASONS, same order.
EXIT_SIGNAL, EXIT_TAKE_PROFIT, EXIT_STOP_LOSS, EXIT_LIQUIDATION, EXIT_EARLY_STOP, EXIT_END = 0, 1, 2, 3, 4, 5
EXIT_REASONS = ("signal", "take_profit", "stop_loss", "liquidation", "early_stop", "end")

# Why the run stopped trading before the end; names in STOP_REASONS, same order.
STOP_NONE, STOP_MAX_DRAWDOWN, STOP_CONSECUTIVE_LOSSES, STOP_IDLE, STOP_RUIN = 0, 1, 2, 3, 4
STOP_REASONS = ("", "max_drawdown", "max_consecutive_losses", "max_idle_bars", "ruin")
# Not a stop: the kernel met a signal other than -1/0/+1 (at the returned bar) and gave up.
BAD_SIGNAL = -1

# Scalar settings, packed into one float64 array so the kernel's signature stays short.
(
    S_INITIAL_EQUITY,
    S_FEE_RATE,
    S_SLIPPAGE_RATE,
    S_TP_FRACTION,
    S_SL_FRACTION,
    S_MODE,
    S_GRID_STEP,
    S_GRID_MAX_ADDS,
    S_GRID_SIZE_MULT,
    S_MARTINGALE_MULT,
    S_MARTINGALE_MAX_STEPS,
    S_SIZING,
    S_SIZE_FRACTION,
    S_RISK_FRACTION,
    S_SIZE_UNITS,
    S_LEVERAGE,
    S_MAINTENANCE_MARGIN,
    S_OPPOSITE,
    S_FUNDING_PER_BAR,
    S_MAX_DRAWDOWN_STOP,
    S_MAX_CONSECUTIVE_LOSSES,
    S_MAX_IDLE_BARS,
) = range(22)
N_SETTINGS = 22

# Columns of the trades array (float64 rows).
(
    T_ENTRY_BAR,
    T_EXIT_BAR,
    T_SIDE,
    T_SIZE,
    T_ENTRY_PRICE,
    T_EXIT_PRICE,
    T_FEES,
    T_SLIPPAGE_COST,
    T_FUNDING,
    T_PNL,
    T_EXIT_REASON,
    T_ADDS,
) = range(12)
N_TRADE_FIELDS = 12


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
def _book_exit_nb(
    trades: FloatArray,
    k: int,
    entry_bar: int,
    exit_bar: int,
    side: int,
    qty: float,
    average: float,
    market_price: float,
    slippage_rate: float,
    fee_rate: float,
    fees_paid: float,
    slippage_paid: float,
    funding_paid: float,
    reason: int,
    adds: int,
) -> tuple[float, float]:
    """Write trade ``k`` and return (change of cash at the exit, trade pnl)."""
    # Slippage works against the trader: a long sells lower, a short buys back higher.
    fill = market_price * (1.0 - side * slippage_rate)
    exit_fee = qty * fill * fee_rate
    price_pnl = side * qty * (fill - average)
    fees = fees_paid + exit_fee
    pnl = price_pnl - fees - funding_paid
    row = trades[k]
    row[T_ENTRY_BAR] = entry_bar
    row[T_EXIT_BAR] = exit_bar
    row[T_SIDE] = side
    row[T_SIZE] = qty
    row[T_ENTRY_PRICE] = average
    row[T_EXIT_PRICE] = fill
    row[T_FEES] = fees
    row[T_SLIPPAGE_COST] = slippage_paid + qty * market_price * slippage_rate
    row[T_FUNDING] = funding_paid
    row[T_PNL] = pnl
    row[T_EXIT_REASON] = reason
    row[T_ADDS] = adds
    return price_pnl - exit_fee, pnl


@njit(cache=True)
def simulate_nb(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    signals: Int8Array,
    tp_distance: FloatArray,
    sl_distance: FloatArray,
    settings: FloatArray,
    first_bar: int,
    last_bar: int,
    equity_out: FloatArray,
    position_changes: FloatArray,
    trades: FloatArray,
) -> tuple[int, int, float, int, int]:
    """Simulate bars ``[first_bar, last_bar)``.

    Returns (trades, position changes, max drawdown fraction, stop reason, stop bar).

    ``signals[i]`` (+1 long, -1 short, 0 none) is decided at bar i's close and fills at ``open[i + 1]``; signals
    before ``first_bar`` are not traded. ``tp_distance``/``sl_distance`` are per-bar price distances read on the
    signal bar (NaN: use the fractions in ``settings``); pass empty arrays when there are none. ``equity_out``
    receives one value per simulated bar. The position (signed quantity after each bar) is logged only where it
    changes, as ``position_changes`` rows (bar, position): writing it per bar would cost a third of the run's memory
    traffic. ``trades`` needs a row per entry, ``position_changes`` a row per bar with an entry, add or exit.
    """
    initial_equity = settings[S_INITIAL_EQUITY]
    fee_rate = settings[S_FEE_RATE]
    slippage_rate = settings[S_SLIPPAGE_RATE]
    tp_fraction = settings[S_TP_FRACTION]
    sl_fraction = settings[S_SL_FRACTION]
    mode = int(settings[S_MODE])
    grid_step = settings[S_GRID_STEP]
    grid_max_adds = int(settings[S_GRID_MAX_ADDS])
    grid_size_mult = settings[S_GRID_SIZE_MULT]
    martingale_mult = settings[S_MARTINGALE_MULT]
    martingale_max_steps = int(settings[S_MARTINGALE_MAX_STEPS])
    sizing = int(settings[S_SIZING])
    size_fraction = settings[S_SIZE_FRACTION]
    risk_fraction = settings[S_RISK_FRACTION]
    size_units = settings[S_SIZE_UNITS]
    leverage = settings[S_LEVERAGE]
    maintenance = settings[S_MAINTENANCE_MARGIN]
    opposite = int(settings[S_OPPOSITE])
    funding_per_bar = settings[S_FUNDING_PER_BAR]
    max_drawdown_stop = settings[S_MAX_DRAWDOWN_STOP]
    max_consecutive_losses = int(settings[S_MAX_CONSECUTIVE_LOSSES])
    max_idle_bars = int(settings[S_MAX_IDLE_BARS])
    has_tp_distance = tp_distance.shape[0] > 0
    has_sl_distance = sl_distance.shape[0] > 0
    # An isolated position is liquidated when its loss reaches its margin (1/leverage of the entry notional)
    # minus the maintenance margin: at average × (1 - side × (1/leverage - maintenance)).
    liquidation_fraction = 1.0 / leverage - maintenance

    cash = initial_equity
    side = 0
    qty = 0.0
    average = 0.0
    entry_bar = -1
    fees_paid = 0.0
    slippage_paid = 0.0
    funding_paid = 0.0
    adds = 0
    last_fill_market = 0.0  # market price (before slippage) of the last fill: the grid steps from it
    last_fill_notional = 0.0
    tp_level = np.nan
    sl_level = np.nan
    liquidation_level = np.nan
    stop_level = np.nan  # the nearer of SL and liquidation, refreshed whenever they move
    stop_kind = EXIT_STOP_LOSS
    trade_tp_distance = np.nan  # the distances fixed at entry, reused when a grid add moves the average
    trade_sl_distance = np.nan

    n_trades = 0
    n_changes = 0
    last_position = 0.0
    losses_in_row = 0
    idle_bars = 0
    trading = True
    stop_reason = STOP_NONE
    stop_bar = -1
    peak = initial_equity
    max_drawdown = 0.0
    # Drawdown without a division per bar: equity below `trough_floor` (= peak × (1 - max drawdown so far)) is a
    # new maximum; equity at or below `stop_floor` (= peak × (1 - the early-stop limit), NaN when off) stops.
    trough_floor = initial_equity
    if math.isnan(max_drawdown_stop):
        max_drawdown_stop = np.inf  # a floor of -inf: never reached
    stop_floor = initial_equity * (1.0 - max_drawdown_stop)
    low_trigger = -np.inf
    high_trigger = np.inf

    # Most bars are quiet: flat with no order, or in a position whose levels the bar does not reach. Both kinds are
    # consumed in tight inner loops; every other bar takes the full path, one bar per turn of the outer loop.
    i = first_bar
    while i < last_bar:
        signal = signals[i - 1] if i > first_bar else 0
        if side == 0 and (signal == 0 or not trading):
            # Flat and no order: nothing can happen; equity is cash and the drawdown cannot move.
            equity_out[i - first_bar] = cash
            i += 1
            if trading and max_idle_bars > 0:
                idle_bars += 1
                if idle_bars >= max_idle_bars:
                    trading = False
                    stop_reason = STOP_IDLE
                    stop_bar = i - 1
            elif trading:
                while i < last_bar and signals[i - 1] == 0:
                    equity_out[i - first_bar] = cash
                    i += 1
            else:
                while i < last_bar:
                    equity_out[i - first_bar] = cash
                    i += 1
            continue
        if side != 0 and signal == 0:
            # In a position, no order, no level within the bar's range: funding and the mark only. The last bar, and a
            # mark at or below the early-stop floor (or zero), take the full path.
            signed_qty = side * qty
            while i < last_bar - 1 and signals[i - 1] == 0 and low[i] > low_trigger and high[i] < high_trigger:
                bar_close = close[i]
                funding = signed_qty * bar_close * funding_per_bar
                equity = cash - funding + signed_qty * (bar_close - average)
                if not (equity > stop_floor and equity > 0.0):
                    break
                cash -= funding
                funding_paid += funding
                if equity > peak:
                    peak = equity
                    trough_floor = peak * (1.0 - max_drawdown)
                    stop_floor = peak * (1.0 - max_drawdown_stop)
                elif equity < trough_floor:
                    max_drawdown = (peak - equity) / peak
                    trough_floor = equity
                equity_out[i - first_bar] = equity
                i += 1
            signal = signals[i - 1]
        out = i - first_bar
        bar_open = open_[i]
        bar_high = high[i]
        bar_low = low[i]
        bar_close = close[i]

        # 1. The market order of the previous bar's signal fills at this bar's open.
        if signal > 1 or signal < -1:
            # Checked here, where non-zero signals are read anyway, instead of a pass over all of them first.
            return n_trades, n_changes, max_drawdown, BAD_SIGNAL, i - 1
        if signal != 0 and trading:
            if side != 0 and signal != side and opposite != OPPOSITE_IGNORE:  # noqa: PLR1714 - plain comparisons compile simplest
                # Opposite signal: close at the open (both reverse and close), then maybe reverse below.
                cash_change, pnl = _book_exit_nb(
                    trades, n_trades, entry_bar, i, side, qty, average, bar_open, slippage_rate, fee_rate,
                    fees_paid, slippage_paid, funding_paid, EXIT_SIGNAL, adds,
                )  # fmt: skip
                cash += cash_change
                n_trades += 1
                side = 0
                losses_in_row = losses_in_row + 1 if pnl < 0.0 else 0
                if max_consecutive_losses > 0 and losses_in_row >= max_consecutive_losses:
                    trading = False
                    stop_reason = STOP_CONSECUTIVE_LOSSES
                    stop_bar = i
                if opposite == OPPOSITE_CLOSE:
                    signal = 0
            # A same-side signal while in a position is ignored in every mode: grid adds follow price, not signals.
            if side == 0 and signal != 0 and trading and cash > 0.0:
                new_side = int(signal)
                fill = bar_open * (1.0 + new_side * slippage_rate)
                tp_d = tp_distance[i - 1] if has_tp_distance else np.nan
                sl_d = sl_distance[i - 1] if has_sl_distance else np.nan
                sl_new = _level_nb(fill, -new_side, sl_d, sl_fraction)
                growth = 1.0
                if mode == MODE_MARTINGALE:
                    # After each loss in a row the base size grows, up to martingale_max_steps; a win resets it.
                    growth = martingale_mult ** min(losses_in_row, martingale_max_steps)
                max_qty = cash * leverage / fill  # never more margin than the equity
                if sizing == SIZING_UNITS:
                    new_qty = size_units * growth
                elif sizing == SIZING_RISK and not math.isnan(sl_new):
                    # Risk-based: the loss at the stop (price distance × quantity) is risk_pct of equity.
                    new_qty = risk_fraction * cash * growth / abs(fill - sl_new)
                else:
                    new_qty = size_fraction * cash * leverage * growth / fill
                new_qty = min(new_qty, max_qty)
                if new_qty > 0.0:
                    side = new_side
                    qty = new_qty
                    average = fill
                    entry_bar = i
                    fees_paid = qty * fill * fee_rate
                    slippage_paid = qty * bar_open * slippage_rate
                    funding_paid = 0.0
                    adds = 0
                    cash -= fees_paid
                    last_fill_market = bar_open
                    last_fill_notional = qty * fill
                    trade_tp_distance = tp_d
                    trade_sl_distance = sl_d
                    tp_level = _level_nb(average, side, tp_d, tp_fraction)
                    sl_level = sl_new
                    liquidation_level = average * (1.0 - side * liquidation_fraction)
                    if liquidation_level <= 0.0:
                        liquidation_level = np.nan
                    stop_level, stop_kind = _nearer_stop_nb(side, sl_level, liquidation_level)
                    next_add = (
                        last_fill_market * (1.0 - side * grid_step)
                        if mode == MODE_GRID and grid_max_adds > 0
                        else np.nan
                    )
                    low_trigger, high_trigger = _triggers_nb(side, stop_level, tp_level, next_add)
                    idle_bars = 0

        # 2. Inside the bar: the open first, then adds and exits. TP/SL are live from the entry bar on, because the
        #    open fill comes before the rest of the bar's range.
        if side != 0:
            adverse = bar_low if side > 0 else bar_high
            favourable = bar_high if side > 0 else bar_low
            exit_reason = -1
            exit_market = 0.0
            reference = bar_open  # where price is when the next level is tested
            added = False
            # Level tests below rely on NaN comparing False: a level that is not set is never reached.
            # A bar that opens beyond a level fills at the open, not at the level.
            if side * (bar_open - stop_level) <= 0.0:
                exit_reason = stop_kind
                exit_market = bar_open
            elif side * (bar_open - tp_level) >= 0.0:
                exit_reason = EXIT_TAKE_PROFIT
                exit_market = bar_open
            if exit_reason < 0 and mode == MODE_GRID:
                # Adds trigger on adverse moves of grid_step_pct from the last fill, nearest first, and only while
                # the add level comes before the stop: price would meet the stop first otherwise.
                while adds < grid_max_adds:
                    add_level = last_fill_market * (1.0 - side * grid_step)
                    if side * (adverse - add_level) > 0.0:
                        break
                    if side * (add_level - stop_level) <= 0.0:
                        break
                    add_market = bar_open if side * (bar_open - add_level) <= 0.0 else add_level
                    add_fill = add_market * (1.0 + side * slippage_rate)
                    equity_now = cash + side * qty * (add_market - average)
                    room = equity_now * leverage - qty * add_market  # margin left, at leverage
                    add_notional = min(last_fill_notional * grid_size_mult, room)
                    if add_notional <= 0.0:
                        break
                    add_qty = add_notional / add_fill
                    add_fee = add_notional * fee_rate
                    # The new average is the quantity-weighted mean of every fill; TP/SL and liquidation follow it.
                    average = (average * qty + add_fill * add_qty) / (qty + add_qty)
                    qty += add_qty
                    cash -= add_fee
                    fees_paid += add_fee
                    slippage_paid += add_qty * add_market * slippage_rate
                    adds += 1
                    last_fill_market = add_market
                    last_fill_notional = add_notional
                    reference = add_market
                    added = True
                    tp_level = _level_nb(average, side, trade_tp_distance, tp_fraction)
                    sl_level = _level_nb(average, -side, trade_sl_distance, sl_fraction)
                    liquidation_level = average * (1.0 - side * liquidation_fraction)
                    if liquidation_level <= 0.0:
                        liquidation_level = np.nan
                    stop_level, stop_kind = _nearer_stop_nb(side, sl_level, liquidation_level)
                    next_add = last_fill_market * (1.0 - side * grid_step) if adds < grid_max_adds else np.nan
                    low_trigger, high_trigger = _triggers_nb(side, stop_level, tp_level, next_add)
            if exit_reason < 0 and side * (adverse - stop_level) <= 0.0:
                # Stop (or liquidation) inside the range. If both it and the TP are in range, the stop is taken
                # first: the bar's path is unknown and the pessimistic order is the honest one. A stop that an add
                # already moved past fills where price was, not at the level.
                exit_reason = stop_kind
                exit_market = stop_level if side * (reference - stop_level) > 0.0 else reference
            elif exit_reason < 0:
                # After adds in this bar the adverse extreme may have come last: the moved TP counts only if the
                # close is beyond it (price certainly crossed it after the adds).
                reach = bar_close if added else favourable
                if side * (reach - tp_level) >= 0.0:
                    exit_reason = EXIT_TAKE_PROFIT
                    exit_market = tp_level
            if exit_reason >= 0:
                cash_change, pnl = _book_exit_nb(
                    trades, n_trades, entry_bar, i, side, qty, average, exit_market, slippage_rate, fee_rate,
                    fees_paid, slippage_paid, funding_paid, exit_reason, adds,
                )  # fmt: skip
                cash += cash_change
                n_trades += 1
                side = 0
                losses_in_row = losses_in_row + 1 if pnl < 0.0 else 0
                if max_consecutive_losses > 0 and losses_in_row >= max_consecutive_losses and trading:
                    trading = False
                    stop_reason = STOP_CONSECUTIVE_LOSSES
                    stop_bar = i

        # 3. At the close: funding on the notional held through the bar, then the end of data, then the mark.
        if side != 0:
            # Constant funding, pro rata of the bar's length: longs pay a positive rate, shorts receive it.
            if funding_per_bar != 0.0:
                funding = side * qty * bar_close * funding_per_bar
                cash -= funding
                funding_paid += funding
            if i == last_bar - 1:
                # A position still open at the end is closed at the last close, with its costs.
                cash_change, pnl = _book_exit_nb(
                    trades, n_trades, entry_bar, i, side, qty, average, bar_close, slippage_rate, fee_rate,
                    fees_paid, slippage_paid, funding_paid, EXIT_END, adds,
                )  # fmt: skip
                cash += cash_change
                n_trades += 1
                side = 0

        equity = cash + side * qty * (bar_close - average) if side != 0 else cash
        if equity > peak:
            peak = equity
            trough_floor = peak * (1.0 - max_drawdown)
            stop_floor = peak * (1.0 - max_drawdown_stop)
        elif equity < trough_floor:
            max_drawdown = (peak - equity) / peak
            trough_floor = equity

        if trading:
            ruined = equity <= 0.0
            if ruined or equity <= stop_floor:
                # Early stop: close at this close and trade no more.
                if side != 0:
                    cash_change, pnl = _book_exit_nb(
                        trades, n_trades, entry_bar, i, side, qty, average, bar_close, slippage_rate, fee_rate,
                        fees_paid, slippage_paid, funding_paid, EXIT_EARLY_STOP, adds,
                    )  # fmt: skip
                    cash += cash_change
                    n_trades += 1
                    side = 0
                    equity = cash
                    if equity < trough_floor:
                        max_drawdown = (peak - equity) / peak
                        trough_floor = equity
                trading = False
                stop_reason = STOP_RUIN if ruined else STOP_MAX_DRAWDOWN
                stop_bar = i
            elif side == 0 and max_idle_bars > 0:
                idle_bars += 1
                if idle_bars >= max_idle_bars:
                    trading = False
                    stop_reason = STOP_IDLE
                    stop_bar = i

        equity_out[out] = equity
        position = side * qty
        if position != last_position:
            position_changes[n_changes, 0] = i
            position_changes[n_changes, 1] = position
            n_changes += 1
            last_position = position
        i += 1

    return n_trades, n_changes, max_drawdown, stop_reason, stop_bar


_FUNDING_PERIOD_MS = 8 * 3_600_000
_MODES = {"none": MODE_NONE, "grid": MODE_GRID, "martingale": MODE_MARTINGALE}
_OPPOSITE = {"reverse": OPPOSITE_REVERSE, "close": OPPOSITE_CLOSE, "ignore": OPPOSITE_IGNORE}


def _fraction(pct: float | None) -> float:
    return math.nan if pct is None else pct / 100.0


def pack_settings_before(config: Any, bar_ms: int) -> FloatArray:
    """A ``BacktestConfig`` as this kernel's settings vector (rates as fractions, codes as numbers, None as NaN/-1)."""
    s = np.empty(N_SETTINGS, dtype=np.float64)
    s[S_INITIAL_EQUITY] = config.initial_equity
    s[S_FEE_RATE] = config.fee_bps / 10_000.0
    s[S_SLIPPAGE_RATE] = config.slippage_bps / 10_000.0
    s[S_TP_FRACTION] = _fraction(config.tp_pct)
    s[S_SL_FRACTION] = _fraction(config.sl_pct)
    s[S_MODE] = _MODES[str(config.position_mode)]
    s[S_GRID_STEP] = config.grid_step_pct / 100.0
    s[S_GRID_MAX_ADDS] = config.grid_max_adds
    s[S_GRID_SIZE_MULT] = config.grid_size_mult
    s[S_MARTINGALE_MULT] = config.martingale_mult
    s[S_MARTINGALE_MAX_STEPS] = config.martingale_max_steps
    if config.size_units is not None:
        s[S_SIZING] = SIZING_UNITS
    elif config.risk_pct is not None:
        s[S_SIZING] = SIZING_RISK
    else:
        s[S_SIZING] = SIZING_PCT
    s[S_SIZE_FRACTION] = config.size_pct / 100.0
    s[S_RISK_FRACTION] = _fraction(config.risk_pct)
    s[S_SIZE_UNITS] = math.nan if config.size_units is None else config.size_units
    s[S_LEVERAGE] = config.leverage
    s[S_MAINTENANCE_MARGIN] = config.maintenance_margin_pct / 100.0
    s[S_OPPOSITE] = _OPPOSITE[str(config.on_opposite)]
    s[S_FUNDING_PER_BAR] = config.funding_bps_per_8h / 10_000.0 * bar_ms / _FUNDING_PERIOD_MS
    s[S_MAX_DRAWDOWN_STOP] = _fraction(config.max_drawdown_stop_pct)
    s[S_MAX_CONSECUTIVE_LOSSES] = -1 if config.max_consecutive_losses is None else config.max_consecutive_losses
    s[S_MAX_IDLE_BARS] = -1 if config.max_idle_bars is None else config.max_idle_bars
    return s


if __name__ == "__main__":  # `make bench` runs every script here; this one only serves benchmarks/engine.py
    print("not a benchmark: the frozen kernel that benchmarks/engine.py times the current one against")
