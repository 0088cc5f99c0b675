"""Backtesting a trial's parameters on one part of a run's data (train, test, validation or holdout).

Signals are computed once on the whole loaded series (strategies are causal), so a later part's indicators are warmed
up on the bars before it; the backtest then trades only inside the part.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stratlab.data.candles import Candles
from stratlab.data.loader import load_ohlcv
from stratlab.engine import BacktestResult, run_backtest
from stratlab.errors import DataError
from stratlab.optimize.context import RunContext
from stratlab.optimize.space import config_for
from stratlab.report.split import SplitPart
from stratlab.strategies import Strategy, get_strategy


def load_run_candles(context: RunContext, data_root: Path | str | None = None) -> Candles:
    """The run's candles, checked against the fingerprint taken when the run was created."""
    request = context.request
    candles = load_ohlcv(
        request.source, request.symbol, request.timeframe, request.start, request.end,
        data_root=data_root or context.data_root,
    )  # fmt: skip
    fingerprint = candles.fingerprint()
    if fingerprint != context.fingerprint:
        raise DataError(
            f"{candles.label}: the stored candles changed since run {context.run_id} was created "
            f"({len(candles):,} bars now, {context.n_bars:,} then): results would not be comparable"
        )
    return candles


def missing_constraint(strategy: Strategy, params: Mapping[str, Any]) -> str | None:
    """The first constraint of the strategy's space that ``params`` break, as text, or None."""
    for constraint in strategy.space.constraints:
        if not constraint.holds(params):
            return str(constraint)
    return None


class Evaluator:
    """Runs one run's trials on its candles (loaded once per process)."""

    def __init__(self, context: RunContext, candles: Candles) -> None:
        self.context = context
        self.candles = candles
        self.fixed = dict(context.request.backtest)
        # Strategies are causal, so a part's signals need only the bars up to its end: cut once per part end (views,
        # made once so the indicator cache sees the same arrays every trial) and skip computing the future.
        self._up_to_end: dict[int, Candles] = {}

    def evaluate(
        self,
        strategy: Strategy | str,
        params: Mapping[str, Any],
        searched: Mapping[str, Any],
        part: str | SplitPart,
    ) -> BacktestResult:
        """The backtest of one parameter set on ``part``: a part of the run's split by name, or any bar range (a
        walk-forward window's part)."""
        chosen = get_strategy(strategy) if isinstance(strategy, str) else strategy
        window = part if isinstance(part, SplitPart) else self.context.part(part)
        candles = self._up_to_end.get(window.end)
        if candles is None:
            candles = self._up_to_end[window.end] = self.candles.slice(0, window.end)
        signals = chosen.signals(candles, params)
        stops = chosen.stops(candles, params)
        config = config_for(self.fixed, searched)
        return run_backtest(candles, signals, config, stops=stops, start=window.start, end=window.end)


__all__ = ["Evaluator", "load_run_candles", "missing_constraint"]
