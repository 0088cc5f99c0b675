"""Import OHLCV bars from CSV files: MetaTrader 5 history exports and plain CSV with a header.

Format detection (``fmt="auto"``): a header with a ``<DATE>`` field is an MT5 export, anything else is
plain CSV. The delimiter is the one of ``, ; <tab> |`` that occurs most often in the header line (MT5 uses
tabs). The encoding comes from the byte-order mark: UTF-8, UTF-8 with BOM, UTF-16 LE/BE with BOM (MT5 may
write UTF-16 LE with a BOM); a file without a BOM whose second byte is NUL is read as UTF-16 LE.

MT5 export::

    <DATE>  <TIME>  <OPEN>  <HIGH>  <LOW>  <CLOSE>  <TICKVOL>  <VOL>  <SPREAD>
    2025.01.02  00:05:00  1.03525  ...

Times are the broker's server time, converted to UTC with ``tz`` (an IANA zone). Daily, weekly and monthly
exports have no ``<TIME>`` column: their dates are day labels, stored at 00:00 UTC of that date whatever
``tz`` says, because the broker's midnight shifted to UTC (e.g. 22:00 the day before) is not on the store's
daily grid. Volume is ``<TICKVOL>`` by default (FX brokers report ``<VOL>`` as 0) or ``<VOL>``;
``<SPREAD>`` is ignored.

Plain CSV: column names are case-insensitive. The time column is the first present of ``timestamp_ms``,
``timestamp``, ``datetime``, ``time``, ``date`` (``date`` and ``time`` are joined when both exist and none
of the others does). Its values are, decided by the first data row:

- numbers: epoch milliseconds for ``timestamp_ms``; otherwise epoch seconds below 1e11 and epoch
  milliseconds from 1e11 up (1e11 s is the year 5138, 1e11 ms is 1973); every row must have the same unit;
- text: ISO-8601 (``2025-01-02T00:05:00Z``, ``2025-01-02 00:05:00+02:00``, ``2025-01-02 00:05``; the MT5
  style ``2025.01.02 00:05`` too; in a ``date`` column also ``20250102``). With a UTC offset the offset is
  used; without one the time is in ``tz``; a bare date is a day label at 00:00 UTC. Every row must have
  the form of the first.

Prices are ``open``, ``high``, ``low``, ``close``; ``volume`` is optional (0 with a warning when absent).

Every problem of the file itself is a one-line ``DataError`` naming the file and the CSV line (1-based,
the header is line 1): unreadable text, a missing column, a row with the wrong number of fields, a value
that is not a number or a time, a local time that does not exist in ``tz``, rows out of time order or
repeated, times off the timeframe's grid, a file whose bars are further apart than the timeframe, and
every rule of the data contract (``stratlab.data.validate``). Nothing is written unless the whole file is
valid.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import pandas as pd

from stratlab.data.candles import OHLCV_COLUMNS
from stratlab.data.dates import format_ms
from stratlab.data.store import MarketStore, SeriesKey, month_windows
from stratlab.data.timeframes import DAY_MS, HOUR_MS, MINUTE_MS, Timeframe, parse_timeframe
from stratlab.data.validate import find_problems
from stratlab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]


class CsvFormat(StrEnum):
    """How to read the file: ``auto`` looks for the MT5 ``<DATE>`` header."""

    AUTO = "auto"
    MT5 = "mt5"
    PLAIN = "plain"


class VolumeColumn(StrEnum):
    """Which MT5 column becomes ``volume``."""

    TICKVOL = "tickvol"
    VOL = "vol"


MT5_DATE = "<date>"
MT5_TIME = "<time>"
MT5_PRICES = ("<open>", "<high>", "<low>", "<close>")
_MT5_VOLUME = {VolumeColumn.TICKVOL: "<tickvol>", VolumeColumn.VOL: "<vol>"}
PLAIN_TIME_COLUMNS = ("timestamp_ms", "timestamp", "datetime", "time", "date")
PLAIN_PRICES = ("open", "high", "low", "close")
_DELIMITERS = (",", ";", "\t", "|")

# 1e11 seconds is the year 5138 and 1e11 milliseconds is March 1973: no plausible bar is on the wrong
# side of either.
_EPOCH_MS_FROM = 1e11
# Microseconds and nanoseconds since 1970 are above this; they are refused rather than guessed.
_EPOCH_TOO_LARGE = 1e14
# A file needs this many bars before "no two neighbours are one timeframe apart" says it holds a coarser
# timeframe: a handful of bars of a thin market may all have gaps between them.
_MIN_ROWS_FOR_SPACING_CHECK = 8

_MT5_DATE = re.compile(r"^\d{4}\.\d{1,2}\.\d{1,2}$")
_MT5_TIME = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")
_DOTTED_DATE = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})")
_ISO_DATE_ONLY = re.compile(r"^\d{4}-?\d{2}-?\d{2}$")
_COMPACT_DATE = re.compile(r"^\d{8}$")
# The origin of wall-clock times before they are given a zone.
_NAIVE_EPOCH = datetime(1970, 1, 1)
# Zone names whose offset is always 0: no warning that --tz was not applied.
_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"})


_E = TypeVar("_E", bound=StrEnum)


@dataclass(frozen=True)
class ParsedCsv:
    """A CSV file turned into a contract frame, with the CSV line each row came from."""

    path: Path
    file_format: CsvFormat
    frame: pd.DataFrame
    lines: Int64Array
    time_texts: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class ImportSummary:
    """What one CSV import read and changed in the store."""

    path: Path
    series: SeriesKey
    file_format: CsvFormat
    tz: str
    rows_read: int
    bars_written: int
    bars_new: int
    first_ms: int
    last_ms: int
    months: tuple[str, ...]
    files: tuple[Path, ...]
    warnings: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"{self.path}: {self.file_format.value} file, times in {self.tz}: {self.rows_read:,} rows read, "
            f"{self.bars_written:,} bars written to {self.series} ({self.bars_new:,} new), "
            f"{format_ms(self.first_ms)} .. {format_ms(self.last_ms)}, months {', '.join(self.months)}"
        )


def parse_tz(name: str) -> ZoneInfo:
    """The IANA zone ``name``; a ``ConfigError`` naming ``--tz`` otherwise."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(
            f"--tz: unknown time zone {name!r} (expected an IANA name such as UTC or Europe/Athens)"
        ) from None


