"""gap_summary: the one-line warning for holes inside a period, checked against hand-counted calendars."""

from __future__ import annotations

import numpy as np

from stratlab.data.dates import day_start_ms
from stratlab.data.gaps import Gap, find_gaps, gap_summary
from stratlab.data.timeframes import parse_timeframe

FIVE_MIN_MS = 300_000


def _five_minute_bars(first_day: str, end_day: str) -> np.ndarray:
    return np.arange(day_start_ms(first_day), day_start_ms(end_day), FIVE_MIN_MS, dtype=np.int64)


def test_no_gaps_means_no_summary() -> None:
    assert gap_summary([]) is None


def test_a_missing_month_is_counted_and_located_in_utc() -> None:
    # February and April 2025 present, March missing: 31 days x 288 five-minute bars = 8,928 bars.
    ts = np.concatenate([_five_minute_bars("2025-02-01", "2025-03-01"), _five_minute_bars("2025-04-01", "2025-05-01")])
    gaps = find_gaps(ts, parse_timeframe("5m"))
    assert gap_summary(gaps) == "1 gap inside the period, 8,928 bars missing: 2025-03-01 00:00 → 2025-04-01 00:00 UTC"


def test_only_the_first_gaps_are_listed_and_the_rest_counted() -> None:
    hour = 3_600_000
    base = day_start_ms("2025-06-01")
    gaps = [Gap(base + k * 10 * hour, base + k * 10 * hour + 2 * hour, 24) for k in range(5)]
    line = gap_summary(gaps, limit=2)
    assert line == (
        "5 gaps inside the period, 120 bars missing: 2025-06-01 00:00 → 2025-06-01 02:00 UTC, "
        "2025-06-01 10:00 → 2025-06-01 12:00 UTC, and 3 more"
    )
    assert line is not None and line.count("→") == 2


def test_one_missing_bar_is_singular() -> None:
    gap = Gap(day_start_ms("2025-01-01"), day_start_ms("2025-01-01") + FIVE_MIN_MS, 1)
    assert gap_summary([gap]) == "1 gap inside the period, 1 bar missing: 2025-01-01 00:00 → 2025-01-01 00:05 UTC"
