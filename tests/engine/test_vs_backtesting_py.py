"""The engine against backtesting.py, trade by trade, on the two datasets that ship with it (EURUSD 1h, GOOG 1d).

Both sides trade the same precomputed entry events (an SMA cross computed here with pandas), a fixed whole number of
units, no slippage or spread, and a commission that both charge on every fill's notional. backtesting.py runs with
``exclusive_orders=True`` (an opposite signal closes the trade at the next open and opens the new one, our
``on_opposite="reverse"``), ``hedging=False``, ``trade_on_close=False``, and enough cash that sizing never binds.

What backtesting.py 0.6 does, read in ``backtesting/backtesting.py``, and why it matches our conventions:

* Commission: ``_Broker._commission_func`` is ``abs(size) * price * commission``; ``_open_trade`` charges it at the
  entry fill and ``_close_trade`` again at the exit fill. That is our ``fee_bps`` per fill, so
  ``fee_bps = commission * 10_000`` matches exactly.
* Equity: ``_Broker.equity`` is cash plus ``size * (close - entry)`` of open trades, and cash loses the entry
  commission at the fill: our mark-to-close equity, bar for bar.
* SL before TP in one bar: ``new_order`` inserts a trade's stop order at the head of the queue ("Ensure SL orders are
  processed first"); once it fills, ``_close_trade`` removes the sibling TP order. Ours takes the stop first too.
* Gaps: a triggered stop fills at ``min(open, stop)`` for a sell (``max`` for a buy) and a take-profit limit at
  ``max(open, limit)`` for a sell, so a bar that opens beyond a level fills at the open, as ours.
* The entry bar: after a market order with ``sl``/``tp`` opens its trade, ``_process_orders`` runs again on the same
  bar (``reprocess_orders``, "This allows e.g. SL hitting in the same bar the order was open", kernc/backtesting.py
  issue 119), so bracket levels attached to the order are live from the entry bar, like ours. Levels assigned to the
  trade after its fill (``trade.sl = ...`` in ``next()``) are live only from the bar after the entry: that is where
  the difference the README names ("Backtests") comes from, and ``test_levels_set_after_the_fill_...`` shows it
  trade by trade.
* The end: with ``finalize_trades=False`` a trade still open stays open and is marked to the last close with no exit
  commission (``finalize_trades=True`` would close it at the last bar's *open*, because it re-runs the broker on that
  bar). Ours closes at the last close and pays the exit fee. The tests close the peer's open trade on paper the same
  way (its commission formula at the last close) and state that difference on the last equity value.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from backtesting import Backtest, Strategy
from backtesting import backtesting as backtesting_module
from backtesting.test import EURUSD, GOOG

from stratlab.data.candles import Candles
from stratlab.data.timeframes import parse_timeframe
from stratlab.data.validate import validate_frame
from stratlab.engine import BacktestConfig, BacktestResult, run_backtest

FloatArray = npt.NDArray[np.float64]
Int8Array = npt.NDArray[np.int8]
Levels = Literal["none", "on_order", "after_fill"]

FEE_BPS = 2.0
COMMISSION = FEE_BPS / 10_000.0  # backtesting.py's rate per fill: the same fraction as our fee_bps


@dataclass(frozen=True)
class Market:
    """One shipped dataset and how it is traded on both sides."""

    name: str
    data: pd.DataFrame
    timeframe: str
    fast: int
    slow: int
    units: int
    # Cash about twice the largest notional: sizing never binds, and a 1e-6 relative equity tolerance stays far
    # below one commission (a larger cash would make the equity comparison blind to a missing fee).
    cash: float
    tp_pct: float
    sl_pct: float


MARKETS = (
    Market("EURUSD", EURUSD, "1h", fast=5, slow=20, units=100_000, cash=300_000.0, tp_pct=0.3, sl_pct=0.15),
    Market("GOOG", GOOG, "1d", fast=5, slow=20, units=100, cash=200_000.0, tp_pct=5.0, sl_pct=2.5),
)


@pytest.fixture(autouse=True)
def _quiet_peer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """backtesting.py draws a tqdm progress bar per run; its env switch is read at import, so swap the wrapper."""
    monkeypatch.setattr(backtesting_module, "_tqdm", lambda iterable, **_: iterable)
    yield


def candles_of(market: Market) -> Candles:
    """The peer's frame as our Candles: its naive timestamps read as UTC bar open times (both lie on the grid)."""
    data = market.data
    index = pd.DatetimeIndex(data.index)
    frame = pd.DataFrame(
        {
            "timestamp_ms": index.as_unit("ms").asi8.astype(np.int64),
            "open": data["Open"].to_numpy(np.float64),
            "high": data["High"].to_numpy(np.float64),
            "low": data["Low"].to_numpy(np.float64),
            "close": data["Close"].to_numpy(np.float64),
            "volume": data["Volume"].to_numpy(np.float64),
        }
    )
    validate_frame(frame, market.name, parse_timeframe(market.timeframe))
    return Candles.from_frame(frame, source="backtesting.py", symbol=market.name, timeframe=market.timeframe)