def _choice(enum: type[_E], value: str | _E, option: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        known = " | ".join(member.value for member in enum)
        raise ConfigError(f"{option}: unknown value {value!r} (expected {known})") from None


def _is_utc(zone: ZoneInfo) -> bool:
    return zone.key in _UTC_KEYS


class _Fail:
    """Builds the one-line errors of one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def at(self, line: int, message: str) -> DataError:
        return DataError(f"{self.path}: line {line}: {message}")


# reading ----------------------------------------------------------------------------------------------------


def _decode(raw: bytes, fail: _Fail) -> str:
    if raw.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"  # reads the BOM and picks the byte order
    elif len(raw) >= 2 and raw[0] != 0 and raw[1] == 0:
        encoding = "utf-16-le"  # ASCII text in UTF-16 LE without a BOM: every second byte is NUL
    else:
        encoding = "utf-8"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].decode(encoding, errors="replace").count("\n") + 1
        raise fail.at(line, f"not readable as {encoding} text ({exc.reason})") from None


def _records(text: str, fail: _Fail) -> tuple[list[str], int, list[list[str]], list[int]]:
    """Header fields, header line, data rows and their line numbers; blank lines are skipped but counted."""
    first_line = next((line for line in text.splitlines() if line.strip()), None)
    if first_line is None:
        raise fail.at(1, "the file is empty (expected a header line)")
    delimiter = max(_DELIMITERS, key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    header_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for record in reader:
            fields = [field.strip() for field in record]
            if not any(fields):
                continue
            if header is None:
                header, header_line = fields, reader.line_num
                continue
            if len(fields) > len(header) and not any(fields[len(header) :]):
                fields = fields[: len(header)]  # a trailing delimiter
            if len(fields) != len(header):
                raise fail.at(
                    reader.line_num,
                    f"{len(fields)} field(s), the header (line {header_line}) has {len(header)}",
                )
            rows.append(fields)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise fail.at(reader.line_num, f"not valid CSV: {exc}") from None
    if header is None:  # only delimiters on every line
        raise fail.at(1, "the file is empty (expected a header line)")
    if not rows:
        raise fail.at(header_line, "a header but no data rows")
    return header, header_line, rows, lines


# values -----------------------------------------------------------------------------------------------------


def _numbers(values: Sequence[str], label: str, lines: Sequence[int], fail: _Fail) -> FloatArray:
    """Parse a column of numbers; a non-number, an empty field, NaN or inf is an error naming its line."""
    try:
        parsed: FloatArray = np.asarray(values, dtype=np.str_).astype(np.float64)
    except ValueError:
        # numpy does not say which value it refused: find it (and parse the rest) one value at a time.
        numbers: list[float] = []
        for value, line in zip(values, lines, strict=True):
            try:
                numbers.append(float(value))
            except ValueError:
                what = "is empty" if value == "" else f"{value!r} is not a number"
                raise fail.at(line, f"{label} {what}") from None
        parsed = np.asarray(numbers, dtype=np.float64)
    not_finite = np.flatnonzero(~np.isfinite(parsed))
    if not_finite.size:
        row = int(not_finite[0])
        raise fail.at(lines[row], f"{label} {values[row]!r} is not a finite number")
    return parsed


def _mt5_wall_clock(
    dates: Sequence[str], times: Sequence[str] | None, lines: Sequence[int], fail: _Fail
) -> tuple[pd.Series, tuple[str, ...]]:
    """MT5 ``<DATE>``/``<TIME>`` as naive wall-clock datetimes, and the text of each for messages."""
    texts: list[str] = []
    for row, date in enumerate(dates):
        if not _MT5_DATE.match(date):
            raise fail.at(lines[row], f"<DATE> {date!r} is not a date like 2025.01.02")
        if times is None:
            texts.append(date)
            continue
        time = times[row]
        if not _MT5_TIME.match(time):
            raise fail.at(lines[row], f"<TIME> {time!r} is not a time like 00:05:00")
        texts.append(f"{date} {time}" if time.count(":") == 2 else f"{date} {time}:00")
    fmt = "%Y.%m.%d" if times is None else "%Y.%m.%d %H:%M:%S"
    parsed = pd.to_datetime(pd.Series(texts, dtype=object), format=fmt, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raise fail.at(lines[row], f"{texts[row]!r} is not a valid date and time")
    return parsed, tuple(texts)


def _to_epoch_ms(moments: pd.Series) -> Int64Array:
    """Epoch ms of zone-aware (converted to UTC) or naive (read as UTC) datetimes; NaT becomes int64 min."""
    if isinstance(moments.dtype, pd.DatetimeTZDtype):
        moments = moments.dt.tz_convert("UTC").dt.tz_localize(None)
    as_ms: Int64Array = moments.dt.as_unit("ms").to_numpy().astype(np.int64)
    return as_ms


def _localize(
    wall_clock: pd.Series, zone: ZoneInfo, lines: Sequence[int], texts: Sequence[str], fail: _Fail
) -> Int64Array:
    """UTC epoch ms of naive wall-clock times in ``zone``, in file order.

    A time in the hour skipped when clocks go forward does not exist: an error naming its line. A time in
    the hour repeated when clocks go back exists twice, and the wall clock alone cannot tell which. A
    time-ordered export walks through that hour twice, first in daylight-saving time, then again in
    standard time, so the file order decides: within a run of consecutive ambiguous rows, rows are DST
    until the wall clock steps back (or repeats a time), and standard time from there on. A file that holds
    only one pass of the repeated hour therefore reads it as the DST pass.
    """
    n = len(wall_clock)
    as_dst = _to_epoch_ms(wall_clock.dt.tz_localize(zone, ambiguous=np.ones(n, dtype=bool), nonexistent="NaT"))
    as_std = _to_epoch_ms(wall_clock.dt.tz_localize(zone, ambiguous=np.zeros(n, dtype=bool), nonexistent="NaT"))
    missing = np.flatnonzero(as_dst == np.iinfo(np.int64).min)
    if missing.size:
        row = int(missing[0])
        raise fail.at(
            lines[row], f"{texts[row]} does not exist in {zone.key} (the clocks skip it when they go forward)"
        )
    ambiguous = as_dst != as_std
    local = wall_clock.to_numpy()
    standard = np.zeros(n, dtype=bool)
    for row in np.flatnonzero(ambiguous).tolist():
        previous = row - 1
        if previous >= 0 and ambiguous[previous]:
            standard[row] = standard[previous] or local[row] <= local[previous]
    utc_ms: Int64Array = np.where(standard, as_std, as_dst)
    return utc_ms


# MT5 --------------------------------------------------------------------------------------------------------


def _column_index(header: Sequence[str]) -> dict[str, int]:
    return {name.lower(): position for position, name in enumerate(header)}


def _check_unique_header(header: Sequence[str], header_line: int, fail: _Fail) -> None:
    seen: set[str] = set()
    for name in header:
        key = name.lower()
        if key in seen:
            raise fail.at(header_line, f"column {name!r} appears twice in the header")
        seen.add(key)


def _require(index: dict[str, int], names: Sequence[str], header: Sequence[str], header_line: int, fail: _Fail) -> None:
    missing = [name for name in names if name not in index]
    if missing:
        raise fail.at(
            header_line,
            f"missing column(s) {', '.join(n.upper() if n.startswith('<') else n for n in missing)} "
            f"(header: {' '.join(header)})",
        )


def _parse_mt5(
    header: list[str],
    header_line: int,
    rows: list[list[str]],
    lines: list[int],
    zone: ZoneInfo,
    volume: VolumeColumn,
    fail: _Fail,
) -> tuple[pd.DataFrame, tuple[str, ...], list[str]]:
    index = _column_index(header)
    volume_name = _MT5_VOLUME[volume]
    _require(index, (MT5_DATE, *MT5_PRICES, volume_name), header, header_line, fail)
    columns = list(zip(*rows, strict=True))
    warnings: list[str] = []
    dates = columns[index[MT5_DATE]]
    times = columns[index[MT5_TIME]] if MT5_TIME in index else None
    wall_clock, texts = _mt5_wall_clock(dates, times, lines, fail)
    if times is None:
        timestamps = _to_epoch_ms(wall_clock)
        if not _is_utc(zone):
            warnings.append(
                f"rows have a date but no <TIME>: each date is stored at 00:00 UTC, --tz {zone.key} is not applied"
            )
    else:
        timestamps = _localize(wall_clock, zone, lines, texts, fail)
    values = {
        target: _numbers(columns[index[name]], header[index[name]], lines, fail)
        for target, name in zip(("open", "high", "low", "close"), MT5_PRICES, strict=True)
    }
    values["volume"] = _numbers(columns[index[volume_name]], header[index[volume_name]], lines, fail)
    if volume is VolumeColumn.VOL and not values["volume"].any():
        warnings.append("<VOL> is 0 on every row (FX brokers report no real volume): --volume tickvol reads <TICKVOL>")
    frame = pd.DataFrame({"timestamp_ms": timestamps, **values})
    return frame, texts, warnings


# plain CSV --------------------------------------------------------------------------------------------------


def _plain_time_column(index: dict[str, int]) -> tuple[str, ...]:
    """The name(s) of the time column(s), in the priority order of the module docstring."""
    if "date" in index and "time" in index and not any(n in index for n in PLAIN_TIME_COLUMNS[:3]):
        return ("date", "time")
    for name in PLAIN_TIME_COLUMNS:
        if name in index:
            return (name,)
    return ()


def _epoch_ms(values: Sequence[str], label: str, in_ms: bool | None, lines: Sequence[int], fail: _Fail) -> Int64Array:
    """Epoch numbers to ms; ``in_ms=None`` decides the unit from the first row's magnitude."""
    numbers = _numbers(values, label, lines, fail)
    too_large = np.flatnonzero(np.abs(numbers) >= _EPOCH_TOO_LARGE)
    if in_ms is None:
        if too_large.size:
            row = int(too_large[0])
            raise fail.at(lines[row], f"{label} {values[row]} is too large for epoch seconds or milliseconds")
        in_ms = bool(abs(numbers[0]) >= _EPOCH_MS_FROM)
        other_unit = np.flatnonzero((np.abs(numbers) >= _EPOCH_MS_FROM) != in_ms)
        if other_unit.size:
            row = int(other_unit[0])
            unit, first_unit = ("seconds", "milliseconds") if in_ms else ("milliseconds", "seconds")
            raise fail.at(
                lines[row],
                f"{label} {values[row]} looks like epoch {unit}, line {lines[0]} like epoch {first_unit}",
            )
    scaled = numbers if in_ms else numbers * 1000.0
    not_whole = np.flatnonzero(scaled != np.round(scaled))
    if not_whole.size:
        row = int(not_whole[0])
        raise fail.at(lines[row], f"{label} {values[row]} is not a whole number of milliseconds")
    epoch: Int64Array = scaled.astype(np.int64)
    return epoch


def _iso_times(
    values: Sequence[str], label: str, zone: ZoneInfo, lines: Sequence[int], fail: _Fail
) -> tuple[Int64Array, list[str]]:
    """ISO-8601 text to epoch ms; every row has the form of the first: date, naive time or time + offset."""
    kinds = ("a date without a time", "a time without a UTC offset", "a time with a UTC offset")
    first_kind: int | None = None
    naive_us: list[int] = []
    aware_ms: list[int] = []
    warnings: list[str] = []
    for value, line in zip(values, lines, strict=True):
        text = _DOTTED_DATE.sub(r"\1-\2-\3", value)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise fail.at(line, f"{label} {value!r} is not an ISO-8601 date or time") from None
        kind = 0 if _ISO_DATE_ONLY.match(text) else 1 if moment.tzinfo is None else 2
        if first_kind is None:
            first_kind = kind
        elif kind != first_kind:
            raise fail.at(line, f"{label} {value!r} is {kinds[kind]}, line {lines[0]} is {kinds[first_kind]}")
        if kind == 2:
            aware_ms.append((moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1))
        else:
            naive_us.append((moment - _NAIVE_EPOCH) // timedelta(microseconds=1))
    if first_kind == 2:
        if not _is_utc(zone):
            warnings.append(f"times carry their own UTC offset: --tz {zone.key} is not applied")
        return np.asarray(aware_ms, dtype=np.int64), warnings
    wall_clock = pd.Series(np.asarray(naive_us, dtype=np.int64).astype("datetime64[us]"))
    if first_kind == 0:
        if not _is_utc(zone):
            warnings.append(f"dates without a time are stored at 00:00 UTC: --tz {zone.key} is not applied")
        return _to_epoch_ms(wall_clock), warnings
    return _localize(wall_clock, zone, lines, values, fail), warnings


def _parse_plain(
    header: list[str],
    header_line: int,
    rows: list[list[str]],
    lines: list[int],
    zone: ZoneInfo,
    fail: _Fail,
) -> tuple[pd.DataFrame, tuple[str, ...], list[str]]:
    index = _column_index(header)
    time_names = _plain_time_column(index)
    if not time_names:
        raise fail.at(
            header_line,
            f"no time column (expected one of {', '.join(PLAIN_TIME_COLUMNS)}; header: {', '.join(header)})",
        )
    _require(index, PLAIN_PRICES, header, header_line, fail)
    columns = list(zip(*rows, strict=True))
    warnings: list[str] = []
    label = "+".join(header[index[name]] for name in time_names)
    if len(time_names) == 2:
        texts: Sequence[str] = [f"{d} {t}" for d, t in zip(columns[index["date"]], columns[index["time"]], strict=True)]
    else:
        texts = columns[index[time_names[0]]]
    # A number in a "date" column is far more often a compact YYYYMMDD date than epoch seconds.
    compact_date = time_names == ("date",) and _COMPACT_DATE.match(texts[0]) is not None
    first_is_number = _is_number(texts[0]) and not compact_date
    if time_names == ("timestamp_ms",) or (len(time_names) == 1 and first_is_number):
        in_ms = True if time_names == ("timestamp_ms",) else None
        timestamps = _epoch_ms(texts, label, in_ms, lines, fail)
        if not _is_utc(zone):
            warnings.append(f"epoch times are UTC: --tz {zone.key} is not applied")
    else:
        timestamps, time_warnings = _iso_times(texts, label, zone, lines, fail)
        warnings += time_warnings
    values = {name: _numbers(columns[index[name]], header[index[name]], lines, fail) for name in PLAIN_PRICES}
    if "volume" in index:
        values["volume"] = _numbers(columns[index["volume"]], header[index["volume"]], lines, fail)
    else:
        values["volume"] = np.zeros(len(rows), dtype=np.float64)
        warnings.append("no volume column: volume is 0 on every bar")
    frame = pd.DataFrame({"timestamp_ms": timestamps, **values})
    return frame, tuple(texts), warnings


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# checks -----------------------------------------------------------------------------------------------------


def _span(ms: int) -> str:
    for unit, size in (("d", DAY_MS), ("h", HOUR_MS), ("m", MINUTE_MS)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms / 1000:g}s"


def _check_rows(parsed: ParsedCsv, tf: Timeframe, zone: ZoneInfo, fail: _Fail) -> None:
    """Order, duplicates, grid and the data contract; the earliest offending line is reported."""
    ts = parsed.frame["timestamp_ms"].to_numpy(dtype=np.int64)
    lines, texts = parsed.lines, parsed.time_texts
    found: list[tuple[int, str]] = []

    def when(row: int) -> str:
        utc = format_ms(int(ts[row]))
        return texts[row] if texts[row] == utc else f"{texts[row]} ({utc})"

    step = np.diff(ts)
    backwards = np.flatnonzero(step <= 0)
    if backwards.size:
        row = int(backwards[0]) + 1
        line, before = int(lines[row]), int(lines[row - 1])
        if step[row - 1] == 0:
            found.append((line, f"{when(row)} is the same bar as line {before}: a row appears twice"))
        else:
            found.append(
                (
                    line,
                    f"{when(row)} is earlier than {when(row - 1)} on line {before}: rows must be in time order",
                )
            )
    off_grid = np.flatnonzero(~tf.on_grid(ts))
    if off_grid.size:
        row = int(off_grid[0])
        hint = f" after shifting {zone.key} to UTC" if not _is_utc(zone) else ""
        if tf.name == "1w":
            hint += " (1w bars open on Mondays 00:00 UTC)"
        found.append(
            (
                int(lines[row]),
                f"{when(row)} is not on the {tf.name} grid{hint} ({off_grid.size} row(s) off the grid): "
                f"is the file a different timeframe?",
            )
        )
    skip = {"unsorted_timestamps", "duplicate_timestamps", "off_grid_timestamps"}
    for problem in find_problems(parsed.frame, str(parsed.path), tf):
        if problem.rule in skip:
            continue
        if problem.row is None:
            raise DataError(str(problem))
        more = f" ({problem.count} rows break this rule)" if problem.count > 1 else ""
        found.append((int(lines[problem.row]), f"{problem.message}{more}"))
    if found:
        line, message = min(found, key=lambda item: item[0])
        raise fail.at(line, message)
    if tf.fixed_ms is not None and len(ts) >= _MIN_ROWS_FOR_SPACING_CHECK and step.min() > tf.fixed_ms:
        row = int(np.argmin(step)) + 1
        raise fail.at(
            int(lines[row]),
            f"no two neighbouring bars are {tf.name} apart (the closest are {_span(int(step.min()))} apart, "
            f"lines {int(lines[row - 1])} and {int(lines[row])}): the file looks like a coarser timeframe",
        )


# API --------------------------------------------------------------------------------------------------------


def read_csv_file(
    path: Path | str,
    timeframe: str | Timeframe,
    *,
    tz: str = "UTC",
    fmt: CsvFormat | str = CsvFormat.AUTO,
    volume: VolumeColumn | str = VolumeColumn.TICKVOL,
) -> ParsedCsv:
    """Parse and check a CSV file (MT5 export or plain CSV) without touching the store."""
    tf = parse_timeframe(timeframe)
    zone = parse_tz(tz)
    file_format = _choice(CsvFormat, fmt, "--format")
    volume_column = _choice(VolumeColumn, volume, "--volume")
    path = Path(path)
    fail = _Fail(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    header, header_line, rows, lines = _records(_decode(raw, fail), fail)
    _check_unique_header(header, header_line, fail)
    is_mt5 = MT5_DATE in _column_index(header)
    if file_format is CsvFormat.AUTO:
        file_format = CsvFormat.MT5 if is_mt5 else CsvFormat.PLAIN
    elif file_format is CsvFormat.MT5 and not is_mt5:
        raise fail.at(header_line, f"not an MT5 export: the header has no <DATE> (header: {' '.join(header)})")
    log.debug("%s: %s format, %d data rows, header %s", path, file_format.value, len(rows), header)
    if file_format is CsvFormat.MT5:
        frame, texts, warnings = _parse_mt5(header, header_line, rows, lines, zone, volume_column, fail)
    else:
        frame, texts, warnings = _parse_plain(header, header_line, rows, lines, zone, fail)
    parsed = ParsedCsv(
        path=path,
        file_format=file_format,
        frame=frame[list(OHLCV_COLUMNS)],
        lines=np.asarray(lines, dtype=np.int64),
        time_texts=texts,
        warnings=tuple(warnings),
    )
    _check_rows(parsed, tf, zone, fail)
    return parsed


def import_csv(
    path: Path | str,
    *,
    source: str,
    symbol: str,
    timeframe: str | Timeframe,
    tz: str = "UTC",
    fmt: CsvFormat | str = CsvFormat.AUTO,
    volume: VolumeColumn | str = VolumeColumn.TICKVOL,
    data_root: Path | str | None = None,
) -> ImportSummary:
    """Parse, check and merge a CSV file into ``source/symbol/timeframe``; importing it again adds nothing."""
    tf = parse_timeframe(timeframe)
    store = MarketStore(data_root)
    store.series_dir(source, symbol, tf)  # bad names fail before the file is read
    parsed = read_csv_file(path, tf, tz=tz, fmt=fmt, volume=volume)
    written = store.write_candles(source, symbol, tf, parsed.frame, origin=f"{parsed.path}")
    ts = parsed.frame["timestamp_ms"].to_numpy(dtype=np.int64)
    years, months = month_windows(ts)
    touched = sorted({f"{int(y):04d}-{int(m):02d}" for y, m in zip(years, months, strict=True)})
    for warning in parsed.warnings:
        log.warning("%s: %s", parsed.path, warning)
    return ImportSummary(
        path=parsed.path,
        series=SeriesKey(source, symbol, tf.name),
        file_format=parsed.file_format,
        tz=parse_tz(tz).key,
        rows_read=len(parsed.frame),
        bars_written=written.rows_written,
        bars_new=written.rows_new,
        first_ms=int(ts.min()),
        last_ms=int(ts.max()),
        months=tuple(touched),
        files=written.files,
        warnings=parsed.warnings,
    )


__all__ = [
    "CsvFormat",
    "ImportSummary",
    "ParsedCsv",
    "VolumeColumn",
    "import_csv",
    "parse_tz",
    "read_csv_file",
]
