"""``stratlab research start|status|stop|report|query``: the research loop and its results database."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from stratlab.cli import console
from stratlab.errors import DataError
from stratlab.settings import get_settings

if TYPE_CHECKING:
    from stratlab.research.config import ResearchConfig
    from stratlab.research.db import ResultsDb
    from stratlab.research.loop import LoopStatus

research_app = typer.Typer(
    help="The research loop: start, status, stop, report; query its results database.", no_args_is_help=True
)
Opt = typer.Option
ConfigOption = Annotated[Path, Opt("--config", help="The research config (TOML), e.g. examples/research.toml.")]
DbOption = Annotated[
    str | None, Opt("--db", help="Results database: a SQLite file or a SQLAlchemy URL (default: the config's).")
]


def _open_existing(target: str) -> ResultsDb:
    from stratlab.research.db import ResultsDb, database_url

    if "://" not in target and not Path(target).is_file():
        raise DataError(f"--db: {target}: no results database there")
    return ResultsDb.open(database_url(target))


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@research_app.command("start")
def research_start(
    config_path: ConfigOption,
    db: DbOption = None,
    workers: Annotated[
        int | None, Opt("--workers", min=1, max=64, help="Local worker processes (default: the cores, 1 = inline).")
    ] = None,
    cluster: Annotated[
        str | None, Opt("--cluster", help="A Dask scheduler, tcp://HOST:PORT: its workers run the backtests.")
    ] = None,
    data_root: Annotated[Path | None, Opt("--data-root", help="Store root (default: STRATLAB_DATA_ROOT).")] = None,
    skip_check: Annotated[
        bool, Opt("--skip-check", help="Search user strategies that never passed `strategy check` (recorded).")
    ] = False,
) -> None:
    """Run the loop of --config until its stop rule holds; a second start of the same experiment resumes it."""
    from stratlab.processes import hold_process_lock
    from stratlab.research.config import database_for, load_config, research_dir
    from stratlab.research.db import ResultsDb, database_url
    from stratlab.research.execute import make_executor
    from stratlab.research.loop import LOCK_FILE, ResearchLoop

    config = load_config(config_path)
    if skip_check:
        config = config.model_copy(update={"skip_check": True})
    settings = get_settings()
    root = data_root or settings.data_root
    target = database_for(config, db)
    work_dir = research_dir(config.name)
    busy = (
        f"{work_dir}: experiment {config.name!r} is already running (pid {{pid}}); "
        f"stratlab research stop --config {config_path} stops it"
    )
    lock = hold_process_lock(work_dir, LOCK_FILE, busy)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    results = ResultsDb.open(database_url(target))
    executor = make_executor(root, workers if workers is not None else (os.cpu_count() or 1), cluster)
    try:
        with _LoopDisplay() as display:
            loop = ResearchLoop(config, results, data_root=root, work_dir=work_dir, executor=executor,
                                on_progress=display.update)  # fmt: skip
            _print_start(config, target, loop.status, executor.where)
            status = loop.run()
        _print_end(status, results=results, results_target=target, config=config, config_path=config_path)
    except KeyboardInterrupt:
        console.stderr.print(
            f"interrupted: the unfinished batch is lost; stratlab research start --config {config_path} resumes",
            markup=False,
        )
        raise typer.Exit(130) from None
    finally:
        executor.close()
        results.close()
        lock.close()


class _LoopDisplay:
    """The loop's progress in the terminal: backtests towards the maximum, BEST towards its target, the bounds."""

    def __enter__(self) -> _LoopDisplay:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[extra]}"), console=console.stdout, transient=False,
            disable=not console.stdout.is_terminal and os.environ.get("STRATLAB_PROGRESS") != "1",
        )  # fmt: skip
        self.backtests = self.progress.add_task("backtests", total=None, extra="")
        self.best = self.progress.add_task("BEST", total=None, extra="")
        self.progress.start()
        self.last_line = ""
        return self

    def update(self, status: LoopStatus) -> None:
        bounds = ", ".join(f"{name} ≥ {value:.2f}" for name, value in status.thresholds.items())
        self.progress.update(self.backtests, total=status.max_backtests, completed=status.backtests,
                             extra=f"{status.backtests_per_s:,.1f}/s, iteration {status.iteration}")  # fmt: skip
        self.progress.update(self.best, total=status.best_target, completed=min(status.best, status.best_target),
                             extra=f"GOOD {status.good:,}; {bounds}")  # fmt: skip
        if self.progress.disable and status.line() != self.last_line:
            self.last_line = status.line()
            console.stdout.print(status.line(), markup=False)

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def _print_start(config: ResearchConfig, target: str, status: LoopStatus, where: str) -> None:
    resumed = (
        f", resuming at iteration {status.iteration} with {status.backtests:,} backtests" if status.backtests else ""
    )
    markets = "; ".join(m.label for m in config.markets)
    console.stdout.print(
        f"experiment {config.name} in {target}{resumed}\n"
        f"  {len(config.strategies)} strategies × {len(config.markets)} markets ({markets}), "
        f"batches of {config.batch_size} per strategy and market, on {where}\n"
        f"  stops at {config.stop.best:,} in BEST, {config.stop.max_backtests:,} backtests"
        + (f" or {config.stop.max_minutes:g} minutes" if config.stop.max_minutes else ""),
        markup=False,
    )


