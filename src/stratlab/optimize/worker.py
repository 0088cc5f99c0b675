"""One worker process: loops trials (ask, backtest on train, tell) over the run's studies until the budget is spent,
the time is up or ``stop.flag`` appears.

Strategies share the workers fairly: each trial goes to the study with the lowest trial number so far that is still
under its budget. The budget counts COMPLETE trials per strategy and is met exactly: when several workers ask for the
last trials at once, the lowest trial numbers go ahead and the others are pruned ("over budget"). Trials of a worker
that died while running them are marked FAIL (same host: by process id, checked when a worker starts and while it
waits; other hosts: Optuna's heartbeat on RDB storages), so nothing stays RUNNING forever and a resumed run never
repeats or loses a finished trial.

A worker is ``run_worker``. ``run start`` runs each of its workers as ``python -m stratlab.optimize.worker --run-dir D
--index N --supervisor-pid P [--storage URL] [--data-root R]`` (``main`` below); ``stratlab run worker`` runs the same
function for a worker on another machine.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState

from stratlab.errors import StratlabError
from stratlab.indicators import indicator_cache
from stratlab.logging_setup import configure_logging
from stratlab.optimize._optuna import tell_without_copy
from stratlab.optimize.context import RunContext
from stratlab.optimize.evaluate import Evaluator, load_run_candles, missing_constraint
from stratlab.optimize.gp_sampler import GPTrustRegionSampler
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.sampling import make_sampler
from stratlab.optimize.space import suggest
from stratlab.optimize.storage import open_storage
from stratlab.optimize.trial_returns import TrialReturnsWriter, trial_key
from stratlab.processes import pid_alive
from stratlab.settings import get_settings
from stratlab.strategies import Strategy, use_source

log = logging.getLogger(__name__)

DIRECTIONS = (StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE)  # train return %, train max drawdown %
PROGRESS_EVERY_S = 1.0
ORPHAN_CHECK_S = 1.0
BLOCKED_WAIT_S = 0.2
WORKER_ATTR = "worker"
WORKER_MODULE = "stratlab.optimize.worker"  # run with ``python -m``: see main


def open_studies(context: RunContext, storage: BaseStorage, seed: int) -> dict[str, optuna.Study]:
    """One study per strategy (created by whoever comes first), each with this worker's seeded sampler."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    studies = {}
    for offset, name in enumerate(context.study_names):
        studies[name] = optuna.create_study(
            study_name=name,
            storage=storage,
            directions=list(DIRECTIONS),
            sampler=make_sampler(context.request.sampler, (seed + 7919 * offset) % 2**32),
            load_if_exists=True,
        )
    return studies


def read_studies(context: RunContext, storage: BaseStorage) -> dict[str, optuna.Study]:
    """The run's studies that exist, opened for reading: a report never writes to the storage (creating a missing
    study would append to a journal it may be refusing to trust)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    existing = {study.study_name for study in storage.get_all_studies()}
    return {
        name: optuna.load_study(study_name=name, storage=storage) for name in context.study_names if name in existing
    }


def budget_met(studies: dict[str, optuna.Study], study_names: tuple[str, ...], budget: int) -> bool:
    """Every study has its completed trials: a worker would only add pruned "over budget" trials."""
    return len(studies) == len(study_names) and all(trial_counts(s)[0] >= budget for s in studies.values())


def stored_trials(storage: BaseStorage) -> int:
    """Trials of every state already in the storage's studies (0 before the first worker creates them)."""
    studies = storage.get_all_studies()
    return sum(storage.get_n_trials(storage.get_study_id_from_name(study.study_name)) for study in studies)


def worker_seed(seed: int, worker_index: int, trials_before: int) -> int:
    """The seed of a worker's samplers: the run's --seed, the worker's index and the trials already stored. No
    process id or clock: the same request with one worker gives the same trials; a resumed run starts from a
    different point of every sampler's stream instead of proposing its first trials again."""
    return (seed * 1_000_003 + worker_index * 104_729 + trials_before * 7_919) % (2**32)


def model_quality_of(studies: dict[str, optuna.Study]) -> dict[str, dict[str, float]]:
    """With a model-based sampler, each study's last measured model quality (walk-forward Spearman) for the progress
    log; nothing for the others."""
    quality = {
        name: float(study.sampler.last_quality)
        for name, study in studies.items()
        if isinstance(study.sampler, GPTrustRegionSampler) and study.sampler.last_quality is not None
    }
    return {"model_quality": quality} if quality else {}


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive_here(tag: object) -> bool:
    host, _, pid = str(tag).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's worker: its heartbeat (RDB storages) decides
    return pid_alive(int(pid))


