"""The order-book data contract: one snapshot in memory, its long-format rows on disk, and the rules a stored file
must satisfy.

A snapshot is the top of both sides of one venue's L2 book at one time: price levels best first, each with the
resting size in base units. On disk every level of every snapshot is one row (long format)::

    timestamp_ms int64    the snapshot's time, UTC epoch ms (the venue's own time when it sends one)
    side         int8     +1 bid, -1 ask
    level        int16    0 = best price of that side, 1 = next, ... (contiguous)
    price        float64  quote currency per base unit
    size         float64  resting size at that price, base units

Rows are sorted by ``(timestamp_ms, side, level)`` ascending (so a snapshot's asks come before its bids) and unique
on that triple. Rules: prices and sizes finite and > 0, side +1 or -1, levels contiguous from 0 on each side,
prices in book order (bids falling, asks rising with the level), both sides present, best bid below best ask, and
every row inside the UTC day its file covers. Rows in messages are 0-based positions in the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from stratlab.data.dates import format_ms, format_ms_seconds
from stratlab.data.sources.http_retry import one_line
from stratlab.data.validate import Problem, column_problems, first_row_problem
from stratlab.errors import DataError, DownloadError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

BID = 1
ASK = -1
BOOK_COLUMNS: tuple[str, ...] = ("timestamp_ms", "side", "level", "price", "size")
BOOK_DTYPES: dict[str, np.dtype[np.generic]] = {
    "timestamp_ms": np.dtype(np.int64),
    "side": np.dtype(np.int8),
    "level": np.dtype(np.int16),
    "price": np.dtype(np.float64),
    "size": np.dtype(np.float64),
}
BOOK_SCHEMA = pa.schema(
    [
        ("timestamp_ms", pa.int64()),
        ("side", pa.int8()),
        ("level", pa.int16()),
        ("price", pa.float64()),
        ("size", pa.float64()),
    ]
)
MAX_LEVELS = 1000  # far above any venue's snapshot; level is int16 on disk


@dataclass(frozen=True)
class BookSnapshot:
    """One L2 snapshot: each side's prices and sizes, best level first."""

    timestamp_ms: int
    bid_price: FloatArray
    bid_size: FloatArray
    ask_price: FloatArray
    ask_size: FloatArray

    @property
    def levels(self) -> int:
        """Levels of the deeper side."""
        return max(self.bid_price.size, self.ask_price.size)


def book_problem(snapshot: BookSnapshot) -> str | None:
    """Why a snapshot a venue sent cannot be stored, or None: the contract's rules for one snapshot."""
    for side, prices, sizes in (
        ("bid", snapshot.bid_price, snapshot.bid_size),
        ("ask", snapshot.ask_price, snapshot.ask_size),
    ):
        if prices.size == 0:
            return f"no {side}s"
        if prices.size != sizes.size:
            return f"{prices.size} {side} prices but {sizes.size} sizes"
        values = np.concatenate([prices, sizes])
        if not np.isfinite(values).all() or (values <= 0).any():
            return f"a {side} price or size is not a finite positive number"
        steps = np.diff(prices)
        if (steps >= 0 if side == "bid" else steps <= 0).any():
            return f"{side} prices are not in book order (best first)"
    if snapshot.bid_price[0] >= snapshot.ask_price[0]:
        return f"crossed book: best bid {snapshot.bid_price[0]:g} >= best ask {snapshot.ask_price[0]:g}"
    if snapshot.levels > MAX_LEVELS:
        return f"{snapshot.levels} levels (at most {MAX_LEVELS})"
    return None


def venue_side(
    rows: Any, levels: int, read_level: Callable[[Any], tuple[Any, Any]], *, context: str, side: str, shape: str
) -> tuple[FloatArray, FloatArray]:
    """Prices and sizes of the first ``levels`` entries of one side of a venue's book, best first; ``read_level``
    takes an entry's price and size out of it. A ``DownloadError`` when ``rows`` is not a list or an entry is not
    ``shape`` (what the venue documents) with two numbers in it."""
    if not isinstance(rows, list):
        raise DownloadError(f"{context}: {side}s are not a list: {one_line(repr(rows))!r}")
    kept = rows[:levels]
    prices = np.empty(len(kept), dtype=np.float64)
    sizes = np.empty(len(kept), dtype=np.float64)
    for index, row in enumerate(kept):
        try:
            price, size = read_level(row)
            prices[index], sizes[index] = float(price), float(size)
        except (TypeError, ValueError, IndexError, KeyError):
            raise DownloadError(f"{context}: {side} level {index} is not {shape}: {one_line(repr(row))!r}") from None
    return prices, sizes


