"""UTC day strings (``YYYY-MM-DD``) to epoch milliseconds and back."""

from __future__ import annotations

from datetime import UTC, datetime

from stratlab.data.timeframes import DAY_MS
from stratlab.errors import ConfigError


def day_start_ms(day: str, field: str = "date") -> int:
    """Epoch ms of 00:00 UTC on ``day``; a ``ConfigError`` naming ``field`` if it is not ``YYYY-MM-DD``."""
    try:
        parsed = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise ConfigError(f"{field}: expected YYYY-MM-DD, got {day!r}") from None
    return int(parsed.timestamp() * 1000)


def day_end_exclusive_ms(day: str, field: str = "date") -> int:
    """Epoch ms of the midnight that ends ``day``: an inclusive end day as an exclusive bound."""
    return day_start_ms(day, field) + DAY_MS


def format_ms(ts_ms: int) -> str:
    """``2025-07-01 00:05 UTC`` style, for messages and tables."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_ms_seconds(ts_ms: int) -> str:
    """``2025-07-01 00:05:07 UTC``: for events seconds apart, such as order-book snapshots."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_day(ts_ms: int) -> str:
    """The UTC day of ``ts_ms`` as ``2025-07-01``."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def now_ms() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1000)


__all__ = ["day_end_exclusive_ms", "day_start_ms", "format_ms", "format_ms_seconds", "now_ms"]
