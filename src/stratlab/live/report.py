"""What a runner did, read from its state database: status for people, and the parity report.

The **parity report** rebuilds, for each book, the backtest of the very bars the book traded: the bars stored in
the state database (warm-up and traded), the manifest's strategy, parameters and config, ``run_backtest`` from the
first traded bar. A book that traded every bar as it backtested shows the same trades and the same equity curve;
any difference is shown, never hidden. While a runner is still going, the backtest's last bar closes its position
(the end of the data) where the book's does not, so that bar and that trade are left out of the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stratlab.atomic_io import write_text_atomic
from stratlab.data.dates import format_ms
from stratlab.engine import BacktestResult, run_backtest
from stratlab.engine.schema import TRADE_COLUMNS
from stratlab.live.alerts import format_position
from stratlab.live.risk import RiskState, utc_day_ms
from stratlab.live.spec import BookSpec, RunnerSpec
from stratlab.live.state import StateStore, trades_as_records, wall_ms
from stratlab.processes import pid_alive
from stratlab.strategies import get_strategy

RECENT_EVENTS = 12


def runner_alive(store: StateStore) -> bool:
    row = store.runner()
    return row["status"] == "running" and row["pid"] is not None and pid_alive(int(row["pid"]))


def runner_headline(store: StateStore) -> str:
    """``running (pid 123, last bar committed 2 s ago)``, ``stopped: stop requested``, ``killed: ...``."""
    row = store.runner()
    status = row["status"]
    if status == "running":
        if not runner_alive(store):
            return "not running: the process ended without a clean stop (start it again to resume)"
        age = max(0.0, (wall_ms() - int(row["heartbeat_ms"] or 0)) / 1000)
        return f"running (pid {row['pid']}, heartbeat {age:,.0f} s ago)"
    reason = row["status_reason"]
    return f"{status}: {reason}" if reason else status


# status -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    headline: str
    books: list[tuple[str, str, str, str, str, str]]
    risk_lines: list[str]
    recent: list[str]


def _today_pct(equity: pd.DataFrame, current: float) -> float | None:
    """The book's return since the last close of the previous UTC day (its opening equity today)."""
    if equity.empty:
        return None
    last_ms = int(equity["time_ms"].iloc[-1])
    before = equity[equity["time_ms"] < utc_day_ms(last_ms)]
    opening = float(before["equity"].iloc[-1]) if len(before) else float(equity["equity"].iloc[0])
    return (current / opening - 1.0) * 100.0 if opening else None


def risk_lines(spec: RunnerSpec, risk: RiskState) -> list[str]:
    lines = []
    if risk.killed_reason:
        lines.append(f"KILLED: {risk.killed_reason}")
    elif risk.halted_day_ms is not None:
        lines.append(f"entries halted until the next UTC day: {risk.halt_reason}")
    else:
        lines.append("trading: no halt in force")
    if risk.peak_equity and risk.day_open_equity:
        lines.append(f"peak equity {risk.peak_equity:,.2f}; today's opening equity {risk.day_open_equity:,.2f}")
    lines += [f"limit {line}" for line in spec.risk.lines()] or ["no limits set"]
    return lines


def read_status(state_dir: Path) -> Status:
    store = StateStore.open(state_dir)
    try:
        spec = store.spec()
        trades = store.trades_frame()
        rows = []
        for book in store.books():
            equity = store.equity_frame(book.book_id)
            today = _today_pct(equity, book.equity)
            rows.append(
                (
                    book.book_id,
                    format_position(book.position),
                    f"{book.equity:,.2f}",
                    "-" if today is None else f"{today:+,.2f} %",
                    "-" if book.last_bar_ms is None else format_ms(book.last_bar_ms),
                    f"{int((trades['book_id'] == book.book_id).sum()):,}",
                )
            )
        decisions = store.risk_events_frame(5).iloc[::-1]
        recent = [
            f"{format_ms(int(d['bar_ms']))} risk {d['rule']}: {d['action']} ({d['reason']})"
            for d in decisions.to_dict("records")
        ]
        recent += [
            f"{format_ms(int(e['wall_ms']))} {e['kind']}: {e['text']}"
            for e in store.events_frame(RECENT_EVENTS).iloc[::-1].to_dict("records")
        ]
        return Status(runner_headline(store), rows, risk_lines(spec, store.risk_state()), recent)
    finally:
        store.close()


