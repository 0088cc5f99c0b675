"""The order-book recorder: L2 snapshots of one symbol at a fixed interval, buffered and merged into the store.

Two feeds. **Polling** asks the venue's REST endpoint once per interval (Hyperliquid's ``l2Book``, ccxt's
``fetch_order_book``); ticks fall on ``start + k * interval`` and a tick missed while an answer was slow or retried
is skipped, not caught up. **Websocket** (Hyperliquid, where the venue pushes its book) keeps the first pushed
snapshot and then the first one at least one interval (by the venue's time) after the last kept. ``auto`` uses the
websocket where the venue has one and polls when it cannot be opened, or once it is lost and cannot be reopened.

Durability: snapshots are buffered and flushed into their UTC day files every ``flush_every`` snapshots or
``flush_interval_s`` seconds, whichever comes first, and once more when the recording ends (its duration, Ctrl+C,
an error). A flush is an atomic merge (``OrderBookStore.write_snapshots``), so ``kill -9`` loses at most the
snapshots not flushed yet and a rerun never duplicates a snapshot.

Errors: a request failing in a way worth retrying is retried (``http_retry``). A snapshot that still fails is
counted and the recording goes on; it stops with the error when nothing has been recorded yet (a wrong symbol or
URL shows at once) or after ``max_consecutive_errors`` failures in a row.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from stratlab.data.dates import format_ms_seconds
from stratlab.data.orderbook.schema import BookSnapshot
from stratlab.data.orderbook.store import OrderBookStore
from stratlab.data.sources.http_retry import RetryEvent, RetryPolicy, TransientError, with_retries
from stratlab.data.store import check_name
from stratlab.errors import ConfigError, DownloadError

if TYPE_CHECKING:
    from stratlab.settings import Settings

log = logging.getLogger(__name__)

FEEDS = ("auto", "poll")
MAX_LEVELS = 100
MIN_INTERVAL_S = 0.01
_SPAN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)?\s*$")
_SPAN_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_span(text: str, field: str) -> float:
    """Seconds in a span such as ``5s``, ``0.05s``, ``250ms``, ``1m``, ``1h``, ``2d`` (a bare number is seconds)."""
    match = _SPAN.match(text)
    seconds = float(match.group(1)) * _SPAN_SECONDS[match.group(2) or "s"] if match else 0.0
    if match is None or seconds <= 0:
        raise ConfigError(f"{field}: expected a positive span such as 5s, 250ms, 1m, 1h or 1d, got {text!r}")
    return seconds


class BookSource(Protocol):
    """A venue's REST order book, as the recorder sees it."""

    @property
    def name(self) -> str: ...

    def store_symbol(self, symbol: str) -> str: ...

    def prepare_order_book(self, symbol: str, levels: int) -> None:
        """Check the symbol and the depth before any snapshot (``ConfigError`` / ``DownloadError``)."""
        ...

    def fetch_order_book(self, symbol: str, levels: int) -> BookSnapshot:
        """One snapshot now; ``TransientError`` when trying again may help."""
        ...

    def close(self) -> None: ...


