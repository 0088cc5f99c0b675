"""The runner: closed bars from the feeds, through the risk manager, into the books, mirrored to a venue, committed.

One loop (``Runner.run``):

1. poll every feed (one per store series) for closed bars; merge them in time order (close time, then series);
2. a bar before the runner's first traded bar warms its books up (appended, not traded; stored in bulk);
3. a traded bar: the risk manager opens the UTC day (``start_bar``); each book of the series trades it
   (``Book.advance``: the entry check asks the risk manager; a killed runner flattens); the risk manager judges
   the close (``end_bar``: daily limits, drawdown kill, kill-switch file); the live broker brings the venue to
   the books' positions; **everything of the bar is committed in one transaction**; alerts go out;
4. nothing new: wait until the next bar is due (a replay as fast as possible jumps its clock instead), checking
   for a stop request (``paper stop`` writes ``STOP`` in the state directory) at least once a second.

A restart (``paper start`` on the same state directory) rebuilds every book from the database (its bars, kernel
state and pending order) and opens each feed after the last committed bar of its series: no bar is traded twice
and none is skipped.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from rich.console import Console

from stratlab.data.candles import Candles
from stratlab.data.dates import format_ms
from stratlab.data.timeframes import parse_timeframe
from stratlab.engine import EXIT_REASONS
from stratlab.errors import DataError, StratlabError
from stratlab.live.alerts import (
    Notifier,
    daily_summary_text,
    error_text,
    fill_text,
    halt_text,
    make_notifier,
    start_text,
    stop_text,
)
from stratlab.live.book import Book, BookBar
from stratlab.live.feeds import ClosedBar, Feed, ReplayClock, WallClock, open_feed
from stratlab.live.risk import OpenPosition, RiskDecision, RiskManager
from stratlab.live.spec import REPLAY_FEED, BookSpec, RunnerSpec
from stratlab.live.start import warmup_start_ms
from stratlab.live.state import KILL_SWITCH_FILE, STOP_FILE, BookUpdate, Event, StateStore, hold_runner_lock, wall_ms
from stratlab.settings import Settings

log = logging.getLogger(__name__)

# A replay as fast as possible moves its clock this far at a time: one poll then brings a day of 5m bars.
REPLAY_STEP_MS = 86_400_000
# The longest a wait lasts before the runner looks for a stop request again.
WAIT_SLICE_S = 1.0


class Mirror(Protocol):
    """What brings a venue to the books' positions (the live broker); the paper broker has none."""

    failure: str | None  # set when an order failed: the runner stops after the bar

    def reconcile(self, books: Sequence[tuple[str, str, float]], capital: float = 0.0) -> None: ...
    def sync(self, book_id: str, symbol: str, target: float, reference_price: float, bar_ms: int) -> list[Event]: ...
    def close(self) -> None: ...


@dataclass
class _Series:
    """One store series: its feed and the books trading it."""

    key: str
    spec: BookSpec
    feed: Feed
    books: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunEnd:
    """Why the loop ended, for the CLI's last line and exit code."""

    status: str  # finished | stopped | killed
    reason: str
    bars: int