def sma_cross_events(close: FloatArray, fast: int, slow: int) -> Int8Array:
    """+1 on the bar the fast SMA closes above the slow one, -1 on the bar it closes below: entry events.

    The regime is ±1 on every bar where both averages exist, so events alternate long, short, long...
    The last bar carries no event: it could never be filled (there is no next open).
    """
    series = pd.Series(close)
    fast_ma = series.rolling(fast).mean().to_numpy()
    slow_ma = series.rolling(slow).mean().to_numpy()
    regime = np.where(np.isnan(slow_ma), 0, np.where(fast_ma > slow_ma, 1, -1))
    previous = np.concatenate([[0], regime[:-1]])
    events = np.where((regime != previous) & (previous != 0), regime, 0).astype(np.int8)
    events[-1] = 0
    return events


def level(price: float, side: int, pct: float) -> float:
    """A level the way our kernel computes it (``average * (1 + side * fraction)``), bit for bit."""
    return price * (1.0 + side * (pct / 100.0))


def replay_strategy(
    signals: Int8Array, open_: FloatArray, *, units: int, levels: Levels, tp_pct: float, sl_pct: float
) -> type[Strategy]:
    """A backtesting.py Strategy that places market orders from ``signals``: no decision of its own."""

    class Replay(Strategy):
        def init(self) -> None:
            pass

        def next(self) -> None:
            i = len(self.data) - 1
            if levels == "after_fill":
                # The levels from the actual fill price, assigned on the entry bar: the peer makes them live from
                # the next bar on. These come first so that a reversal below queues its close ahead of them.
                for trade in self.trades:
                    if trade.entry_bar == i and trade.sl is None:
                        side = 1 if trade.is_long else -1
                        trade.tp = level(trade.entry_price, side, tp_pct)
                        trade.sl = level(trade.entry_price, -side, sl_pct)
            signal = int(signals[i])
            if signal == 0 or self.position.size * signal > 0:
                return  # no event, or a same-side event while in a position: ignored, as in our engine
            brackets: dict[str, Any] = {}
            if levels == "on_order":
                # The peer takes bracket levels only as prices when the order is placed, before the fill. A market
                # order without spread or slippage fills at exactly the next open, so the levels from open[i + 1]
                # are the levels ours derives from its entry fill. open[i + 1] is not used to decide anything.
                fill = float(open_[i + 1])
                brackets = {"tp": level(fill, signal, tp_pct), "sl": level(fill, -signal, sl_pct)}
            if signal > 0:
                self.buy(size=units, **brackets)
            else:
                self.sell(size=units, **brackets)

    return Replay


@dataclass(frozen=True)
class PeerRun:
    trades: pd.DataFrame  # one row per trade, our column names; the trade open at the end closed on paper
    equity: FloatArray  # the peer's own curve, untouched
    open_exit_fee: float  # the commission of that paper exit: the one gap between the two last equity values