def storable_snapshot(snapshot: BookSnapshot, context: str) -> BookSnapshot:
    """``snapshot`` as a venue sent it, or a ``DownloadError`` naming the rule it breaks (``book_problem``)."""
    problem = book_problem(snapshot)
    if problem is not None:
        raise DownloadError(f"{context}: snapshot at {snapshot.timestamp_ms} refused: {problem}")
    return snapshot


def snapshots_frame(snapshots: Sequence[BookSnapshot]) -> pd.DataFrame:
    """Snapshots as rows of the contract, sorted; on an equal ``timestamp_ms`` the later snapshot in the list wins."""
    latest: dict[int, BookSnapshot] = {}
    for snapshot in snapshots:
        latest[int(snapshot.timestamp_ms)] = snapshot
    ordered = [latest[ts] for ts in sorted(latest)]
    parts: list[tuple[int, int, FloatArray, FloatArray]] = []
    for snapshot in ordered:
        parts.append((snapshot.timestamp_ms, ASK, snapshot.ask_price, snapshot.ask_size))
        parts.append((snapshot.timestamp_ms, BID, snapshot.bid_price, snapshot.bid_size))
    counts = np.array([prices.size for _, _, prices, _ in parts], dtype=np.int64)
    if counts.sum() == 0:
        return empty_book_frame()
    frame = pd.DataFrame(
        {
            "timestamp_ms": np.repeat(np.array([p[0] for p in parts], dtype=np.int64), counts),
            "side": np.repeat(np.array([p[1] for p in parts], dtype=np.int8), counts),
            "level": np.concatenate([np.arange(n, dtype=np.int16) for n in counts]),
            "price": np.concatenate([p[2] for p in parts]).astype(np.float64),
            "size": np.concatenate([p[3] for p in parts]).astype(np.float64),
        }
    )
    return frame


def empty_book_frame() -> pd.DataFrame:
    return pd.DataFrame({name: np.empty(0, dtype=dtype) for name, dtype in BOOK_DTYPES.items()})


def sort_book_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in the contract's order: ``(timestamp_ms, side, level)`` ascending."""
    return frame.sort_values(["timestamp_ms", "side", "level"], kind="stable").reset_index(drop=True)


# validation -------------------------------------------------------------------------------------------------------


def check_book_schema(frame: pd.DataFrame, file: str) -> list[Problem]:
    """Missing, extra or wrongly typed columns. Row checks only make sense once this list is empty."""
    return column_problems(frame, file, BOOK_COLUMNS, BOOK_DTYPES)


@dataclass(frozen=True)
class _Rows:
    """A frame's columns as arrays, and the sentence prefix naming one of its rows."""

    ts: npt.NDArray[np.int64]
    side: npt.NDArray[np.int8]
    level: npt.NDArray[np.int16]
    price: FloatArray
    size: FloatArray

    def describe(self, row: int) -> str:
        side = {BID: "bid", ASK: "ask"}.get(int(self.side[row]), f"side {int(self.side[row])}")
        when = f"timestamp_ms={int(self.ts[row])} ({format_ms_seconds(int(self.ts[row]))})"
        return f"{when} {side} level {int(self.level[row])}: "

    def worded(self, message: str) -> Callable[[int], str]:
        """A rule's message for one of its rows: the row named, then ``message``."""
        return lambda row: self.describe(row) + message


def _snapshot_rules(rows: _Rows) -> list[tuple[str, BoolArray, str]]:
    """Rules over whole snapshots (both sides present, not crossed); the rows of a sorted, unique frame."""
    n = rows.ts.size
    starts = np.flatnonzero(np.concatenate([[True], rows.ts[1:] != rows.ts[:-1]]))
    best_bid = (rows.side == BID) & (rows.level == 0)
    best_ask = (rows.side == ASK) & (rows.level == 0)
    snapshot_of = np.repeat(np.arange(starts.size), np.diff(np.concatenate([starts, [n]])))
    has_bid = np.zeros(starts.size, dtype=np.bool_)
    has_ask = np.zeros(starts.size, dtype=np.bool_)
    has_bid[snapshot_of[best_bid]] = True
    has_ask[snapshot_of[best_ask]] = True
    one_sided = np.zeros(n, dtype=np.bool_)
    one_sided[starts[~(has_bid & has_ask)]] = True
    bid_price = np.full(starts.size, np.nan)
    ask_price = np.full(starts.size, np.nan)
    bid_price[snapshot_of[best_bid]] = rows.price[best_bid]
    ask_price[snapshot_of[best_ask]] = rows.price[best_ask]
    crossed_snapshot = bid_price >= ask_price  # NaN (a missing side) compares False
    crossed = best_bid & crossed_snapshot[snapshot_of]
    return [
        ("one_sided", one_sided, "the snapshot lacks its bids or its asks"),
        ("crossed_book", crossed, "best bid is not below the best ask"),
    ]


