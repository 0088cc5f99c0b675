"""Bar timeframes and the UTC grid their bars open on.

Fixed-length timeframes open on multiples of their length since the Unix epoch, except ``1w`` which opens on
Mondays 00:00 UTC (the epoch was a Thursday) as on the exchanges we read. ``1M`` opens on the first day of each
calendar month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stratlab.errors import ConfigError

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
# 1970-01-01 was a Thursday; Monday 1970-01-05 is 4 days later.
_MONDAY_OFFSET_MS = 4 * DAY_MS

Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Timeframe:
    """A bar length: ``fixed_ms`` for fixed-length bars, ``None`` for calendar months."""

    name: str
    fixed_ms: int | None
    origin_ms: int = 0

    @property
    def is_calendar_month(self) -> bool:
        return self.fixed_ms is None

    @property
    def approx_ms(self) -> int:
        """Bar length in ms (30 days for a month): for page sizing and rough arithmetic only."""
        return self.fixed_ms if self.fixed_ms is not None else 30 * DAY_MS

    def floor(self, ts_ms: Int64Array) -> Int64Array:
        """Open time of the bar that contains each timestamp."""
        ts = np.asarray(ts_ms, dtype=np.int64)
        if self.fixed_ms is None:
            months = ts.astype("datetime64[ms]").astype("datetime64[M]")
            return months.astype("datetime64[ms]").astype(np.int64)
        return ts - (ts - self.origin_ms) % self.fixed_ms

    def on_grid(self, ts_ms: Int64Array) -> npt.NDArray[np.bool_]:
        ts = np.asarray(ts_ms, dtype=np.int64)
        return np.asarray(self.floor(ts) == ts)

    def next_open(self, ts_ms: Int64Array) -> Int64Array:
        """Open time of the bar after the one that contains each timestamp (= that bar's close time)."""
        ts = np.asarray(ts_ms, dtype=np.int64)
        if self.fixed_ms is None:
            months = ts.astype("datetime64[ms]").astype("datetime64[M]") + np.timedelta64(1, "M")
            return months.astype("datetime64[ms]").astype(np.int64)
        return self.floor(ts) + self.fixed_ms

    def next_open_ms(self, ts_ms: int) -> int:
        return int(self.next_open(np.array([ts_ms], dtype=np.int64))[0])

    def floor_ms(self, ts_ms: int) -> int:
        return int(self.floor(np.array([ts_ms], dtype=np.int64))[0])

    def grid(self, start_ms: int, end_ms: int) -> Int64Array:
        """Every bar open time in ``[start_ms, end_ms)``, starting at the first grid point >= start_ms."""
        first = self.floor_ms(start_ms)
        if first < start_ms:
            first = self.next_open_ms(first)
        if self.fixed_ms is not None:
            return np.arange(first, end_ms, self.fixed_ms, dtype=np.int64)
        months_start = np.datetime64(first, "ms").astype("datetime64[M]")
        months_end = np.datetime64(end_ms, "ms").astype("datetime64[M]") + np.timedelta64(1, "M")
        months = np.arange(months_start, months_end).astype("datetime64[ms]").astype(np.int64)
        return months[(months >= first) & (months < end_ms)]

    def __str__(self) -> str:
        return self.name


def _fixed(name: str, ms: int, origin_ms: int = 0) -> Timeframe:
    return Timeframe(name=name, fixed_ms=ms, origin_ms=origin_ms)


TIMEFRAMES: dict[str, Timeframe] = {
    tf.name: tf
    for tf in (
        _fixed("1m", MINUTE_MS),
        _fixed("3m", 3 * MINUTE_MS),
        _fixed("5m", 5 * MINUTE_MS),
        _fixed("15m", 15 * MINUTE_MS),
        _fixed("30m", 30 * MINUTE_MS),
        _fixed("1h", HOUR_MS),
        _fixed("2h", 2 * HOUR_MS),
        _fixed("4h", 4 * HOUR_MS),
        _fixed("8h", 8 * HOUR_MS),
        _fixed("12h", 12 * HOUR_MS),
        _fixed("1d", DAY_MS),
        _fixed("3d", 3 * DAY_MS),
        _fixed("1w", 7 * DAY_MS, origin_ms=_MONDAY_OFFSET_MS),
        Timeframe(name="1M", fixed_ms=None),
    )
}


def parse_timeframe(name: str | Timeframe) -> Timeframe:
    """The ``Timeframe`` called ``name`` (e.g. ``"5m"``); a ``ConfigError`` listing the known ones otherwise."""
    if isinstance(name, Timeframe):
        return name
    try:
        return TIMEFRAMES[name]
    except KeyError:
        known = " ".join(TIMEFRAMES)
        raise ConfigError(f"timeframe: unknown {name!r} (known: {known})") from None


__all__ = ["DAY_MS", "HOUR_MS", "MINUTE_MS", "TIMEFRAMES", "Timeframe", "parse_timeframe"]