class BookStream(Protocol):
    """A venue's pushed order book (websocket)."""

    def open(self) -> None:
        """Connect and subscribe; ``TransientError`` when that failed but may work later."""
        ...

    def next_snapshot(self, timeout_s: float) -> BookSnapshot | None:
        """The next pushed snapshot, or None when none came within ``timeout_s``."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class RecordPlan:
    """What to record and how often to flush."""

    levels: int
    interval_s: float
    duration_s: float | None = None
    flush_every: int = 60
    flush_interval_s: float = 60.0
    max_consecutive_errors: int = 30

    def __post_init__(self) -> None:
        if not 1 <= self.levels <= MAX_LEVELS:
            raise ConfigError(f"--levels: expected 1 to {MAX_LEVELS} levels a side, got {self.levels}")
        if not math.isfinite(self.interval_s) or self.interval_s < MIN_INTERVAL_S:
            raise ConfigError(f"--interval: expected at least {MIN_INTERVAL_S:g}s, got {self.interval_s:g}s")
        if self.duration_s is not None and (not math.isfinite(self.duration_s) or self.duration_s <= 0):
            raise ConfigError(f"--duration: expected a positive span, got {self.duration_s:g}s")
        if self.flush_every < 1:
            raise ConfigError(f"--flush-every: expected at least 1 snapshot, got {self.flush_every}")
        if not math.isfinite(self.flush_interval_s) or self.flush_interval_s <= 0:
            raise ConfigError(f"--flush-seconds: expected a positive number, got {self.flush_interval_s:g}")


@dataclass
class RecordSummary:
    """What one recording did."""

    source: str
    symbol: str
    feed: str
    received: int = 0
    snapshots_new: int = 0
    flushes: int = 0
    errors: int = 0
    retries: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    elapsed_s: float = 0.0
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)
    files: set[str] = field(default_factory=set)

    def lines(self) -> list[str]:
        """A short human summary, one fact per line."""
        key = f"{self.source}/{self.symbol}"
        out = [
            f"{key}: {self.received:,} snapshot(s) recorded ({self.snapshots_new:,} new) in {self.elapsed_s:.1f}s "
            f"by {self.feed}; {self.flushes} flush(es), {self.errors} error(s), {self.retries} retry(ies)"
        ]
        if self.first_ms is not None and self.last_ms is not None:
            out.append(f"snapshots from {format_ms_seconds(self.first_ms)} to {format_ms_seconds(self.last_ms)}")
        out += self.notes
        return out


class _Recording:
    """The buffer, the counters and the flush rule of one recording, and what its feeds run by: the deadline (None:
    until stopped), the retry policy, the clock and the sleep."""

    def __init__(
        self,
        store: OrderBookStore,
        summary: RecordSummary,
        plan: RecordPlan,
        on_change: Callable[[RecordSummary], None],
        *,
        deadline: float | None,
        retry: RetryPolicy,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.store = store
        self.summary = summary
        self.plan = plan
        self.on_change = on_change
        self.deadline = deadline
        self.retry = retry
        self.clock = clock
        self.sleep = sleep
        self.buffer: list[BookSnapshot] = []
        self.last_flush = clock()
        self.consecutive_errors = 0

    def add(self, snapshot: BookSnapshot) -> None:
        self.buffer.append(snapshot)
        self.summary.received += 1
        stamp = snapshot.timestamp_ms
        self.summary.first_ms = stamp if self.summary.first_ms is None else min(self.summary.first_ms, stamp)
        self.summary.last_ms = stamp if self.summary.last_ms is None else max(self.summary.last_ms, stamp)
        self.consecutive_errors = 0
        self.flush_if_due()

    def retried(self, event: RetryEvent) -> None:
        self.summary.retries += 1
        self.on_change(self.summary)

    def failed(self, exc: DownloadError) -> None:
        """Count a snapshot that could not be had; raise when recording cannot usefully go on."""
        self.summary.errors += 1
        self.consecutive_errors += 1
        log.warning("%s", exc)
        self.on_change(self.summary)
        if self.summary.received == 0:
            raise exc  # nothing ever worked: a wrong symbol or URL, not an outage
        if self.consecutive_errors >= self.plan.max_consecutive_errors:
            raise DownloadError(f"{exc} ({self.consecutive_errors} snapshots in a row failed; stopped)") from None

    def flush_if_due(self) -> None:
        full = len(self.buffer) >= self.plan.flush_every
        if full or (self.buffer and self.clock() - self.last_flush >= self.plan.flush_interval_s):
            self.flush()
        else:
            self.on_change(self.summary)

    def flush(self) -> None:
        """Merge the buffered snapshots into their day files (atomic); the buffer is emptied once they are in."""
        self.last_flush = self.clock()
        if not self.buffer:
            return
        origin = f"{self.summary.source} {self.summary.symbol} snapshots"
        written = self.store.write_snapshots(self.summary.source, self.summary.symbol, self.buffer, origin=origin)
        self.buffer = []
        self.summary.flushes += 1
        self.summary.snapshots_new += written.snapshots_new
        self.summary.files.update(str(path) for path in written.files)
        log.debug("flushed %d snapshot(s), %d new", written.snapshots_written, written.snapshots_new)
        self.on_change(self.summary)


class _ProgressView:
    """Snapshots recorded, flushes and errors on a rich progress line (a bar over the duration when there is one)."""

    def __init__(self, enabled: bool, console: Console | None, label: str, duration_s: float | None) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[received]:,} snapshots"),
            TextColumn("{task.fields[flushed]:,} flushed"),
            TextColumn("{task.fields[errors]:,} errors"),
            TextColumn("{task.fields[feed]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            disable=not enabled,
        )
        self.task = self.progress.add_task(label, total=duration_s, received=0, flushed=0, errors=0, feed="")
        self.started = time.monotonic()

    def __enter__(self) -> _ProgressView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, summary: RecordSummary) -> None:
        flushed = summary.snapshots_new
        self.progress.update(
            self.task, completed=time.monotonic() - self.started, received=summary.received, flushed=flushed,
            errors=summary.errors, feed=summary.feed,
        )  # fmt: skip


def _poll(source: BookSource, symbol: str, recording: _Recording) -> None:
    """One snapshot per tick until the deadline (or for ever)."""
    plan, deadline, clock, sleep = recording.plan, recording.deadline, recording.clock, recording.sleep
    next_tick = clock()
    while deadline is None or next_tick < deadline:
        wait = next_tick - clock()
        if wait > 0:
            sleep(wait)
        try:
            snapshot = with_retries(
                lambda: source.fetch_order_book(symbol, plan.levels),
                recording.retry,
                sleep=sleep,
                on_retry=recording.retried,
            )
        except DownloadError as exc:
            recording.failed(exc)
        else:
            recording.add(snapshot)
        next_tick += plan.interval_s
        behind = clock() - next_tick
        if behind > 0:  # slow answers or retries: skip the ticks already missed
            next_tick += math.ceil(behind / plan.interval_s) * plan.interval_s


def _stream(stream: BookStream, recording: _Recording) -> bool:
    """Pushed snapshots, one per interval of the venue's time, until the deadline; False once the stream is lost
    for good (it could not be reopened, or the venue refused it) so that the caller polls instead."""
    deadline, clock = recording.deadline, recording.clock
    interval_ms = recording.plan.interval_s * 1000.0
    last_kept: int | None = None
    while deadline is None or clock() < deadline:
        timeout = 1.0 if deadline is None else max(min(1.0, deadline - clock()), 0.0)
        try:
            snapshot = stream.next_snapshot(timeout)
        except TransientError as exc:
            recording.summary.errors += 1
            log.warning("%s; reconnecting", exc.message)
            try:
                with_retries(stream.open, recording.retry, sleep=recording.sleep, on_retry=recording.retried)
            except DownloadError as lost:
                log.warning("%s", lost)
                return False
            continue
        except DownloadError as exc:
            recording.summary.errors += 1
            log.warning("%s", exc)
            return False
        if snapshot is not None and (last_kept is None or snapshot.timestamp_ms >= last_kept + interval_ms):
            last_kept = snapshot.timestamp_ms
            recording.add(snapshot)
        else:
            recording.flush_if_due()
    return True


def record_order_book(
    source: BookSource,
    store: OrderBookStore,
    symbol: str,
    plan: RecordPlan,
    *,
    stream: BookStream | None = None,
    store_symbol: str | None = None,
    retry: RetryPolicy | None = None,
    show_progress: bool = False,
    console: Console | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RecordSummary:
    """Record ``symbol``'s book into ``store`` as ``plan`` says, from ``stream`` when given (polling ``source``
    when it cannot be opened or is lost), else by polling. Ctrl+C ends the recording after a last flush
    (``summary.interrupted``); any other error after a last flush too, and is raised."""
    policy = retry or RetryPolicy()
    stored_as = check_name(store_symbol or source.store_symbol(symbol), "store symbol")
    store.series_dir(source.name, stored_as)  # a bad name is refused before any request
    with_retries(lambda: source.prepare_order_book(symbol, plan.levels), policy, sleep=sleep)
    summary = RecordSummary(source=source.name, symbol=stored_as, feed="websocket" if stream else "polling")
    started = clock()
    deadline = None if plan.duration_s is None else started + plan.duration_s
    label = f"{source.name} {symbol} book"
    with _ProgressView(show_progress, console, label, plan.duration_s) as view:
        recording = _Recording(
            store, summary, plan, view.update, deadline=deadline, retry=policy, clock=clock, sleep=sleep
        )
        try:
            if stream is None or not _streamed(stream, recording):
                _poll(source, symbol, recording)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            if stream is not None:
                stream.close()
            summary.elapsed_s = clock() - started
            recording.flush()
    if summary.interrupted:
        summary.notes.append("stopped by Ctrl+C after a last flush; a rerun appends without duplicates")
    return summary


def _streamed(stream: BookStream, recording: _Recording) -> bool:
    """True when the stream served the whole recording; False when it never opened or was lost for good, the feed
    then named for the polling that follows."""
    summary = recording.summary
    # One quick retry only: a venue without a websocket should not delay the polling fallback by a minute.
    opening = RetryPolicy(max_retries=1, base_delay_s=min(recording.retry.base_delay_s, 1.0), jitter=0.0)
    try:
        with_retries(stream.open, opening, sleep=recording.sleep, on_retry=recording.retried)
    except DownloadError as exc:
        summary.errors += 1
        summary.notes.append(f"note: websocket unavailable, polled instead: {exc}")
    else:
        if _stream(stream, recording):
            return True
        summary.notes.append("note: the websocket was lost and could not be reopened; polled the rest")
    summary.feed = "polling" if summary.received == 0 else "websocket, then polling"
    return False


def open_book_source(name: str, *, settings: Settings, base_url: str | None = None) -> BookSource:
    """The REST source called ``name`` (``hyperliquid_perps`` or ``ccxt_<exchange>``); ``base_url`` replaces the
    API root. The downloader's sources: the same venues, URLs and limits."""
    from stratlab.data.download import open_source

    return open_source(name, settings=settings, base_url=base_url)


def open_book_stream(
    name: str,
    symbol: str,
    levels: int,
    *,
    settings: Settings,
    base_url: str | None = None,
    ws_url: str | None = None,
) -> BookStream | None:
    """The websocket feed of ``name`` where the venue has one (Hyperliquid), else None. Its URL: ``ws_url``, else
    ``STRATLAB_HYPERLIQUID_WS_URL``, else the ``/ws`` endpoint beside the REST root in use."""
    from stratlab.data.sources.hyperliquid import SOURCE_NAME, HyperliquidBookStream, websocket_url

    if name != SOURCE_NAME:
        return None
    url = ws_url or settings.hyperliquid_ws_url or websocket_url(base_url or settings.hyperliquid_base_url)
    if not url.startswith(("ws://", "wss://")):
        raise ConfigError(f"--ws-url: not a ws(s) URL: {url!r}")
    return HyperliquidBookStream(url, symbol, levels, timeout_s=settings.download_timeout_s)


__all__ = [
    "FEEDS",
    "BookSource",
    "BookStream",
    "RecordPlan",
    "RecordSummary",
    "open_book_source",
    "open_book_stream",
    "parse_span",
    "record_order_book",
]