def fail_orphaned_trials(studies: dict[str, optuna.Study], storage: BaseStorage) -> int:
    """Mark FAIL every RUNNING trial whose worker is gone; returns how many. ``storage``: the one the studies were
    opened on."""
    failed = 0
    for study in studies.values():
        failed += _fail_silent_trials(study, storage)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if not _alive_here(trial.user_attrs.get(WORKER_ATTR, "")):
                # The reason first: a finished trial can no longer be annotated. Two workers may race to fail the
                # same orphan; the loser's update is refused, which is fine.
                trial_id = stored_trial_id(storage, study, trial.number)
                try:
                    storage.set_trial_user_attr(trial_id, "failed_because", "its worker died")
                    storage.set_trial_state_values(trial_id, TrialState.FAIL)
                except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
                    continue
                failed += 1
    return failed


def stored_trial_id(storage: BaseStorage, study: optuna.Study, number: int) -> int:
    """The storage's id of trial ``number`` of ``study`` (what storages address trials by)."""
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)


def heartbeat_interval(storage: BaseStorage) -> int | None:
    """Seconds between heartbeats where the storage records them (RDB storages opened with one), else None."""
    return storage.get_heartbeat_interval() if isinstance(storage, RDBStorage) else None


def _fail_silent_trials(study: optuna.Study, storage: BaseStorage) -> int:
    """On storages with a heartbeat (RDB: workers on several machines), fail the RUNNING trials whose heartbeat has
    been silent past the grace period; returns how many."""
    if heartbeat_interval(storage) is None:
        return 0
    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    return sum(1 for t in failed if t.number in running)


