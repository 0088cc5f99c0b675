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
from stratlab.engine import BacktestConfig, BacktestResult, run_backtest
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


class PartBacktester:
    """Backtests parameter sets on bar ranges of one series of candles (loaded once per process)."""

    def __init__(self, candles: Candles) -> None:
        self.candles = candles
        # Strategies are causal, so a part's signals need only the bars up to its end: cut once per part end (views,
        # made once so the indicator cache sees the same arrays every trial) and skip computing the future.
        self._up_to_end: dict[int, Candles] = {}

    def backtest(
        self, strategy: Strategy | str, params: Mapping[str, Any], config: BacktestConfig, window: SplitPart
    ) -> BacktestResult:
        """The backtest of one parameter set on the bars of ``window`` (signals warmed up on the bars before it)."""
        chosen = get_strategy(strategy) if isinstance(strategy, str) else strategy
        candles = self._up_to_end.get(window.end)
        if candles is None:
            candles = self._up_to_end[window.end] = self.candles.slice(0, window.end)
        signals = chosen.signals(candles, params)
        stops = chosen.stops(candles, params)
        return run_backtest(candles, signals, config, stops=stops, start=window.start, end=window.end)


class Evaluator(PartBacktester):
    """Runs one run's trials on its candles (loaded once per process)."""

    def __init__(self, context: RunContext, candles: Candles) -> None:
        super().__init__(candles)
        self.context = context
        self.fixed = dict(context.request.backtest)

    def evaluate(
        self,
        strategy: Strategy | str,
        params: Mapping[str, Any],
        searched: Mapping[str, Any],
        part: str | SplitPart,
    ) -> BacktestResult:
        """The backtest of one parameter set on ``part``: a part of the run's split by name, or any bar range (a
        walk-forward window's part)."""
        window = part if isinstance(part, SplitPart) else self.context.part(part)
        return self.backtest(strategy, params, config_for(strategy, self.fixed, searched), window)


__all__ = ["Evaluator", "PartBacktester", "load_run_candles", "missing_constraint"]
