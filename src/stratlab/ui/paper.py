"""What the Paper page shows of the runners under the paper root (``stratlab paper start``), read from their state
databases: which runners there are, and for one of them its status, risk state, books, orders, log, trades and the
parity picture (paper against the backtest of the same bars).

Everything here reads; the one write is the stop request (``STOP`` in the state directory, as ``paper stop`` does).
A damaged or foreign state directory is one ``DataError`` line naming it, never a traceback. No Streamlit here.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import sqlalchemy as sa

from stratlab.atomic_io import write_text_atomic
from stratlab.data.dates import format_ms
from stratlab.engine import EXIT_REASONS
from stratlab.errors import DataError
from stratlab.live.report import BookReport, build_report, parity_figure, read_status, runner_alive, runner_headline
from stratlab.live.spec import BrokerKind, RunnerSpec
from stratlab.live.state import STATE_FILE, STOP_FILE, StateStore, trades_as_records
from stratlab.settings import load_settings
from stratlab.ui.readable import trades_table, utc_times

# The log and the risk decisions a page shows: the newest ones (a runner of months logs thousands of lines).
EVENT_ROWS = 200
RISK_DECISION_ROWS = 20
# The exit reason the backtest gives a position still open at the end of its data.
END_OF_DATA = EXIT_REASONS.index("end")
START_HINT = "stratlab paper start --manifest runs/<run>/champion.json"
# A runner whose state says "running" but whose process is gone (killed, or the machine restarted).
NOT_RUNNING = "not running"
BOOK_COLUMNS = ["book", "position", "equity", "today", "last bar (UTC)", "trades"]


def paper_root() -> Path:
    """Where this server's runners keep their state (STRATLAB_PAPER_ROOT, default ``paper/`` in the working
    directory)."""
    return load_settings().paper_root.resolve()


@contextlib.contextmanager
def readable_state(state_dir: Path) -> Iterator[None]:
    """Anything a damaged or foreign state database throws while it is read, as one line naming the directory."""
    try:
        yield
    except (sa.exc.SQLAlchemyError, ValueError, KeyError, TypeError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{state_dir}: not a readable runner state ({first_line})") from None


@contextlib.contextmanager
def opened_store(state_dir: Path) -> Iterator[StateStore]:
    with readable_state(state_dir):
        store = StateStore.open(state_dir)
        try:
            yield store
        finally:
            store.close()


# the runners under the paper root ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunnerListing:
    """One state directory for the picker: its books and status, or why it cannot be read."""

    name: str
    created_ms: int
    books: tuple[str, ...] = ()
    status: str = ""  # running, not running (its process is gone), stopped, finished, killed, failed
    alive: bool = False
    problem: str | None = None

    @property
    def label(self) -> str:
        """Name, books and status; never the heartbeat's age: a label that changes on every rerun would make the
        picker a new widget each time."""
        if self.problem is not None:
            return f"{self.name} · unreadable"
        return f"{self.name} · {', '.join(self.books)} · {self.status}"


def state_dirs(root: Path) -> list[Path]:
    """The folders of ``root`` that hold a runner's state database."""
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if p.is_dir() and (p / STATE_FILE).is_file()]


def describe_runner(state_dir: Path) -> RunnerListing:
    try:
        with opened_store(state_dir) as store:
            row = store.runner()
            alive = runner_alive(store)
            return RunnerListing(
                name=state_dir.name,
                created_ms=int(row["created_ms"]),
                books=tuple(book.book_id for book in store.spec().books),
                status=NOT_RUNNING if row["status"] == "running" and not alive else str(row["status"]),
                alive=alive,
            )
    except DataError as exc:
        # Unreadable: sorted by when its file last changed, the nearest thing to its age.
        modified_ms = int((state_dir / STATE_FILE).stat().st_mtime * 1000)
        return RunnerListing(name=state_dir.name, created_ms=modified_ms, problem=str(exc))


def list_runners(root: Path) -> list[RunnerListing]:
    """Every runner under ``root``, newest first (by when its state was created)."""
    return sorted((describe_runner(d) for d in state_dirs(root)), key=lambda r: (r.created_ms, r.name), reverse=True)


def request_stop(state_dir: Path) -> None:
    """Ask the runner to stop after the bar in progress, as ``stratlab paper stop`` does (it removes the file)."""
    write_text_atomic(state_dir / STOP_FILE, "stop requested\n")


# one runner -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperView:
    """One runner as the page shows it (see the module)."""

    state_dir: Path
    spec: RunnerSpec
    headline: str
    alive: bool
    books: pd.DataFrame  # BOOK_COLUMNS, text for people
    risk_lines: list[str]
    risk_decisions: pd.DataFrame
    orders: pd.DataFrame
    events: pd.DataFrame
    reports: list[BookReport]
    notes: list[str]


def spec_line(spec: RunnerSpec) -> str:
    """What the runner trades and how: feed and pace, window, broker."""
    pace = "as fast as possible" if spec.speed is None else f"{spec.speed:,g}× real time"
    feed = f"{spec.feed} ({pace})" if spec.feed == "replay" else spec.feed
    window = ""
    if spec.from_ms is not None:
        window += f" from {format_ms(spec.from_ms)}"
    if spec.to_ms is not None:
        window += f" to {format_ms(spec.to_ms)}"
    broker = spec.broker.value + (" (dry run)" if spec.dry_run else "")
    venue = f" on {spec.venue}" if spec.venue else ""
    return f"feed {feed}{window}; broker {broker}{venue}; {len(spec.books):,} book(s)"