def _print_end(
    status: LoopStatus, *, results: ResultsDb, results_target: str, config: ResearchConfig, config_path: Path
) -> None:
    members = results.pool_members(status.experiment_id)
    train = results.query(None, part="train", order_by="sharpe", limit=None, experiment_id=status.experiment_id)
    _print_pool_table(members[members["pool"] == "BEST"] if (members["pool"] == "BEST").any() else members, train)
    console.stdout.print(
        f"stopped: {status.stopped_by}. {status.backtests:,} backtests, GOOD {status.good:,}, BEST {status.best:,} "
        f"({status.backtests_per_s:,.1f} backtests/s this start)",
        markup=False,
    )
    best = members[members["pool"] == "BEST"]
    if len(best):
        from stratlab.selection.gates import Gates

        dsr = [luck.get("dsr") if isinstance(luck, dict) else None for luck in best["luck_json"]]
        passing = sum(1 for value in dsr if value is not None and value >= Gates().min_dsr)
        rest = "; below it, luck alone explains Sharpe ratios like theirs at that many tries"
        console.stdout.print(
            f"Is it luck? {passing:,} of {len(best):,} BEST members have a deflated Sharpe ratio of at least "
            f"{Gates().min_dsr:g} with N = {status.backtests:,} backtests tried{rest if passing < len(best) else ''}.",
            markup=False,
        )
    console.stdout.print(
        "How pool members were chosen: searched on train; admitted when train passed SOFT (GOOD) or HARD (BEST) and "
        "validation passed the validation bounds, so train and validation are selection figures. Holdout was never "
        "looked at: it is the out-of-sample check for whichever member you pick (once).",
        markup=False,
    )
    console.stdout.print(
        f"next: stratlab research report --config {config_path}; stratlab research query --db "
        f'{results_target} --where "sharpe > 1.5"; the Research page of stratlab ui',
        markup=False,
    )


@research_app.command("stop")
def research_stop(config_path: ConfigOption) -> None:
    """Ask the running loop of --config to stop after its current iteration."""
    from stratlab.processes import lock_holder
    from stratlab.research.config import load_config, research_dir
    from stratlab.research.loop import LOCK_FILE, request_stop

    config = load_config(config_path)
    work_dir = research_dir(config.name)
    holder = lock_holder(work_dir, LOCK_FILE)
    if holder is None:
        raise DataError(f"experiment {config.name!r} is not running (no loop holds {work_dir / LOCK_FILE})")
    request_stop(work_dir)
    console.stdout.print(
        f"stop requested: experiment {config.name} (pid {holder}) stops after its iteration", markup=False
    )


@research_app.command("status")
def research_status(config_path: ConfigOption, db: DbOption = None) -> None:
    """Where the experiment of --config stands: running or not, backtests, pools, bounds, best members."""
    from stratlab.processes import lock_holder
    from stratlab.research.config import (
        TIERS,
        bounds_after_moves,
        database_for,
        load_config,
        research_dir,
        threshold_name,
    )
    from stratlab.research.loop import LOCK_FILE, read_status

    config = load_config(config_path)
    work_dir = research_dir(config.name)
    results = _open_existing(database_for(config, db))
    try:
        found = results.experiment_config(config.name)
        if found is None:
            raise DataError(f"experiment {config.name!r} is not in {database_for(config, db)}: start it first")
        experiments = results.experiments()
        row = experiments[experiments["id"] == found[0]].iloc[0]
        members = results.pool_members(found[0])
        decisions = results.decisions(found[0])
        best = results.query(None, part="train", order_by="sharpe", limit=None, experiment_id=found[0])
    finally:
        results.close()
    holder = lock_holder(work_dir, LOCK_FILE)
    saved = read_status(work_dir) or {}
    if holder is not None:
        state = f"running (pid {holder})"
    elif saved.get("state") == "running":
        state = "not running (it ended without a word: killed or crashed; start resumes it)"
    else:
        state = f"not running ({saved.get('stopped_by') or 'never started with this research root'})"
    console.stdout.print(
        f"experiment {config.name}: {state}\n  {int(row['backtests']):,} backtests over "
        f"{int(row['last_iteration'] or 0) + (1 if row['backtests'] else 0)} iterations; GOOD {int(row['good']):,}, "
        f"BEST {int(row['best']):,} (target {config.stop.best:,})",
        markup=False,
    )
    current = bounds_after_moves(decisions)
    bounds = [
        f"{threshold_name(tier, rule.kpi)} {'≥' if rule.direction == 'min' else '≤'} "
        f"{thresholds.value_of(rule.kpi):.2f}"
        for tier in TIERS
        for thresholds in [config.adaptive_thresholds(tier, current[tier])]
        for rule in thresholds.rules
    ]
    if bounds:
        console.stdout.print(f"  adaptive bounds now: {', '.join(bounds)}", markup=False)
    _print_pool_table(members, best)


