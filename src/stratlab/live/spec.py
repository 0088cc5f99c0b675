"""What a runner trades and how: the one definition, stored in its state database when it first starts.

A restart reads the spec back from the database, so a runner resumes exactly what it started (the same manifests,
capital, feed, broker and limits) whatever the command line says; ``paper start`` refuses options that contradict it.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from stratlab.data.download import CCXT_PREFIX, HYPERLIQUID_SOURCE
from stratlab.engine import BacktestConfig
from stratlab.errors import ConfigError
from stratlab.live.alerts import NotifyMode
from stratlab.live.risk import RiskLimits
from stratlab.report.manifest import Manifest

REPLAY_FEED = "replay"


class BrokerKind(enum.StrEnum):
    PAPER = "paper"  # fills by the engine's taker model only
    LIVE = "live"  # the same, mirrored to a venue through ccxt


class BookSpec(BaseModel):
    """One book: a manifest, the capital it trades with, and the store series its bars come from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    book_id: str
    manifest: Manifest
    capital: float = Field(gt=0, allow_inf_nan=False)
    source: str
    symbol: str
    timeframe: str

    @property
    def config(self) -> BacktestConfig:
        """The manifest's backtest config with the book's capital as its initial equity."""
        return self.manifest.backtest.replace(initial_equity=self.capital)

    @property
    def series(self) -> str:
        return f"{self.source}/{self.symbol}/{self.timeframe}"


class RunnerSpec(BaseModel):
    """A runner: its books, where bars come from, what fills them, the risk limits and the alerts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    books: tuple[BookSpec, ...] = Field(min_length=1)
    feed: str
    from_ms: int | None = None  # first traded bar's open at or after this (replay); None: the next closed bar
    to_ms: int | None = None  # replay: bars before this
    speed: float | None = None  # replay pace (× real time); None: as fast as possible
    warmup_bars: int = Field(default=5_000, ge=0)
    broker: BrokerKind = BrokerKind.PAPER
    dry_run: bool = False
    venue: str | None = None  # the live broker's venue (hyperliquid_perps or ccxt_<exchange>)
    risk: RiskLimits = RiskLimits()
    notify: NotifyMode = NotifyMode.LOG
    base_url: str | None = None

    @property
    def series(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(book.series for book in self.books))


def check_feed(feed: str) -> str:
    """``replay``, ``hyperliquid_perps`` or ``ccxt_<exchange>``; anything else is a one-line error."""
    if feed in (REPLAY_FEED, HYPERLIQUID_SOURCE) or (feed.startswith(CCXT_PREFIX) and len(feed) > len(CCXT_PREFIX)):
        return feed
    raise ConfigError(f"--feed: unknown {feed!r} (known: {REPLAY_FEED}, {HYPERLIQUID_SOURCE}, {CCXT_PREFIX}<exchange>)")


def book_id_for(manifest: Manifest, taken: set[str]) -> str:
    """A readable, unique id: strategy, symbol and timeframe (``ma_cross-BTC-5m``), numbered when repeated."""
    stem = re.sub(
        r"[^A-Za-z0-9_.-]+", "-", f"{manifest.strategy}-{manifest.dataset.symbol}-{manifest.dataset.timeframe}"
    )
    book_id, n = stem, 2
    while book_id in taken:
        book_id, n = f"{stem}-{n}", n + 1
    taken.add(book_id)
    return book_id


def default_state_dir(paper_root: Path, spec: RunnerSpec) -> Path:
    """``<paper root>/<first book id>[+N]``: one directory per runner."""
    first = spec.books[0].book_id
    more = len(spec.books) - 1
    return paper_root / (f"{first}+{more}" if more else first)


__all__ = [
    "REPLAY_FEED",
    "BookSpec",
    "BrokerKind",
    "RunnerSpec",
    "book_id_for",
    "check_feed",
    "default_state_dir",
]
