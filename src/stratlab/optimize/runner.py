"""Creating a run and supervising its worker processes: status.json, progress.jsonl and the live terminal view.

``create_run`` validates everything a run needs before it writes anything (strategies, period, split against the
strategies' warm-up, threshold, storage reachable). ``start_run`` launches N worker processes (``python -m
stratlab.optimize.worker``), rewrites ``status.json`` about once a second from the storage, shows the live view, and on
Ctrl+C writes ``stop.flag`` so every worker finishes its current trial and stops; the report is rebuilt when they are
done.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from stratlab import __version__
from stratlab.data.gaps import find_gaps, gap_summary
from stratlab.data.loader import load_ohlcv
from stratlab.data.timeframes import parse_timeframe
from stratlab.errors import ConfigError, DataError, StratlabError
from stratlab.optimize.context import (
    RunContext,
    RunRequest,
    max_warmup_bars,
    run_dir_name,
    split_parts,
    walk_forward_windows,
)
from stratlab.optimize.rundir import EndReason, RunDir, RunState
from stratlab.optimize.storage import default_storage_url, open_storage
from stratlab.optimize.worker import budget_met, open_studies, read_studies, worker_command
from stratlab.selection import pareto_front
from stratlab.strategies.check_records import trusted_sources

log = logging.getLogger(__name__)

STATUS_EVERY_S = 1.0
HISTORY_EVERY_S = 2.0  # the throughput history's first spacing; it doubles each time the history is thinned
HISTORY_MAX_POINTS = 500  # enough for a chart, small enough to rewrite status.json every second
WORKER_ERROR_TAIL_BYTES = 4096
STOP_GRACE_S = 30.0
MAX_LOCAL_WORKERS = 64


def validate_workers(workers: int) -> None:
    """Worker processes on one machine: at least one, and not so many that they only fight over the cores."""
    if not 1 <= workers <= MAX_LOCAL_WORKERS:
        raise ConfigError(f"--workers: expected 1 to {MAX_LOCAL_WORKERS} worker processes, got {workers}")


def new_run_id(now: dt.datetime | None = None) -> str:
    moment = now or dt.datetime.now(dt.UTC)
    return moment.strftime("%Y%m%dT%H%M%S") + f"{moment.microsecond // 1000:03d}Z"


def create_run(request: RunRequest, *, data_root: Path | str, runs_root: Path | str) -> RunDir:
    """Validate ``request`` against the data and the storage, then write the run directory."""
    candles = load_ohlcv(
        request.source, request.symbol, request.timeframe, request.start, request.end, data_root=data_root
    )
    sources = trusted_sources(request.strategies, skip_check=request.skip_check)
    warmup = max_warmup_bars(request.strategies)
    windows = (
        ()
        if request.walk_forward is None
        else walk_forward_windows(candles, request.split, request.walk_forward, warmup)
    )
    # A walk-forward run's own parts are its last window's: what its champion was searched, chosen and traded on.
    parts = windows[-1] if windows else split_parts(candles, request.split, warmup)
    run_id = new_run_id()
    run_dir = RunDir(Path(runs_root) / run_dir_name(run_id, request.label))
    # Refuse an unreachable storage before anything is written; the run's own journal is created here.
    open_storage(request.storage or default_storage_url(run_dir.path))
    context = RunContext(
        run_id=run_id,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        request=request,
        data_root=str(Path(data_root).resolve()),
        n_bars=len(candles),
        first_bar_ms=int(candles.timestamp_ms[0]),
        last_bar_ms=int(candles.timestamp_ms[-1]),
        fingerprint=candles.fingerprint(),
        parts=parts,
        windows=windows,
        storage_url=request.storage,  # None: the journal inside the run directory, wherever it moves
        package_version=__version__,
        strategy_sources=sources,
    )
    run_dir.create(context)
    run_dir.append_progress("run_created", run_id=run_id, strategies=list(request.strategies))
    warning = gap_summary(find_gaps(candles.timestamp_ms, parse_timeframe(request.timeframe)))
    if warning is not None:
        log.warning("%s/%s/%s: %s", request.source, request.symbol, request.timeframe, warning)
    return run_dir


# status -----------------------------------------------------------------------------------------------------


@dataclass
class StudyProgress:
    strategy: str
    complete: int
    running: int
    failed: int
    pruned: int
    best: list[dict[str, Any]]  # train Pareto points so far


def study_progress(studies: dict[str, optuna.Study], min_trades: int = 0) -> list[StudyProgress]:
    """Counts per state and the train Pareto points so far, among trials with at least ``min_trades`` trades (the
    report's rule: a trial that barely traded sits on the front for free)."""
    out = []
    for name, study in studies.items():
        trials = study.get_trials(deepcopy=False)
        states = [t.state for t in trials]
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        traded = [t for t in complete if int(t.user_attrs.get("n_trades", 0)) >= min_trades]
        best: list[dict[str, Any]] = []
        if traded:
            returns = [t.values[0] for t in traded]
            drawdowns = [t.values[1] for t in traded]
            for i in pareto_front(returns, drawdowns)[:20]:
                t = traded[int(i)]
                best.append({"trial": t.number, "return_pct": t.values[0], "max_drawdown_pct": t.values[1]})
        out.append(
            StudyProgress(
                strategy=name,
                complete=len(complete),
                running=states.count(TrialState.RUNNING),
                failed=states.count(TrialState.FAIL),
                pruned=states.count(TrialState.PRUNED),
                best=best,
            )
        )
    return out


def eta_seconds(remaining_trials: int, rate: float, elapsed_s: float, time_budget_s: float) -> float | None:
    """Seconds until the run ends: when the budget of trials is met at the current rate, or when its time budget
    runs out, whichever comes first; None when neither can be told (no rate yet and no time budget)."""
    candidates = []
    if rate > 0:
        candidates.append(remaining_trials / rate)
    if time_budget_s > 0:
        candidates.append(max(time_budget_s - elapsed_s, 0.0))
    finite = [c for c in candidates if math.isfinite(c)]
    return round(min(finite), 1) if finite else None


@dataclass
class ThroughputHistory:
    """The run's progress over time for the Monitor's chart: ``[elapsed_s, completed, trials_per_s]`` points, at
    least ``every_s`` apart. Past ``max_points`` every other point is dropped and the spacing doubles, so a run of
    any length keeps an evenly spaced history of bounded size (status.json is rewritten every second)."""

    every_s: float = HISTORY_EVERY_S
    max_points: int = HISTORY_MAX_POINTS
    points: list[list[float]] = field(default_factory=list)

    def add(self, elapsed_s: float, completed: int, rate: float, *, last: bool = False) -> None:
        """Record a sample if the spacing allows it; ``last``: the run's final sample, always kept."""
        if self.points and not last and elapsed_s - self.points[-1][0] < self.every_s:
            return
        self.points.append([round(elapsed_s, 1), completed, round(rate, 3)])
        if len(self.points) > self.max_points:
            self.points = self.points[::-2][::-1]  # every other point, counted from the newest, which stays
            self.every_s *= 2


def build_status(
    context: RunContext,
    progress: list[StudyProgress],
    *,
    state: str,
    started: float,
    rate: float,
    workers: int,
    history: list[list[float]] | None = None,
) -> dict[str, Any]:
    budget = context.request.max_trials
    total_budget = budget * len(progress)
    done = sum(min(p.complete, budget) for p in progress)
    remaining = max(total_budget - done, 0)
    elapsed = time.time() - started
    running = state == RunState.RUNNING
    return {
        "schema_version": 1,
        "run_id": context.run_id,
        "state": state,
        "supervisor": f"{socket.gethostname()}:{os.getpid()}",
        "updated_at": time.time(),
        "started_at": started,
        "elapsed_s": round(elapsed, 3),
        "workers": workers,
        "trials_per_s": round(rate, 3),
        "eta_s": eta_seconds(remaining, rate, elapsed, context.request.time_budget_s) if running else None,
        "completed": done,
        "budget": total_budget,
        "strategies": [
            {
                "strategy": p.strategy,
                "completed": p.complete,
                "running": p.running,
                "failed": p.failed,
                "pruned": p.pruned,
                "budget": budget,
                "pareto": p.best,
            }
            for p in progress
        ],
        "history": history if history is not None else [],
    }


def _view(status: dict[str, Any]) -> Group:
    bars = Progress(
        TextColumn("{task.description:<20}"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[extra]}")
    )
    for item in status["strategies"]:
        best = max(item["pareto"], key=lambda p: p["return_pct"], default=None)
        extra = f"best train {best['return_pct']:+.1f} % (DD {best['max_drawdown_pct']:.1f} %)" if best else ""
        bars.add_task(
            item["strategy"], total=item["budget"], completed=min(item["completed"], item["budget"]), extra=extra
        )
    bars.add_task("total", total=status["budget"], completed=status["completed"], extra="")
    eta = status["eta_s"]
    summary = Table.grid(padding=(0, 2))
    summary.add_row(
        f"run {status['run_id']}",
        f"{status['state']}",
        f"{status['trials_per_s']:.1f} trials/s",
        f"ETA {eta:.0f} s" if eta is not None else "",
        f"{status['workers']} workers",
    )
    return Group(summary, bars)


# supervising workers ----------------------------------------------------------------------------------------


def _spawn_worker(
    run_dir: RunDir, index: int, storage_url: str | None, data_root: str | None
) -> subprocess.Popen[bytes]:
    """Worker ``index`` as a process of its own (``python -m stratlab.optimize.worker``), its output appended to
    ``workers/worker-<index>.log``, one thread for numba and OpenMP (the workers are the parallelism), stopping when
    this process is gone. In a process group of its own: Ctrl+C in a terminal reaches the whole foreground group, and
    a worker interrupted mid-trial would leave it RUNNING; the supervisor asks the workers to stop instead."""
    command = worker_command(
        run_dir.path, index, storage_url=storage_url, data_root=data_root, supervisor_pid=os.getpid()
    )
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with (run_dir.workers_dir / f"worker-{index}.log").open("ab") as log_file:
        return subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, process_group=0
        )


