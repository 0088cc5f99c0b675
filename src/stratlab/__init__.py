"""stratlab: find trading strategies on OHLCV candles and prove whether they hold out of sample."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stratlab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
