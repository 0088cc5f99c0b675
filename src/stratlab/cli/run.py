"""``stratlab run ...`` and ``stratlab optimize``: create, start, watch, stop and report optimisation runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from stratlab.cli import console
from stratlab.data.dates import format_day
from stratlab.engine.config import PositionMode
from stratlab.errors import ConfigError, StratlabError
from stratlab.optimize.backtest_space import MAY_BE_OFF, OPTIONS, common_space_from_text, declared_text
from stratlab.optimize.context import DEFAULT_SAMPLER, PartName, RunRequest, SamplerName, WalkForward
from stratlab.optimize.rundir import RunDir, RunState, list_runs
from stratlab.selection.gates import GATE_FIELDS, Gates, VerdictName
from stratlab.settings import get_settings

run_app = typer.Typer(help="Optimisation runs: new, start, status, stop, report, list, worker.", no_args_is_help=True)
Opt = typer.Option

RunDirOption = Annotated[Path, Opt("--run-dir", help="The run directory (runs/<run_id>_<label>).")]
DataRootOption = Annotated[Path | None, Opt("--data-root", help="Store root (default: STRATLAB_DATA_ROOT).")]
StorageOption = Annotated[str | None, Opt("--storage", help="Optuna storage URL (default: the run's own).")]
# The options of `run new`, shared by `optimize` (which is new + start).
SourceOption = Annotated[str, Opt("--source", help="Data source, e.g. demo.")]
SymbolOption = Annotated[str, Opt("--symbol", help="Symbol, e.g. BTC.")]
TimeframeOption = Annotated[str, Opt("--timeframe", help="Bar timeframe.")]
StartOption = Annotated[str | None, Opt("--start", help="First day, YYYY-MM-DD (UTC).")]
EndOption = Annotated[str | None, Opt("--end", help="Last day, YYYY-MM-DD (UTC, included).")]
StrategiesOption = Annotated[str | None, Opt("--strategies", help="Comma-separated names (default: all but scalping).")]
MaxTrialsOption = Annotated[int, Opt("--max-trials", help="Completed trials per strategy.")]
TimeBudgetOption = Annotated[float, Opt("--time-budget", help="Seconds for the whole run; 0 = no limit.")]
DdThresholdOption = Annotated[
    float, Opt("--dd-threshold", help="Champion: max drawdown on test (validation with three parts), %.")
]
MinTrainTradesOption = Annotated[
    int, Opt("--min-train-trades", help="Trials with fewer trades on train are never candidates.")
]
WorkersOption = Annotated[int, Opt("--workers", help="Worker processes on this machine (1 to 64).")]
TrainFracOption = Annotated[float | None, Opt("--train-frac", help="Two-way split: train fraction.")]
SplitOption = Annotated[str, Opt("--split", help="Fractions: 0.75,0.25 or train,validation,holdout.")]
SamplerOption = Annotated[str, Opt("--sampler", help=f"{' | '.join(SamplerName)}.")]
SeedOption = Annotated[int, Opt("--seed", help="Sampler seed.")]
LabelOption = Annotated[str, Opt("--label", help="Name part of the run directory.")]
BacktestOption = Annotated[str, Opt("--backtest", help="Fixed BacktestConfig fields as JSON.")]
ModesOption = Annotated[str, Opt("--modes", help=f"Position modes searched, any of {','.join(PositionMode)}.")]
GatesOption = Annotated[
    str,
    Opt("--gates", help=f"Gate thresholds to change, e.g. dsr=0.9,pbo=0.4 (gates: {', '.join(GATE_FIELDS)}; "
        "defaults dsr 0.95, pbo 0.5, spa 0.05, wfe 0.5, trades 10)."),
]  # fmt: skip
WalkForwardOption = Annotated[
    int, Opt("--walk-forward", help="K walk-forward windows (0 = none): each searched, chosen, then traded next.")
]
AnchoredOption = Annotated[bool, Opt("--anchored", help="Walk-forward windows all start at the first bar.")]
EmbargoOption = Annotated[int, Opt("--embargo-bars", help="Bars skipped between a window's in-sample and its OOS.")]
CscvBlocksOption = Annotated[int, Opt("--cscv-blocks", help="S, the blocks of days PBO's CSCV cuts (even).")]
SkipCheckOption = Annotated[
    bool, Opt("--skip-check", help="Search user strategies that never passed `strategy check` (recorded in the run).")
]
RequirePassOption = Annotated[
    bool, Opt("--require-pass", help="Exit with code 3 when the champion is flagged (or there is none).")
]


def _range_option(name: str, what: str) -> Any:
    """The option of a searched range; its help says whether it may be off."""
    return Opt(OPTIONS[name], help=f"Searched {what}, LOW:HIGH{' or off' if name in MAY_BE_OFF else ''}.")


# The declared default of every searched setting, as the options show it (0.5:8).
DECLARED = {name: declared_text(name) for name in OPTIONS}
TpRangeOption = Annotated[str | None, _range_option("tp_pct", "TP %")]
SlRangeOption = Annotated[str | None, _range_option("sl_pct", "SL %")]
GridStepRangeOption = Annotated[str, _range_option("grid_step_pct", "grid step %")]
GridMaxAddsRangeOption = Annotated[str, _range_option("grid_max_adds", "grid adds at most")]
GridSizeMultRangeOption = Annotated[str, _range_option("grid_size_mult", "grid add size multiplier")]
MartingaleMultRangeOption = Annotated[str, _range_option("martingale_mult", "martingale multiplier")]
MartingaleMaxStepsRangeOption = Annotated[str, _range_option("martingale_max_steps", "martingale steps at most")]


def _split(text: str, train_frac: float | None) -> tuple[float, ...]:
    if train_frac is not None:
        return (train_frac, round(1.0 - train_frac, 12))
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--split: expected fractions such as 0.75,0.25 or 0.6,0.15,0.25, got {text!r}") from None


def request_from_options(
    *,
    source: str,
    symbol: str,
    timeframe: str,
    start: str | None,
    end: str | None,
    strategies: str | None,
    max_trials: int,
    time_budget: float,
    dd_threshold: float,
    min_train_trades: int,
    train_frac: float | None,
    split: str,
    sampler: str,
    seed: int,
    storage: str | None,
    label: str,
    backtest: str,
    tp_range: str | None,
    sl_range: str | None,
    modes: str,
    grid_step_range: str,
    grid_max_adds_range: str,
    grid_size_mult_range: str,
    martingale_mult_range: str,
    martingale_max_steps_range: str,
    gates: str,
    cscv_blocks: int,
    walk_forward: int,
    anchored: bool,
    embargo_bars: int,
    skip_check: bool = False,
) -> RunRequest:
    """The options of ``run new``, as typed, into a validated ``RunRequest``; a bad one is a one-line ``ConfigError``
    naming its option. The Launch page builds its request here too, so both faces accept and refuse the same."""
    try:
        fixed = json.loads(backtest)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--backtest: not valid JSON ({exc.msg}): {backtest!r}") from None
    if not isinstance(fixed, dict):
        raise ConfigError("--backtest: expected a JSON object of BacktestConfig fields")
    ranges = {
        "tp_pct": tp_range, "sl_pct": sl_range, "grid_step_pct": grid_step_range,
        "grid_max_adds": grid_max_adds_range, "grid_size_mult": grid_size_mult_range,
        "martingale_mult": martingale_mult_range, "martingale_max_steps": martingale_max_steps_range,
    }  # fmt: skip
    common_space = common_space_from_text(ranges, modes)
    values: dict[str, Any] = {
        "source": source,
        "symbol": symbol,
        "timeframe": timeframe,
        "start": start,
        "end": end,
        "max_trials": max_trials,
        "time_budget_s": time_budget,
        "dd_threshold_pct": dd_threshold,
        "min_train_trades": min_train_trades,
        "split": _split(split, train_frac),
        "sampler": sampler,
        "seed": seed,
        "storage": storage,
        "label": label,
        "backtest": fixed,
        "common": common_space,
        "gates": Gates.from_text(gates),
        "cscv_blocks": cscv_blocks,
        "walk_forward": _walk_forward(walk_forward, anchored, embargo_bars),
        "skip_check": skip_check,
    }
    if strategies:
        values["strategies"] = tuple(s.strip() for s in strategies.split(",") if s.strip())
    return RunRequest.parse(**values)


def _walk_forward(windows: int, anchored: bool, embargo_bars: int) -> WalkForward | None:
    if windows == 0:
        if anchored or embargo_bars:
            raise ConfigError("--anchored and --embargo-bars shape walk-forward windows: add --walk-forward K")
        return None
    try:
        return WalkForward(windows=windows, anchored=anchored, embargo_bars=embargo_bars)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = {"windows": "--walk-forward", "embargo_bars": "--embargo-bars"}.get(str(first["loc"][0]), "")
        raise ConfigError(f"{option}: {first['msg']} (got {first.get('input')!r})") from None


def _new(**options: Any) -> RunDir:
    from stratlab.optimize.runner import create_run

    data_root = options.pop("data_root")
    settings = get_settings()
    request = request_from_options(**options)
    return create_run(request, data_root=data_root or settings.data_root, runs_root=settings.runs_root)


NEW_OPTIONS_DOC = "Create a run directory (context.json) and print its path; nothing runs yet."


@run_app.command("new", help=NEW_OPTIONS_DOC)
def run_new(
    source: SourceOption = "demo",
    symbol: SymbolOption = "BTC",
    timeframe: TimeframeOption = "5m",
    start: StartOption = None,
    end: EndOption = None,
    strategies: StrategiesOption = None,
    max_trials: MaxTrialsOption = 200,
    time_budget: TimeBudgetOption = 0.0,
    dd_threshold: DdThresholdOption = 20.0,
    min_train_trades: MinTrainTradesOption = 5,
    train_frac: TrainFracOption = None,
    split: SplitOption = "0.75,0.25",
    sampler: SamplerOption = DEFAULT_SAMPLER.value,
    seed: SeedOption = 0,
    storage: StorageOption = None,
    label: LabelOption = "run",
    backtest: BacktestOption = "{}",
    tp_range: TpRangeOption = DECLARED["tp_pct"],
    sl_range: SlRangeOption = DECLARED["sl_pct"],
    modes: ModesOption = DECLARED["position_mode"],
    grid_step_range: GridStepRangeOption = DECLARED["grid_step_pct"],
    grid_max_adds_range: GridMaxAddsRangeOption = DECLARED["grid_max_adds"],
    grid_size_mult_range: GridSizeMultRangeOption = DECLARED["grid_size_mult"],
    martingale_mult_range: MartingaleMultRangeOption = DECLARED["martingale_mult"],
    martingale_max_steps_range: MartingaleMaxStepsRangeOption = DECLARED["martingale_max_steps"],
    gates: GatesOption = "",
    cscv_blocks: CscvBlocksOption = 16,
    walk_forward: WalkForwardOption = 0,
    anchored: AnchoredOption = False,
    embargo_bars: EmbargoOption = 0,
    skip_check: SkipCheckOption = False,
    data_root: DataRootOption = None,
) -> None:
    run_dir = _new(**{k: v for k, v in locals().items()})
    console.stdout.print(str(run_dir.path), markup=False)


@run_app.command("start")
def run_start(
    run_dir: RunDirOption,
    workers: WorkersOption = 2,
    storage: StorageOption = None,
    data_root: DataRootOption = None,
    live: Annotated[bool, Opt("--live/--no-live", help="Show the live progress view.")] = True,
    require_pass: RequirePassOption = False,
) -> None:
    """Run (or resume) a run with N worker processes until its budget is spent; Ctrl+C or SIGTERM stops it cleanly."""
    from stratlab.optimize.runner import start_run, validate_workers

    validate_workers(workers)
    final = start_run(
        RunDir(run_dir), workers=workers, console=console.stdout, live=live, storage_url=storage,
        data_root=str(data_root) if data_root else None,
    )  # fmt: skip
    _print_outcome(RunDir(run_dir), final, require_pass=require_pass)


@run_app.command("worker")
def run_worker_command(
    run_dir: RunDirOption,
    index: Annotated[int, Opt("--index", help="Worker number (seeds its sampler).")] = 0,
    storage: StorageOption = None,
    data_root: DataRootOption = None,
    supervisor_pid: Annotated[
        int | None, Opt("--supervisor-pid", hidden=True, help="Stop when this parent process is gone.")
    ] = None,
) -> None:
    """One worker process: joins the run's studies (from this or another machine) and works until done."""
    from stratlab.optimize.worker import run_worker

    summary = run_worker(
        run_dir, worker_index=index, storage_url=storage, data_root=data_root, supervisor_pid=supervisor_pid
    )
    console.stdout.print(
        f"worker {summary.worker}: {sum(summary.trials.values())} trials, stopped by {summary.stopped_by}",
        markup=False,
    )


