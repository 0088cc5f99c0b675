"""A worker killed mid-trial leaves its trial RUNNING: the next worker to start, or one already waiting for that
trial, marks it FAIL, and the run still reaches its exact budget.

Each test leaves the RUNNING trial through the real storage, tagged as a worker tags its trials (host:pid), then runs
a real worker process. Which of the worker's two checks failed the orphan is read from what the worker reports: the
count in its ``worker_started`` event (the start-up check) and the total in its summary (both checks).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from stratlab.optimize.context import RunRequest
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.runner import create_run
from stratlab.optimize.storage import open_storage
from stratlab.optimize.worker import WORKER_ATTR, open_studies
from stratlab.processes import pid_alive
from tests.optimize.test_runs import run_storage_url, stored_trials

STRATEGY = "ma_cross"
BUDGET = 3
WORKER_TIMEOUT_S = 120.0
# A worker in its own process that prints its summary, the one place that counts the orphans failed while it waited.
WORKER_SCRIPT = (
    "import dataclasses, json, sys\n"
    "from stratlab.optimize.worker import run_worker\n"
    "print(json.dumps(dataclasses.asdict(run_worker(sys.argv[1], data_root=sys.argv[2]))))\n"
)


def new_small_run(demo_root: Path, tmp_path: Path, storage: str | None = None) -> RunDir:
    request = RunRequest.parse(
        source="demo", symbol="BTC", start="2025-01-01", end="2025-01-31", strategies=(STRATEGY,),
        max_trials=BUDGET, sampler="random", storage=storage,
    )  # fmt: skip
    return create_run(request, data_root=demo_root, runs_root=tmp_path / "runs")


def leave_running_trial(run_dir: RunDir, worker_tag: str) -> optuna.Trial:
    """A trial that worker ``worker_tag`` asked for and never finished, written as a worker writes it: the tag with
    the trial's creation where the storage can (the journal), else set right after (RDB storages)."""
    storage = open_storage(run_storage_url(run_dir), new_trial_user_attrs={WORKER_ATTR: worker_tag})
    trial = open_studies(run_dir.load_context(), storage, seed=0)[STRATEGY].ask()
    if trial.user_attrs.get(WORKER_ATTR) != worker_tag:
        trial.set_user_attr(WORKER_ATTR, worker_tag)
    assert stored_trial(run_dir, trial.number).state == TrialState.RUNNING
    assert stored_trial(run_dir, trial.number).user_attrs[WORKER_ATTR] == worker_tag
    return trial


def stored_trial(run_dir: RunDir, number: int) -> FrozenTrial:
    return next(t for t in stored_trials(run_dir)[STRATEGY] if t.number == number)


def count_in_state(run_dir: RunDir, state: TrialState) -> int:
    return sum(t.state == state for t in stored_trials(run_dir)[STRATEGY])


def dead_worker_tag() -> str:
    """The tag of a worker of this machine that is certainly gone: a process that ran, exited and was reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    assert not pid_alive(process.pid)
    return f"{socket.gethostname()}:{process.pid}"


def start_worker(run_dir: RunDir, demo_root: Path, tmp_path: Path) -> subprocess.Popen[str]:
    log = (tmp_path / "worker.log").open("w")  # stderr to a file: a full pipe would block the worker
    return subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, str(run_dir.path), str(demo_root)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip


def worker_summary(worker: subprocess.Popen[str], tmp_path: Path) -> dict[str, Any]:
    """Wait for the worker to end and return its summary; a worker that never ends is waiting for a trial nobody
    failed."""
    try:
        out, _ = worker.communicate(timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.communicate()
        pytest.fail(f"the worker still waits after {WORKER_TIMEOUT_S:.0f} s: the orphaned trial was never failed")
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary


def wait_until(condition: Callable[[], bool], worker: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    while not condition():
        assert worker.poll() is None, f"the worker ended before {what}"
        assert time.monotonic() < deadline, f"no {what} after {WORKER_TIMEOUT_S:.0f} s"
        time.sleep(0.1)


def started_events(run_dir: RunDir) -> list[dict[str, Any]]:
    return [e for e in run_dir.read_progress() if e["event"] == "worker_started"]


def assert_failed_as_orphan_and_budget_met(run_dir: RunDir, orphan: int) -> None:
    failed = stored_trial(run_dir, orphan)
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs["failed_because"] == "its worker died"
    assert count_in_state(run_dir, TrialState.COMPLETE) == BUDGET
    assert count_in_state(run_dir, TrialState.RUNNING) == 0


@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_a_starting_worker_fails_the_trial_a_dead_worker_left_running(
    demo_root: Path, tmp_path: Path, storage: str
) -> None:
    url = f"sqlite:///{tmp_path / 'trials.db'}" if storage == "sqlite" else None
    run_dir = new_small_run(demo_root, tmp_path, url)
    orphan = leave_running_trial(run_dir, dead_worker_tag()).number

    summary = worker_summary(start_worker(run_dir, demo_root, tmp_path), tmp_path)

    # Failed by the start-up check: had it been left, the worker would have found it only later, while waiting for
    # it at the end of the budget, and its worker_started event would say 0.
    assert [e["orphans_failed"] for e in started_events(run_dir)] == [1]
    assert summary["failed_orphans"] == 1
    assert summary["stopped_by"] == "budget"
    assert summary["trials"] == {STRATEGY: BUDGET}
    assert_failed_as_orphan_and_budget_met(run_dir, orphan)


def test_a_waiting_worker_fails_the_last_trial_once_its_worker_dies(demo_root: Path, tmp_path: Path) -> None:
    run_dir = new_small_run(demo_root, tmp_path)
    # The orphan's worker is a live process this test controls, so the new worker's start-up check must leave the
    # trial alone; only once the worker waits for it does the process die.
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    worker: subprocess.Popen[str] | None = None
    try:
        orphan = leave_running_trial(run_dir, f"{socket.gethostname()}:{holder.pid}").number
        worker = start_worker(run_dir, demo_root, tmp_path)
        # Every other trial of the budget done: the worker now waits for the holder's trial.
        wait_until(
            lambda: count_in_state(run_dir, TrialState.COMPLETE) == BUDGET - 1, worker, "budget done but one trial"
        )
        assert [e["orphans_failed"] for e in started_events(run_dir)] == [0]
        assert stored_trial(run_dir, orphan).state == TrialState.RUNNING
        holder.kill()
        holder.wait()
        summary = worker_summary(worker, tmp_path)
    finally:
        for process in (holder, worker):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()

    assert summary["failed_orphans"] == 1  # none at start (above): the waiting worker's check failed it
    assert summary["stopped_by"] == "budget"
    assert summary["trials"] == {STRATEGY: BUDGET}
    assert_failed_as_orphan_and_budget_met(run_dir, orphan)
