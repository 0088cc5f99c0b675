"""Feeds: closed bars, one at a time and each exactly once, for the runner to trade.

- ``replay``: the bars of a stored series, delivered when a ``Clock`` passes each bar's close: paced
  (``ReplayClock(start_ms, speed=60)`` runs 60 times faster than the wall clock) or as fast as possible
  (``ReplayClock(start_ms, None)``: the runner moves it with ``jump_to(next_due_ms())``).
- ``hyperliquid_perps`` and ``ccxt_<exchange>``: the venue's candles, fetched by the downloader of
  ``stratlab.data.download`` and written to the Parquet store before they are delivered, so the store holds exactly
  the bars a backtest of the same series would read. The first poll back-fills every closed bar after ``after_ms``
  (a runner started late catches up in order); later polls come a few seconds after each bar's close.

A live feed polls the venue's REST candles rather than subscribing to a websocket: one request per bar is far below
any rate limit, it reuses the downloader's retries, pacing and store writes unchanged, and a poll after a restart
or an outage back-fills by the same code path as a normal one.

Rules of a live feed:

- A bar is closed once the clock has passed its close (the downloader's rule: the bar in progress at ``now`` and
  anything after it are never stored nor delivered). Polls come ``delay_s`` after a close, for the venue to publish
  the bar; the clock must be right to within that delay (a clock running ahead of the venue by more would take a
  bar still in progress for a closed one).
- A hole (a bar missing while a later one arrived) is asked for again explicitly (the downloader resumes after the
  newest stored bar and would never look back). Bars after a hole wait for it; after ``hole_polls`` polls without
  it the feed logs a warning naming the missing span and delivers on. A hole wider than one request is given up at
  once: that is history the venue does not keep (a runner restarted long after), not a dropped candle.
- A missing newest bar (the venue is late) and a failed request (server down, 5xx, timeout, retries spent) are
  polled again after a growing pause (1, 2, 4, ... s, capped); ``next_due_ms`` says when. Neither raises from
  ``poll``. What does raise: the venue refusing the series (unknown coin or symbol, a timeframe it does not serve:
  ``DownloadError``/``ConfigError``, one line) and a ``DataError`` (a store file that breaks the data contract, or a
  venue bar that would).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from stratlab.data.candles import OHLCV_COLUMNS
from stratlab.data.dates import format_ms
from stratlab.data.download import (
    CCXT_PREFIX,
    HYPERLIQUID_SOURCE,
    CandleSource,
    advance_bars,
    bars_between,
    download_candles,
    open_source,
)
from stratlab.data.sources.http_retry import RetryPolicy, TransientError
from stratlab.data.store import MarketStore, check_name
from stratlab.data.timeframes import Timeframe, parse_timeframe
from stratlab.errors import ConfigError, DataError, DownloadError

if TYPE_CHECKING:
    from stratlab.settings import Settings

log = logging.getLogger(__name__)

REPLAY = "replay"
# Seconds after a bar's close before it is asked for: the venue needs a moment to publish it.
POLL_DELAY_S = 2.0
# Pause before polling again after a failure or a late bar: BACKOFF_BASE_S, doubled each time, at most BACKOFF_MAX_S.
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0
# Polls that ask again for a bar missing between two others before the feed delivers on without it.
HOLE_POLLS = 3
# Retries inside one poll: short, so that a poll does not block for minutes; the feed's backoff covers long outages.
POLL_RETRY = RetryPolicy(max_retries=2, base_delay_s=0.5, max_delay_s=4.0)

Int64Array = npt.NDArray[np.int64]


# ---------------------------------------------------------------------------------------------------------------
# bars and clocks


@dataclass(frozen=True)
class ClosedBar:
    """One closed bar. ``time_ms`` is its OPEN time (UTC epoch ms), as the store's ``timestamp_ms``."""

    time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    last: bool = False  # True only on the final bar a finite feed (replay) will ever deliver