def _ask(study: optuna.Study) -> optuna.Trial:
    """``study.ask`` without Optuna's warning that a beating storage belongs to ``study.optimize``: the loop here
    beats itself (``heartbeat``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed", category=UserWarning)
        return study.ask()


@contextlib.contextmanager
def heartbeat(storage: BaseStorage, study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """While a trial runs, record its heartbeat every interval where the storage beats (Optuna does it only inside
    ``study.optimize``, and this loop uses ask and tell); elsewhere nothing."""
    interval = heartbeat_interval(storage)
    if interval is None:
        yield
        return
    assert isinstance(storage, RDBStorage)  # heartbeat_interval answers for RDB storages only
    trial_id = stored_trial_id(storage, study, trial.number)
    stopped = threading.Event()

    def beat() -> None:
        while True:
            storage.record_heartbeat(trial_id)
            if stopped.wait(timeout=interval):
                return

    beating = threading.Thread(target=beat, name=f"heartbeat of trial {trial.number}", daemon=True)
    beating.start()
    try:
        yield
    finally:
        stopped.set()
        beating.join()


def count_in_state(study: optuna.Study, state: TrialState) -> int:
    return len(study.get_trials(deepcopy=False, states=(state,)))


def trial_counts(study: optuna.Study) -> tuple[int, int]:
    """(COMPLETE, RUNNING) trials of a study, counted by the storage."""
    running = count_in_state(study, TrialState.RUNNING)  # first: see _over_budget
    complete = count_in_state(study, TrialState.COMPLETE)
    return complete, running


def _over_budget(study: optuna.Study, number: int, budget: int) -> bool:
    """True when trial ``number`` is beyond the budget once finished trials and lower-numbered running ones count."""
    # Running first, then complete: a trial finishing between the two reads is counted twice (a harmless extra
    # wait) rather than not at all (a trial over budget).
    running = sorted(t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    complete = count_in_state(study, TrialState.COMPLETE)
    ahead = sum(1 for n in running if n < number)
    return complete + ahead >= budget


def finish(
    study: optuna.Study, trial: optuna.Trial, values: list[float] | None = None, state: TrialState | None = None
) -> None:
    """``study.tell`` without the deep copy of the finished trial it returns, which no caller here reads (it costs
    about a twentieth of a trial)."""
    tell_without_copy(study, trial, values, state)


@dataclass
class WorkerSummary:
    worker: str
    trials: dict[str, int] = field(default_factory=dict)
    pruned: int = 0
    failed_orphans: int = 0
    stopped_by: str = ""
    elapsed_s: float = 0.0

    def line(self) -> str:
        """What a worker prints when it ends."""
        return f"worker {self.worker}: {sum(self.trials.values())} trials, stopped by {self.stopped_by}"


def run_worker(
    run_path: Path | str,
    *,
    worker_index: int = 0,
    storage_url: str | None = None,
    data_root: Path | str | None = None,
    time_budget_s: float | None = None,
    supervisor_pid: int | None = None,
) -> WorkerSummary:
    """Work on the run in ``run_path`` until its budget is spent, its time is up or a stop is requested.

    ``supervisor_pid``: the ``run start`` that spawned this worker; when it is gone (killed, crashed) the worker stops
    after its trial, so an interrupted run has no workers left behind and a new ``run start`` is alone."""
    started = time.monotonic()
    run_dir = RunDir(run_path)
    context = run_dir.load_context()
    request = context.request
    tag = this_worker()
    summary = WorkerSummary(worker=tag, trials=dict.fromkeys(context.study_names, 0))
    run_dir.check_storage_kept(context, storage_url)
    storage = open_storage(run_dir.storage_url(context, storage_url), new_trial_user_attrs={WORKER_ATTR: tag})
    if budget_met(read_studies(context, storage), context.study_names, request.max_trials):
        summary.stopped_by = "budget"  # a finished run: joining it must not write a single line
        return summary
    studies = open_studies(context, storage, worker_seed(request.seed, worker_index, stored_trials(storage)))
    summary.failed_orphans = fail_orphaned_trials(studies, storage)
    candles = load_run_candles(context, data_root)
    evaluator = Evaluator(context, candles)
    searches = {search.study: search for search in context.searches}
    # A user strategy runs as the run recorded it: from its file, refused if the file changed since.
    strategies: dict[str, Strategy] = {
        study: use_source(
            search.strategy, context.strategy_sources.get(search.strategy), used_by=f"run {context.run_id}"
        )
        for study, search in searches.items()
    }
    budget_s = request.time_budget_s if time_budget_s is None else time_budget_s
    run_dir.append_progress("worker_started", worker=tag, index=worker_index, orphans_failed=summary.failed_orphans)
    last_report = last_orphan_check = time.monotonic()
    # A strategy whose budget is already met gets no new trial (asking for one would only add a pruned trial).
    exhausted: set[str] = {name for name, study in studies.items() if trial_counts(study)[0] >= request.max_trials}
    blocked_until: dict[str, float] = {}
    last_number: dict[str, int] = {}
    budget = request.max_trials
    returns_writer = TrialReturnsWriter(run_dir.path, f"w{worker_index}-{tag}")

    with indicator_cache(), contextlib.closing(returns_writer):
        while True:
            if run_dir.stop_requested():
                summary.stopped_by = "stop.flag"
                break
            if supervisor_pid is not None and os.getppid() != supervisor_pid:
                summary.stopped_by = "supervisor gone"  # its parent died: the worker was handed to another process
                break
            if budget_s and time.monotonic() - started >= budget_s:
                summary.stopped_by = "time budget"
                break
            # Fair share: the study with the lowest trial number so far gets the next trial. Trial numbers are
            # global per study, so a number below the budget proves the budget is not spent without reading the
            # storage; only at the end are trials counted.
            now = time.monotonic()
            open_names = [n for n in studies if n not in exhausted and blocked_until.get(n, 0.0) <= now]
            if not open_names:
                if len(exhausted) == len(studies):
                    summary.stopped_by = "budget"
                    break
                # The last trials are running elsewhere. If their worker died they must be failed here, or this
                # worker would wait for them forever; then their budget is rerun.
                if now - last_orphan_check >= ORPHAN_CHECK_S:
                    last_orphan_check = now
                    summary.failed_orphans += fail_orphaned_trials(studies, storage)
                time.sleep(0.05)
                continue
            name = min(open_names, key=lambda n: (last_number.get(n, -1), n))
            study = studies[name]
            strategy = strategies[name]
            if last_number.get(name, -1) + 1 >= budget:
                complete, running = trial_counts(study)
                if complete >= budget:
                    exhausted.add(name)
                    continue
                if complete + running >= budget:
                    blocked_until[name] = now + BLOCKED_WAIT_S
                    continue
            trial = _ask(study)
            last_number[name] = trial.number
            if WORKER_ATTR not in trial.user_attrs:
                trial.set_user_attr(WORKER_ATTR, tag)
            if trial.number >= budget and _over_budget(study, trial.number, budget):
                # Several workers asked for the last trials at once: the lowest trial numbers go ahead.
                trial.set_user_attr("pruned_because", "over budget")
                finish(study, trial, state=TrialState.PRUNED)
                blocked_until[name] = now + BLOCKED_WAIT_S
                continue
            params, searched = suggest(trial, strategy, request.common)
            broken = missing_constraint(strategy, params)
            if broken is not None:
                # Not a result: the sampler proposed a point outside the space (e.g. fast >= slow).
                trial.set_user_attr("pruned_because", f"breaks {broken}")
                finish(study, trial, state=TrialState.PRUNED)
                summary.pruned += 1
                continue
            with heartbeat(storage, study, trial):
                result = evaluator.evaluate(strategy, params, searched, searches[name].train)
                trial.set_user_attr("n_trades", result.n_trades)
                finish(study, trial, [result.return_pct, result.max_drawdown_pct])
            returns_writer.add(trial_key(name, trial.number), result)
            summary.trials[name] += 1
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY_S:
                last_report = now
                run_dir.append_progress("worker_progress", worker=tag, trials=dict(summary.trials),
                                        **model_quality_of(studies))  # fmt: skip

    summary.elapsed_s = time.monotonic() - started
    run_dir.append_progress(
        "worker_finished", worker=tag, trials=summary.trials, stopped_by=summary.stopped_by,
        elapsed_s=round(summary.elapsed_s, 3),
    )  # fmt: skip
    return summary


# the worker process ---------------------------------------------------------------------------------------


class _OneLineArgumentParser(argparse.ArgumentParser):
    """Argument errors as one ``error:`` line and exit code 2, like the CLI's usage errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\n")


