"""One worker process: loops trials (ask, backtest on train, tell) over the run's studies until the budget is spent,
the time is up or ``stop.flag`` appears.

Strategies share the workers fairly: each trial goes to the study with the fewest finished-or-running trials that is
still under its budget. The budget counts COMPLETE trials per strategy; several workers may overshoot it by at most
one trial each, never undershoot. Trials of a worker that died while running them are marked FAIL when any worker
starts (same host: by process id; other hosts: Optuna's heartbeat on RDB storages), so nothing stays RUNNING forever
and a resumed run never repeats or loses a finished trial.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState

from stratlab.indicators import indicator_cache
from stratlab.optimize.context import RunContext
from stratlab.optimize.evaluate import Evaluator, load_run_candles, missing_constraint
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.space import suggest
from stratlab.optimize.storage import open_storage
from stratlab.strategies import Strategy, get_strategy

log = logging.getLogger(__name__)

DIRECTIONS = (StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE)  # train return %, train max drawdown %
PROGRESS_EVERY_S = 1.0
ORPHAN_CHECK_S = 1.0
COUNT_REFRESH_S = 2.0
WORKER_ATTR = "worker"


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, scramble=True)
    raise ValueError(f"unknown sampler {name!r}")


def open_studies(context: RunContext, storage: BaseStorage, seed: int) -> dict[str, optuna.Study]:
    """One study per strategy (created by whoever comes first), each with this worker's seeded sampler."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    studies = {}
    for offset, name in enumerate(context.request.strategies):
        studies[name] = optuna.create_study(
            study_name=name,
            storage=storage,
            directions=list(DIRECTIONS),
            sampler=make_sampler(context.request.sampler, seed + 7919 * offset),
            load_if_exists=True,
        )
    return studies


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive_here(tag: object) -> bool:
    host, _, pid = str(tag).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's worker: its heartbeat (RDB storages) decides
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphaned_trials(studies: dict[str, optuna.Study]) -> int:
    """Mark FAIL every RUNNING trial whose worker is gone; returns how many."""
    failed = 0
    for study in studies.values():
        if isinstance(study._storage, RDBStorage):
            optuna.storages.fail_stale_trials(study)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if not _alive_here(trial.user_attrs.get(WORKER_ATTR, "")):
                study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
                study._storage.set_trial_user_attr(trial._trial_id, "failed_because", "its worker died")
                failed += 1
    return failed


def trial_counts(study: optuna.Study) -> tuple[int, int]:
    """(COMPLETE, RUNNING) trials of a study, counted by the storage."""
    storage, study_id = study._storage, study._study_id
    complete = storage.get_n_trials(study_id, state=TrialState.COMPLETE)
    running = storage.get_n_trials(study_id, state=TrialState.RUNNING)
    return complete, running


class _Counts:
    """Trial counts per study, read from the storage now and then and exactly near the budget."""

    def __init__(self, margin: int) -> None:
        self.margin = margin
        self.cached: dict[str, tuple[int, int, float]] = {}
        self.own: dict[str, int] = {}

    def get(self, study: optuna.Study, name: str, budget: int) -> tuple[int, int]:
        now = time.monotonic()
        entry = self.cached.get(name)
        if entry is not None:
            complete, running, when = entry
            estimate = complete + self.own.get(name, 0)
            if now - when < COUNT_REFRESH_S and estimate + running + self.margin < budget:
                return estimate, running
        complete, running = trial_counts(study)
        self.cached[name] = (complete, running, now)
        self.own[name] = 0
        return complete, running

    def started(self, name: str) -> None:
        self.own[name] = self.own.get(name, 0) + 1


@dataclass
class WorkerSummary:
    worker: str
    trials: dict[str, int] = field(default_factory=dict)
    pruned: int = 0
    failed_orphans: int = 0
    stopped_by: str = ""
    elapsed_s: float = 0.0