def run_peer(market: Market, signals: Int8Array, open_: FloatArray, levels: Levels) -> PeerRun:
    strategy = replay_strategy(
        signals, open_, units=market.units, levels=levels, tp_pct=market.tp_pct, sl_pct=market.sl_pct
    )
    backtest = Backtest(
        market.data,
        strategy,
        cash=market.cash,
        spread=0.0,
        commission=COMMISSION,
        margin=1.0,
        trade_on_close=False,
        hedging=False,
        exclusive_orders=True,
        finalize_trades=False,
    )
    with warnings.catch_warnings():
        # The open trade at the end is expected: it is closed on paper below, the way our engine closes it.
        warnings.filterwarnings("ignore", message="Some trades remain open", category=UserWarning)
        # Its statistics module calls a DatetimeIndex attribute pandas 3 deprecates: not ours to fix, not about us.
        warnings.filterwarnings("ignore", message=r"DatetimeIndex\.dayofweek is deprecated")
        stats = backtest.run()
    closed = stats["_trades"]
    trades = pd.DataFrame(
        {
            "entry_bar": closed["EntryBar"].to_numpy(np.int64),
            "exit_bar": closed["ExitBar"].to_numpy(np.int64),
            "side": np.sign(closed["Size"].to_numpy()).astype(np.int64),
            "size": np.abs(closed["Size"].to_numpy(np.float64)),
            "entry_price": closed["EntryPrice"].to_numpy(np.float64),
            "exit_price": closed["ExitPrice"].to_numpy(np.float64),
            "fees": closed["Commission"].to_numpy(np.float64),
            "pnl": closed["PnL"].to_numpy(np.float64),
        }
    )
    last = len(market.data) - 1
    last_close = float(market.data["Close"].iloc[-1])
    rows = []
    open_exit_fee = 0.0
    for trade in stats["_strategy"].trades:
        size = abs(trade.size)
        entry_fee = size * trade.entry_price * COMMISSION
        exit_fee = size * last_close * COMMISSION
        open_exit_fee += exit_fee
        rows.append(
            {
                "entry_bar": trade.entry_bar,
                "exit_bar": last,
                "side": 1 if trade.is_long else -1,
                "size": float(size),
                "entry_price": trade.entry_price,
                "exit_price": last_close,
                "fees": entry_fee + exit_fee,
                "pnl": trade.size * (last_close - trade.entry_price) - entry_fee - exit_fee,
            }
        )
    if rows:
        trades = pd.concat([trades, pd.DataFrame(rows)], ignore_index=True)
    return PeerRun(
        trades=trades, equity=stats["_equity_curve"]["Equity"].to_numpy(np.float64), open_exit_fee=open_exit_fee
    )


def run_ours(candles: Candles, signals: Int8Array, market: Market, *, with_levels: bool) -> BacktestResult:
    config = BacktestConfig(
        initial_equity=market.cash,
        size_units=float(market.units),
        fee_bps=FEE_BPS,
        slippage_bps=0.0,
        on_opposite="reverse",
        tp_pct=market.tp_pct if with_levels else None,
        sl_pct=market.sl_pct if with_levels else None,
    )
    return run_backtest(candles, signals, config)


def entry_bar_touches(trades: pd.DataFrame, candles: Candles, market: Market) -> npt.NDArray[np.bool_]:
    """Per trade: did its entry bar's range reach its SL or TP (low <= sl or high >= tp for a long, mirrored)?"""
    bar = trades["entry_bar"].to_numpy(np.int64)
    side = trades["side"].to_numpy(np.int64)
    entry = trades["entry_price"].to_numpy(np.float64)
    sl = entry * (1.0 - side * (market.sl_pct / 100.0))
    tp = entry * (1.0 + side * (market.tp_pct / 100.0))
    low, high = candles.low[bar], candles.high[bar]
    return np.asarray(np.where(side > 0, (low <= sl) | (high >= tp), (high >= sl) | (low <= tp)), dtype=bool)


