"""``Candles``: one validated OHLCV series as read-only numpy arrays, the type every later layer consumes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from stratlab.data.timeframes import Timeframe, parse_timeframe

if TYPE_CHECKING:  # the order-book package reads stores, which build Candles: no import at run time
    from stratlab.data.orderbook.features import BarBookFeatures

OHLCV_COLUMNS: tuple[str, ...] = ("timestamp_ms", "open", "high", "low", "close", "volume")


def ohlcv_frame(timestamp_ms: npt.ArrayLike, values: npt.NDArray[np.float64]) -> pd.DataFrame:
    """A store-shaped frame from bar open times and an ``(n, 5)`` array of open, high, low, close, volume."""
    return pd.DataFrame(
        {"timestamp_ms": timestamp_ms, **{name: values[:, i] for i, name in enumerate(OHLCV_COLUMNS[1:])}}
    )


PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]


def _frozen(values: npt.ArrayLike, dtype: type) -> npt.NDArray[np.generic]:
    array: npt.NDArray[np.generic] = np.ascontiguousarray(values, dtype=dtype)
    if array.flags.writeable:
        # Copy so that freezing never changes an array the caller still owns.
        array = array.copy()
        array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Candles:
    """Bars sorted by ``timestamp_ms`` (bar open time, UTC epoch ms), unique and finite.

    Arrays are read-only so that a strategy or the engine cannot alter the data another one sees.
    Build from a frame with :meth:`from_frame`; ``load_ohlcv`` returns validated instances.
    """

    source: str
    symbol: str
    timeframe: Timeframe
    timestamp_ms: Int64Array
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    files: tuple[str, ...] = field(default=())
    # The order book summarised per bar (``bar_book_features``), where the store holds snapshots of the period.
    book: BarBookFeatures | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp_ms", _frozen(self.timestamp_ms, np.int64))
        for name in PRICE_COLUMNS:
            object.__setattr__(self, name, _frozen(getattr(self, name), np.float64))
        n = len(self.timestamp_ms)
        for name in PRICE_COLUMNS:
            if len(getattr(self, name)) != n:
                raise ValueError(f"Candles.{name} has {len(getattr(self, name))} values, timestamp_ms has {n}")

    def __len__(self) -> int:
        return len(self.timestamp_ms)

    @property
    def label(self) -> str:
        return f"{self.source}/{self.symbol}/{self.timeframe.name}"

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        source: str,
        symbol: str,
        timeframe: str | Timeframe,
        files: tuple[str, ...] = (),
    ) -> Candles:
        """Wrap a frame with the OHLCV columns. No validation: use ``validate_frame`` first for outside data."""
        return cls(
            source=source,
            symbol=symbol,
            timeframe=parse_timeframe(timeframe),
            timestamp_ms=frame["timestamp_ms"].to_numpy(dtype=np.int64),
            open=frame["open"].to_numpy(dtype=np.float64),
            high=frame["high"].to_numpy(dtype=np.float64),
            low=frame["low"].to_numpy(dtype=np.float64),
            close=frame["close"].to_numpy(dtype=np.float64),
            volume=frame["volume"].to_numpy(dtype=np.float64),
            files=files,
        )

    def fingerprint(self) -> str:
        """SHA-256 of the timestamps and OHLCV values (and the per-bar order book, when there is one): proof that two
        runs or a replay saw the same data."""
        digest = hashlib.sha256()
        arrays = [self.timestamp_ms, self.open, self.high, self.low, self.close, self.volume]
        if self.book is not None:
            arrays += [self.book.spread_bps, self.book.imbalance, self.book.microprice_bps, self.book.snapshots]
        for array in arrays:
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def to_frame(self) -> pd.DataFrame:
        """A new DataFrame with the contract's columns (``timestamp_ms`` first), a RangeIndex and writable copies."""
        return pd.DataFrame({name: np.array(getattr(self, name)) for name in OHLCV_COLUMNS})

    def slice(self, start: int, stop: int) -> Candles:
        """Bars ``[start, stop)`` by position (views: no copy)."""
        return Candles(
            source=self.source,
            symbol=self.symbol,
            timeframe=self.timeframe,
            timestamp_ms=self.timestamp_ms[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
            files=self.files,
            book=None if self.book is None else self.book.slice(start, stop),
        )


__all__ = ["OHLCV_COLUMNS", "PRICE_COLUMNS", "Candles"]
