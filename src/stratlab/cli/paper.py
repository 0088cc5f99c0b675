"""``stratlab paper start|status|stop|report``: trade champion manifests bar by bar, on paper or live."""

from __future__ import annotations

import enum
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.table import Table

from stratlab.cli import console
from stratlab.errors import ConfigError
from stratlab.settings import get_settings

E = TypeVar("E", bound=enum.StrEnum)

if TYPE_CHECKING:
    from stratlab.live.report import PaperReport
    from stratlab.live.runner import Runner
    from stratlab.live.spec import RunnerSpec
    from stratlab.live.state import StateStore
    from stratlab.report.manifest import Manifest

paper_app = typer.Typer(
    help="Paper and live trading of champion manifests: start, status, stop, report.", no_args_is_help=True
)
Opt = typer.Option

StateDirOption = Annotated[
    Path | None, Opt("--state-dir", help="The runner's state directory (default: paper/<first book>).")
]
RequiredStateDir = Annotated[Path, Opt("--state-dir", help="The runner's state directory.")]
# How long `paper stop` waits for the runner to finish its bar and exit.
STOP_WAIT_S = 30.0


@paper_app.command("start")
def paper_start(
    manifests: Annotated[
        list[Path] | None, Opt("--manifest", help="A champion manifest (champion.json); repeat for several.")
    ] = None,
    portfolio: Annotated[Path | None, Opt("--portfolio", help="A portfolio manifest (portfolio.json).")] = None,
    feed: Annotated[str, Opt("--feed", help="replay, hyperliquid_perps or ccxt_<exchange>.")] = "replay",
    broker: Annotated[
        str, Opt("--broker", help="paper (the engine's fills) or live (a venue, through ccxt).")
    ] = "paper",
    live: Annotated[
        bool, Opt("--live", help="With --broker live: really send orders (asks for confirmation).")
    ] = False,
    dry_run: Annotated[bool, Opt("--dry-run", help="With --broker live: log the exact orders, send none.")] = False,
    state_dir: StateDirOption = None,
    start: Annotated[str | None, Opt("--from", help="Replay: first day traded, YYYY-MM-DD (UTC).")] = None,
    end: Annotated[str | None, Opt("--to", help="Replay: last day traded, YYYY-MM-DD (UTC, included).")] = None,
    speed: Annotated[
        float | None, Opt("--speed", min=0.001, help="Replay pace, × real time (default: as fast as possible).")
    ] = None,
    warmup_bars: Annotated[int, Opt("--warmup-bars", min=0, help="Bars the signals warm up on.")] = 5_000,
    capital: Annotated[
        float | None, Opt("--capital", min=0.0, help="Capital split over the books (default: each manifest's).")
    ] = None,
    max_position_pct: Annotated[float | None, Opt("--max-position-pct", help="Entry notional, % of equity.")] = None,
    max_positions: Annotated[int | None, Opt("--max-positions", help="Positions open at once.")] = None,
    max_exposure_pct: Annotated[float | None, Opt("--max-exposure-pct", help="Open notional, % of equity.")] = None,
    max_leverage: Annotated[float | None, Opt("--max-leverage", help="Refuse manifests with more leverage.")] = None,
    daily_loss_pct: Annotated[float | None, Opt("--daily-loss-pct", help="Halt entries for the day at -X %.")] = None,
    daily_gain_pct: Annotated[float | None, Opt("--daily-gain-pct", help="Halt entries for the day at +X %.")] = None,
    max_drawdown_pct: Annotated[
        float | None, Opt("--max-drawdown-pct", help="Close everything and stop at this drawdown, %.")
    ] = None,
    notify: Annotated[str, Opt("--notify", help="Alerts: none, log or telegram.")] = "log",
    base_url: Annotated[str | None, Opt("--base-url", help="The venue's API root (feed and broker).")] = None,
    venue: Annotated[
        str | None, Opt("--venue", help="With --broker live --dry-run on a replay: the venue whose orders to log.")
    ] = None,
    data_root: Annotated[Path | None, Opt("--data-root", help="Store root (default: STRATLAB_DATA_ROOT).")] = None,
    clear_kill: Annotated[
        bool, Opt("--clear-kill", help="Trade again after a kill (the kill switch removed).")
    ] = False,
) -> None:
    """Start a runner (or resume the one in --state-dir): each manifest becomes a book traded bar by bar with the
    backtest's own kernel; the state is committed after every bar. Ctrl+C or `stratlab paper stop` stops it."""
    from stratlab.live.alerts import NotifyMode
    from stratlab.live.risk import RiskLimits
    from stratlab.live.spec import BrokerKind, default_state_dir
    from stratlab.live.start import StartOptions, new_spec

    settings = get_settings()
    root = data_root or settings.data_root
    spec = None
    if manifests or portfolio:
        options = StartOptions(
            manifests=tuple(manifests or ()),
            portfolio=portfolio,
            feed=feed,
            start=start,
            end=end,
            speed=speed,
            warmup_bars=warmup_bars,
            capital=capital,
            broker=_choice(BrokerKind, broker, "--broker"),
            dry_run=dry_run,
            risk=_limits(
                RiskLimits,
                max_position_pct=max_position_pct,
                max_positions=max_positions,
                max_exposure_pct=max_exposure_pct,
                max_leverage=max_leverage,
                daily_loss_pct=daily_loss_pct,
                daily_gain_pct=daily_gain_pct,
                max_drawdown_pct=max_drawdown_pct,
            ),
            notify=_choice(NotifyMode, notify, "--notify"),
            base_url=base_url,
            venue=venue,
        )
        spec = new_spec(options)
    elif state_dir is None:
        raise ConfigError("--manifest or --portfolio: give what to trade (or --state-dir to resume a runner)")
    folder = state_dir or default_state_dir(settings.paper_root, spec)  # type: ignore[arg-type]
    runner = _open(folder, spec, root, clear_kill=clear_kill, live=live)
    _print_start(runner, folder)
    _run(runner)


