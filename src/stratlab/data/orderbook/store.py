"""The order-book store: one Parquet file per series and UTC day, atomic merging writes, validated reads, discovery.

Layout::

    <root>/orderbook/<source>/<symbol>/YYYY/MM/DD.parquet

Each day file holds the snapshots whose ``timestamp_ms`` falls on that UTC day, in the long format of
``stratlab.data.orderbook.schema``. A write merges into the day file: the existing file is read (and validated), any
of its snapshots with a timestamp the write also carries is replaced by the incoming one, and the result goes to a
temporary file renamed over the day file (``stratlab.atomic_io``). So a killed writer leaves the old file or the new
one, and writing the same snapshots twice (a rerun, a snapshot the venue sent again) never duplicates one.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stratlab.data.inspect import stored_timestamps_and_problems
from stratlab.data.orderbook.schema import (
    BOOK_SCHEMA,
    BookSnapshot,
    empty_book_frame,
    find_book_problems,
    snapshots_frame,
    sort_book_frame,
    validate_book_frame,
)
from stratlab.data.store import check_name, read_parquet_frame, store_root, write_parquet_with_schema
from stratlab.data.timeframes import DAY_MS
from stratlab.data.validate import Problem

log = logging.getLogger(__name__)

_DAY_FILE = re.compile(r"^(\d{2})\.parquet$")
_YEAR_DIR = re.compile(r"^\d{4}$")
_MONTH_DIR = re.compile(r"^(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True)
class BookSeriesKey:
    source: str
    symbol: str

    def __str__(self) -> str:
        return f"{self.source}/{self.symbol}"


@dataclass(frozen=True, order=True)
class DayFile:
    year: int
    month: int
    day: int
    path: Path

    @property
    def window_ms(self) -> tuple[int, int]:
        """``[start, end)`` epoch ms of this UTC day."""
        start = int(np.datetime64(f"{self.year:04d}-{self.month:02d}-{self.day:02d}", "ms").astype(np.int64))
        return start, start + DAY_MS


@dataclass(frozen=True)
class BookWriteSummary:
    """What one ``write_snapshots`` call changed."""

    files: tuple[Path, ...]
    snapshots_written: int
    snapshots_new: int


@dataclass(frozen=True)
class BookSeriesSummary:
    """What ``data list`` and the Data page show of one stored order-book series."""

    key: BookSeriesKey
    days: int
    snapshots: int
    first_ms: int | None
    last_ms: int | None
    problems: list[Problem] = field(default_factory=list)


def _day_of(path: Path, month_dir: Path, year_dir: Path) -> DayFile | None:
    """The day file at ``path`` if its name is a real calendar day, else None."""
    match = _DAY_FILE.match(path.name)
    if match is None:
        return None
    year, month, day = int(year_dir.name), int(month_dir.name), int(match.group(1))
    try:
        np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "D")
    except ValueError:
        return None
    return DayFile(year, month, day, path)


def day_keys(timestamps_ms: np.ndarray) -> np.ndarray:
    """For each timestamp, its UTC day as days since the epoch."""
    return np.floor_divide(np.asarray(timestamps_ms, dtype=np.int64), DAY_MS)


def write_book_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` with the order-book schema to ``path`` atomically."""
    write_parquet_with_schema(frame, path, BOOK_SCHEMA)


