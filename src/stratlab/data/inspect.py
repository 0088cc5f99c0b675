"""What is stored for a series: bars, range, gaps and rule violations, collected across all its month files."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from stratlab.data.gaps import Gap, find_gaps
from stratlab.data.store import MarketStore, SeriesKey, read_parquet_frame
from stratlab.data.timeframes import parse_timeframe
from stratlab.data.validate import Problem, find_problems
from stratlab.errors import DataError


@dataclass(frozen=True)
class SeriesReport:
    """What ``data list`` and ``data check`` know about one stored series."""

    key: SeriesKey
    bars: int
    first_ms: int | None
    last_ms: int | None
    gaps: list[Gap]
    problems: list[Problem]

    @property
    def missing_bars(self) -> int:
        return sum(g.missing_bars for g in self.gaps)


def stored_timestamps_and_problems(
    path: Path, find_file_problems: Callable[[pd.DataFrame, str], list[Problem]]
) -> tuple[npt.NDArray[np.int64] | None, list[Problem]]:
    """A stored file's timestamps and every problem ``find_file_problems`` sees in it. A file that cannot be read
    is one problem, not an error, so that one damaged file does not hide the rest of a series; its timestamps are
    None then, and when a column is missing or mistyped (they would not mean what they say)."""
    name = str(path)
    try:
        frame = read_parquet_frame(path)
    except DataError as exc:
        return None, [Problem(name, "unreadable", str(exc).removeprefix(f"{name}: "))]
    problems = find_file_problems(frame, name)
    if any(p.rule in {"missing_columns", "wrong_dtype"} for p in problems):
        return None, problems
    return frame["timestamp_ms"].to_numpy(dtype=np.int64), problems


def inspect_series(store: MarketStore, key: SeriesKey) -> SeriesReport:
    """Read every month file of a series, collecting all problems instead of stopping at the first."""
    tf = parse_timeframe(key.timeframe)
    problems = [
        Problem(
            str(path), "stray_file", "not part of the series (month files are YYYY/MM.parquet, MM 01-12): never read"
        )
        for path in store.stray_paths(key.source, key.symbol, tf)
    ]
    stamps: list[np.ndarray] = []
    for month_file in store.month_files(key.source, key.symbol, tf):
        check = functools.partial(find_problems, timeframe=tf, window_ms=month_file.window_ms)
        file_stamps, file_problems = stored_timestamps_and_problems(month_file.path, check)
        problems.extend(file_problems)
        if file_stamps is not None:
            stamps.append(file_stamps)
    ts = np.unique(np.concatenate(stamps)) if stamps else np.empty(0, dtype=np.int64)
    ts = ts[tf.on_grid(ts)]  # off-grid bars are already reported; they would make every gap wrong
    return SeriesReport(
        key=key,
        bars=int(ts.size),
        first_ms=int(ts[0]) if ts.size else None,
        last_ms=int(ts[-1]) if ts.size else None,
        gaps=find_gaps(ts, tf),
        problems=problems,
    )


__all__ = ["SeriesReport", "inspect_series", "stored_timestamps_and_problems"]
