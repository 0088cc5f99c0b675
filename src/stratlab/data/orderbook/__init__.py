"""Order books: L2 snapshots recorded from a venue, their Parquet store and the features a strategy reads per bar.

The recorder (``stratlab.data.orderbook.record``) is imported on its own: it needs the venues' clients.
"""

from stratlab.data.orderbook.features import (
    BarBookFeatures,
    BookArrays,
    SnapshotFeatures,
    bar_book_features,
    book_arrays,
    snapshot_features,
)
from stratlab.data.orderbook.schema import ASK, BID, BOOK_COLUMNS, BookSnapshot, validate_book_frame
from stratlab.data.orderbook.store import BookSeriesKey, BookSeriesSummary, OrderBookStore

__all__ = [
    "ASK",
    "BID",
    "BOOK_COLUMNS",
    "BarBookFeatures",
    "BookArrays",
    "BookSeriesKey",
    "BookSeriesSummary",
    "BookSnapshot",
    "OrderBookStore",
    "SnapshotFeatures",
    "bar_book_features",
    "book_arrays",
    "snapshot_features",
    "validate_book_frame",
]