def exits_with_both_levels_in_range(trades: pd.DataFrame, candles: Candles, market: Market) -> int:
    bar = trades["exit_bar"].to_numpy(np.int64)
    side = trades["side"].to_numpy(np.int64)
    entry = trades["entry_price"].to_numpy(np.float64)
    sl = entry * (1.0 - side * (market.sl_pct / 100.0))
    tp = entry * (1.0 + side * (market.tp_pct / 100.0))
    low, high = candles.low[bar], candles.high[bar]
    both = np.where(side > 0, (low <= sl) & (high >= tp), (high >= sl) & (low <= tp))
    return int(both.sum())


def assert_same_trades(ours: pd.DataFrame, peer: pd.DataFrame) -> None:
    assert len(ours) == len(peer)
    for column in ("entry_bar", "exit_bar", "side", "size", "entry_price", "exit_price"):
        np.testing.assert_array_equal(ours[column].to_numpy(), peer[column].to_numpy(), err_msg=column)
    np.testing.assert_allclose(ours["fees"].to_numpy(), peer["fees"].to_numpy(), rtol=1e-9, atol=0, err_msg="fees")
    np.testing.assert_allclose(ours["pnl"].to_numpy(), peer["pnl"].to_numpy(), rtol=1e-9, atol=0, err_msg="pnl")


def assert_same_equity(result: BacktestResult, peer: PeerRun) -> None:
    # Every bar but the last, as the peer records it; on the last bar ours has also paid the exit fee of the trade
    # it closes at the end, which the peer's open trade has not.
    np.testing.assert_allclose(result.equity[:-1], peer.equity[:-1], rtol=1e-6, atol=0)
    assert result.equity[-1] == pytest.approx(peer.equity[-1] - peer.open_exit_fee, rel=1e-6, abs=0)


def assert_rich_enough(trades: pd.DataFrame, *, with_levels: bool) -> None:
    assert len(trades) >= 36, "dozens of trades"
    assert (trades["side"] > 0).sum() >= 10 and (trades["side"] < 0).sum() >= 10
    if with_levels:
        reasons = trades["exit_reason"].value_counts()
        assert reasons.get("stop_loss", 0) >= 5 and reasons.get("take_profit", 0) >= 5, reasons.to_dict()


def bracket_orders_accepted(signals: Int8Array, candles: Candles, market: Market) -> npt.NDArray[np.bool_]:
    """Per bar: would backtesting.py accept this event's bracket order?

    ``new_order`` requires SL < last close < TP for a long (TP < last close < SL for a short), the last close being
    the signal bar's. A gap from that close to the fill beyond a level fails this check (GOOG has earnings gaps of
    up to 19 %); such events are dropped from both sides' signals.
    """
    accepted = np.ones(len(signals), dtype=bool)
    for i in np.flatnonzero(signals):
        side = int(signals[i])
        fill = candles.open[i + 1]
        sl, tp = level(fill, -side, market.sl_pct), level(fill, side, market.tp_pct)
        accepted[i] = (sl < candles.close[i] < tp) if side > 0 else (tp < candles.close[i] < sl)
    return accepted


@pytest.mark.parametrize("market", MARKETS, ids=lambda m: m.name)
def test_without_levels_every_trade_and_every_equity_value_match(market: Market) -> None:
    candles = candles_of(market)
    signals = sma_cross_events(candles.close, market.fast, market.slow)
    result = run_ours(candles, signals, market, with_levels=False)
    peer = run_peer(market, signals, candles.open, levels="none")

    assert_rich_enough(result.trades, with_levels=False)
    assert_same_trades(result.trades, peer.trades)
    assert_same_equity(result, peer)
    print(f"{market.name}: {len(result.trades)} trades, all identical; equity identical on {len(candles)} bars")