def run_worker(
    run_path: Path | str,
    *,
    worker_index: int = 0,
    storage_url: str | None = None,
    data_root: Path | str | None = None,
    time_budget_s: float | None = None,
) -> WorkerSummary:
    """Work on the run in ``run_path`` until its budget is spent, its time is up or a stop is requested."""
    started = time.monotonic()
    run_dir = RunDir(run_path)
    context = run_dir.load_context()
    request = context.request
    tag = this_worker()
    summary = WorkerSummary(worker=tag, trials=dict.fromkeys(request.strategies, 0))
    storage = open_storage(storage_url or context.storage_url)
    seed = request.seed * 1_000_003 + worker_index * 104_729 + os.getpid()
    studies = open_studies(context, storage, seed)
    summary.failed_orphans = fail_orphaned_trials(studies)
    candles = load_run_candles(context, data_root)
    evaluator = Evaluator(context, candles)
    strategies: dict[str, Strategy] = {name: get_strategy(name) for name in request.strategies}
    train = context.part("train")
    budget_s = request.time_budget_s if time_budget_s is None else time_budget_s
    run_dir.append_progress("worker_started", worker=tag, index=worker_index, orphans_failed=summary.failed_orphans)
    last_report = last_orphan_check = time.monotonic()
    exhausted: set[str] = set()
    counts = _Counts(margin=4 * max(1, os.cpu_count() or 1))

    with indicator_cache():
        while True:
            if run_dir.stop_requested():
                summary.stopped_by = "stop.flag"
                break
            if budget_s and time.monotonic() - started >= budget_s:
                summary.stopped_by = "time budget"
                break
            # Fair share: the open study with the fewest finished-or-running trials gets the next one. Counting
            # trials costs a storage read, so counts are refreshed every COUNT_REFRESH_S and every time, exactly,
            # once a study is near its budget; in between this worker adds the trials it started itself.
            loads = {}
            for name, study in studies.items():
                if name in exhausted:
                    continue
                complete, running = counts.get(study, name, request.max_trials)
                if complete + running >= request.max_trials:
                    if complete >= request.max_trials:
                        exhausted.add(name)
                    continue
                loads[name] = complete + running
            if not loads:
                if len(exhausted) == len(studies):
                    summary.stopped_by = "budget"
                    break
                # The last trials are running elsewhere. If their worker died they must be failed here, or this
                # worker would wait for them forever; then their budget is rerun.
                if time.monotonic() - last_orphan_check >= ORPHAN_CHECK_S:
                    last_orphan_check = time.monotonic()
                    summary.failed_orphans += fail_orphaned_trials(studies)
                time.sleep(0.05)
                continue
            name = min(loads, key=lambda n: (loads[n], n))
            study = studies[name]
            strategy = strategies[name]
            trial = study.ask()
            trial.set_user_attr(WORKER_ATTR, tag)
            params, searched = suggest(trial, strategy, request.common)
            broken = missing_constraint(strategy, params)
            if broken is not None:
                # Not a result: the sampler proposed a point outside the space (e.g. fast >= slow).
                trial.set_user_attr("pruned_because", f"breaks {broken}")
                study.tell(trial, state=TrialState.PRUNED)
                summary.pruned += 1
                continue
            result = evaluator.evaluate(strategy, params, searched, train.name)
            trial.set_user_attr("n_trades", result.n_trades)
            study.tell(trial, [result.return_pct, result.max_drawdown_pct])
            counts.started(name)
            summary.trials[name] += 1
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY_S:
                last_report = now
                run_dir.append_progress("worker_progress", worker=tag, trials=dict(summary.trials))

    summary.elapsed_s = time.monotonic() - started
    run_dir.append_progress(
        "worker_finished", worker=tag, trials=summary.trials, stopped_by=summary.stopped_by,
        elapsed_s=round(summary.elapsed_s, 3),
    )  # fmt: skip
    return summary


__all__ = ["DIRECTIONS", "WorkerSummary", "fail_orphaned_trials", "make_sampler", "open_studies", "run_worker"]