class Clock(Protocol):
    def now_ms(self) -> int: ...


class WallClock:
    """The computer's clock (UTC epoch ms)."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def sleep_s(self, until_ms: int) -> float:
        """Wall seconds until ``until_ms`` (0 when it has passed)."""
        return max(0.0, (until_ms - self.now_ms()) / 1000)


class ReplayClock:
    """A clock that starts at ``start_ms`` and runs ``speed`` times faster than the wall clock.

    ``speed=None`` is as fast as possible: the clock stands still until ``jump_to`` moves it (the runner jumps to
    the next bar's close). ``jump_to`` also works on a paced clock, which then runs on from there. A clock never
    runs backwards: jumping to an earlier time is ignored.
    """

    def __init__(self, start_ms: int, speed: float | None = None) -> None:
        if speed is not None and not speed > 0:
            raise ConfigError(f"replay speed: must be > 0 (or none for as fast as possible), got {speed}")
        self.speed = speed
        self._origin_ms = int(start_ms)
        self._origin_wall = time.monotonic()

    def now_ms(self) -> int:
        if self.speed is None:
            return self._origin_ms
        return self._origin_ms + int((time.monotonic() - self._origin_wall) * 1000 * self.speed)

    def jump_to(self, ms: int) -> None:
        if ms > self.now_ms():
            self._origin_ms = int(ms)
            self._origin_wall = time.monotonic()

    def sleep_s(self, until_ms: int) -> float:
        """Wall seconds until the clock reaches ``until_ms`` (0 when as fast as possible or already there)."""
        if self.speed is None:
            return 0.0
        return max(0.0, (until_ms - self.now_ms()) / 1000 / self.speed)


# ---------------------------------------------------------------------------------------------------------------
# feeds


class Feed(Protocol):
    source: str  # the store series it delivers (store names)
    symbol: str
    timeframe: str

    def poll(self, now_ms: int) -> list[ClosedBar]:
        """Every CLOSED bar after the last one delivered, in order, each exactly once."""
        ...

    def next_due_ms(self) -> int | None:
        """When polling next is worth it (a bar's close + delay, or a backoff time); None: nothing more will come."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class PollingPolicy:
    """How a live feed paces its polls (the module's constants by default; tests shorten them)."""

    delay_s: float = POLL_DELAY_S
    backoff_base_s: float = BACKOFF_BASE_S
    backoff_max_s: float = BACKOFF_MAX_S
    hole_polls: int = HOLE_POLLS
    retry: RetryPolicy = POLL_RETRY

    def backoff_s(self, failures: int) -> float:
        """Pause after ``failures`` failed or fruitless polls in a row (1 for the first)."""
        return float(min(self.backoff_max_s, self.backoff_base_s * 2.0 ** max(failures - 1, 0)))


def bars_from_frame(frame: pd.DataFrame) -> list[ClosedBar]:
    """Store rows (``timestamp_ms, open, high, low, close, volume``) as ``ClosedBar``s, in the frame's order."""
    columns = [frame[name].to_numpy() for name in OHLCV_COLUMNS]
    return [
        ClosedBar(int(t), float(o), float(h), float(lo), float(c), float(v))
        for t, o, h, lo, c, v in zip(*columns, strict=True)
    ]


def stored_bars(
    store: MarketStore, source: str, symbol: str, timeframe: Timeframe, first_ms: int, end_ms: int | None
) -> pd.DataFrame:
    """The stored bars of a series with open time in ``[first_ms, end_ms)`` (``end_ms`` None: to the end), sorted.

    Only the month files that overlap the window are read.
    """
    files = [
        f
        for f in store.month_files(source, symbol, timeframe)
        if f.window_ms[1] > first_ms and (end_ms is None or f.window_ms[0] < end_ms)
    ]
    if not files:
        return pd.DataFrame(
            {name: pd.Series(dtype="int64" if name == "timestamp_ms" else "float64") for name in OHLCV_COLUMNS}
        )
    frame = pd.concat([store.read_month(f, timeframe) for f in files], ignore_index=True)
    ts = frame["timestamp_ms"].to_numpy(dtype=np.int64)
    keep = ts >= first_ms
    if end_ms is not None:
        keep &= ts < end_ms
    return frame.loc[keep].reset_index(drop=True)


def first_open_after(timeframe: Timeframe, after_ms: int) -> int:
    """Open time of the first bar that opens strictly after ``after_ms``."""
    floor = timeframe.floor_ms(after_ms)
    return timeframe.next_open_ms(floor) if floor <= after_ms else floor


class ReplayFeed:
    """The bars of a stored series, each delivered once the clock has passed its close."""

    def __init__(self, *, source: str, symbol: str, timeframe: Timeframe, bars: list[ClosedBar]) -> None:
        self.source = source
        self.symbol = symbol
        self.timeframe = timeframe.name
        self._bars = [*bars[:-1], dataclasses.replace(bars[-1], last=True)] if bars else []
        opens = np.array([bar.time_ms for bar in self._bars], dtype=np.int64)
        self._closes = timeframe.next_open(opens).tolist()
        self._next = 0

    def poll(self, now_ms: int) -> list[ClosedBar]:
        start = self._next
        while self._next < len(self._bars) and self._closes[self._next] <= now_ms:
            self._next += 1
        return self._bars[start : self._next]

    def next_due_ms(self) -> int | None:
        return int(self._closes[self._next]) if self._next < len(self._bars) else None

    def close(self) -> None:
        pass


def open_replay(
    store: MarketStore, source: str, symbol: str, timeframe: Timeframe, after_ms: int, until_ms: int | None
) -> ReplayFeed:
    """A replay of the stored bars with open time > ``after_ms`` and < ``until_ms``; a ``DataError`` if none."""
    files = store.require_month_files(source, symbol, timeframe)  # names what exists when the series does not
    frame = stored_bars(store, source, symbol, timeframe, after_ms + 1, until_ms)
    if len(frame) == 0:
        first = stored_bars(store, source, symbol, timeframe, files[0].window_ms[0], files[0].window_ms[1])
        last = stored_bars(store, source, symbol, timeframe, files[-1].window_ms[0], files[-1].window_ms[1])
        stored = (
            f"{format_ms(int(first['timestamp_ms'].iloc[0]))} .. {format_ms(int(last['timestamp_ms'].iloc[-1]))}"
            if len(first) and len(last)
            else "no bars"
        )
        until = format_ms(until_ms) if until_ms is not None else "the end"
        raise DataError(
            f"replay {source}/{symbol}/{timeframe.name}: no bars after {format_ms(after_ms)} and before {until} "
            f"(stored: {stored})"
        )
    return ReplayFeed(source=source, symbol=symbol, timeframe=timeframe, bars=bars_from_frame(frame))


class VenueFeed:
    """Closed candles of one venue series, polled through the downloader and stored before delivery."""

    def __init__(
        self,
        candle_source: CandleSource,
        store: MarketStore,
        *,
        venue_symbol: str,
        timeframe: Timeframe,
        after_ms: int,
        until_ms: int | None,
        now_ms: int,
        polling: PollingPolicy,
    ) -> None:
        self._source = candle_source
        self._store = store
        self._venue_symbol = venue_symbol
        self._tf = timeframe
        self._until_ms = until_ms
        self._polling = polling
        self.source = candle_source.name
        self.symbol = check_name(candle_source.store_symbol(venue_symbol), "store symbol")
        self.timeframe = timeframe.name
        self._label = f"{self.source}/{self.symbol}/{self.timeframe}"
        self._next_open = first_open_after(timeframe, after_ms)  # the next bar to deliver
        self._due: int | None = now_ms  # the first poll back-fills at once
        self._prepared = False
        self._failures = 0
        self._hole_tries: dict[int, int] = {}
        self._given_up: set[int] = set()

    # the venue ---------------------------------------------------------------------------------------------

    def prepare(self) -> bool:
        """Let the venue check the symbol and timeframe: False when it could not be reached (try again later).

        A refusal (unknown symbol, timeframe not served) raises: no later poll can change it.
        """
        try:
            self._source.prepare(self._venue_symbol, self._tf)
        except TransientError as exc:
            log.warning("%s: venue not reachable yet: %s", self._label, exc.message)
            return False
        self._prepared = True
        return True

    def _fetch_window(self, start_ms: int, end_ms: int) -> None:
        """Ask the venue again for every bar of ``[start_ms, end_ms)`` and store what it has (a hole's window)."""
        cursor = start_ms
        while cursor < end_ms:
            window_end = min(end_ms, advance_bars(self._tf, cursor, self._source.max_bars_per_request(self._tf)))
            page = self._source.fetch_page(
                self._venue_symbol, self._tf, cursor, window_end, bars_between(self._tf, cursor, window_end)
            )
            ts = page["timestamp_ms"].to_numpy(dtype=np.int64)
            inside = page.loc[(ts >= cursor) & (ts < window_end), list(OHLCV_COLUMNS)]
            if len(inside):
                origin = f"{self._label} hole {format_ms(cursor)}"
                self._store.write_candles(self.source, self.symbol, self._tf, inside, origin=origin)
            cursor = window_end

    # polling ------------------------------------------------------------------------------------------------

    def poll(self, now_ms: int) -> list[ClosedBar]:
        if self._due is None:
            return []
        # Bars opening before `stop` have closed (and, with an end, belong to the feed).
        stop = self._tf.floor_ms(now_ms)
        if self._until_ms is not None:
            stop = min(stop, self._until_ms)
        if self._next_open >= stop:
            self._due = self._regular_due()
            return []
        if not self._prepared and not self.prepare():
            return self._retry_later(now_ms)
        try:
            download_candles(
                self._source,
                self._store,
                self._venue_symbol,
                self._tf,
                self._next_open,
                self._until_ms,
                store_symbol=self.symbol,
                now_ms=now_ms,
                retry=self._polling.retry,
            )
            frame = self._refill_holes(stop, window_over=self._until_ms is not None and stop == self._until_ms)
        except (TransientError, DownloadError) as exc:
            log.warning("%s: poll failed: %s", self._label, exc)
            return self._retry_later(now_ms)
        return self._deliver(frame, stop, now_ms)

    def _stored(self, stop: int) -> pd.DataFrame:
        return stored_bars(self._store, self.source, self.symbol, self._tf, self._next_open, stop)

    def _missing(self, frame: pd.DataFrame, stop: int) -> Int64Array:
        """Open times of the bars that should have closed after the cursor and are not stored."""
        expected = self._tf.grid(self._next_open, stop)
        return expected[~np.isin(expected, frame["timestamp_ms"].to_numpy(dtype=np.int64))]

    def _holes(self, frame: pd.DataFrame, stop: int, window_over: bool) -> Int64Array:
        """Missing bars worth asking for again: before a stored bar (or any, once a finite window is over)."""
        missing = self._missing(frame, stop)
        if not window_over:
            newest = int(frame["timestamp_ms"].iloc[-1]) if len(frame) else self._next_open
            missing = missing[missing < newest]
        return missing[~np.isin(missing, np.fromiter(self._given_up, dtype=np.int64, count=len(self._given_up)))]

    def _refill_holes(self, stop: int, *, window_over: bool) -> pd.DataFrame:
        """Ask the venue once more for the holes' bars and store what it has now.

        A hole is given up after ``hole_polls`` polls without its bars, and at once when it is wider than one
        request: the downloader has just walked it, and no venue drops a page of candles by accident (that is
        history it does not keep, or an outage it will not fill).
        """
        frame = self._stored(stop)
        holes = self._holes(frame, stop, window_over)
        if holes.size == 0:
            return frame
        page_bars = self._source.max_bars_per_request(self._tf)
        spans = self._spans(holes)
        wide = [span for span in spans if bars_between(self._tf, *span) > page_bars]
        in_wide = np.zeros(holes.size, dtype=bool)
        for start, end in wide:
            in_wide |= (holes >= start) & (holes < end)
        self._give_up(holes[in_wide], "wider than one request")
        narrow = [span for span in spans if span not in wide]
        for start, end in self._one_page_windows(narrow, page_bars):
            self._fetch_window(start, end)
        if narrow:
            frame = self._stored(stop)
        abandoned = []
        for open_ms in self._holes(frame, stop, window_over).tolist():
            self._hole_tries[open_ms] = self._hole_tries.get(open_ms, 0) + 1
            if self._hole_tries[open_ms] >= self._polling.hole_polls:
                abandoned.append(open_ms)
        self._give_up(np.array(abandoned, dtype=np.int64), f"asked {self._polling.hole_polls} times")
        return frame

    def _give_up(self, opens: Int64Array, why: str) -> None:
        """Deliver on without these bars, saying which spans the series lacks (the store lacks them too)."""
        self._given_up.update(opens.tolist())
        for start, end in self._spans(opens):
            log.warning(
                "%s: the venue lacks %s bar(s) %s -> %s (%s); delivering on without them",
                self._label,
                f"{bars_between(self._tf, start, end):,}",
                format_ms(start),
                format_ms(end),
                why,
            )

    def _one_page_windows(self, spans: list[tuple[int, int]], page_bars: int) -> list[tuple[int, int]]:
        """Neighbouring hole spans joined while the window still fits one request: one request for many holes."""
        windows: list[tuple[int, int]] = []
        for start, end in spans:
            if windows and bars_between(self._tf, windows[-1][0], end) <= page_bars:
                windows[-1] = (windows[-1][0], end)
            else:
                windows.append((start, end))
        return windows

    def _spans(self, opens: Int64Array) -> list[tuple[int, int]]:
        """Runs of consecutive bar opens as ``[first open, close of the last)`` windows."""
        spans: list[tuple[int, int]] = []
        for open_ms in opens.tolist():
            if spans and spans[-1][1] == open_ms:
                spans[-1] = (spans[-1][0], self._tf.next_open_ms(open_ms))
            else:
                spans.append((open_ms, self._tf.next_open_ms(open_ms)))
        return spans

    def _deliver(self, frame: pd.DataFrame, stop: int, now_ms: int) -> list[ClosedBar]:
        """The stored bars up to the first missing bar not given up; the cursor moves past them."""
        missing = [m for m in self._missing(frame, stop).tolist() if m not in self._given_up]
        blocked_at = missing[0] if missing else None
        ts = frame["timestamp_ms"].to_numpy(dtype=np.int64)
        bars = bars_from_frame(frame.loc[ts < blocked_at] if blocked_at is not None else frame)
        self._next_open = blocked_at if blocked_at is not None else stop
        self._given_up = {m for m in self._given_up if m >= self._next_open}
        self._hole_tries = {m: n for m, n in self._hole_tries.items() if m >= self._next_open}
        finished = self._until_ms is not None and self._next_open >= self._until_ms
        if finished:
            if bars:
                bars[-1] = dataclasses.replace(bars[-1], last=True)
            self._due = None
            return bars
        if blocked_at is not None:
            log.info("%s: bar %s not served yet", self._label, format_ms(blocked_at))
            self._retry_later(now_ms)
            return bars
        self._failures = 0
        self._due = self._regular_due()
        return bars

    def _regular_due(self) -> int:
        """The close of the next bar to deliver, plus the venue's publishing delay."""
        return self._tf.next_open_ms(self._next_open) + round(self._polling.delay_s * 1000)

    def _retry_later(self, now_ms: int) -> list[ClosedBar]:
        self._failures += 1
        pause = self._polling.backoff_s(self._failures)
        self._due = now_ms + round(pause * 1000)
        log.info("%s: polling again in %.0f s", self._label, pause)
        return []

    def next_due_ms(self) -> int | None:
        return self._due

    def close(self) -> None:
        self._source.close()


# ---------------------------------------------------------------------------------------------------------------
# opening a feed


def venue_symbol_of(kind: str, symbol: str) -> str:
    """The venue's symbol for a store symbol: a ccxt store name ``BTC-USDT`` is ``BTC/USDT``, ``BTC-USDC-USDC`` is
    ``BTC/USDC:USDC`` (the inverse of ``store_symbol_for``); a ccxt symbol or a Hyperliquid coin is kept."""
    if not kind.startswith(CCXT_PREFIX) or "/" in symbol:
        return symbol
    parts = symbol.split("-")
    if len(parts) == 2:
        return f"{parts[0]}/{parts[1]}"
    if len(parts) >= 3:
        return f"{parts[0]}/{parts[1]}:" + "-".join(parts[2:])
    raise ConfigError(f"{kind}: symbol {symbol!r}: expected a ccxt symbol (BTC/USDT) or its store name (BTC-USDT)")


def open_feed(
    kind: str,
    *,
    source: str,
    symbol: str,
    timeframe: str,
    after_ms: int,
    until_ms: int | None,
    clock: Clock,
    settings: Settings,
    data_root: Path,
    base_url: str | None = None,
    polling: PollingPolicy | None = None,
) -> Feed:
    """A feed of ``kind``: ``replay`` (the store series ``source/symbol/timeframe``), ``hyperliquid_perps`` or
    ``ccxt_<exchange>`` (the venue's candles, stored under ``source=kind``; ``symbol`` the venue's symbol or its
    store name). Bars open after ``after_ms`` and before ``until_ms`` (None: no end).

    A live feed asks the venue once here to check the symbol and timeframe (a refusal is a one-line error); an
    unreachable venue is tried again by the first poll.
    """
    tf = parse_timeframe(timeframe)
    store = MarketStore(data_root)
    if until_ms is not None and until_ms <= after_ms:
        raise ConfigError(f"feed window: until {format_ms(until_ms)} is not after {format_ms(after_ms)}")
    if kind == REPLAY:
        return open_replay(store, source, symbol, tf, after_ms, until_ms)
    if kind != HYPERLIQUID_SOURCE and not kind.startswith(CCXT_PREFIX):
        raise ConfigError(
            f"feed: unknown kind {kind!r} (known: {REPLAY}, {HYPERLIQUID_SOURCE}, {CCXT_PREFIX}<exchange>)"
        )
    if source != kind:
        raise ConfigError(f"feed {kind}: stores its bars under source {kind!r}, not {source!r}")
    if until_ms is not None and first_open_after(tf, after_ms) >= until_ms:
        window = f"after {format_ms(after_ms)} and before {format_ms(until_ms)}"
        raise ConfigError(f"feed {kind} {symbol} {tf.name}: no bar opens {window}")
    candle_source = open_source(kind, settings=settings, base_url=base_url)
    try:
        feed = VenueFeed(
            candle_source,
            store,
            venue_symbol=venue_symbol_of(kind, symbol),
            timeframe=tf,
            after_ms=after_ms,
            until_ms=until_ms,
            now_ms=clock.now_ms(),
            polling=polling or PollingPolicy(),
        )
        feed.prepare()
    except BaseException:
        candle_source.close()
        raise
    return feed


__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_MAX_S",
    "HOLE_POLLS",
    "POLL_DELAY_S",
    "POLL_RETRY",
    "REPLAY",
    "Clock",
    "ClosedBar",
    "Feed",
    "PollingPolicy",
    "ReplayClock",
    "ReplayFeed",
    "VenueFeed",
    "WallClock",
    "bars_from_frame",
    "first_open_after",
    "open_feed",
    "stored_bars",
    "venue_symbol_of",
]