@pytest.mark.parametrize("market", MARKETS, ids=lambda m: m.name)
def test_bracket_levels_on_the_order_match_trade_for_trade(market: Market) -> None:
    """SL/TP attached to the market order: the peer checks them from the entry bar on, as ours does."""
    candles = candles_of(market)
    events = sma_cross_events(candles.close, market.fast, market.slow)
    accepted = bracket_orders_accepted(events, candles, market)
    signals = np.where(accepted, events, 0).astype(np.int8)
    result = run_ours(candles, signals, market, with_levels=True)
    peer = run_peer(market, signals, candles.open, levels="on_order")

    ours = result.trades
    assert_rich_enough(ours, with_levels=True)
    assert_same_trades(ours, peer.trades)
    assert_same_equity(result, peer)

    # The rules that could differ are exercised, not just the easy path.
    touched = int(entry_bar_touches(ours, candles, market).sum())
    both = exits_with_both_levels_in_range(ours[ours["exit_reason"] == "stop_loss"], candles, market)
    exit_at_level = ours["exit_reason"].isin(["stop_loss", "take_profit"]).to_numpy()
    gaps = int((exit_at_level & (ours["exit_price"].to_numpy() == candles.open[ours["exit_bar"]])).sum())
    assert touched >= 1, "no trade's entry bar reached a level: the same-bar rule went untested"
    assert both >= 1, "no exit bar held both levels: the SL-first rule went untested"
    assert gaps >= 1, "no level was gapped through: the fill-at-the-open rule went untested"
    print(
        f"{market.name}: {len(ours)} trades identical ({touched} exited on their entry bar, {both} with SL and TP "
        f"in one bar, {gaps} gap fills at the open); {int((events != 0).sum() - (signals != 0).sum())} events "
        "dropped whose bracket the peer rejects"
    )


@pytest.mark.parametrize("market", MARKETS, ids=lambda m: m.name)
def test_levels_set_after_the_fill_differ_exactly_on_entry_bar_touches(market: Market) -> None:
    """SL/TP assigned to the peer's trade once filled are live from the next bar: the difference the README names.

    Entries come from events alone and the events alternate sides, so the two runs re-synchronise at every event:
    a trade ours stops out on its entry bar is flat until the next event, while the peer's is closed by a later level
    or by that event's reversal, and both open the next trade on the same bar at the same price. So the trades pair
    up one to one by entry, and the pairs that differ can be named.
    """
    candles = candles_of(market)
    signals = sma_cross_events(candles.close, market.fast, market.slow)
    result = run_ours(candles, signals, market, with_levels=True)
    peer = run_peer(market, signals, candles.open, levels="after_fill").trades
    ours = result.trades
    assert_rich_enough(ours, with_levels=True)

    assert len(ours) == len(peer)
    for column in ("entry_bar", "side", "size", "entry_price"):
        np.testing.assert_array_equal(ours[column].to_numpy(), peer[column].to_numpy(), err_msg=column)
    touched = entry_bar_touches(ours, candles, market)
    same_exit = (ours["exit_bar"].to_numpy() == peer["exit_bar"].to_numpy()) & (
        ours["exit_price"].to_numpy() == peer["exit_price"].to_numpy()
    )
    # The trades whose exits differ are exactly those whose entry bar reached a level...
    np.testing.assert_array_equal(~same_exit, touched)
    # ...where ours exits on the entry bar itself and the peer only later.
    np.testing.assert_array_equal(ours["exit_bar"].to_numpy()[touched], ours["entry_bar"].to_numpy()[touched])
    assert (peer["exit_bar"].to_numpy()[touched] > peer["entry_bar"].to_numpy()[touched]).all()
    assert touched.sum() >= 3, "too few entry-bar touches to show the difference"
    agree = ~touched
    np.testing.assert_allclose(ours["pnl"].to_numpy()[agree], peer["pnl"].to_numpy()[agree], rtol=1e-9, atol=0)
    print(
        f"{market.name}: {len(ours)} trades, {int(agree.sum())} identical, {int(touched.sum())} differ; every one "
        "of those reached a level on its entry bar (ours exits there, the peer's stop is not live yet)"
    )