class SupervisorTerminatedError(BaseException):
    """SIGTERM reached ``run start``: it stops the run as Ctrl+C does."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise SupervisorTerminatedError


def _report_readable(run_dir: RunDir) -> bool:
    """A report.json that reads: a damaged one is rebuilt from the storage like a missing one."""
    try:
        run_dir.read_report()
    except DataError:
        return False
    return True


def start_run(
    run_dir: RunDir,
    *,
    workers: int,
    console: Console | None = None,
    live: bool = True,
    storage_url: str | None = None,
    data_root: str | None = None,
) -> dict[str, Any]:
    """Run (or resume) the run with ``workers`` local processes; returns the final status.

    One supervisor per run directory (a lock), results never replaced by an empty storage, and a run whose budget is
    already met is left exactly as it is."""
    validate_workers(workers)
    context = run_dir.load_context()
    with run_dir.supervisor_lock():
        run_dir.check_storage_kept(context, storage_url)
        storage = open_storage(run_dir.storage_url(context, storage_url))
        existing = read_studies(context, storage)
        finished = budget_met(existing, context.study_names, context.request.max_trials)
        if finished and _report_readable(run_dir):
            status = run_dir.read_status()
            if status is not None and status["state"] == RunState.FINISHED:
                return {**status, "already_finished": True}
        if finished:
            # Only the final status or the report is missing (a run whose last worker was killed after another
            # finished its budget says "failed"): no worker would have a trial to run, the bookkeeping is redone.
            workers = 0
        studies = existing if finished else open_studies(context, storage, seed=0)  # creating writes a line
        run_dir.clear_stop()
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            return _supervise(run_dir, context, studies, workers, console, live, storage_url, data_root)
        finally:
            signal.signal(signal.SIGTERM, previous)


def _supervise(
    run_dir: RunDir,
    context: RunContext,
    studies: dict[str, optuna.Study],
    workers: int,
    console: Console | None,
    live: bool,
    storage_url: str | None,
    data_root: str | None,
) -> dict[str, Any]:
    from stratlab.optimize.report import write_report

    started = time.time()
    run_dir.append_progress("run_started", workers=workers)
    processes: list[subprocess.Popen[bytes]] = []
    previous_done, previous_time, rate = None, time.monotonic(), 0.0
    done_before, started_monotonic = sum(p.complete for p in study_progress(studies)), time.monotonic()
    interrupted_by = ""
    state: str = RunState.RUNNING
    failed_workers: list[int] = []
    final: dict[str, Any] = {}
    history = ThroughputHistory()

    def snapshot(final: bool = False) -> dict[str, Any]:
        nonlocal previous_done, previous_time, rate
        progress = study_progress(studies, context.request.min_train_trades)
        done = sum(p.complete for p in progress)
        now = time.monotonic()
        if final:
            # The run's mean over this start, not the smoothed recent rate (which decays once workers stop).
            rate = (done - done_before) / max(now - started_monotonic, 1e-9)
        elif previous_done is not None and now > previous_time:
            instant = (done - previous_done) / (now - previous_time)
            rate = instant if rate == 0.0 else 0.7 * rate + 0.3 * instant
        previous_done, previous_time = done, now
        budget = context.request.max_trials
        history.add(time.time() - started, sum(min(p.complete, budget) for p in progress), rate, last=final)
        status = build_status(
            context, progress, state=state, started=started, rate=rate, workers=len(processes), history=history.points
        )
        run_dir.write_status(status)
        return status

    display = Live(console=console, refresh_per_second=4, transient=False) if live else None
    try:
        processes.extend(_spawn_worker(run_dir, i, storage_url, data_root) for i in range(workers))
        if display is not None:
            display.start()
        # Poll every process each turn (not any(), which stops at the first live one): a dead worker must be reaped,
        # or it lingers as a zombie that still answers kill(pid, 0) and its trials look alive to the others.
        while [p.poll() for p in processes].count(None):
            status = snapshot()
            if display is not None:
                display.update(_view(status))
            time.sleep(STATUS_EVERY_S)
    except (KeyboardInterrupt, SupervisorTerminatedError) as exc:
        interrupted_by = "keyboard interrupt" if isinstance(exc, KeyboardInterrupt) else "SIGTERM"
        _stop_workers(run_dir, processes, interrupted_by)
    finally:
        # A second signal while stopping must not leave the status at "running": the workers are waited for here.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for p in processes:
            p.wait()
        try:
            failed_workers = [i for i, p in enumerate(processes) if p.returncode not in (0, None)]
            state = RunState.STOPPED if interrupted_by or run_dir.stop_requested() else RunState.FINISHED
            if failed_workers and state == RunState.FINISHED:
                state = RunState.FAILED
            final = snapshot(final=True)
            final["state"] = str(state)
            final["failed_workers"] = failed_workers
            final["worker_exit_codes"] = [p.returncode for p in processes]
            reason = end_reason(
                interrupted=bool(interrupted_by), failed_workers=bool(failed_workers),
                stop_requested=run_dir.stop_requested(),
                budget_is_met=budget_met(studies, context.study_names, context.request.max_trials),
                time_budget_s=context.request.time_budget_s,
            )  # fmt: skip
            final["ended_because"] = str(reason)
            final["stop_requested_by"] = interrupted_by or _stop_requested_by(run_dir, started)
            final["worker_failures"] = [
                {"worker": i, "exit_code": processes[i].returncode, "error": _last_log_line(run_dir, i)}
                for i in failed_workers
            ]
            run_dir.write_status(final)
            if display is not None:
                display.update(_view(final))  # the last frame shows the final counts, not those of a second ago
        finally:
            if display is not None:
                display.stop()
                display.console.line()  # the last frame may not end its line when output is not a terminal

    run_dir.append_progress(
        "run_ended", state=str(state), failed_workers=failed_workers, ended_because=final.get("ended_because")
    )
    if console is not None and live:
        console.print("writing the report: the champion, is it luck? (PBO, SPA, DSR), robustness…", markup=False)
    try:
        write_report(run_dir, storage_url=storage_url, data_root=data_root)
    except StratlabError as exc:
        if not failed_workers:
            raise
        # The workers' failure is the cause to name first; the report's error is often its consequence.
        codes = final["worker_exit_codes"]
        failures = ", ".join(f"worker {i} (exit code {codes[i]}, log {run_dir.workers_dir}/worker-{i}.log)"
                             for i in failed_workers)  # fmt: skip
        raise ConfigError(f"{failures} failed, and the report could not be written: {exc}") from None
    return final


def end_reason(
    *, interrupted: bool, failed_workers: bool, stop_requested: bool, budget_is_met: bool, time_budget_s: float
) -> EndReason:
    """Why the workers ended, the most telling cause first: a signal to the supervisor stops them all (a worker it
    had to terminate fails as a consequence); a failed worker is named before a stop asked at the same time; a met
    budget before a time budget that passed too. Workers end on their own only by the budget or the time budget."""
    if interrupted:
        return EndReason.INTERRUPTED
    if failed_workers:
        return EndReason.WORKER_FAILED
    if stop_requested:
        return EndReason.STOP_REQUESTED
    if budget_is_met or time_budget_s <= 0:
        return EndReason.BUDGET_MET
    return EndReason.TIME_BUDGET


def _stop_requested_by(run_dir: RunDir, since: float) -> str | None:
    """Who asked this start of the run to stop: the ``by`` of the last ``stop_requested`` event since ``since``."""
    asked = [e for e in run_dir.read_progress() if e["event"] == "stop_requested" and _number(e.get("time")) >= since]
    if not asked:
        return None
    return str(asked[-1].get("by") or "") or None


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _last_log_line(run_dir: RunDir, index: int) -> str:
    """The last line a failed worker wrote to its log: its ``error:`` line, or the last line of a traceback."""
    path = run_dir.workers_dir / f"worker-{index}.log"
    try:
        with path.open("rb") as handle:
            handle.seek(max(path.stat().st_size - WORKER_ERROR_TAIL_BYTES, 0))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _stop_workers(run_dir: RunDir, processes: list[subprocess.Popen[bytes]], by: str) -> None:
    """Ask every worker to stop after its current trial; after the grace period, terminate what is left."""
    run_dir.request_stop()
    run_dir.append_progress("stop_requested", by=by)
    deadline = time.monotonic() + STOP_GRACE_S
    while [p.poll() for p in processes].count(None) and time.monotonic() < deadline:
        time.sleep(0.2)
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)


__all__ = [
    "MAX_LOCAL_WORKERS",
    "ThroughputHistory",
    "build_status",
    "create_run",
    "end_reason",
    "eta_seconds",
    "new_run_id",
    "start_run",
    "study_progress",
    "validate_workers",
]
