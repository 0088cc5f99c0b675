"""The data contract, checked: every rule a stored or incoming OHLCV frame must satisfy.

``find_problems`` reports everything (for ``stratlab data check``); ``validate_frame`` raises a ``DataError`` on the
first bad row (for loading and writing). Rows are 0-based positions in the file, as pandas and pyarrow count them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from stratlab.data.candles import OHLCV_COLUMNS, PRICE_COLUMNS
from stratlab.data.dates import format_ms
from stratlab.data.timeframes import Timeframe
from stratlab.errors import DataError

EXPECTED_DTYPES: dict[str, np.dtype[np.generic]] = {
    "timestamp_ms": np.dtype(np.int64),
    **{name: np.dtype(np.float64) for name in PRICE_COLUMNS},
}
_EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class Problem:
    """One broken rule in one file: the first offending row, how many rows break it, and a few more examples."""

    file: str
    rule: str
    message: str
    row: int | None = None
    count: int = 1
    example_rows: tuple[int, ...] = ()

    def __str__(self) -> str:
        where = f"{self.file}: row {self.row}: " if self.row is not None else f"{self.file}: "
        more = f" ({self.count} rows break this rule)" if self.count > 1 else ""
        return f"{where}{self.message}{more}"


def column_problems(
    frame: pd.DataFrame, file: str, columns: Sequence[str], dtypes: Mapping[str, np.dtype[np.generic]]
) -> list[Problem]:
    """Columns missing from ``columns``, columns not in it, and columns whose dtype is not the one ``dtypes`` says:
    the schema rule of every stored file, whatever its columns."""
    problems: list[Problem] = []
    present = [str(c) for c in frame.columns]
    missing = [c for c in columns if c not in present]
    extra = [c for c in present if c not in columns]
    if missing:
        problems.append(Problem(file, "missing_columns", f"missing column(s) {', '.join(missing)}"))
    if extra:
        problems.append(Problem(file, "extra_columns", f"unexpected column(s) {', '.join(extra)}"))
    for name, expected in dtypes.items():
        if name in present and frame[name].dtype != expected:
            problems.append(
                Problem(file, "wrong_dtype", f"column {name} has dtype {frame[name].dtype}, expected {expected}")
            )
    return problems


def check_schema(frame: pd.DataFrame, file: str) -> list[Problem]:
    """Missing, extra or wrongly typed columns. Row checks only make sense once this list is empty."""
    return column_problems(frame, file, OHLCV_COLUMNS, EXPECTED_DTYPES)


def first_row_problem(
    file: str, rule: str, mask: npt.NDArray[np.bool_], describe: Callable[[int], str]
) -> Problem | None:
    """The rule broken by the rows ``mask`` marks, reported once: its first row (``describe`` words it), how many
    rows break it and the first few of them; None when no row does."""
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return None
    first = int(rows[0])
    return Problem(
        file=file,
        rule=rule,
        message=describe(first),
        row=first,
        count=int(rows.size),
        example_rows=tuple(int(r) for r in rows[:_EXAMPLE_ROWS]),
    )


class DescribeRow:
    """Builds the message for one bad row (a class so that mypy sees a precise callable type)."""

    def __init__(self, template: str, frame: pd.DataFrame) -> None:
        self.template = template
        self.values = {name: frame[name].to_numpy() for name in frame.columns if name in OHLCV_COLUMNS}

    def __call__(self, row: int) -> str:
        fields = {name: values[row] for name, values in self.values.items()}
        when = ""
        ts = fields.get("timestamp_ms")
        if ts is not None:
            when = f"timestamp_ms={int(ts)} ({format_ms(int(ts))}): "
        return when + self.template.format(**fields)


def check_rows(
    frame: pd.DataFrame,
    file: str,
    timeframe: Timeframe,
    window_ms: tuple[int, int] | None = None,
) -> list[Problem]:
    """Row rules, each reported once with its first offending row, ordered by that row (rules whose first row is
    the same keep the order they are checked in: values, then timestamps). Assumes ``check_schema`` passed.

    ``window_ms`` is the ``[start, end)`` a month file covers: a bar outside it is in the wrong file.
    """
    if len(frame) == 0:
        return []
    ts = frame["timestamp_ms"].to_numpy(dtype=np.int64)
    o, h, lo, c, v = (frame[name].to_numpy(dtype=np.float64) for name in PRICE_COLUMNS)
    values = np.column_stack([o, h, lo, c, v])
    not_finite = ~np.isfinite(values).all(axis=1)
    finite = ~not_finite
    # NaN compares False, so the price rules below only flag finite rows; NaN/inf is its own rule.
    checks: list[tuple[str, npt.NDArray[np.bool_], str]] = [
        (
            "not_finite",
            not_finite,
            "NaN or inf in open/high/low/close/volume ({open}, {high}, {low}, {close}, {volume})",
        ),
        ("high_below_low", finite & (h < lo), "high {high} < low {low}"),
        (
            "high_below_open_close",
            finite & (h >= lo) & (h < np.maximum(o, c)),
            "high {high} < max(open {open}, close {close})",
        ),
        (
            "low_above_open_close",
            finite & (h >= lo) & (lo > np.minimum(o, c)),
            "low {low} > min(open {open}, close {close})",
        ),
        ("negative_volume", finite & (v < 0), "negative volume {volume}"),
    ]
    step = np.diff(ts)
    unsorted = np.concatenate([[False], step < 0])
    duplicate = np.concatenate([[False], step == 0])
    checks += [
        ("unsorted_timestamps", unsorted, "timestamp_ms goes backwards (previous row is later)"),
        ("duplicate_timestamps", duplicate, "duplicate timestamp_ms (same as the previous row)"),
        (
            "off_grid_timestamps",
            ~timeframe.on_grid(ts),
            f"timestamp_ms {{timestamp_ms}} is not on the {timeframe.name} grid",
        ),
    ]
    if window_ms is not None:
        start, end = window_ms
        checks.append(
            (
                "outside_file_month",
                (ts < start) | (ts >= end),
                f"timestamp_ms {{timestamp_ms}} is outside this file's month [{format_ms(start)}, {format_ms(end)})",
            )
        )
    problems: list[Problem] = []
    for rule, mask, template in checks:
        problem = first_row_problem(file, rule, mask, DescribeRow(template, frame))
        if problem is not None:
            problems.append(problem)
    problems.sort(key=lambda p: p.row if p.row is not None else -1)  # stable: ties keep the checking order
    return problems


def find_problems(
    frame: pd.DataFrame, file: str, timeframe: Timeframe, window_ms: tuple[int, int] | None = None
) -> list[Problem]:
    """Every broken rule in ``frame``, schema first, then row rules ordered by their first offending row."""
    schema = check_schema(frame, file)
    if schema:
        return schema
    return check_rows(frame, file, timeframe, window_ms)


def validate_frame(
    frame: pd.DataFrame, file: str, timeframe: Timeframe, window_ms: tuple[int, int] | None = None
) -> None:
    """Raise ``DataError`` for the first problem (schema before rows, then the earliest bad row)."""
    problems = find_problems(frame, file, timeframe, window_ms)
    if problems:
        raise DataError(str(problems[0]))


__all__ = [
    "EXPECTED_DTYPES",
    "Problem",
    "check_rows",
    "check_schema",
    "column_problems",
    "find_problems",
    "first_row_problem",
    "validate_frame",
]
