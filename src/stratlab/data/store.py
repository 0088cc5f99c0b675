"""The Parquet market-data store: layout, discovery, reading and atomic month-file writes.

Layout (the data contract: README "Data layout", docs/architecture.md "The store")::

    <root>/ohlcv/<source>/<symbol>/<timeframe>/YYYY/MM.parquet

One file per UTC calendar month, bars sorted and unique by ``timestamp_ms``. A write goes to a temporary file in the
same folder and is renamed over the target (atomic on POSIX), so a reader or a killed writer never sees half a file.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from stratlab.atomic_io import TEMP_SUFFIX, atomic_writer
from stratlab.data.candles import OHLCV_COLUMNS
from stratlab.data.timeframes import TIMEFRAMES, Timeframe, parse_timeframe
from stratlab.data.validate import EXPECTED_DTYPES, validate_frame
from stratlab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

_MONTH_FILE = re.compile(r"^(\d{2})\.parquet$")
_YEAR_DIR = re.compile(r"^\d{4}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

SCHEMA = pa.schema([("timestamp_ms", pa.int64())] + [(name, pa.float64()) for name in OHLCV_COLUMNS[1:]])


@dataclass(frozen=True, order=True)
class SeriesKey:
    source: str
    symbol: str
    timeframe: str

    def __str__(self) -> str:
        return f"{self.source}/{self.symbol}/{self.timeframe}"


@dataclass(frozen=True, order=True)
class MonthFile:
    year: int
    month: int
    path: Path

    @property
    def window_ms(self) -> tuple[int, int]:
        """``[start, end)`` epoch ms of this calendar month (UTC)."""
        start = np.datetime64(f"{self.year:04d}-{self.month:02d}", "M")
        end = start + np.timedelta64(1, "M")
        return (
            int(start.astype("datetime64[ms]").astype(np.int64)),
            int(end.astype("datetime64[ms]").astype(np.int64)),
        )


@dataclass(frozen=True)
class WriteSummary:
    """What one ``write_candles`` call changed."""

    files: tuple[Path, ...]
    rows_written: int
    rows_new: int


def check_name(value: str, field: str) -> str:
    """A source/symbol name must be one safe path component: letters, digits, ``_ . -``."""
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        raise ConfigError(f"{field}: {value!r} is not a valid name (letters, digits, '_', '.', '-'; no '/')")
    return value


def _month_number(path: Path) -> int | None:
    """1-12 for a month file name (``01.parquet`` .. ``12.parquet``), None for anything else."""
    match = _MONTH_FILE.match(path.name)
    month = int(match.group(1)) if match else 0
    return month if 1 <= month <= 12 else None


def _is_temp_file(path: Path) -> bool:
    # atomic_io names them .<name>.<pid>.<token>.tmp next to their target.
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)


def month_windows(timestamps_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each timestamp, its ``(year, month)``: used to split bars into month files."""
    months = np.asarray(timestamps_ms, dtype=np.int64).astype("datetime64[ms]").astype("datetime64[M]")
    as_int = months.astype(np.int64)  # months since 1970-01
    return 1970 + as_int // 12, as_int % 12 + 1


def read_parquet_frame(path: Path) -> pd.DataFrame:
    """Read one Parquet file as a DataFrame; a ``DataError`` naming the file if it is not readable Parquet."""
    try:
        # One open handle for the whole read: given a path, pyarrow opens it once for the footer and again for the
        # pages, and a writer's rename in between pairs the old footer with the new file.
        with path.open("rb") as handle:
            table = pq.read_table(handle)
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: unreadable or corrupt Parquet: {reason}") from None
    frame: pd.DataFrame = table.to_pandas()
    return frame


def write_parquet_with_schema(frame: pd.DataFrame, path: Path, schema: pa.Schema) -> None:
    """Write ``frame``'s columns of ``schema``, typed as it says, to ``path`` atomically (see
    ``stratlab.atomic_io``), zstd-compressed as every file of the store."""
    table = pa.Table.from_pandas(frame[list(schema.names)], schema=schema, preserve_index=False)
    with atomic_writer(path) as handle:
        pq.write_table(table, handle, compression="zstd")


