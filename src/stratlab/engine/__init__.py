"""The backtest engine: ``run_backtest(candles, signals, config)`` simulates one strategy run in a numba kernel."""

from stratlab.engine._kernel import EXIT_REASONS, STOP_REASONS
from stratlab.engine.backtest import PerBarStops, run_backtest
from stratlab.engine.config import BacktestConfig, OppositePolicy, PositionMode
from stratlab.engine.result import BacktestResult
from stratlab.engine.schema import TRADE_COLUMNS

__all__ = [
    "EXIT_REASONS",
    "STOP_REASONS",
    "TRADE_COLUMNS",
    "BacktestConfig",
    "BacktestResult",
    "OppositePolicy",
    "PerBarStops",
    "PositionMode",
    "run_backtest",
]
