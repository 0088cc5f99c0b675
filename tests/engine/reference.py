"""A plain, slow, bar-by-bar backtest written straight from the rules in the README ("Backtests").

It exists to check the numba kernel, whose speed comes from short paths (quiet bars in tight loops, levels turned
into triggers, drawdown without a division per bar, a position log instead of a per-bar array). This version has
none of that: every bar walks every rule in order, with Python floats and a list of trades.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from stratlab.data.candles import Candles
from stratlab.engine import BacktestConfig


@dataclass
class Position:
    side: int
    qty: float
    average: float
    entry_bar: int
    fees: float
    slippage: float
    funding: float = 0.0
    adds: int = 0
    last_fill_market: float = 0.0
    last_fill_notional: float = 0.0
    tp_distance: float = math.nan
    sl_distance: float = math.nan


@dataclass
class Outcome:
    trades: list[dict[str, float]] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)
    position: list[float] = field(default_factory=list)
    stopped_early: str | None = None


def _level(average: float, side: int, distance: float, pct: float | None) -> float:
    if not math.isnan(distance):
        level = average + side * distance
    elif pct is not None:
        level = average * (1 + side * pct / 100)
    else:
        return math.nan
    return level if level > 0 else math.nan


def _nearer(side: int, sl: float, liq: float) -> tuple[float, str]:
    if math.isnan(sl):
        return liq, "liquidation"
    if math.isnan(liq):
        return sl, "stop_loss"
    return (sl, "stop_loss") if side * (sl - liq) >= 0 else (liq, "liquidation")


def reference_backtest(
    candles: Candles, signals: list[int], cfg: BacktestConfig, tp_dist: list[float], sl_dist: list[float]
) -> Outcome:
    fee = cfg.fee_bps / 10_000
    slip = cfg.slippage_bps / 10_000
    funding_rate = cfg.funding_bps_per_8h / 10_000 * candles.timeframe.approx_ms / (8 * 3_600_000)
    liq_fraction = 1 / cfg.leverage - cfg.maintenance_margin_pct / 100
    out = Outcome()
    cash = cfg.initial_equity
    pos: Position | None = None
    losses = idle = 0
    trading = True
    peak = cfg.initial_equity

    def levels(p: Position) -> tuple[float, float, float]:
        tp = _level(p.average, p.side, p.tp_distance, cfg.tp_pct)
        sl = _level(p.average, -p.side, p.sl_distance, cfg.sl_pct)
        liq = p.average * (1 - p.side * liq_fraction)
        return tp, sl, (liq if liq > 0 else math.nan)

    def exit_(p: Position, bar: int, market: float, reason: str) -> float:
        """Book the trade; its result feeds the loss streak unless the run is ending anyway (end, early stop)."""
        nonlocal losses, trading
        fill = market * (1 - p.side * slip)
        exit_fee = p.qty * fill * fee
        price_pnl = p.side * p.qty * (fill - p.average)
        pnl = price_pnl - (p.fees + exit_fee) - p.funding
        out.trades.append(
            {
                "entry_bar": p.entry_bar,
                "exit_bar": bar,
                "side": p.side,
                "size": p.qty,
                "entry_price": p.average,
                "exit_price": fill,
                "fees": p.fees + exit_fee,
                "slippage_cost": p.slippage + p.qty * market * slip,
                "funding": p.funding,
                "pnl": pnl,
                "exit_reason": reason,
                "adds": p.adds,
            }
        )
        if reason in ("end", "early_stop"):
            return price_pnl - exit_fee
        losses = losses + 1 if pnl < 0 else 0
        if cfg.max_consecutive_losses is not None and losses >= cfg.max_consecutive_losses and trading:
            trading = False
            out.stopped_early = "max_consecutive_losses"
        return price_pnl - exit_fee

    n = len(candles)
    for i in range(n):
        o, h, lo, c = candles.open[i], candles.high[i], candles.low[i], candles.close[i]
        signal = signals[i - 1] if i > 0 else 0
        # A position held max_holding_bars bars is closed at this open, before the order.
        if pos is not None and cfg.max_holding_bars is not None and i - pos.entry_bar >= cfg.max_holding_bars:
            cash += exit_(pos, i, o, "time_out")
            pos = None
        # The order from the previous bar's signal, at this open.
        if signal != 0 and trading:
            if pos is not None and signal != pos.side and cfg.on_opposite != "ignore":
                cash += exit_(pos, i, o, "signal")
                pos = None
                if cfg.on_opposite == "close":
                    signal = 0
            if pos is None and signal != 0 and trading and cash > 0:
                fill = o * (1 + signal * slip)
                tp_d = tp_dist[i - 1] if tp_dist else math.nan
                sl_d = sl_dist[i - 1] if sl_dist else math.nan
                sl_new = _level(fill, -signal, sl_d, cfg.sl_pct)
                tp_new = _level(fill, signal, tp_d, cfg.tp_pct)
                # The cost margin: the move to the take profit must pay the round trip's costs this many times.
                multiple = cfg.min_target_cost_multiple
                if multiple is not None and abs(tp_new - fill) < multiple * fill * 2 * (fee + slip):
                    signal = 0  # NaN (no take profit) compares False: not judged
                growth = 1.0
                if cfg.position_mode == "martingale":
                    growth = cfg.martingale_mult ** min(losses, cfg.martingale_max_steps)
                if cfg.size_units is not None:
                    qty = cfg.size_units * growth
                elif cfg.risk_pct is not None and not math.isnan(sl_new):
                    qty = cfg.risk_pct / 100 * cash * growth / abs(fill - sl_new)
                else:
                    qty = cfg.size_pct / 100 * cash * cfg.leverage * growth / fill
                qty = min(qty, cash * cfg.leverage / fill)
                if qty > 0 and signal != 0:
                    pos = Position(signal, qty, fill, i, qty * fill * fee, qty * o * slip)
                    cash -= pos.fees
                    pos.last_fill_market, pos.last_fill_notional = o, qty * fill
                    pos.tp_distance, pos.sl_distance = tp_d, sl_d
                    idle = 0
        # Inside the bar.
        if pos is not None:
            side = pos.side
            tp, sl, liq = levels(pos)

            stop, kind = _nearer(side, sl, liq)
            adverse, favourable = (lo, h) if side > 0 else (h, lo)
            reason: str | None = None
            market = 0.0
            if not math.isnan(stop) and side * (o - stop) <= 0:
                reason, market = kind, o
            elif not math.isnan(tp) and side * (o - tp) >= 0:
                reason, market = "take_profit", o
            where = o
            added = False
            if reason is None and cfg.position_mode == "grid":
                while pos.adds < cfg.grid_max_adds:
                    add_level = pos.last_fill_market * (1 - side * cfg.grid_step_pct / 100)
                    if side * (adverse - add_level) > 0:
                        break
                    if not math.isnan(stop) and side * (add_level - stop) <= 0:
                        break
                    add_market = o if side * (o - add_level) <= 0 else add_level
                    add_fill = add_market * (1 + side * slip)
                    room = (cash + side * pos.qty * (add_market - pos.average)) * cfg.leverage - pos.qty * add_market
                    notional = min(pos.last_fill_notional * cfg.grid_size_mult, room)
                    if notional <= 0:
                        break
                    add_qty = notional / add_fill
                    pos.average = (pos.average * pos.qty + add_fill * add_qty) / (pos.qty + add_qty)
                    pos.qty += add_qty
                    cash -= notional * fee
                    pos.fees += notional * fee
                    pos.slippage += add_qty * add_market * slip
                    pos.adds += 1
                    pos.last_fill_market, pos.last_fill_notional = add_market, notional
                    where, added = add_market, True
                    tp, sl, liq = levels(pos)
                    stop, kind = _nearer(side, sl, liq)
            if reason is None and not math.isnan(stop) and side * (adverse - stop) <= 0:
                reason, market = kind, (stop if side * (where - stop) > 0 else where)
            elif reason is None and not math.isnan(tp) and side * ((c if added else favourable) - tp) >= 0:
                reason, market = "take_profit", tp
            if reason is not None:
                cash += exit_(pos, i, market, reason)
                pos = None
        # At the close.
        if pos is not None:
            funding = pos.side * pos.qty * c * funding_rate
            cash -= funding
            pos.funding += funding
            if i == n - 1:
                cash += exit_(pos, i, c, "end")
                pos = None
        equity = cash + (pos.side * pos.qty * (c - pos.average) if pos is not None else 0.0)
        peak = max(peak, equity)
        if trading:
            limit = cfg.max_drawdown_stop_pct
            ruined = equity <= 0
            if ruined or (limit is not None and (peak - equity) / peak >= limit / 100):
                if pos is not None:
                    cash += exit_(pos, i, c, "early_stop")
                    pos = None
                    equity = cash
                trading = False
                out.stopped_early = "ruin" if ruined else "max_drawdown"
            elif pos is None and cfg.max_idle_bars is not None:
                idle += 1
                if idle >= cfg.max_idle_bars:
                    trading = False
                    out.stopped_early = "max_idle_bars"
        out.equity.append(equity)
        out.position.append(pos.side * pos.qty if pos is not None else 0.0)
    return out
