"""Missing bars: stretches of the timeframe grid with no bar between two stored bars."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stratlab.data.timeframes import Timeframe


@dataclass(frozen=True)
class Gap:
    """Bars missing from ``start_ms`` (open of the first missing bar) up to ``end_ms`` (open of the next bar)."""

    start_ms: int
    end_ms: int
    missing_bars: int


def find_gaps(timestamps_ms: npt.NDArray[np.int64], timeframe: Timeframe) -> list[Gap]:
    """Every gap in a sorted, unique, on-grid series of bar open times."""
    ts = np.asarray(timestamps_ms, dtype=np.int64)
    if ts.size < 2:
        return []
    expected_next = timeframe.next_open(ts[:-1])
    holes = np.flatnonzero(ts[1:] > expected_next)
    gaps: list[Gap] = []
    for i in holes:
        start, end = int(expected_next[i]), int(ts[i + 1])
        if timeframe.fixed_ms is not None:
            missing = (end - start) // timeframe.fixed_ms
        else:
            missing = len(timeframe.grid(start, end))
        gaps.append(Gap(start_ms=start, end_ms=end, missing_bars=int(missing)))
    return gaps


__all__ = ["Gap", "find_gaps"]
