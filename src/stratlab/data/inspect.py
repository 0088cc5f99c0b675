"""What is stored for a series: bars, range, gaps and rule violations, collected across all its month files."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
        path = str(month_file.path)
        try:
            frame = read_parquet_frame(month_file.path)
        except DataError as exc:
            problems.append(Problem(path, "unreadable", str(exc).removeprefix(f"{path}: ")))
            continue
        file_problems = find_problems(frame, path, tf, month_file.window_ms)
        problems.extend(file_problems)
        if not any(p.rule in {"missing_columns", "wrong_dtype"} for p in file_problems):
            stamps.append(frame["timestamp_ms"].to_numpy(dtype=np.int64))
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


__all__ = ["SeriesReport", "inspect_series"]