def _choice(enum: type[E], value: str, option: str) -> E:
    try:
        return enum(value)
    except ValueError:
        known = ", ".join(member.value for member in enum)
        raise ConfigError(f"{option}: unknown {value!r} (known: {known})") from None


def _limits(model: type, **values: float | int | None):  # type: ignore[no-untyped-def]
    from pydantic import ValidationError

    try:
        return model(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None


def _confirm_live(spec: RunnerSpec, live: bool) -> None:
    """Real orders only with --live and a confirmation: the venue's name typed, or in STRATLAB_LIVE_CONFIRM."""
    from stratlab.live.spec import BrokerKind

    if spec.broker != BrokerKind.LIVE or spec.dry_run:
        return
    venue = spec.venue or spec.feed
    if not live:
        raise ConfigError(
            f"--broker live: real orders on {venue} need --live (or --dry-run to log them without sending)"
        )
    if get_settings().live_confirm == venue:
        return
    if not sys.stdin.isatty():
        raise ConfigError(
            f"--live: confirm by typing the venue's name at the prompt, or set STRATLAB_LIVE_CONFIRM={venue} for "
            "unattended use"
        )
    typed = typer.prompt(f"Real orders with real money on {venue}. Type {venue} to confirm")
    if typed.strip() != venue:
        raise ConfigError("--live: not confirmed; nothing was sent")


def _open(folder: Path, spec: RunnerSpec | None, data_root: Path, *, clear_kill: bool, live: bool) -> Runner:
    from stratlab.live.runner import open_runner
    from stratlab.live.spec import BrokerKind

    def mirror_factory(spec: RunnerSpec, store: StateStore):  # type: ignore[no-untyped-def]
        if spec.broker != BrokerKind.LIVE:
            return None
        _confirm_live(spec, live)
        from stratlab.live.exchange import ExchangeBroker
        from stratlab.live.mirror import VenueMirror

        broker = ExchangeBroker(
            spec.venue or spec.feed, settings=get_settings(), base_url=spec.base_url, dry_run=spec.dry_run
        )
        return VenueMirror(broker, store)

    return open_runner(
        folder, spec, settings=get_settings(), data_root=data_root, console=console.stdout,
        clear_kill=clear_kill, mirror_factory=mirror_factory,
    )  # fmt: skip


def _print_start(runner: Runner, folder: Path) -> None:
    from stratlab.data.dates import format_ms

    spec = runner.spec
    out = console.stdout
    out.print(f"state: {folder}", markup=False)
    for book in spec.books:
        out.print(
            f"book {book.book_id}: {book.manifest.strategy} (trial {book.manifest.trial} of run "
            f"{book.manifest.run_id}) "
            f"on {book.series}, capital {book.capital:,.2f}",
            markup=False,
        )
        verdict = book.manifest.verdict
        how = book.manifest.selection.reason
        luck = verdict.summary if verdict is not None else "not judged (an older manifest)"
        out.print(f"  chosen: {how}; is it luck? {luck}", markup=False)
        out.print(f"  {_window_worth(book.manifest, spec)}", markup=False)
    window = f"from {format_ms(spec.from_ms)}" if spec.from_ms is not None else ""
    if spec.to_ms is not None:
        window += f" to {format_ms(spec.to_ms)}"
    pace = "as fast as possible" if spec.speed is None else f"{spec.speed:g}× real time"
    feed = f"{spec.feed} ({pace}) {window}" if spec.feed == "replay" else f"{spec.feed} {window}"
    out.print(f"feed: {feed}; broker: {spec.broker.value}{' (dry run)' if spec.dry_run else ''}", markup=False)
    for line in spec.risk.lines():
        out.print(f"risk: {line}", markup=False)
    venue = getattr(runner.mirror, "broker", None)
    if venue is not None:
        out.print(f"venue: {venue.venue}; fees: {venue.fee_note}", markup=False)
    out.print(f"stop it with: stratlab paper stop --state-dir {folder}", markup=False)


def _window_worth(manifest: Manifest, spec: RunnerSpec) -> str:
    """What the traded window's figures are worth: a part of the manifest's split keeps that part's role (a selection
    part chose the champion, so its paper figures are not out-of-sample either); bars after the data are new."""
    dataset = manifest.dataset
    if spec.from_ms is None or spec.from_ms > dataset.last_bar_ms:
        return "traded bars: after the manifest's data (out-of-sample)"
    inside = [part for part in dataset.parts if part.last_bar_ms >= spec.from_ms]
    roles = ", ".join(
        f"{part.name}: {manifest.selection.part_roles[part.name].value}"
        for part in inside
        if part.name in manifest.selection.part_roles
    )
    return f"traded bars: inside the manifest's data ({roles or 'roles not recorded'})"


def _run(runner: Runner) -> None:
    from stratlab.live.state import STOP_FILE

    try:
        end = runner.run()
    except KeyboardInterrupt:
        (runner.state_dir / STOP_FILE).unlink(missing_ok=True)
        console.stdout.print("stopped (Ctrl+C); start again with the same --state-dir to resume", markup=False)
        raise typer.Exit(130) from None
    console.stdout.print(f"{end.status}: {end.reason}; {end.bars:,} bars traded", markup=False)
    console.stdout.print(f"see: stratlab paper report --state-dir {runner.state_dir}", markup=False)
    if end.status == "killed":
        raise typer.Exit(3)


@paper_app.command("status")
def paper_status(state_dir: RequiredStateDir) -> None:
    """Each book's position, equity and today's PnL, the risk state and its last decisions, the last events."""
    from stratlab.live.report import read_status

    status = read_status(state_dir)
    out = console.stdout
    out.print(status.headline, markup=False)
    table = Table(title="books", title_justify="left")
    for column in ("book", "position", "equity", "today", "last bar (UTC)", "trades"):
        table.add_column(
            column, justify="left" if column in ("book", "position", "last bar (UTC)") else "right",
            no_wrap=column == "book",
        )  # fmt: skip
    for row in status.books:
        table.add_row(*row)
    out.print(table)
    for line in status.risk_lines:
        out.print(f"risk: {line}", markup=False)
    for line in status.recent:
        out.print(line, markup=False, highlight=False)


@paper_app.command("stop")
def paper_stop(state_dir: RequiredStateDir, wait: Annotated[bool, Opt(help="Wait for it to stop.")] = True) -> None:
    """Ask the runner to stop after the bar in progress (its state is committed; start resumes it)."""
    from stratlab.live.report import runner_alive
    from stratlab.live.state import STOP_FILE, StateStore

    store = StateStore.open(state_dir)
    if not runner_alive(store):
        console.stdout.print(f"{state_dir}: no runner is running ({store.runner()['status']})", markup=False)
        return
    (state_dir / STOP_FILE).write_text("stop requested\n", encoding="utf-8")
    console.stdout.print(f"{state_dir}: stop requested", markup=False)
    deadline = time.monotonic() + STOP_WAIT_S
    while wait and time.monotonic() < deadline:
        if not runner_alive(store):
            console.stdout.print(f"{state_dir}: stopped ({store.runner()['status_reason']})", markup=False)
            return
        time.sleep(0.2)
    if wait:
        console.stdout.print(
            f"{state_dir}: still running after {STOP_WAIT_S:g} s; it stops after its bar", markup=False
        )


@paper_app.command("report")
def paper_report(
    state_dir: RequiredStateDir,
    out: Annotated[
        Path | None, Opt("--out", help="Write the chart as HTML here (default: <state-dir>/report.html).")
    ] = None,
) -> None:
    """Each book's paper figures next to its backtest on the same bars (the parity check; the bars are the ones
    stored in the state), and a chart."""
    from stratlab.live.report import build_report, write_report_html

    report = build_report(state_dir)
    _print_report(report)
    path = write_report_html(report, out or state_dir / "report.html")
    console.stdout.print(f"written: {path}", markup=False)


def _print_report(report: PaperReport) -> None:
    table = Table(title="paper vs backtest on the same bars", title_justify="left")
    for column in (
        "book",
        "bars",
        "trades",
        "return %",
        "backtest return %",
        "max DD %",
        "same trades",
        "max |Δ equity|",
    ):
        table.add_column(column, justify="left" if column == "book" else "right", no_wrap=column == "book")
    for book in report.books:
        table.add_row(
            book.book_id, f"{book.bars:,}", f"{len(book.trades):,}", f"{book.return_pct:+,.2f}",
            f"{book.expected_return_pct:+,.2f}", f"{book.max_drawdown_pct:,.2f}",
            "yes" if book.same_trades else "NO", f"{book.max_equity_gap:,.6f}",
        )  # fmt: skip
    console.stdout.print(table)
    for line in report.notes:
        console.stdout.print(line, markup=False)


__all__ = ["paper_app"]
