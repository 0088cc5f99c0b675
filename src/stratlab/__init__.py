"""stratlab: find trading strategies on OHLCV candles and prove whether they hold out of sample.

The names a notebook needs, from the package itself::

    import stratlab

    candles = stratlab.load_ohlcv("demo", "BTC", "5m", start="2025-03-01", end="2025-03-31")
    strategy = stratlab.get_strategy("ma_cross")  # its default parameters unless given
    config = stratlab.BacktestConfig(fee_bps=4.5)
    result = stratlab.run_backtest(candles, strategy.signals(candles), config, stops=strategy.stops(candles))
    kpis = stratlab.compute_kpis(result)  # kpis.return_pct, kpis.max_drawdown_pct, kpis.sharpe, ...

``load_ohlcv`` (stratlab.data), ``get_strategy`` (stratlab.strategies), ``run_backtest`` and ``BacktestConfig``
(stratlab.engine), ``compute_kpis`` (stratlab.metrics). They are imported on first use: the engine loads numba, and
``import stratlab`` is the first line of every CLI command.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from stratlab.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from stratlab.data import load_ohlcv
    from stratlab.engine import BacktestConfig, run_backtest
    from stratlab.metrics import compute_kpis
    from stratlab.strategies import get_strategy

try:
    __version__ = version("stratlab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

# Each public name and the package it comes from.
_HOMES = {
    "load_ohlcv": "stratlab.data",
    "get_strategy": "stratlab.strategies",
    "run_backtest": "stratlab.engine",
    "BacktestConfig": "stratlab.engine",
    "compute_kpis": "stratlab.metrics",
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _HOMES)

__all__ = ["BacktestConfig", "__version__", "compute_kpis", "get_strategy", "load_ohlcv", "run_backtest"]