# parity -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookReport:
    """One book: its paper equity and trades next to the backtest of the same bars."""

    book_id: str
    spec: BookSpec
    equity: pd.DataFrame  # time_ms, equity, position, close (the book's, one row per traded bar)
    expected_equity: np.ndarray  # the backtest's equity on the same bars
    trades: pd.DataFrame
    expected: BacktestResult
    compared_bars: int
    same_trades: bool
    max_equity_gap: float

    @property
    def bars(self) -> int:
        return len(self.equity)

    @property
    def return_pct(self) -> float:
        return (float(self.equity["equity"].iloc[-1]) / self.spec.capital - 1.0) * 100.0 if self.bars else 0.0

    @property
    def expected_return_pct(self) -> float:
        return (float(self.expected_equity[-1]) / self.spec.capital - 1.0) * 100.0 if self.bars else 0.0

    @property
    def max_drawdown_pct(self) -> float:
        if not self.bars:
            return 0.0
        values = self.equity["equity"].to_numpy()
        return float(((1.0 - values / np.maximum.accumulate(values)) * 100.0).max())


@dataclass(frozen=True)
class PaperReport:
    state_dir: Path
    status: str
    books: list[BookReport]
    notes: list[str] = field(default_factory=list)


def _book_report(store: StateStore, spec: BookSpec, finished: bool) -> BookReport | None:
    row = next(b for b in store.books() if b.book_id == spec.book_id)
    equity = store.equity_frame(spec.book_id)
    if equity.empty:
        return None
    candles = store.series_bars(row.series, spec.timeframe, spec.source, spec.symbol, row.first_bar_ms)
    first = int(np.searchsorted(candles.timestamp_ms, int(equity["time_ms"].iloc[0])))
    end = first + len(equity)
    strategy = get_strategy(spec.manifest.strategy)
    signals = strategy.signals(candles, spec.manifest.params)
    stops = strategy.stops(candles, spec.manifest.params)
    expected = run_backtest(candles, signals, spec.config, stops=stops, start=first, end=end)
    trades = store.trades_frame(spec.book_id)
    paper = trades_as_records(trades)
    reference = expected.trade_rows
    compared = len(equity) if finished else len(equity) - 1
    if not finished:  # the backtest's last bar ended its data; the book's did not
        reference = reference[reference["exit_reason"] != 5] if len(reference) else reference
        paper = paper[paper["exit_bar"] < end - 1] if len(paper) else paper
        reference = reference[reference["exit_bar"] < end - 1] if len(reference) else reference
    same = paper.shape == reference.shape and all(
        np.array_equal(paper[name], reference[name]) for name in TRADE_COLUMNS
    )
    gap = np.abs(equity["equity"].to_numpy()[:compared] - expected.equity[:compared])
    return BookReport(
        book_id=spec.book_id,
        spec=spec,
        equity=equity,
        expected_equity=expected.equity,
        trades=trades,
        expected=expected,
        compared_bars=compared,
        same_trades=bool(same),
        max_equity_gap=float(gap.max()) if gap.size else 0.0,
    )


def build_report(state_dir: Path) -> PaperReport:
    """Every book's parity with its backtest (see the module), from the state database alone (it holds the bars)."""
    store = StateStore.open(state_dir)
    try:
        spec = store.spec()
        status = store.runner()["status"]
        finished = status == "finished"
        books = [r for b in spec.books if (r := _book_report(store, b, finished)) is not None]
        notes = [note for book in books if (note := manifest_part_note(book))]
        if not books:
            notes.append("no bar traded yet")
        if not finished:
            notes.append(
                "the runner has not reached the end of its data: the last bar and a position still open are left "
                "out of the comparison (the backtest closes them at its end)"
            )
        return PaperReport(state_dir, runner_headline(store), books, notes)
    finally:
        store.close()


