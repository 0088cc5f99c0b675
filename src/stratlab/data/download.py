"""The resumable download loop, the same for every remote source.

``download_candles`` resumes after the newest stored bar, walks forward one page (one request) at a time and writes
each page to the store as soon as it arrives. A month-file write is atomic, so a run killed at any moment loses at
most the page in flight, and the next run carries on from what is on disk.

Pagination: each request asks for a window ``[cursor, cursor + max_bars_per_request bars)``, never past the stop.

- A non-empty page moves the cursor just after its last bar. That is the window's end when the answer was
  complete, and no bar is skipped when a source returned fewer bars than the window holds (a lower cap than
  announced, a page cut short).
- An empty page is a gap in the source's data (or a window before its history starts): the cursor moves to the
  window's end. A source whose pages are "the first bars at or after start" (``ends_on_short_page``) has no later
  data after an empty or short page, so the loop stops there instead of walking empty windows up to now.

Still-open bars are never stored: the run stops at the open time of the bar in progress at ``now`` (every bar
before it has closed: ``timeframe.next_open(t) <= now``), and bars from there on are dropped even if a source sends
them.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from stratlab.data.candles import OHLCV_COLUMNS
from stratlab.data.dates import format_ms
from stratlab.data.dates import now_ms as wall_clock_ms
from stratlab.data.sources.ccxt_exchange import SOURCE_PREFIX as CCXT_PREFIX
from stratlab.data.sources.ccxt_exchange import CcxtSource
from stratlab.data.sources.http_retry import RetryEvent, RetryPolicy, TokenBucket, with_retries
from stratlab.data.sources.hyperliquid import SOURCE_NAME as HYPERLIQUID_SOURCE
from stratlab.data.sources.hyperliquid import HyperliquidSource
from stratlab.data.store import MarketStore, check_name
from stratlab.data.timeframes import Timeframe, parse_timeframe
from stratlab.errors import ConfigError, DataError

if TYPE_CHECKING:
    from stratlab.settings import Settings

log = logging.getLogger(__name__)


class CandleSource(Protocol):
    """A remote source of candles, as the download loop sees it.

    Methods raise ``TransientError`` for a failure worth retrying (the loop retries) and ``DownloadError`` or
    ``ConfigError`` for one that is not.
    """

    @property
    def name(self) -> str:
        """The store's source name, e.g. ``hyperliquid_perps`` or ``ccxt_binance``."""
        ...

    @property
    def ends_on_short_page(self) -> bool:
        """True if a page holds the first bars at or after ``start_ms`` (ccxt's since/limit): an empty or short page
        then means there is nothing later. False if a page holds the bars of its window only (Hyperliquid)."""
        ...

    def max_bars_per_request(self, timeframe: Timeframe) -> int:
        """The largest window one request may ask for without the answer being cut short."""
        ...

    def store_symbol(self, symbol: str) -> str:
        """The path-safe name the symbol is stored under."""
        ...

    def prepare(self, symbol: str, timeframe: Timeframe) -> None:
        """Check that the source knows the symbol and the timeframe (load its metadata once)."""
        ...

    def fetch_page(self, symbol: str, timeframe: Timeframe, start_ms: int, end_ms: int, limit: int) -> pd.DataFrame:
        """Bars with open time in ``[start_ms, end_ms)``, at most ``limit`` of them, in the store's columns."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class DownloadSummary:
    """What one ``download_candles`` run did."""

    source: str
    symbol: str
    timeframe: str
    requested_start_ms: int
    requested_end_ms: int
    resumed_from_ms: int
    stop_ms: int
    pages: int
    retries: int
    bars_written: int
    bars_new: int
    first_bar_ms: int | None
    last_bar_ms: int | None
    stored_last_ms: int | None
    elapsed_s: float
    files: tuple[str, ...] = field(default=())
    conflicting_duplicates: int = 0

    @property
    def up_to_date(self) -> bool:
        """True when there was nothing left to fetch before this run."""
        return self.resumed_from_ms >= self.stop_ms

    def lines(self) -> list[str]:
        """A short human summary, one fact per line."""
        key = f"{self.source}/{self.symbol}/{self.timeframe}"
        if self.up_to_date:
            head = f"{key}: already up to date (stored up to {_when(self.stored_last_ms)}, stop {_when(self.stop_ms)})"
            return [head]
        out = [
            f"{key}: {self.pages} request(s), {self.retries} retry(ies), {self.elapsed_s:.1f}s",
            f"fetched {_when(self.resumed_from_ms)} -> {_when(self.stop_ms)}: "
            f"{self.bars_written:,} bars written, {self.bars_new:,} new",
        ]
        if self.first_bar_ms is not None:
            out.append(f"bars received: {_when(self.first_bar_ms)} -> {_when(self.last_bar_ms)}")
            if self.first_bar_ms > self.resumed_from_ms:
                out.append(f"note: {self.source} has no bars from {_when(self.resumed_from_ms)} to the first one")
                if self.source == HYPERLIQUID_SOURCE:
                    out.append("note: the Hyperliquid API serves only the most recent 5,000 candles of an interval")
        elif self.pages:
            span = f"{_when(self.resumed_from_ms)} -> {_when(self.stop_ms)}"
            out.append(f"note: {self.source} returned no bars for {span}")
        if self.conflicting_duplicates:
            out.append(
                f"warning: {self.conflicting_duplicates:,} bar(s) arrived twice with different OHLCV values; "
                "the last one sent was kept (details in the log)"
            )
        out.append(f"stored series now ends at {_when(self.stored_last_ms)}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _when(ts_ms: int | None) -> str:
    return format_ms(ts_ms) if ts_ms is not None else "-"


def advance_bars(timeframe: Timeframe, open_ms: int, bars: int) -> int:
    """Open time ``bars`` bars after the bar opening at ``open_ms`` (calendar months for ``1M``)."""
    if timeframe.fixed_ms is not None:
        return open_ms + bars * timeframe.fixed_ms
    month = np.datetime64(open_ms, "ms").astype("datetime64[M]") + np.timedelta64(bars, "M")
    return int(month.astype("datetime64[ms]").astype(np.int64))


def first_open_at_or_after(timeframe: Timeframe, ts_ms: int) -> int:
    first = timeframe.floor_ms(ts_ms)
    return first if first >= ts_ms else timeframe.next_open_ms(first)


def bars_between(timeframe: Timeframe, start_ms: int, end_ms: int) -> int:
    """Number of bar open times in ``[start_ms, end_ms)``."""
    if end_ms <= start_ms:
        return 0
    if timeframe.fixed_ms is not None:
        first = first_open_at_or_after(timeframe, start_ms)
        return max(0, -(-(end_ms - first) // timeframe.fixed_ms))
    return int(timeframe.grid(start_ms, end_ms).size)


def _after_page(
    timeframe: Timeframe, received: npt.NDArray[np.int64], window_end: int, limit: int, ends_on_short_page: bool
) -> int | None:
    """Where the next request starts after a page whose bars at or after the cursor are ``received``; None: stop.

    After the last bar received, so that a page cut short never leaves a hole; after the window when it was empty.
    """
    if received.size == 0:
        return None if ends_on_short_page else window_end
    if ends_on_short_page and received.size < limit:
        return None
    return timeframe.next_open_ms(int(received[-1]))


def _clean_page(page: pd.DataFrame, source: str) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """The page sorted, one bar per timestamp (the last sent wins), and the timestamps whose versions disagreed.

    A bar sent twice with the same values is harmless; sent twice with different values, the source contradicts
    itself and the caller must say so rather than keep one of them without a word.
    """
    missing = [c for c in OHLCV_COLUMNS if c not in page.columns]
    if missing:
        raise DataError(f"{source}: page without column(s) {', '.join(missing)}")
    page = page.loc[:, list(OHLCV_COLUMNS)]
    page = page.sort_values("timestamp_ms", kind="stable")
    return page.drop_duplicates("timestamp_ms", keep="last").reset_index(drop=True), _conflicting_timestamps(page)


def _conflicting_timestamps(page: pd.DataFrame) -> npt.NDArray[np.int64]:
    """Timestamps that appear in ``page`` with more than one distinct set of OHLCV values."""
    repeated = page.loc[page["timestamp_ms"].duplicated(keep=False)]
    versions = repeated.drop_duplicates()  # identical copies count as one version
    counts = versions["timestamp_ms"].value_counts()
    return np.sort(counts.index[counts > 1].to_numpy(dtype=np.int64))


class _ProgressView:
    """A rich progress bar over the time span to fetch, or nothing when disabled."""

    def __init__(self, enabled: bool, console: Console | None, label: str, start_ms: int, stop_ms: int) -> None:
        self.start_ms = start_ms
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[at]}"),
            TextColumn("{task.fields[bars]:,} bars"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            disable=not enabled,
            transient=False,
        )
        self.task = self.progress.add_task(
            label, total=max(stop_ms - start_ms, 1), at=_when(start_ms), bars=0, start=True
        )

    def __enter__(self) -> _ProgressView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, cursor_ms: int, bars: int) -> None:
        self.progress.update(self.task, completed=cursor_ms - self.start_ms, at=f"at {_when(cursor_ms)}", bars=bars)


def download_candles(
    source: CandleSource,
    store: MarketStore,
    symbol: str,
    timeframe: str | Timeframe,
    start_ms: int,
    end_ms: int | None = None,
    *,
    store_symbol: str | None = None,
    now_ms: int | None = None,
    retry: RetryPolicy | None = None,
    show_progress: bool = False,
    console: Console | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DownloadSummary:
    """Fetch ``symbol``'s bars of ``[start_ms, end_ms)`` (``end_ms`` None: up to now) that are not stored yet.

    The run starts after the newest stored bar when that is later than ``start_ms``: bars before the stored series
    are not backfilled. ``now_ms`` (default: the wall clock, read once) bounds the run and decides which bars are
    closed. ``store_symbol`` overrides ``source.store_symbol(symbol)``.
    """
    started = time.monotonic()
    tf = parse_timeframe(timeframe)
    policy = retry or RetryPolicy()
    now = wall_clock_ms() if now_ms is None else now_ms
    stored_as = check_name(store_symbol or source.store_symbol(symbol), "store symbol")
    series = (source.name, stored_as, tf)
    store.series_dir(*series)  # rejects a bad source name before any request

    end = now if end_ms is None else end_ms
    if end <= start_ms:
        what = "end" if end_ms is not None else "now"
        raise ConfigError(f"start {_when(start_ms)} is not before {what} {_when(end)}")
    # The bar in progress at `now` opens at floor(now): everything from there on is still open.
    stop = min(end, tf.floor_ms(now))
    cursor = first_open_at_or_after(tf, start_ms)
    last_stored = store.last_timestamp_ms(*series)
    if last_stored is not None and last_stored >= cursor:
        cursor = tf.next_open_ms(last_stored)
    resumed_from = cursor

    retries = 0

    def count_retry(event: RetryEvent) -> None:
        nonlocal retries
        retries += 1

    pages = bars_written = bars_new = conflicting = 0
    first_bar: int | None = None
    last_bar: int | None = None
    files: set[str] = set()
    if cursor < stop:
        with_retries(lambda: source.prepare(symbol, tf), policy, sleep=sleep, on_retry=count_retry)
        label = f"{source.name} {symbol} {tf.name}"
        log.info("%s: fetching %s -> %s", label, _when(cursor), _when(stop))
        with _ProgressView(show_progress, console, label, cursor, stop) as view:
            while cursor < stop:
                window_end = min(stop, advance_bars(tf, cursor, source.max_bars_per_request(tf)))
                limit = bars_between(tf, cursor, window_end)
                window_start = cursor
                raw = with_retries(
                    functools.partial(source.fetch_page, symbol, tf, window_start, window_end, limit),
                    policy,
                    sleep=sleep,
                    on_retry=count_retry,
                )
                pages += 1
                page, conflicts = _clean_page(raw, source.name)
                ts = page["timestamp_ms"].to_numpy(dtype=np.int64)
                # Bars before `stop` are closed; a source that ignores the window's end may send more.
                keep = (ts >= cursor) & (ts < stop)
                kept = page.loc[keep].reset_index(drop=True)
                conflicts = conflicts[(conflicts >= cursor) & (conflicts < stop)]
                if conflicts.size:
                    conflicting += int(conflicts.size)
                    log.warning(
                        "%s: page %s: %d bar(s) sent twice with different OHLCV values (first at %s); kept the last",
                        label,
                        _when(window_start),
                        conflicts.size,
                        _when(int(conflicts[0])),
                    )
                if len(kept):
                    origin = f"{source.name} {symbol} {tf.name} page {_when(window_start)}"
                    summary = store.write_candles(*series, kept, origin=origin)
                    bars_written += summary.rows_written
                    bars_new += summary.rows_new
                    files.update(str(p) for p in summary.files)
                    kept_ts = kept["timestamp_ms"].to_numpy(dtype=np.int64)
                    first_bar = int(kept_ts[0]) if first_bar is None else first_bar
                    last_bar = int(kept_ts[-1])
                log.debug(
                    "%s: page %s -> %s: %d bars, %d kept",
                    label,
                    _when(window_start),
                    _when(window_end),
                    len(page),
                    len(kept),
                )
                next_cursor = _after_page(tf, ts[ts >= cursor], window_end, limit, source.ends_on_short_page)
                if next_cursor is None:
                    break
                cursor = next_cursor
                view.update(min(cursor, stop), bars_written)
            view.update(stop, bars_written)

    return DownloadSummary(
        source=source.name,
        symbol=stored_as,
        timeframe=tf.name,
        requested_start_ms=start_ms,
        requested_end_ms=end,
        resumed_from_ms=resumed_from,
        stop_ms=stop,
        pages=pages,
        retries=retries,
        bars_written=bars_written,
        bars_new=bars_new,
        first_bar_ms=first_bar,
        last_bar_ms=last_bar,
        stored_last_ms=store.last_timestamp_ms(*series),
        elapsed_s=time.monotonic() - started,
        files=tuple(sorted(files)),
        conflicting_duplicates=conflicting,
    )


def open_source(name: str, *, settings: Settings, base_url: str | None = None) -> HyperliquidSource | CcxtSource:
    """The source called ``name``: ``hyperliquid_perps`` or ``ccxt_<exchange>``; ``base_url`` replaces the API root.
    Each serves candles (``CandleSource``) and order books (``BookSource``)."""
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"--base-url: not an http(s) URL: {base_url!r}")
    if name == HYPERLIQUID_SOURCE:
        return HyperliquidSource(
            base_url or settings.hyperliquid_base_url,
            timeout_s=settings.download_timeout_s,
            limiter=TokenBucket(settings.download_weight_per_minute),
        )
    if name.startswith(CCXT_PREFIX) and len(name) > len(CCXT_PREFIX):
        return CcxtSource(
            name.removeprefix(CCXT_PREFIX),
            base_url=base_url or settings.ccxt_base_url,
            timeout_s=settings.download_timeout_s,
        )
    raise ConfigError(f"source: unknown {name!r} (known: {HYPERLIQUID_SOURCE}, {CCXT_PREFIX}<exchange>)")


__all__ = [
    "CCXT_PREFIX",
    "HYPERLIQUID_SOURCE",
    "CandleSource",
    "DownloadSummary",
    "advance_bars",
    "bars_between",
    "download_candles",
    "open_source",
]
