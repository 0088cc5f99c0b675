"""Missing bars: stretches of the timeframe grid with no bar between two stored bars."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stratlab.data.dates import format_ms
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


def _gap_span(gap: Gap) -> str:
    """``2025-03-01 00:00 → 2025-04-01 00:00 UTC``: first missing bar's open to the next stored bar's open."""
    return f"{format_ms(gap.start_ms).removesuffix(' UTC')} → {format_ms(gap.end_ms)}"


def gap_summary(gaps: list[Gap], limit: int = 3) -> str | None:
    """One line saying how many gaps and bars are missing and where the first ``limit`` are; None without gaps.

    Meant as a warning before a backtest or an optimisation crosses the holes: results over a missing month are
    results over a different market.
    """
    if not gaps:
        return None
    missing = sum(g.missing_bars for g in gaps)
    count = f"{len(gaps):,} gap{'s' if len(gaps) > 1 else ''} inside the period"
    bars = f"{missing:,} bar{'s' if missing > 1 else ''} missing"
    spans = ", ".join(_gap_span(g) for g in gaps[: max(limit, 0)])
    more = len(gaps) - min(max(limit, 0), len(gaps))
    if more:
        spans = f"{spans}, and {more:,} more" if spans else f"{more:,} not listed"
    return f"{count}, {bars}: {spans}"


__all__ = ["Gap", "find_gaps", "gap_summary"]
