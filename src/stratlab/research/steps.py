"""Step logs: for a sampled backtest, every bar where something was decided, and why.

A row is written for each bar with a signal (its order fills at the next bar's open: an entry taken, an add, a
reversal, or an entry skipped with the reason) and for each bar where a position closed on its own (take-profit,
stop-loss, liquidation, early stop, end). The values the decision read go with it: the close, the signal, the
strategy's own take-profit / stop-loss distances when it sets them, the position before and after. Bars where
nothing happened are not written: a year of 5m bars is 105,000 rows of nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypedDict

import numpy as np

from stratlab.engine import BacktestResult
from stratlab.engine._kernel import EXIT_REASONS
from stratlab.engine.config import OppositePolicy
from stratlab.optimize.evaluate import PartBacktester
from stratlab.report.split import SplitPart
from stratlab.strategies import get_strategy


class StepRow(TypedDict):
    """One row of the ``step_logs`` table (without its backtest id)."""

    bar: int
    time_ms: int
    signal: int
    indicators_json: dict[str, float | None]
    decision: str
    reason: str


def _side(quantity: float) -> str:
    return "long" if quantity > 0 else "short" if quantity < 0 else "flat"


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def signal_decision(
    signal: int, before: float, after: float, stopped: str | None, policy: str, closed_at_entry: str | None = None
) -> tuple[str, str]:
    """What a signal on a bar did at the next open, given the position before and after that open;
    ``closed_at_entry``: the exit reason of a trade that opened at that open and closed on the same bar (the
    position after the bar is flat, yet an entry was made)."""
    wanted = "long" if signal > 0 else "short"
    if stopped:
        return "skipped", f"trading stopped: {stopped}"
    if closed_at_entry is not None:
        how = f"reversed to {wanted}" if before != 0 else f"entered {wanted}"
        return how, f"{wanted} signal; {closed_at_entry.replace('_', ' ')} closed it on its entry bar"
    if before == 0 and after != 0:
        return f"entered {_side(after)}", f"{wanted} signal while flat"
    if before != 0 and np.sign(before) == signal:
        if abs(after) > abs(before):
            return "added", f"{wanted} signal while {_side(before)}: the position mode adds"
        return "skipped", f"{wanted} signal while already {_side(before)}"
    if before != 0 and np.sign(before) != signal:
        if after != 0 and np.sign(after) == signal:
            return f"reversed to {_side(after)}", f"{wanted} signal against a {_side(before)} position"
        if after == 0:
            return "closed", f"{wanted} signal against a {_side(before)} position (opposite policy {policy})"
        return "skipped", f"{wanted} signal against a {_side(before)} position ignored (opposite policy {policy})"
    return "skipped", f"{wanted} signal: no order filled (a risk limit or the position size refused it)"


def step_rows(
    backtester: PartBacktester, strategy: str, params: Mapping[str, Any], part: SplitPart, result: BacktestResult
) -> list[StepRow]:
    """The decided bars of ``result`` (a backtest of ``strategy`` with ``params`` on ``part``)."""
    candles = backtester.candles.slice(0, part.end)
    chosen = get_strategy(strategy)
    signals = chosen.signals(candles, params)
    stops = chosen.stops(candles, params)
    position = result.position
    stopped_at = result.stopped_at_bar
    policy = OppositePolicy(result.config.on_opposite).value
    rows: list[StepRow] = []
    entered_and_closed = {
        int(trade["entry_bar"]): EXIT_REASONS[int(trade["exit_reason"])]
        for trade in result.trade_rows
        if trade["entry_bar"] == trade["exit_bar"]
    }

    def held_after(bar: int) -> float:
        index = bar - part.start
        return float(position[index]) if 0 <= index < position.size else 0.0

    def values(bar: int) -> dict[str, float | None]:
        out: dict[str, float | None] = {"close": float(candles.close[bar])}
        if stops is not None:
            out["tp_distance"] = _number(float(stops.take_profit[bar]))
            out["sl_distance"] = _number(float(stops.stop_loss[bar]))
        return out

    for found in np.flatnonzero(signals[part.start : part.end]):
        bar = int(found) + part.start
        signal = int(signals[bar])
        before, after = held_after(int(bar)), held_after(int(bar) + 1)
        halted = result.stopped_early if stopped_at is not None and bar >= stopped_at else None
        same_bar = entered_and_closed.get(bar + 1) if after == 0 else None
        decision, reason = signal_decision(signal, before, after, halted, policy, same_bar)
        indicators = {**values(int(bar)), "position_before": before, "position_after": after}
        rows.append(StepRow(bar=int(bar), time_ms=int(candles.timestamp_ms[bar]), signal=signal,
                            indicators_json=indicators, decision=decision, reason=reason))  # fmt: skip
    for trade in result.trade_rows:
        reason = EXIT_REASONS[int(trade["exit_reason"])]
        if reason == "signal":
            continue  # its signal's row says it
        bar = int(trade["exit_bar"])
        rows.append(StepRow(bar=bar, time_ms=int(candles.timestamp_ms[min(bar, len(candles) - 1)]), signal=0,
                            indicators_json=values(min(bar, len(candles) - 1)), decision="exited",
                            reason=f"{reason.replace('_', ' ')} closed the {_side(float(trade['side']))}"))  # fmt: skip
    unique = {row["bar"]: row for row in sorted(rows, key=lambda row: (row["bar"], row["signal"] != 0))}
    return [unique[bar] for bar in sorted(unique)]


__all__ = ["StepRow", "signal_decision", "step_rows"]