@research_app.command("report")
def research_report(
    config_path: ConfigOption,
    db: DbOption = None,
    out: Annotated[Path | None, Opt("--out", help="The HTML file (default: research_root/<name>/report.html).")] = None,
) -> None:
    """Write the experiment's report: progress, thresholds over time, KPI distribution and the pools, in one HTML."""
    from stratlab.research.config import database_for, load_config, research_dir
    from stratlab.research.report import write_report

    config = load_config(config_path)
    results = _open_existing(database_for(config, db))
    try:
        path = write_report(results, config.name, out or research_dir(config.name) / "report.html")
        experiments = results.experiments()
    finally:
        results.close()
    row = experiments[experiments["name"] == config.name].iloc[0]
    console.stdout.print(
        f"written: {path} ({int(row['backtests']):,} backtests, GOOD {int(row['good']):,}, BEST {int(row['best']):,})",
        markup=False,
    )


def _print_pool_table(members: Any, kpis: Any) -> None:
    if members.empty:
        console.stdout.print("  no pool member yet", markup=False)
        return
    joined = members.merge(kpis, on="backtest_id", how="left").sort_values(["pool", "score"], ascending=[True, False])
    table = Table(
        title="pool members (train figures; validation confirmed them; holdout untouched)", title_justify="left"
    )
    columns = ("pool", "backtest", "strategy", "symbol", "score", "sharpe", "return %", "max DD %", "trades", "DSR",
               "neighbourhood")  # fmt: skip
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("pool", "strategy", "symbol", "neighbourhood") else "right"
        )
    for row in joined.head(20).to_dict("records"):
        luck = row["luck_json"] if isinstance(row["luck_json"], dict) else {}
        table.add_row(
            str(row["pool"]), f"{int(row['backtest_id']):,}", str(row["strategy"]), str(row["symbol"]),
            _cell(row["score"]), _cell(row["sharpe"]), _cell(row["return_pct"]), _cell(row["max_drawdown_pct"]),
            _cell(row["n_trades"]), _cell(luck.get("dsr")), str(luck.get("plateau") or "-"),
        )  # fmt: skip
    console.stdout.print(table)


SHOWN = ("backtest_id", "strategy", "symbol", "timeframe", "part", "sharpe", "return_pct", "max_drawdown_pct",
         "green_days_pct", "n_trades")  # fmt: skip


@research_app.command("query")
def research_query(
    db: Annotated[str, Opt("--db", help="The results database: a SQLite file or a SQLAlchemy URL.")],
    where: Annotated[
        str | None, Opt("--where", help='A filter on KPIs, e.g. "sharpe > 1.5 and max_drawdown_pct < 20".')
    ] = None,
    part: Annotated[str, Opt("--part", help="Which part's KPIs: train, validation, test, holdout.")] = "train",
    order_by: Annotated[str, Opt("--order-by", help="The KPI to rank by (best first).")] = "sharpe",
    ascending: Annotated[bool, Opt("--ascending", help="Rank lowest first (e.g. by max_drawdown_pct).")] = False,
    limit: Annotated[int, Opt("--limit", min=1, help="Rows at most.")] = 50,
    csv: Annotated[Path | None, Opt("--csv", help="Write every KPI of the rows to this CSV file.")] = None,
) -> None:
    """The backtests whose KPIs on --part pass --where, best first by --order-by: a table, or every column as CSV."""
    from stratlab.atomic_io import write_text_atomic
    from stratlab.research.db import ResultsDb, database_url

    if "://" not in db and not Path(db).is_file():
        from stratlab.errors import DataError

        raise DataError(f"--db: {db}: no results database there")
    results = ResultsDb.open(database_url(db))
    try:
        frame = results.query(where, part=part, order_by=order_by, descending=not ascending, limit=limit)
    finally:
        results.close()
    if csv is not None:
        write_text_atomic(csv, frame.to_csv(index=False))
        console.stdout.print(f"written: {csv} ({len(frame):,} rows)", markup=False)
        return
    table = Table(title=f"{len(frame):,} backtests on {part}, by {order_by}", title_justify="left")
    for column in SHOWN:
        table.add_column(column, justify="left" if column in ("strategy", "symbol", "timeframe", "part") else "right")
    for row in frame.to_dict("records"):
        table.add_row(*[_cell(row[column]) for column in SHOWN])
    console.stdout.print(table)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


__all__ = ["research_app"]