def check_book_rows(frame: pd.DataFrame, file: str, window_ms: tuple[int, int] | None = None) -> list[Problem]:
    """Row rules, each reported once with its first offending row, ordered by that row. Assumes the schema passed.

    ``window_ms`` is the ``[start, end)`` a day file covers: a snapshot outside it is in the wrong file.
    """
    if len(frame) == 0:
        return []
    rows = _Rows(
        frame["timestamp_ms"].to_numpy(dtype=np.int64),
        frame["side"].to_numpy(dtype=np.int8),
        frame["level"].to_numpy(dtype=np.int16),
        frame["price"].to_numpy(dtype=np.float64),
        frame["size"].to_numpy(dtype=np.float64),
    )
    finite = np.isfinite(rows.price) & np.isfinite(rows.size)
    previous = (rows.ts[:-1], rows.side[:-1], rows.level[:-1])
    current = (rows.ts[1:], rows.side[1:], rows.level[1:])
    # Lexicographic comparison of (timestamp, side, level) with the previous row.
    later = (current[0] > previous[0]) | (
        (current[0] == previous[0])
        & ((current[1] > previous[1]) | ((current[1] == previous[1]) & (current[2] > previous[2])))
    )
    same = (current[0] == previous[0]) & (current[1] == previous[1]) & (current[2] == previous[2])
    unsorted = np.concatenate([[False], ~later & ~same])
    duplicate = np.concatenate([[False], same])
    new_side = np.concatenate([[True], (current[0] != previous[0]) | (current[1] != previous[1])])
    expected_level = np.where(new_side, 0, np.concatenate([[0], rows.level[:-1].astype(np.int64) + 1]))
    ordered = ~unsorted & ~duplicate
    price_step = np.concatenate([[0.0], np.diff(rows.price)])
    out_of_order = ~new_side & np.where(rows.side == BID, price_step >= 0, price_step <= 0)
    checks: list[tuple[str, BoolArray, str]] = [
        ("not_finite", ~finite, "price or size is NaN or inf"),
        ("not_positive", finite & ((rows.price <= 0) | (rows.size <= 0)), "price and size must be > 0"),
        ("bad_side", (rows.side != BID) & (rows.side != ASK), "side must be +1 (bid) or -1 (ask)"),
        ("unsorted_rows", unsorted, "rows go backwards in (timestamp_ms, side, level) order"),
        ("duplicate_rows", duplicate, "same (timestamp_ms, side, level) as the previous row"),
        ("level_gap", ordered & (rows.level != expected_level), "levels of a side must run 0, 1, 2, ... without a gap"),
        ("price_order", ordered & finite & out_of_order, "price not in book order (bids fall, asks rise by level)"),
    ]
    if not unsorted.any() and not duplicate.any():
        checks += _snapshot_rules(rows)
    if window_ms is not None:
        start, end = window_ms
        checks.append(
            (
                "outside_file_day",
                (rows.ts < start) | (rows.ts >= end),
                f"outside this file's UTC day [{format_ms(start)}, {format_ms(end)})",
            )
        )
    found = [first_row_problem(file, rule, mask, rows.worded(message)) for rule, mask, message in checks]
    problems = [problem for problem in found if problem is not None]
    problems.sort(key=lambda p: p.row if p.row is not None else -1)
    return problems


def find_book_problems(frame: pd.DataFrame, file: str, window_ms: tuple[int, int] | None = None) -> list[Problem]:
    """Every broken rule in ``frame``: schema first, then row rules ordered by their first offending row."""
    schema = check_book_schema(frame, file)
    return schema if schema else check_book_rows(frame, file, window_ms)


def validate_book_frame(frame: pd.DataFrame, file: str, window_ms: tuple[int, int] | None = None) -> None:
    """Raise ``DataError`` for the first problem (schema before rows, then the earliest bad row)."""
    problems = find_book_problems(frame, file, window_ms)
    if problems:
        raise DataError(str(problems[0]))


__all__ = [
    "ASK",
    "BID",
    "BOOK_COLUMNS",
    "BOOK_DTYPES",
    "BOOK_SCHEMA",
    "BookSnapshot",
    "book_problem",
    "empty_book_frame",
    "find_book_problems",
    "snapshots_frame",
    "sort_book_frame",
    "storable_snapshot",
    "validate_book_frame",
    "venue_side",
]