class OrderBookStore:
    """One store root's order books. All reads and writes of order-book Parquet files go through here."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = store_root(root)

    @property
    def book_root(self) -> Path:
        return self.root / "orderbook"

    def series_dir(self, source: str, symbol: str) -> Path:
        return self.book_root / check_name(source, "source") / check_name(symbol, "symbol")

    def day_file(self, source: str, symbol: str, ts_ms: int) -> DayFile:
        """The file of the UTC day that contains ``ts_ms``."""
        day = np.datetime64(int(ts_ms), "ms").astype("datetime64[D]").item()
        path = self.series_dir(source, symbol) / f"{day.year:04d}" / f"{day.month:02d}" / f"{day.day:02d}.parquet"
        return DayFile(day.year, day.month, day.day, path)

    # discovery ---------------------------------------------------------------------------------------------

    def list_series(self) -> list[BookSeriesKey]:
        """Every source/symbol with at least one day file, sorted."""
        if not self.book_root.is_dir():
            return []
        found = []
        for source_dir in sorted(p for p in self.book_root.iterdir() if p.is_dir()):
            for symbol_dir in sorted(p for p in source_dir.iterdir() if p.is_dir()):
                if self._day_files_in(symbol_dir):
                    found.append(BookSeriesKey(source_dir.name, symbol_dir.name))
        return found

    @staticmethod
    def _day_files_in(series_dir: Path) -> list[DayFile]:
        files: list[DayFile] = []
        if not series_dir.is_dir():
            return files
        for year_dir in (p for p in series_dir.iterdir() if p.is_dir() and _YEAR_DIR.match(p.name)):
            for month_dir in (p for p in year_dir.iterdir() if p.is_dir() and _MONTH_DIR.match(p.name)):
                # Temporary files of a write in progress (.DD.parquet.<pid>.<token>.tmp) do not match a day name.
                files += [d for p in month_dir.iterdir() if (d := _day_of(p, month_dir, year_dir)) is not None]
        return sorted(files)

    def day_files(self, source: str, symbol: str) -> list[DayFile]:
        """The series' day files in time order."""
        return self._day_files_in(self.series_dir(source, symbol))

    def summarize(self, key: BookSeriesKey) -> BookSeriesSummary:
        """Days, snapshots and first/last time of a series, every file validated; a bad file is a problem, not an
        error, so that one damaged day does not hide the rest."""
        problems: list[Problem] = []
        stamps: list[np.ndarray] = []
        files = self.day_files(key.source, key.symbol)
        for day_file in files:
            check = functools.partial(find_book_problems, window_ms=day_file.window_ms)
            file_stamps, file_problems = stored_timestamps_and_problems(day_file.path, check)
            problems += file_problems
            if file_stamps is not None:
                stamps.append(file_stamps)
        ts = np.unique(np.concatenate(stamps)) if stamps else np.empty(0, dtype=np.int64)
        return BookSeriesSummary(
            key=key,
            days=len(files),
            snapshots=int(ts.size),
            first_ms=int(ts[0]) if ts.size else None,
            last_ms=int(ts[-1]) if ts.size else None,
            problems=problems,
        )

    # reading -----------------------------------------------------------------------------------------------

    def read_day(self, day_file: DayFile) -> pd.DataFrame:
        """One day file, validated (``DataError`` naming the file and the first bad row)."""
        frame = read_parquet_frame(day_file.path)
        validate_book_frame(frame, str(day_file.path), day_file.window_ms)
        return frame

    def read_span(self, source: str, symbol: str, start_ms: int, end_ms: int) -> pd.DataFrame:
        """Every stored row with ``start_ms <= timestamp_ms < end_ms``, sorted; only the days it touches are read."""
        frames = []
        for day_file in self.day_files(source, symbol):
            day_start, day_end = day_file.window_ms
            if day_end <= start_ms or day_start >= end_ms:
                continue
            frame = self.read_day(day_file)
            ts = frame["timestamp_ms"].to_numpy(dtype=np.int64)
            frames.append(frame.loc[(ts >= start_ms) & (ts < end_ms)])
        if not frames:
            return empty_book_frame()
        return pd.concat(frames, ignore_index=True)

    # writing -----------------------------------------------------------------------------------------------

    def write_snapshots(
        self, source: str, symbol: str, snapshots: Sequence[BookSnapshot], *, origin: str = "input"
    ) -> BookWriteSummary:
        """Merge ``snapshots`` into the day files they fall on; a snapshot replaces a stored one of the same
        ``timestamp_ms`` (and the later of two in ``snapshots``). Each touched day is rewritten atomically."""
        self.series_dir(source, symbol)  # validates the names before anything is touched
        incoming = snapshots_frame(snapshots)
        if len(incoming) == 0:
            return BookWriteSummary(files=(), snapshots_written=0, snapshots_new=0)
        validate_book_frame(incoming, origin)
        days = day_keys(incoming["timestamp_ms"].to_numpy())
        written: list[Path] = []
        snapshots_written = snapshots_new = 0
        for day in np.unique(days):
            part = incoming.loc[days == day]
            day_file = self.day_file(source, symbol, int(day) * DAY_MS)
            part_ts = np.unique(part["timestamp_ms"].to_numpy(dtype=np.int64))
            merged, new = self._merged(day_file, part, part_ts)
            write_book_parquet(merged, day_file.path)
            written.append(day_file.path)
            snapshots_written += int(part_ts.size)
            snapshots_new += new
        log.debug("wrote %d snapshots (%d new) to %d files of %s/%s", snapshots_written, snapshots_new,
                  len(written), source, symbol)  # fmt: skip
        return BookWriteSummary(files=tuple(written), snapshots_written=snapshots_written, snapshots_new=snapshots_new)

    def _merged(self, day_file: DayFile, part: pd.DataFrame, part_ts: np.ndarray) -> tuple[pd.DataFrame, int]:
        """The day file's rows with ``part`` merged in (incoming snapshots replace stored ones), and how many of
        the incoming snapshots were not stored before. A corrupt day file is never overwritten: ``DataError``."""
        if not day_file.path.exists():
            merged = part.reset_index(drop=True)
            new = int(part_ts.size)
        else:
            existing = self.read_day(day_file)
            stored_ts = existing["timestamp_ms"].to_numpy(dtype=np.int64)
            kept = existing.loc[~np.isin(stored_ts, part_ts)]
            merged = sort_book_frame(pd.concat([kept, part], ignore_index=True))
            new = int(part_ts.size - np.isin(part_ts, stored_ts).sum())
        validate_book_frame(merged, str(day_file.path), day_file.window_ms)
        return merged, new


__all__ = [
    "BookSeriesKey",
    "BookSeriesSummary",
    "BookWriteSummary",
    "DayFile",
    "OrderBookStore",
    "day_keys",
    "write_book_parquet",
]