def _parse_worker_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _OneLineArgumentParser(
        prog="python -m stratlab.optimize.worker", description="One worker process of an optimisation run."
    )
    parser.add_argument("--run-dir", required=True, type=Path, help="the run directory")
    parser.add_argument("--index", type=int, default=0, help="worker number (seeds its sampler)")
    parser.add_argument("--storage", default=None, help="Optuna storage URL (default: the run's own)")
    parser.add_argument("--data-root", type=Path, default=None, help="store root (default: the run's)")
    parser.add_argument("--supervisor-pid", type=int, default=None, help="stop when this parent process is gone")
    return parser.parse_args(argv)


def worker_command(
    run_dir: Path, index: int, *, storage_url: str | None, data_root: str | None, supervisor_pid: int
) -> list[str]:
    """The command line of a local worker process started by ``run start``: this module's ``main``."""
    command = [sys.executable, "-m", WORKER_MODULE]
    command += ["--run-dir", str(run_dir), "--index", str(index), "--supervisor-pid", str(supervisor_pid)]
    if storage_url:
        command += ["--storage", storage_url]
    if data_root:
        command += ["--data-root", data_root]
    return command


def main(argv: Sequence[str] | None = None) -> int:
    """A worker process (``python -m stratlab.optimize.worker``): runs ``run_worker`` and prints its summary line;
    an error a user can cause is one ``error:`` line on stderr and exit code 1, as in the CLI. Console logging shows
    warnings and up (the process's output is its worker log); the log file follows the settings."""
    args = _parse_worker_args(argv)
    try:
        settings = get_settings()
        configure_logging(logging.WARNING, settings.log_dir, file_level=settings.log_level)
        summary = run_worker(
            args.run_dir, worker_index=args.index, storage_url=args.storage, data_root=args.data_root,
            supervisor_pid=args.supervisor_pid,
        )  # fmt: skip
    except StratlabError as exc:
        log.debug("worker failed", exc_info=True)
        sys.stderr.write("error: " + " ".join(str(exc).split()) + "\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    print(summary.line(), flush=True)
    return 0


__all__ = [
    "DIRECTIONS",
    "WORKER_ATTR",
    "WorkerSummary",
    "fail_orphaned_trials",
    "main",
    "make_sampler",
    "open_studies",
    "read_studies",
    "run_worker",
    "worker_command",
]

if __name__ == "__main__":
    sys.exit(main())
