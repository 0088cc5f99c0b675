"""PostgreSQL: a trial left RUNNING by a worker on another machine that vanished (its heartbeat silent for longer than
the grace period) is failed by the next worker, and the run still reaches its exact budget.

The process-id rule cannot see another machine's processes, so these trials carry another host's tag. Instead of
waiting out the real grace period, the trial's heartbeat row is moved back in time in the database.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import psycopg
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from stratlab.optimize.storage import HEARTBEAT_GRACE_S, open_storage
from stratlab.optimize.worker import fail_orphaned_trials, open_studies
from tests.optimize.test_orphans import (
    BUDGET,
    STRATEGY,
    count_in_state,
    leave_running_trial,
    new_small_run,
    start_worker,
    started_events,
    stored_trial,
    wait_until,
    worker_summary,
)
from tests.optimize.test_runs import stored_trials

ANOTHER_MACHINE = "another-machine.invalid"


def sql(url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    """One statement on the run's database, through the driver itself rather than the storage under test."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        cursor = conn.execute(query, args)
        return cursor.fetchall() if cursor.description else []


def trial_id_of(storage: RDBStorage, number: int) -> int:
    """The database id of trial ``number`` of the run's study."""
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(STRATEGY), number)


def beat_then_fall_silent(url: str, trial: optuna.Trial, silent_s: float) -> None:
    """The trial's worker recorded its heartbeat, as Optuna's heartbeat thread does, and has been silent since
    ``silent_s`` seconds."""
    storage = open_storage(url)
    assert isinstance(storage, RDBStorage) and storage.heartbeat_interval  # the storage workers open beats
    trial_id = trial_id_of(storage, trial.number)
    storage.record_heartbeat(trial_id)
    sql(
        url, "UPDATE trial_heartbeats SET heartbeat = heartbeat - make_interval(secs => %s) WHERE trial_id = %s",
        silent_s, trial_id,
    )  # fmt: skip


def test_the_next_worker_fails_the_trial_of_a_worker_on_another_machine_that_went_silent(
    demo_root: Path, tmp_path: Path, fresh_postgres_url: str
) -> None:
    run_dir = new_small_run(demo_root, tmp_path, fresh_postgres_url)
    orphan = leave_running_trial(run_dir, f"{ANOTHER_MACHINE}:4242")
    beat_then_fall_silent(fresh_postgres_url, orphan, HEARTBEAT_GRACE_S + 3600)

    worker = start_worker(run_dir, demo_root, tmp_path)
    try:
        # Failed by the worker's start-up check. Left RUNNING, the trial would hold the last place of the budget and
        # the worker would wait for it for good, so this is checked as soon as the worker has started.
        wait_until(lambda: bool(started_events(run_dir)), worker, "worker_started event")
        assert stored_trial(run_dir, orphan.number).state == TrialState.FAIL
        summary = worker_summary(worker, tmp_path)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    assert summary["stopped_by"] == "budget" and summary["trials"] == {STRATEGY: BUDGET}
    assert count_in_state(run_dir, TrialState.COMPLETE) == BUDGET
    assert count_in_state(run_dir, TrialState.RUNNING) == 0


def test_a_worker_on_another_machine_that_still_beats_keeps_its_trial(
    demo_root: Path, tmp_path: Path, fresh_postgres_url: str
) -> None:
    run_dir = new_small_run(demo_root, tmp_path, fresh_postgres_url)
    silent = leave_running_trial(run_dir, f"{ANOTHER_MACHINE}:1")
    beating = leave_running_trial(run_dir, f"{ANOTHER_MACHINE}:2")
    beat_then_fall_silent(fresh_postgres_url, silent, HEARTBEAT_GRACE_S + 60)
    beat_then_fall_silent(fresh_postgres_url, beating, 0)

    storage = open_storage(fresh_postgres_url)
    fail_orphaned_trials(open_studies(run_dir.load_context(), storage, seed=0), storage)

    assert stored_trial(run_dir, silent.number).state == TrialState.FAIL
    assert stored_trial(run_dir, beating.number).state == TrialState.RUNNING


def test_a_worker_on_postgresql_records_the_heartbeat_of_the_trials_it_runs(
    demo_root: Path, tmp_path: Path, fresh_postgres_url: str
) -> None:
    run_dir = new_small_run(demo_root, tmp_path, fresh_postgres_url)
    worker_summary(start_worker(run_dir, demo_root, tmp_path), tmp_path)

    storage = open_storage(fresh_postgres_url)
    assert isinstance(storage, RDBStorage)
    complete = [t.number for t in stored_trials(run_dir)[STRATEGY] if t.state == TrialState.COMPLETE]
    completed = {trial_id_of(storage, number) for number in complete}
    assert len(completed) == BUDGET
    beaten = {row[0] for row in sql(fresh_postgres_url, "SELECT trial_id FROM trial_heartbeats")}
    assert completed <= beaten