def manifest_part_note(book: BookReport) -> str | None:
    """When a book traded exactly one part of its manifest's split, what the manifest recorded there (its figures
    came from the same rules on the same bars, so they must match) and what that part's figures are worth."""
    manifest = book.spec.manifest
    first, last = int(book.equity["time_ms"].iloc[0]), int(book.equity["time_ms"].iloc[-1])
    for part in manifest.dataset.parts:
        recorded = manifest.kpis.get(part.name)
        if (part.first_bar_ms, part.last_bar_ms) == (first, last) and recorded is not None:
            role = manifest.selection.part_roles.get(part.name)
            worth = f" ({role.value})" if role is not None else ""
            return (
                f"{book.book_id}: traded exactly the manifest's {part.name} part{worth}; the manifest recorded "
                f"{recorded.return_pct:+,.2f} % and {recorded.n_trades:,} trades there, the paper run "
                f"{book.return_pct:+,.2f} % and {len(book.trades):,} trades"
            )
    return None


def parity_figure(book: BookReport) -> go.Figure:
    """The parity picture: the book's equity and the backtest's on the same bars (two lines that should be one),
    and the difference below."""
    times = pd.to_datetime(book.equity["time_ms"], unit="ms", utc=True)
    paper = book.equity["equity"].to_numpy()
    # Bars left out of the comparison (a runner that has not reached its end: the backtest's last bar closed a
    # position the book still holds) are not drawn as a difference.
    expected_equity = np.where(np.arange(len(paper)) < book.compared_bars, book.expected_equity, np.nan)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.04)
    expected = go.Scatter(
        x=times, y=expected_equity, name="backtest of the same bars", line={"width": 4, "color": "#9ecae1"}
    )
    figure.add_trace(expected, row=1, col=1)
    figure.add_trace(go.Scatter(x=times, y=paper, name="paper", line={"width": 1.5, "color": "#08519c"}), row=1, col=1)
    figure.add_trace(
        go.Scatter(x=times, y=paper - expected_equity, name="paper − backtest", line={"color": "#d62728"}),
        row=2, col=1,
    )  # fmt: skip
    figure.update_layout(
        title=f"{book.book_id}: paper equity against the backtest of the same bars (UTC)",
        height=520, margin={"l": 60, "r": 20, "t": 60, "b": 40}, legend={"orientation": "h", "y": 1.08},
    )  # fmt: skip
    figure.update_yaxes(title_text="equity", row=1, col=1, tickformat=",.2f")
    figure.update_yaxes(title_text="difference", row=2, col=1)
    return figure


def write_report_html(report: PaperReport, path: Path) -> Path:
    """One HTML page with every book's parity picture (plotly's script inlined once: it opens offline)."""
    parts = [f"<h2>{report.state_dir.name}: {report.status}</h2>"]
    for n, book in enumerate(report.books):
        verdict = (
            "same trades and equity as the backtest"
            if book.same_trades and book.max_equity_gap == 0
            else (
                f"differs from the backtest (trades equal: {book.same_trades}; "
                f"max |Δ equity| {book.max_equity_gap:,.6f})"
            )
        )
        parts.append(f"<p>{book.book_id}: {book.bars:,} bars, {len(book.trades):,} trades; {verdict}</p>")
        parts.append(parity_figure(book).to_html(full_html=False, include_plotlyjs=n == 0))
    html = "<html><head><meta charset='utf-8'></head><body>" + "\n".join(parts) + "</body></html>"
    write_text_atomic(path, html)
    return path


__all__ = [
    "BookReport",
    "PaperReport",
    "Status",
    "build_report",
    "parity_figure",
    "read_status",
    "risk_lines",
    "runner_alive",
    "runner_headline",
    "write_report_html",
]