def atomic_write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` with the store schema to ``path`` atomically (see ``stratlab.atomic_io``)."""
    write_parquet_with_schema(frame, path, SCHEMA)


def store_root(root: Path | str | None) -> Path:
    """The store's root folder: ``root``, else ``STRATLAB_DATA_ROOT`` (the settings)."""
    if root is None:
        from stratlab.settings import get_settings

        root = get_settings().data_root
    return Path(root)


class MarketStore:
    """One store root. All reads and writes of OHLCV Parquet files go through here."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = store_root(root)

    @property
    def ohlcv_root(self) -> Path:
        return self.root / "ohlcv"

    def series_dir(self, source: str, symbol: str, timeframe: str | Timeframe) -> Path:
        tf = parse_timeframe(timeframe)
        return self.ohlcv_root / check_name(source, "source") / check_name(symbol, "symbol") / tf.name

    def month_path(self, source: str, symbol: str, timeframe: str | Timeframe, year: int, month: int) -> Path:
        return self.series_dir(source, symbol, timeframe) / f"{year:04d}" / f"{month:02d}.parquet"

    # discovery ---------------------------------------------------------------------------------------------

    def list_series(self) -> list[SeriesKey]:
        """Every source/symbol/timeframe with at least one month file, sorted."""
        found: list[SeriesKey] = []
        if not self.ohlcv_root.is_dir():
            return found
        for source_dir in sorted(p for p in self.ohlcv_root.iterdir() if p.is_dir()):
            for symbol_dir in sorted(p for p in source_dir.iterdir() if p.is_dir()):
                for tf_dir in sorted(p for p in symbol_dir.iterdir() if p.is_dir()):
                    key = SeriesKey(source_dir.name, symbol_dir.name, tf_dir.name)
                    if self._month_files_in(tf_dir):
                        found.append(key)
        return found

    def sources(self) -> list[str]:
        return sorted({key.source for key in self.list_series()})

    def symbols(self, source: str) -> list[str]:
        return sorted({key.symbol for key in self.list_series() if key.source == source})

    def timeframes(self, source: str, symbol: str) -> list[str]:
        return sorted(
            {k.timeframe for k in self.list_series() if k.source == source and k.symbol == symbol},
            key=lambda name: TIMEFRAMES[name].approx_ms if name in TIMEFRAMES else 0,
        )

    @staticmethod
    def _year_dirs_in(tf_dir: Path) -> list[Path]:
        if not tf_dir.is_dir():
            return []
        return sorted(p for p in tf_dir.iterdir() if p.is_dir() and _YEAR_DIR.match(p.name))

    @classmethod
    def _month_files_in(cls, tf_dir: Path) -> list[MonthFile]:
        files: list[MonthFile] = []
        for year_dir in cls._year_dirs_in(tf_dir):
            for path in year_dir.iterdir():
                month = _month_number(path)
                if month is not None:
                    files.append(MonthFile(int(year_dir.name), month, path))
        return sorted(files)

    def stray_paths(self, source: str, symbol: str, timeframe: str | Timeframe) -> list[Path]:
        """Files and folders in a series folder that are not ``YYYY/MM.parquet``: never read as data, so a bar
        put there by hand (``2025/13.parquet``, ``2025/7.parquet``) would silently not count; ``data check``
        reports them. Temporary files of writes in progress (or of killed writers, swept later) are not stray."""
        tf_dir = self.series_dir(source, symbol, timeframe)
        if not tf_dir.is_dir():
            return []
        year_dirs = self._year_dirs_in(tf_dir)
        stray = [p for p in tf_dir.iterdir() if p not in year_dirs]
        for year_dir in year_dirs:
            stray += [p for p in year_dir.iterdir() if _month_number(p) is None and not _is_temp_file(p)]
        return sorted(stray)

    def month_files(self, source: str, symbol: str, timeframe: str | Timeframe) -> list[MonthFile]:
        """The series' month files in time order (temporary files of interrupted writes are not listed)."""
        return self._month_files_in(self.series_dir(source, symbol, timeframe))

    def require_month_files(self, source: str, symbol: str, timeframe: str | Timeframe) -> list[MonthFile]:
        """Like ``month_files`` but a ``DataError`` that says what does exist when the series is unknown."""
        files = self.month_files(source, symbol, timeframe)
        if files:
            return files
        tf = parse_timeframe(timeframe)
        known = self.list_series()
        if not any(k.source == source for k in known):
            options = ", ".join(sorted({k.source for k in known})) or "none"
            raise DataError(f"source {source!r}: no data under {self.ohlcv_root} (sources: {options})")
        if not any(k.source == source and k.symbol == symbol for k in known):
            options = ", ".join(self.symbols(source))
            raise DataError(f"symbol {symbol!r}: unknown for source {source} (symbols: {options})")
        options = ", ".join(self.timeframes(source, symbol))
        raise DataError(f"timeframe {tf.name!r}: no data for {source}/{symbol} (timeframes: {options})")

    # reading -----------------------------------------------------------------------------------------------

    def read_month(self, month_file: MonthFile, timeframe: str | Timeframe) -> pd.DataFrame:
        """One month file, validated against the contract (``DataError`` naming file and first bad row)."""
        frame = read_parquet_frame(month_file.path)
        validate_frame(frame, str(month_file.path), parse_timeframe(timeframe), month_file.window_ms)
        return frame

    def last_timestamp_ms(self, source: str, symbol: str, timeframe: str | Timeframe) -> int | None:
        """Open time of the newest stored bar, or None for an empty series (reads only the last month file)."""
        for month_file in reversed(self.month_files(source, symbol, timeframe)):
            frame = self.read_month(month_file, timeframe)
            if len(frame):
                return int(frame["timestamp_ms"].iloc[-1])
        return None

    # writing -----------------------------------------------------------------------------------------------

    def write_candles(
        self,
        source: str,
        symbol: str,
        timeframe: str | Timeframe,
        frame: pd.DataFrame,
        *,
        origin: str = "input",
    ) -> WriteSummary:
        """Merge ``frame`` into the month files it touches; on equal ``timestamp_ms`` the incoming bar wins.

        ``frame`` may be unsorted and span many months; it must otherwise satisfy the contract (checked first,
        the ``DataError`` names ``origin`` and the row). Each touched month is rewritten atomically.
        """
        tf = parse_timeframe(timeframe)
        self.series_dir(source, symbol, tf)  # validates the names before anything is touched
        incoming = _coerce(frame, origin)
        if len(incoming) == 0:
            return WriteSummary(files=(), rows_written=0, rows_new=0)
        incoming = incoming.sort_values("timestamp_ms", kind="stable")
        incoming = incoming.drop_duplicates("timestamp_ms", keep="last").reset_index(drop=True)
        validate_frame(incoming, origin, tf)

        years, months = month_windows(incoming["timestamp_ms"].to_numpy())
        written: list[Path] = []
        rows_written = rows_new = 0
        month_keys = years * 100 + months
        for month_key in np.unique(month_keys):
            year, month = divmod(int(month_key), 100)
            part = incoming.loc[month_keys == month_key]
            path = self.month_path(source, symbol, tf, year, month)
            month_file = MonthFile(year, month, path)
            if path.exists():
                existing = self.read_month(month_file, tf)
                merged = pd.concat([existing, part], ignore_index=True)
                merged = merged.drop_duplicates("timestamp_ms", keep="last")
                merged = merged.sort_values("timestamp_ms", kind="stable").reset_index(drop=True)
                new_rows = len(merged) - len(existing)
            else:
                merged = part.reset_index(drop=True)
                new_rows = len(merged)
            validate_frame(merged, str(path), tf, month_file.window_ms)
            atomic_write_parquet(merged, path)
            written.append(path)
            rows_written += len(part)
            rows_new += new_rows
        log.debug(
            "wrote %d bars (%d new) to %d files of %s/%s/%s",
            rows_written,
            rows_new,
            len(written),
            source,
            symbol,
            tf.name,
        )
        return WriteSummary(files=tuple(written), rows_written=rows_written, rows_new=rows_new)


def _coerce(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Incoming frames must carry exactly the contract's columns; numeric dtypes are converted losslessly."""
    missing = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{origin}: missing column(s) {', '.join(missing)}")
    extra = [str(c) for c in frame.columns if c not in OHLCV_COLUMNS]
    if extra:
        raise DataError(f"{origin}: unexpected column(s) {', '.join(extra)}")
    out = pd.DataFrame(index=range(len(frame)))
    for name, dtype in EXPECTED_DTYPES.items():
        column = frame[name].to_numpy()
        if name == "timestamp_ms" and column.dtype.kind == "f":
            not_whole = ~np.isfinite(column) | (column != np.round(column))
            if not_whole.any():
                bad = int(np.flatnonzero(not_whole)[0])
                raise DataError(f"{origin}: row {bad}: timestamp_ms {column[bad]!r} is not a whole number")
        if column.dtype.kind not in "iuf":
            raise DataError(f"{origin}: column {name} has dtype {column.dtype}, expected a number")
        out[name] = column.astype(dtype)
    return out


__all__ = [
    "SCHEMA",
    "MarketStore",
    "MonthFile",
    "SeriesKey",
    "WriteSummary",
    "atomic_write_parquet",
    "check_name",
    "month_windows",
    "read_parquet_frame",
    "store_root",
    "write_parquet_with_schema",
]