class Runner:
    """A runner over one state directory (see the module)."""

    def __init__(
        self,
        state_dir: Path,
        spec: RunnerSpec,
        store: StateStore,
        *,
        settings: Settings,
        data_root: Path,
        console: Console | None = None,
        notifier: Notifier | None = None,
        mirror: Mirror | None = None,
        clock: WallClock | ReplayClock | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.spec = spec
        self.store = store
        self.settings = settings
        self.data_root = data_root
        self.console = console or Console(stderr=True)
        self.notifier = notifier or make_notifier(spec.notify, settings)
        self.mirror = mirror
        self.book_specs = {book.book_id: book for book in spec.books}
        self.books: dict[str, Book] = {}
        self.risk = RiskManager(spec.risk, store.risk_state())
        # The wall clock for a venue feed, a replay clock for a replay; another clock lets a test drive a venue
        # feed through a day of the replay server's bars in seconds.
        self.given_clock = clock
        self.clock: WallClock | ReplayClock
        self.series: dict[str, _Series] = {}
        self.bars_traded = 0
        self.day_trades = 0
        self.lock: TextIO | None = None  # the state's runner lock, held while this runner lives

    # building -----------------------------------------------------------------------------------------------------

    def _first_traded_ms(self) -> int:
        assert self.spec.from_ms is not None
        return self.spec.from_ms

    def _restore_books(self) -> None:
        for row in self.store.books():
            book_spec = self.book_specs[row.book_id]
            history = self.store.series_bars(
                row.series, book_spec.timeframe, book_spec.source, book_spec.symbol, row.first_bar_ms
            )
            manifest = book_spec.manifest
            self.books[row.book_id] = Book(
                manifest.strategy, manifest.params, book_spec.config, history, source=manifest.strategy_source,
                state=row.kernel_state, pending=row.pending, traded_bars=row.traded_bars,
            )  # fmt: skip

    def _open_feeds(self) -> None:
        last_by_series: dict[str, int] = {}
        for book_spec in self.spec.books:
            key = book_spec.series
            if key not in self.series:
                stored_last = self.store.last_bar_ms(key)
                first = min(warmup_start_ms(b, self.spec) for b in self.spec.books if b.series == key)
                after = stored_last if stored_last is not None else first - 1
                last_by_series[key] = after
                feed = open_feed(
                    self.spec.feed,
                    source=book_spec.source,
                    symbol=book_spec.symbol,
                    timeframe=book_spec.timeframe,
                    after_ms=after,
                    until_ms=self.spec.to_ms,
                    clock=self.clock,
                    settings=self.settings,
                    data_root=self.data_root,
                    base_url=self.spec.base_url,
                )
                self.series[key] = _Series(key, book_spec, feed)
            self.series[key].books.append(book_spec.book_id)

    def _make_clock(self) -> None:
        if self.given_clock is not None:
            self.clock = self.given_clock
            return
        if self.spec.feed != REPLAY_FEED:
            self.clock = WallClock()
            return
        # A replay resumes its clock at the last committed bar, or starts where warm-up ends.
        lasts = [self.store.last_bar_ms(b.series) for b in self.spec.books]
        known = [ms for ms in lasts if ms is not None]
        start = max(known) if known else self._first_traded_ms()
        self.clock = ReplayClock(max(start, self._first_traded_ms()), self.spec.speed)

    def prepare(self) -> None:
        """Books from the database, a clock, the feeds; the venue reconciled before anything trades."""
        self._restore_books()
        self._make_clock()
        self._open_feeds()
        if self.mirror is not None:
            held = {row.book_id: row.venue_position for row in self.store.books()}
            self.mirror.reconcile(
                [(b.book_id, b.symbol, held.get(b.book_id, 0.0)) for b in self.spec.books],
                capital=sum(b.capital for b in self.spec.books),
            )

    # the loop -----------------------------------------------------------------------------------------------------

    def _stop_requested(self) -> bool:
        return (self.state_dir / STOP_FILE).exists()

    def _kill_switch(self) -> bool:
        return (self.state_dir / KILL_SWITCH_FILE).exists()

    def _poll(self) -> list[tuple[int, str, ClosedBar]]:
        now = self.clock.now_ms()
        batch = []
        for key, series in self.series.items():
            tf = parse_timeframe(series.spec.timeframe)
            for bar in series.feed.poll(now):
                batch.append((tf.next_open_ms(bar.time_ms), key, bar))
        batch.sort(key=lambda item: (item[0], item[1]))
        return batch

    def _next_due(self) -> int | None:
        dues = [due for s in self.series.values() if (due := s.feed.next_due_ms()) is not None]
        return min(dues) if dues else None

    def _wait(self, due: int) -> None:
        if isinstance(self.clock, ReplayClock) and self.clock.speed is None:
            self.clock.jump_to(max(due, self.clock.now_ms() + REPLAY_STEP_MS))
            return
        seconds = self.clock.sleep_s(due)
        time.sleep(min(max(seconds, 0.01), WAIT_SLICE_S))
        self.store.heartbeat()

    def run(self, on_bar: Callable[[int], None] | None = None) -> RunEnd:
        """Trade until the feeds end (replay), a stop is requested, or a kill closes everything."""
        self.store.set_status("running", pid=os.getpid(), started=True)
        names = [f"{b.book_id}: {b.manifest.strategy} on {b.series}" for b in self.spec.books]
        mode = f"{self.spec.broker.value}{' dry-run' if self.spec.dry_run else ''}, feed {self.spec.feed}"
        started = start_text(self.state_dir.name, mode=mode, books=names, time_ms=wall_ms())
        self.store.log([Event("start", started)])
        self.notifier.send(started)
        end = None
        try:
            end = self._loop(on_bar)
        except StratlabError as exc:
            self.store.log([Event("error", str(exc), level="error")])
            self.notifier.send(error_text("trading", exc))
            self.store.set_status("failed", str(exc))
            raise
        finally:
            for series in self.series.values():
                series.feed.close()
            if self.mirror is not None:
                self.mirror.close()
            if end is not None:
                equity = self.total_equity()
                stopped = stop_text(self.state_dir.name, reason=end.reason, time_ms=wall_ms(), equity=equity)
                self.store.log([Event("stop", stopped)])
                self.store.set_status(end.status, end.reason)
                self.notifier.send(stopped)
            self.notifier.close()
            self.store.close()
            if self.lock is not None:
                self.lock.close()
        return end

    def _loop(self, on_bar: Callable[[int], None] | None) -> RunEnd:
        while True:
            if self._stop_requested():
                (self.state_dir / STOP_FILE).unlink(missing_ok=True)
                return RunEnd("stopped", "stop requested", self.bars_traded)
            batch = self._poll()
            if batch:
                warmups: dict[str, list[ClosedBar]] = {}
                for _, key, bar in batch:
                    if self._is_warmup(key, bar):
                        warmups.setdefault(key, []).append(bar)
                        continue
                    self._flush_warmup(warmups)
                    self._trade(key, bar)
                    if on_bar is not None:
                        on_bar(self.bars_traded)
                    if self.risk.killed and all(book.stepper.position == 0 for book in self.books.values()):
                        return RunEnd("killed", f"killed: {self.risk.state.killed_reason}", self.bars_traded)
                    if self._stop_requested():
                        break
                self._flush_warmup(warmups)
                continue
            due = self._next_due()
            if due is None:
                return RunEnd("finished", "the feed has no more bars", self.bars_traded)
            self._wait(due)

    # warm-up ------------------------------------------------------------------------------------------------------

    def _is_warmup(self, key: str, bar: ClosedBar) -> bool:
        return bar.time_ms < self._first_traded_ms() and all(
            self.books.get(book_id) is None or self.books[book_id].traded_bars == 0
            for book_id in self.series[key].books
        )

    def _flush_warmup(self, warmups: dict[str, list[ClosedBar]]) -> None:
        """Warm-up bars become the books' first history; the bars and the books they start are stored in one
        transaction per series."""
        for key, bars in warmups.items():
            series = self.series[key]
            candles = _candles(series.spec, bars)
            new_books = []
            for book_id in series.books:
                book_spec = self.book_specs[book_id]
                start = warmup_start_ms(book_spec, self.spec)
                if book_id in self.books:
                    for bar in bars:
                        if bar.time_ms >= start:
                            self.books[book_id].warm(bar)
                    continue
                manifest = book_spec.manifest
                own = candles.slice(int((candles.timestamp_ms < start).sum()), len(candles))
                self.books[book_id] = Book(
                    manifest.strategy, manifest.params, book_spec.config, own, source=manifest.strategy_source
                )
                new_books.append((book_id, start, book_spec.capital))
            self.store.add_warmup_bars(key, candles, new_books)
        warmups.clear()

    def _ensure_books(self, key: str, bar: ClosedBar) -> None:
        """Books with no warm-up at all (the feed's first bar is already a traded one)."""
        series = self.series[key]
        for book_id in series.books:
            if book_id not in self.books:
                book_spec = self.book_specs[book_id]
                manifest = book_spec.manifest
                self.books[book_id] = Book(
                    manifest.strategy,
                    manifest.params,
                    book_spec.config,
                    _candles(book_spec, []),
                    source=manifest.strategy_source,
                )
                self.store.add_book(book_id, key, bar.time_ms, book_spec.capital)

    # one traded bar -----------------------------------------------------------------------------------------------

    def total_equity(self) -> float:
        return sum(
            self.books[b.book_id].stepper.equity if b.book_id in self.books else b.capital for b in self.spec.books
        )

    def _open_positions(self) -> list[OpenPosition]:
        return [
            OpenPosition(book_id, abs(book.stepper.position) * book.last_close)
            for book_id, book in self.books.items()
            if book.stepper.position != 0
        ]

    def _trade(self, key: str, bar: ClosedBar) -> None:
        self._ensure_books(key, bar)
        series = self.series[key]
        decisions: list[RiskDecision] = []
        events: list[Event] = []
        day_before = self.risk.state.day_ms
        opened_at = self.risk.state.day_open_equity
        equity_before = self.total_equity()
        decisions += self.risk.start_bar(bar.time_ms, equity_before)
        if day_before is not None and self.risk.state.day_ms != day_before:
            self._daily_summary(day_before, opened_at or equity_before, equity_before, events)
        updates = []
        for book_id in series.books:
            book = self.books[book_id]
            trades_before = book.stepper.n_trades
            flatten = f"kill: {self.risk.state.killed_reason}" if self.risk.killed else None

            def check(preview: object, book_id: str = book_id) -> str | None:
                refusal = self.risk.refuse_entry(book_id, preview, self.total_equity(), self._open_positions())  # type: ignore[arg-type]
                if refusal is None:
                    return None
                rule, reason = refusal
                decisions.append(RiskDecision(bar.time_ms, book_id, rule, "entry refused", reason))
                return reason

            done = book.advance(bar, entry_check=check, flatten=flatten)
            events += self._fill_events(book_id, done)
            updates.append(
                BookUpdate(
                    book_id=book_id, bar_index=done.index, kernel_state=book.stepper.state_bytes(),
                    pending=book.pending, traded_bars=book.traded_bars, position=done.step.position_after,
                    equity=done.step.equity, close=bar.close, trades=done.step.trades, first_trade_n=trades_before,
                )
            )  # fmt: skip
        decisions += self.risk.end_bar(bar.time_ms, self.total_equity(), self._kill_switch())
        if self.mirror is not None:
            self._mirror(series, bar, events)
        self.store.commit_bar(key, bar, updates, self.risk.state, decisions, events)
        self.bars_traded += 1
        self._announce(decisions, events, bar)
        if self.mirror is not None and self.mirror.failure is not None:
            raise DataError(f"{self.mirror.failure}; stopped after the bar of {format_ms(bar.time_ms)}")

    def _fill_events(self, book_id: str, done: BookBar) -> list[Event]:
        events = []
        step = done.step
        bar = done.bar
        for trade in step.trades:
            side = "sell" if int(trade["side"]) > 0 else "buy"
            reason = EXIT_REASONS[int(trade["exit_reason"])].replace("_", " ")
            text = fill_text(
                book_id, side=side, amount=float(trade["size"]), price=float(trade["exit_price"]),
                time_ms=int(trade["exit_time_ms"]), position_after=step.position_after, reason=reason,
                pnl=float(trade["pnl"]),
            )  # fmt: skip
            events.append(Event("fill", text, bar_ms=bar.time_ms))
            self.day_trades += 1
        if step.opened and step.position_after not in (0.0, step.position_before):
            side = "buy" if step.position_after > 0 else "sell"
            amount = abs(step.position_after)
            price = self.books[book_id].stepper.average_entry
            text = fill_text(
                book_id, side=side, amount=amount, price=price, time_ms=bar.time_ms,
                position_after=step.position_after, reason="entry",
            )  # fmt: skip
            events.append(Event("fill", text, bar_ms=bar.time_ms))
        if done.flattened:
            events.append(Event("kill", f"{book_id}: closed by the runner ({done.flattened})", "warning", bar.time_ms))
        return events

    def _daily_summary(self, day_ms: int, opening: float, equity: float, events: list[Event]) -> None:
        """The UTC day that just ended: its PnL from the day's opening equity, its trades, the positions held."""
        text = daily_summary_text(
            day_ms, equity=equity, pnl=equity - opening, return_pct=(equity / opening - 1.0) * 100.0,
            trades=self.day_trades,
            positions={book_id: book.stepper.position for book_id, book in self.books.items()},
        )  # fmt: skip
        events.append(Event("daily", text, bar_ms=day_ms))
        self.day_trades = 0

    def _mirror(self, series: _Series, bar: ClosedBar, events: list[Event]) -> None:
        """The venue follows the books (the mirror records every order and position as it goes)."""
        assert self.mirror is not None
        for book_id in series.books:
            book = self.books[book_id]
            # At a kill nothing stays open; at the end of the data the book is flat (the last bar closed it).
            target = 0.0 if self.risk.killed or bar.last else book.target_position()
            events += self.mirror.sync(book_id, self.book_specs[book_id].symbol, target, bar.close, bar.time_ms)

    def _announce(self, decisions: Sequence[RiskDecision], events: Sequence[Event], bar: ClosedBar) -> None:
        for decision in decisions:
            line = f"{format_ms(bar.time_ms)} risk {decision.rule}: {decision.action} ({decision.reason})"
            self.console.print(line, markup=False, highlight=False)
            if decision.action != "entry refused":
                self.notifier.send(
                    halt_text(decision.book_id or "all books", reason=f"{decision.action}: {decision.reason}",
                              time_ms=bar.time_ms, equity=self.total_equity())
                )  # fmt: skip
        for event in events:
            self.console.print(event.text, markup=False, highlight=False)
            if event.kind in ("fill", "daily", "kill", "order"):
                self.notifier.send(event.text)


def _candles(spec: BookSpec, bars: Sequence[ClosedBar]) -> Candles:
    import numpy as np

    return Candles(
        source=spec.source,
        symbol=spec.symbol,
        timeframe=parse_timeframe(spec.timeframe),
        timestamp_ms=np.array([b.time_ms for b in bars], dtype=np.int64),
        open=np.array([b.open for b in bars], dtype=np.float64),
        high=np.array([b.high for b in bars], dtype=np.float64),
        low=np.array([b.low for b in bars], dtype=np.float64),
        close=np.array([b.close for b in bars], dtype=np.float64),
        volume=np.array([b.volume for b in bars], dtype=np.float64),
    )


def open_runner(
    state_dir: Path,
    spec: RunnerSpec | None,
    *,
    settings: Settings,
    data_root: Path,
    console: Console | None = None,
    clear_kill: bool = False,
    mirror_factory: Callable[[RunnerSpec, StateStore], Mirror | None] | None = None,
    clock: WallClock | ReplayClock | None = None,
) -> Runner:
    """A runner on ``state_dir``: a new one for ``spec``, or the one already there (``spec`` None or equal)."""
    lock = hold_runner_lock(state_dir)
    try:
        runner = _open(state_dir, spec, settings, data_root, console, clear_kill, mirror_factory, clock)
    except BaseException:
        lock.close()
        raise
    runner.lock = lock
    return runner


def _open(
    state_dir: Path,
    spec: RunnerSpec | None,
    settings: Settings,
    data_root: Path,
    console: Console | None,
    clear_kill: bool,
    mirror_factory: Callable[[RunnerSpec, StateStore], Mirror | None] | None,
    clock: WallClock | ReplayClock | None,
) -> Runner:
    path = StateStore.path_in(state_dir)
    if path.exists():
        store = StateStore.open(state_dir)
        stored = store.spec()
        if spec is not None and spec.model_dump(exclude={"from_ms"}) != stored.model_dump(exclude={"from_ms"}):
            raise DataError(
                f"{state_dir}: holds a runner started with other manifests or options; resume it with "
                f"stratlab paper start --state-dir {state_dir} (no other options), or choose a new --state-dir"
            )
        spec = stored
        row = store.runner()
        if row["status"] == "finished":
            raise DataError(
                f"{state_dir}: this runner already traded its whole replay ({row['status_reason']}); see stratlab "
                f"paper report --state-dir {state_dir}, or start a new --state-dir"
            )
    else:
        if spec is None:
            raise DataError(f"{state_dir}: no runner state here; give --manifest or --portfolio to start one")
        store = StateStore.create(state_dir, spec)
    risk_state = store.risk_state()
    if risk_state.killed_reason is not None:
        if not clear_kill:
            raise DataError(
                f"{state_dir}: the runner was killed ({risk_state.killed_reason}); remove the reason "
                f"(the {KILL_SWITCH_FILE} file) and pass --clear-kill to trade again"
            )
        risk_state.killed_reason = None
        store.save_risk_state(risk_state)
    mirror = mirror_factory(spec, store) if mirror_factory is not None else None
    runner = Runner(
        state_dir, spec, store, settings=settings, data_root=data_root, console=console, mirror=mirror, clock=clock
    )
    runner.prepare()
    return runner


__all__ = ["Mirror", "RunEnd", "Runner", "open_runner"]