@run_app.command("stop")
def run_stop(run_dir: RunDirOption) -> None:
    """Ask every worker of the run to stop after its current trial (writes stop.flag)."""
    target = RunDir(run_dir)
    target.load_context()
    status = target.read_status()
    # Only a finished run has nothing to stop: a run that reads "new" or "stopped" here may still have workers that
    # joined it from this or another machine (`run worker`), and they read stop.flag too.
    if status is not None and status["state"] == RunState.FINISHED:
        raise ConfigError(f"{target.path}: the run is finished, not running: nothing to stop")
    target.request_stop()
    target.append_progress("stop_requested", by="run stop")
    console.stdout.print(f"stop requested: {target.stop_flag}", markup=False)


@run_app.command("status")
def run_status(
    run_dir: RunDirOption, as_json: Annotated[bool, Opt("--json", help="Print status.json as read.")] = False
) -> None:
    """The run's state as the supervisor last wrote it ("interrupted" when that supervisor died)."""
    target = RunDir(run_dir)
    context = target.load_context()
    status = target.read_status()
    if status is None:
        status = {"run_id": context.run_id, "state": "new", "completed": 0, "budget": None, "strategies": []}
    if as_json:
        console.stdout.print_json(json.dumps(status))
        return
    title = f"run {context.run_id}: {status['state']}"
    if status["state"] == RunState.INTERRUPTED:
        title += f" (its supervisor is gone; `stratlab run start --run-dir {target.path}` resumes it)"
    table = Table(title=title, title_justify="left")
    for column in ("strategy", "completed", "running", "failed", "pruned", "best train return %"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for item in status.get("strategies", []):
        best = max((p["return_pct"] for p in item.get("pareto", [])), default=None)
        table.add_row(
            item["strategy"], f"{item['completed']:,}/{item['budget']:,}", f"{item['running']:,}",
            f"{item['failed']:,}", f"{item['pruned']:,}", "-" if best is None else f"{best:+.2f}",
        )  # fmt: skip
    console.stdout.print(table)


@run_app.command("repair")
def run_repair(run_dir: RunDirOption) -> None:
    """Cut a damaged journal before its first bad line, after keeping a copy of the whole file next to it."""
    from stratlab.optimize.journal import repair_journal

    target = RunDir(run_dir)
    target.load_context()
    if target.supervisor_alive():
        raise ConfigError(f"{target.path}: the run is running; stop it first (`stratlab run stop`)")
    if not target.journal_path.exists():
        raise ConfigError(f"{target.journal_path}: no journal to repair (the run uses another storage, or it is lost)")
    outcome = repair_journal(target.journal_path)
    if outcome.first_bad_line is None:
        console.stdout.print(f"{target.journal_path}: {outcome.kept_lines:,} lines, all readable: nothing to repair")
        return
    target.append_progress("journal_repaired", first_bad_line=outcome.first_bad_line, cut_lines=outcome.cut_lines)
    console.stdout.print(
        f"{target.journal_path}: kept {outcome.kept_lines:,} lines, cut {outcome.cut_lines:,} from line "
        f"{outcome.first_bad_line:,} on; the whole file is kept as {outcome.backup}. "
        f"`stratlab run start --run-dir {target.path}` runs the trials that were cut again.",
        markup=False,
    )


@run_app.command("report")
def run_report(run_dir: RunDirOption, storage: StorageOption = None, data_root: DataRootOption = None) -> None:
    """Rebuild report.json, the CSVs and champion.json from the storage (also while the run is going)."""
    from stratlab.optimize.report import write_report

    target = RunDir(run_dir)
    report = write_report(target, storage_url=storage, data_root=data_root)
    _print_champion(target, report)


@run_app.command("list")
def run_list() -> None:
    """The run directories under STRATLAB_RUNS_ROOT (default runs/), newest first."""
    table = Table(title=f"runs in {get_settings().runs_root}", title_justify="left")
    for column in ("run", "dataset", "strategies", "state", "completed"):
        table.add_column(column)
    for run_dir in list_runs(get_settings().runs_root):
        try:
            context = run_dir.load_context()
            status = run_dir.read_status() or {}
        except StratlabError as exc:
            table.add_row(run_dir.path.name, f"unreadable: {exc}", "", "", "")
            continue
        r = context.request
        budget = status.get("budget", r.max_trials * len(context.study_names))
        table.add_row(
            run_dir.path.name, f"{r.source}/{r.symbol}/{r.timeframe}", ",".join(r.strategies),
            str(status.get("state", RunState.NEW)), f"{status.get('completed', 0):,}/{budget:,}",
        )  # fmt: skip
    console.stdout.print(table)


def _part_figures(champion: dict[str, Any], part: str) -> str:
    return f"{part} return {champion[f'{part}_return_pct']:+.2f} %, DD {champion[f'{part}_max_drawdown_pct']:.2f} %"


def _print_champion(run_dir: RunDir, report: dict[str, Any]) -> None:
    champion = report.get("champion")
    part = report.get("selection_part", PartName.TEST)
    if champion is None:
        console.stdout.print(f"no champion: {report.get('champion_reason')}", markup=False)
    else:
        lines = [
            f"champion: {champion['strategy']} trial {champion['trial']} {json.dumps(champion['params'])}",
            f"  {_part_figures(champion, PartName.TRAIN)} (searched); {_part_figures(champion, part)} "
            f"(selection figure: it chose the champion, not out-of-sample)",
        ]
        if f"{PartName.HOLDOUT}_return_pct" in champion:
            lines.append(f"  {_part_figures(champion, PartName.HOLDOUT)} (out-of-sample: unseen by every choice)")
        lines.append(
            f"  the DD threshold ({report['dd_threshold_pct']:g} %) applies to {part} only: the train drawdown "
            "may exceed it"
        )
        luck = report.get("luck") or {}
        lines.extend(_walk_forward_lines(luck.get("walk_forward")))
        if luck.get("summary"):
            lines.append(f"  is it luck? {luck['summary']}")
        lines.append(f"  manifest: {run_dir.champion_path}")
        console.stdout.print("\n".join(lines), markup=False)
    console.stdout.print(f"run directory: {run_dir.path}", markup=False)


def _walk_forward_lines(block: dict[str, Any] | None) -> list[str]:
    """Each window's champion and its in-sample and out-of-sample returns, then the efficiency."""
    if not block:
        return []
    lines = ["  walk-forward (each window chosen in-sample, then traded on the next bars):"]
    for w in block["windows"]:
        period = f"OOS {format_day(w['oos_start_ms'])} .. {format_day(w['oos_end_ms'])}"
        if w["strategy"] is None:
            lines.append(f"    window {w['window']}: no champion, in cash; {period}")
            continue
        lines.append(
            f"    window {w['window']}: {w['strategy']} {json.dumps(w['params'])}; in-sample {w['is_return_pct']:+.2f} "
            f"%, {period} {w['oos_return_pct']:+.2f} % ({w['oos_trades']:,} trades)"
        )
    efficiency = block.get("efficiency")
    share = block.get("profitable_share")
    lines.append(
        f"    stitched out-of-sample {block['oos_return_pct']:+.2f} %; efficiency "
        f"{'undefined (in-sample return not positive)' if efficiency is None else f'{efficiency:.2f}'}; "
        f"profitable windows {0 if share is None else share * 100:.0f} %"
    )
    return lines


def _refuse_unless_passed(report: dict[str, Any]) -> None:
    """``--require-pass``: a flagged champion (or none) ends the command with exit code 3, saying why."""
    luck = report.get("luck") or {}
    if luck.get("verdict") == VerdictName.PASS:
        return
    why = luck.get("summary") if report.get("champion") else f"no champion: {report.get('champion_reason')}"
    console.stderr.print(f"error: --require-pass: {why}", markup=False)
    raise typer.Exit(3)


def _print_outcome(run_dir: RunDir, final: dict[str, Any], *, require_pass: bool = False) -> None:
    """The run's end (or that there was nothing left to do), its champion, and a non-zero exit if a worker failed."""
    if final.get("already_finished"):
        console.stdout.print(
            f"run {final['run_id']} already has its {final['completed']:,}/{final['budget']:,} trials: nothing to "
            "run, nothing changed",
            markup=False,
        )
    else:
        console.stdout.print(
            f"run {final['run_id']} {final['state']}: {final['completed']:,}/{final['budget']:,} trials in "
            f"{final['elapsed_s']:,.1f} s ({final['trials_per_s']:,.1f} trials/s)",
            markup=False,
        )
    report = run_dir.read_report()
    _print_champion(run_dir, report)
    failed = final.get("failed_workers") or []
    if final["state"] == RunState.FAILED and failed and not final.get("already_finished"):
        codes = final.get("worker_exit_codes") or []
        detail = ", ".join(
            f"worker {i} (exit code {codes[i] if i < len(codes) else '?'}, log {run_dir.workers_dir}/worker-{i}.log)"
            for i in failed
        )
        raise ConfigError(f"{detail} failed; `stratlab run start --run-dir {run_dir.path}` resumes the run")
    if require_pass:
        _refuse_unless_passed(report)


def optimize(
    source: SourceOption = "demo",
    symbol: SymbolOption = "BTC",
    timeframe: TimeframeOption = "5m",
    start: StartOption = None,
    end: EndOption = None,
    strategies: StrategiesOption = None,
    max_trials: MaxTrialsOption = 200,
    time_budget: TimeBudgetOption = 0.0,
    dd_threshold: DdThresholdOption = 20.0,
    min_train_trades: MinTrainTradesOption = 5,
    train_frac: TrainFracOption = None,
    split: SplitOption = "0.75,0.25",
    sampler: SamplerOption = DEFAULT_SAMPLER.value,
    seed: SeedOption = 0,
    storage: StorageOption = None,
    label: LabelOption = "run",
    backtest: BacktestOption = "{}",
    tp_range: TpRangeOption = DECLARED["tp_pct"],
    sl_range: SlRangeOption = DECLARED["sl_pct"],
    modes: ModesOption = DECLARED["position_mode"],
    grid_step_range: GridStepRangeOption = DECLARED["grid_step_pct"],
    grid_max_adds_range: GridMaxAddsRangeOption = DECLARED["grid_max_adds"],
    grid_size_mult_range: GridSizeMultRangeOption = DECLARED["grid_size_mult"],
    martingale_mult_range: MartingaleMultRangeOption = DECLARED["martingale_mult"],
    martingale_max_steps_range: MartingaleMaxStepsRangeOption = DECLARED["martingale_max_steps"],
    gates: GatesOption = "",
    cscv_blocks: CscvBlocksOption = 16,
    walk_forward: WalkForwardOption = 0,
    anchored: AnchoredOption = False,
    embargo_bars: EmbargoOption = 0,
    skip_check: SkipCheckOption = False,
    data_root: DataRootOption = None,
    workers: WorkersOption = 2,
    live: Annotated[bool, Opt("--live/--no-live", help="Show the live progress view.")] = True,
    require_pass: RequirePassOption = False,
) -> None:
    """run new + run start in one: search, select the champion, judge whether it is luck, write its manifest."""
    options = {k: v for k, v in locals().items() if k not in {"workers", "live", "require_pass"}}
    from stratlab.optimize.runner import start_run, validate_workers

    validate_workers(workers)
    run_dir = _new(**options)
    console.stdout.print(f"run directory: {run_dir.path}", markup=False)
    final = start_run(
        run_dir, workers=workers, console=console.stdout, live=live,
        data_root=str(data_root) if data_root else None,
    )  # fmt: skip
    _print_outcome(run_dir, final, require_pass=require_pass)
