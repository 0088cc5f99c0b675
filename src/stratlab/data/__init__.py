"""Market data: the Parquet store, its validation, loading, resampling, the demo market and the downloaders."""

from stratlab.data.candles import OHLCV_COLUMNS, Candles
from stratlab.data.gaps import Gap, find_gaps
from stratlab.data.loader import load_ohlcv
from stratlab.data.resample import resample
from stratlab.data.store import MarketStore, SeriesKey
from stratlab.data.timeframes import TIMEFRAMES, Timeframe, parse_timeframe
from stratlab.data.validate import Problem, find_problems, validate_frame
from stratlab.errors import DataError

__all__ = [
    "OHLCV_COLUMNS",
    "TIMEFRAMES",
    "Candles",
    "DataError",
    "Gap",
    "MarketStore",
    "Problem",
    "SeriesKey",
    "Timeframe",
    "find_gaps",
    "find_problems",
    "load_ohlcv",
    "parse_timeframe",
    "resample",
    "validate_frame",
]
