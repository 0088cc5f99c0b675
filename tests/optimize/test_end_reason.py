"""Why a run ended, as its final status.json says (``ended_because``), and the bounded throughput history, for runs
made by the real CLI: budget met, time budget reached, stop requested by `run stop`, interrupted by SIGTERM, and a
worker that failed."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from stratlab.optimize.rundir import EndReason, RunDir, RunState
from stratlab.optimize.runner import ThroughputHistory
from tests.conftest import run_cli

PERIOD = ["--start", "2025-01-01", "--end", "2025-01-31"]


def runs_env(tmp_path: Path) -> dict[str, str]:
    return {"STRATLAB_RUNS_ROOT": str(tmp_path / "runs")}


def new_run(demo_root: Path, tmp_path: Path, *extra: str) -> RunDir:
    result = run_cli(
        "run", "new", "--source", "demo", "--symbol", "BTC", *PERIOD, "--strategies", "ma_cross",
        "--data-root", str(demo_root), "--sampler", "random", *extra, env=runs_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return RunDir(result.stdout.strip())


def start(run_dir: RunDir, data_root: Path, tmp_path: Path, workers: int = 1) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "stratlab", "run", "start", "--run-dir", str(run_dir.path), "--workers",
               str(workers), "--no-live", "--data-root", str(data_root)]  # fmt: skip
    return subprocess.Popen(
        command, env={**os.environ, **runs_env(tmp_path)}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_trials(run_dir: RunDir, process: subprocess.Popen[str], at_least: int = 5, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        status = json.loads(run_dir.status_path.read_text()) if run_dir.status_path.exists() else {}
        if status.get("completed", 0) >= at_least:
            return
        time.sleep(0.2)
    raise AssertionError("the run completed no trial in time")


def final_status(run_dir: RunDir) -> dict[str, object]:
    return dict(json.loads(run_dir.status_path.read_text()))


def test_a_run_that_meets_its_budget_says_so_and_keeps_an_increasing_history(demo_root: Path, tmp_path: Path) -> None:
    result = run_cli(
        "optimize", "--source", "demo", "--symbol", "BTC", *PERIOD, "--strategies", "ma_cross,stochastic",
        "--max-trials", "150", "--workers", "1", "--no-live", "--sampler", "random", "--data-root", str(demo_root),
        env=runs_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run_dir = RunDir(next((tmp_path / "runs").iterdir()))
    status = final_status(run_dir)
    assert (status["state"], status["ended_because"]) == (RunState.FINISHED, EndReason.BUDGET_MET)
    assert status["stop_requested_by"] is None and status["worker_failures"] == []
    # The trials the report counted, by pandas from trials.csv: each strategy's completed trials, capped at 150.
    trials = pd.read_csv(run_dir.path / "trials.csv")
    completed = trials[trials["state"] == "COMPLETE"].groupby("strategy").size().clip(upper=150).sum()
    history = status["history"]
    assert isinstance(history, list) and 2 <= len(history) <= 500
    elapsed = [point[0] for point in history]
    done = [point[1] for point in history]
    assert elapsed == sorted(elapsed) and done == sorted(done)
    assert done[-1] == completed == status["completed"] == 300
    assert elapsed[-1] <= float(str(status["elapsed_s"])) + 0.1
    assert all(point[2] >= 0 for point in history)
    run_ended = [e for e in run_dir.read_progress() if e["event"] == "run_ended"]
    assert run_ended[-1]["ended_because"] == "budget_met"


def test_a_time_budget_ends_the_run_before_its_trials(demo_root: Path, tmp_path: Path) -> None:
    run_dir = new_run(demo_root, tmp_path, "--max-trials", "10000000", "--time-budget", "3")
    process = start(run_dir, demo_root, tmp_path)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    status = final_status(run_dir)
    assert (status["state"], status["ended_because"]) == (RunState.FINISHED, EndReason.TIME_BUDGET)
    assert 0 < int(str(status["completed"])) < 10_000_000
    # The workers said it themselves: each stopped on the time budget.
    finished = [e for e in run_dir.read_progress() if e["event"] == "worker_finished"]
    assert [e["stopped_by"] for e in finished] == ["time budget"]
    assert float(finished[0]["elapsed_s"]) >= 3.0


def test_run_stop_is_named_as_the_one_who_stopped_the_run(demo_root: Path, tmp_path: Path) -> None:
    run_dir = new_run(demo_root, tmp_path, "--max-trials", "10000000")
    process = start(run_dir, demo_root, tmp_path)
    wait_for_trials(run_dir, process)
    stop = run_cli("run", "stop", "--run-dir", str(run_dir.path), env=runs_env(tmp_path))
    assert stop.returncode == 0, stop.stderr
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    status = final_status(run_dir)
    assert (status["state"], status["ended_because"]) == (RunState.STOPPED, EndReason.STOP_REQUESTED)
    assert status["stop_requested_by"] == "run stop"


def test_sigterm_to_run_start_is_an_interruption(demo_root: Path, tmp_path: Path) -> None:
    run_dir = new_run(demo_root, tmp_path, "--max-trials", "10000000")
    process = start(run_dir, demo_root, tmp_path)
    wait_for_trials(run_dir, process)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    status = final_status(run_dir)
    assert (status["state"], status["ended_because"]) == (RunState.STOPPED, EndReason.INTERRUPTED)
    assert status["stop_requested_by"] == "SIGTERM"


def test_a_failed_worker_is_named_with_its_exit_code_and_error(demo_root: Path, tmp_path: Path) -> None:
    run_dir = new_run(demo_root, tmp_path, "--max-trials", "20")
    empty_store = tmp_path / "no-data"
    empty_store.mkdir()
    process = start(run_dir, empty_store, tmp_path)  # the workers find no candles there
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1 and "worker 0 (exit code 1" in stderr, stderr
    status = final_status(run_dir)
    assert (status["state"], status["ended_because"]) == (RunState.FAILED, EndReason.WORKER_FAILED)
    failures = status["worker_failures"]
    assert isinstance(failures, list) and len(failures) == 1
    assert failures[0]["worker"] == 0 and failures[0]["exit_code"] == 1
    # The error is the worker log's own last line.
    log_lines = (run_dir.workers_dir / "worker-0.log").read_text().strip().splitlines()
    assert failures[0]["error"] == log_lines[-1].strip() and failures[0]["error"].startswith("error: ")


@pytest.mark.parametrize("samples", [10, 499, 501, 10_000])
def test_the_history_stays_bounded_and_evenly_spaced(samples: int) -> None:
    history = ThroughputHistory(every_s=2.0, max_points=500)
    for second in range(samples):  # the supervisor samples about once a second
        history.add(float(second), second * 3, 3.0)
    history.add(float(samples) - 0.5, samples * 3, 2.5, last=True)
    points = history.points
    assert len(points) <= 500
    assert points[-1] == [samples - 0.5, samples * 3, 2.5]  # the final sample is always kept
    gaps = {round(b[0] - a[0], 6) for a, b in itertools.pairwise(points[:-1])}
    # Every gap but the last is the same: 2 s doubled once per thinning; the points cover the whole run.
    assert len(gaps) <= 1
    spacing = gaps.pop() if gaps else 2.0
    assert spacing >= 2.0 and spacing * len(points) >= samples - 2 * spacing
    if samples > 1000:
        assert spacing > 2.0  # thinned at least once
