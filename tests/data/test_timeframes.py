"""Timeframe grids and gap finding, checked against calendar arithmetic done by the standard library."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from stratlab.data import TIMEFRAMES, find_gaps, parse_timeframe
from stratlab.errors import ConfigError


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


@pytest.mark.parametrize(
    ("name", "moment", "expected_open"),
    [
        ("5m", datetime(2025, 3, 7, 13, 42, 10, tzinfo=UTC), datetime(2025, 3, 7, 13, 40, tzinfo=UTC)),
        ("4h", datetime(2025, 3, 7, 13, 42, tzinfo=UTC), datetime(2025, 3, 7, 12, 0, tzinfo=UTC)),
        ("1d", datetime(2025, 3, 7, 13, 42, tzinfo=UTC), datetime(2025, 3, 7, tzinfo=UTC)),
        # 2025-03-07 is a Friday: its week opened on Monday 2025-03-03.
        ("1w", datetime(2025, 3, 7, 13, 42, tzinfo=UTC), datetime(2025, 3, 3, tzinfo=UTC)),
        ("1M", datetime(2025, 3, 7, 13, 42, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)),
        ("1M", datetime(2024, 2, 29, 23, 59, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)),
    ],
)
def test_floor_opens_bars_on_utc_boundaries(name: str, moment: datetime, expected_open: datetime) -> None:
    tf = parse_timeframe(name)
    assert tf.floor_ms(ms(moment)) == ms(expected_open)
    assert bool(tf.on_grid(np.array([ms(expected_open)]))[0])
    assert not bool(tf.on_grid(np.array([ms(expected_open) + 60_000]))[0])


def test_month_next_open_follows_the_calendar() -> None:
    tf = parse_timeframe("1M")
    opens = [datetime(2024, m, 1, tzinfo=UTC) for m in range(1, 13)] + [datetime(2025, 1, 1, tzinfo=UTC)]
    for this, following in itertools.pairwise(opens):
        assert tf.next_open_ms(ms(this)) == ms(following)
    grid = tf.grid(ms(datetime(2024, 1, 15, tzinfo=UTC)), ms(datetime(2024, 6, 1, tzinfo=UTC)))
    assert grid.tolist() == [ms(datetime(2024, m, 1, tzinfo=UTC)) for m in (2, 3, 4, 5)]


def test_every_hyperliquid_interval_is_known() -> None:
    assert set(TIMEFRAMES) == {
        "1m",
        "3m",
        "5m",
        "15m",
        "30m",
        "1h",
        "2h",
        "4h",
        "8h",
        "12h",
        "1d",
        "3d",
        "1w",
        "1M",
    }
    with pytest.raises(ConfigError, match="timeframe: unknown '2m'"):
        parse_timeframe("2m")


def test_gaps_are_found_with_their_size() -> None:
    tf = parse_timeframe("1h")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    hours = [0, 1, 2, 6, 7, 20]
    ts = np.array([ms(start + timedelta(hours=h)) for h in hours], dtype=np.int64)
    gaps = find_gaps(ts, tf)
    assert [(g.start_ms, g.end_ms, g.missing_bars) for g in gaps] == [
        (ms(start + timedelta(hours=3)), ms(start + timedelta(hours=6)), 3),
        (ms(start + timedelta(hours=8)), ms(start + timedelta(hours=20)), 12),
    ]
    assert find_gaps(ts[:3], tf) == []