def risk_decisions_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The risk manager's decisions, newest first: the bar they were taken on (UTC), the book, rule, action, why."""
    return pd.DataFrame(
        {
            "bar (UTC)": utc_times(frame["bar_ms"]),
            "book": frame["book_id"].fillna("all books"),
            "rule": frame["rule"],
            "action": frame["action"],
            "reason": frame["reason"],
        }
    )


def orders_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The orders the live broker sent or would send, newest first."""
    newest = frame.iloc[::-1]
    return pd.DataFrame(
        {
            "bar (UTC)": utc_times(newest["bar_ms"]),
            "book": newest["book_id"],
            "client id": newest["client_id"],
            "symbol": newest["symbol"],
            "side": newest["side"],
            "amount": newest["amount"],
            "reduce only": newest["reduce_only"].astype(bool),
            "status": newest["status"],
            "price": newest["price"],
            "reason": newest["reason"],
        }
    )


def events_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The runner's log, newest first: when it was written (UTC), the bar it is about, what happened."""
    return pd.DataFrame(
        {
            "time (UTC)": utc_times(frame["wall_ms"]),
            # Start, stop and errors belong to no bar: an empty cell, not "None".
            "bar (UTC)": utc_times(pd.to_numeric(frame["bar_ms"], errors="coerce")),
            "level": frame["level"],
            "kind": frame["kind"],
            "text": frame["text"],
        }
    )


def no_orders_text(spec: RunnerSpec) -> str:
    if spec.broker == BrokerKind.PAPER:
        return "paper broker: no venue orders"
    return "no order sent yet" if not spec.dry_run else "no order logged yet (dry run)"


def load_paper_view(state_dir: Path) -> PaperView:
    """Everything the page shows of the runner in ``state_dir``; an unreadable one is one ``DataError`` line."""
    with opened_store(state_dir) as store:
        spec = store.spec()
        headline = runner_headline(store)
        alive = runner_alive(store)
        decisions = risk_decisions_table(store.risk_events_frame(RISK_DECISION_ROWS))
        orders = orders_table(store.orders_frame())
        events = events_table(store.events_frame(EVENT_ROWS))
    with readable_state(state_dir):
        status = read_status(state_dir)
        report = build_report(state_dir)
    return PaperView(
        state_dir=state_dir,
        spec=spec,
        headline=headline,
        alive=alive,
        books=pd.DataFrame(status.books, columns=BOOK_COLUMNS),
        risk_lines=status.risk_lines,
        risk_decisions=decisions,
        orders=orders,
        events=events,
        reports=report.books,
        notes=report.notes,
    )


# parity -----------------------------------------------------------------------------------------------------------


def compared_trade_counts(book: BookReport) -> tuple[int, int]:
    """(paper, backtest) trades the parity check compares: while the runner goes on, the ones closed on its last
    bar and the backtest's end-of-data close are left out (see ``stratlab.live.report``)."""
    paper, expected = book.trades, book.expected.trades
    if book.compared_bars == book.bars:
        return len(paper), len(expected)
    last = book.expected.end - 1
    kept = expected[(expected["exit_reason"] != EXIT_REASONS[END_OF_DATA]) & (expected["exit_bar"] < last)]
    return int((paper["exit_bar"] < last).sum()), len(kept)


def parity_identical(book: BookReport) -> bool:
    return book.same_trades and book.max_equity_gap == 0.0


def manifest_line(book: BookReport) -> str:
    """Where the book's manifest comes from, how it was chosen and whether it is likely luck: a paper run of a
    champion is never shown without them."""
    manifest = book.spec.manifest
    verdict = manifest.verdict
    luck = verdict.summary if verdict is not None else "not judged (a manifest written before runs were judged)"
    return (
        f"{manifest.strategy}, trial {manifest.trial} of run {manifest.run_id}; chosen: {manifest.selection.reason}; "
        f"is it luck? {luck}"
    )


def parity_line(book: BookReport) -> str:
    """Whether paper equals the backtest of the same bars, in one line: "same 20 trades, equity identical on 346
    bars", or the differences."""
    paper_trades, backtest_trades = compared_trade_counts(book)
    bars = f"{book.compared_bars:,} bars"
    if parity_identical(book):
        return f"Paper equals the backtest of the same bars: same {paper_trades:,} trades, equity identical on {bars}."
    trades = (
        f"the same {paper_trades:,} trades"
        if book.same_trades
        else f"different trades (paper {paper_trades:,}, backtest {backtest_trades:,})"
    )
    return (
        f"Paper differs from the backtest of the same bars: {trades}; equity differs by up to "
        f"{book.max_equity_gap:,.6f} on {bars}."
    )


def book_trades_table(book: BookReport) -> pd.DataFrame:
    """The book's own trades as people read them: the backtest's trade table (``readable.trades_table``) over the
    paper trades instead of the backtest's."""
    return trades_table(dataclasses.replace(book.expected, trade_rows=trades_as_records(book.trades)))


def live_parity_figure(book: BookReport) -> go.Figure:
    """The parity picture, keeping the reader's zoom while the page refreshes and the curve grows."""
    figure = parity_figure(book)
    figure.update_layout(uirevision=book.book_id)
    return figure


__all__ = [
    "BOOK_COLUMNS",
    "START_HINT",
    "PaperView",
    "RunnerListing",
    "book_trades_table",
    "compared_trade_counts",
    "describe_runner",
    "events_table",
    "list_runners",
    "live_parity_figure",
    "load_paper_view",
    "no_orders_text",
    "orders_table",
    "paper_root",
    "parity_identical",
    "parity_line",
    "request_stop",
    "risk_decisions_table",
    "spec_line",
    "state_dirs",
]
