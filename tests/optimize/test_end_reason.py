"""Why a run ended, as its final status.json says (``ended_because``), and the bounded throughput history, for runs
made by the real CLI: budget met, time budget reached, stop requested by `run stop`, interrupted by SIGTERM, and a
worker that failed (the five runs are made once per test process, side by side, and only read)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from stratlab.optimize.rundir import EndReason, RunDir, RunState
from stratlab.optimize.runner import ThroughputHistory
from tests.conftest import built_once, run_cli

PERIOD = ["--start", "2025-01-01", "--end", "2025-01-31"]


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


# -- five runs ended five ways, made once per test process ----------------------------------------------------------

MONITORED = ["--strategies", "ma_cross,stochastic", "--sampler", "random"]
BUDGET_TRIALS = 10  # per strategy
TIME_BUDGET_S = 2


@dataclass(frozen=True)
class EndedRun:
    """A run the CLI ended, and how the process that ran it (``optimize`` or ``run start``) exited."""

    run_dir: RunDir
    returncode: int
    stderr: str


ENDED_RUNS = pytest.StashKey[dict[str, EndedRun]]()


def cli_process(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """``python -m stratlab ARGS`` started in the background (``communicate`` collects its output)."""
    return subprocess.Popen(
        [sys.executable, "-m", "stratlab", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start(run_dir: RunDir, data_root: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """`run start` of a created run, one worker, in the background."""
    command = ["run", "start", "--run-dir", str(run_dir.path), "--workers", "1", "--no-live", "--data-root"]
    return cli_process(*command, str(data_root), env=env)


def make_ended_runs(demo_root: Path, base: Path) -> dict[str, EndedRun]:
    """Five runs of two strategies made by the CLI: ``budget`` met its trial budget, ``timed`` reached its time
    budget, ``stopped`` was stopped by `run stop` and ``interrupted`` by SIGTERM to `run start` after a few trials,
    and the worker of ``failed`` found no candles. They run side by side: much of a short run is waiting (workers
    starting, the supervisor's one-second samples), not computing."""
    runs_root, empty_store = base / "runs", base / "no-data"
    empty_store.mkdir()
    env = {**os.environ, "STRATLAB_RUNS_ROOT": str(runs_root)}
    common = ["--source", "demo", "--symbol", "BTC", *PERIOD, *MONITORED, "--data-root", str(demo_root)]
    runners = {
        label: cli_process("optimize", *common, *extra, "--workers", "1", "--no-live", "--label", label, env=env)
        for label, extra in (
            ("budget", ["--max-trials", str(BUDGET_TRIALS)]),
            ("timed", ["--max-trials", "10000000", "--time-budget", str(TIME_BUDGET_S)]),
        )
    }
    creating = {
        label: cli_process("run", "new", *common, "--max-trials", trials, "--label", label, env=env)
        for label, trials in (("stopped", "10000000"), ("interrupted", "10000000"), ("failed", "20"))
    }
    try:
        created: dict[str, RunDir] = {}
        for label, process in creating.items():
            stdout, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr
            created[label] = RunDir(stdout.strip())
        for label, run_dir in created.items():
            runners[label] = start(run_dir, empty_store if label == "failed" else demo_root, env)
        wait_for_trials(created["stopped"], runners["stopped"])
        stop = run_cli("run", "stop", "--run-dir", str(created["stopped"].path), env=env)
        assert stop.returncode == 0, stop.stderr
        wait_for_trials(created["interrupted"], runners["interrupted"])
        runners["interrupted"].send_signal(signal.SIGTERM)
        ended: dict[str, EndedRun] = {}
        for label, process in runners.items():
            _, stderr = process.communicate(timeout=120)
            (path,) = runs_root.glob(f"*_{label}")
            ended[label] = EndedRun(RunDir(path), process.returncode, stderr)
    finally:
        for process in (*creating.values(), *runners.values()):
            if process.poll() is None:  # only when something above failed: no search left running for hours
                process.kill()
                process.wait(timeout=30)
    for label in ("budget", "timed", "stopped"):
        assert ended[label].returncode == 0, ended[label].stderr
    return ended


EXITS_FILE = "exits.json"


def _build_ended_runs(demo_root: Path, folder: Path) -> None:
    """The runs, and how each process exited (the runs directory holds the rest)."""
    ended = make_ended_runs(demo_root, folder)
    exits = {label: {"returncode": run.returncode, "stderr": run.stderr} for label, run in ended.items()}
    (folder / EXITS_FILE).write_text(json.dumps(exits), encoding="utf-8")


def ended_runs_of(
    config: pytest.Config, demo_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, EndedRun]:
    """The ended runs, made once per test run (``built_once``: the first test process to ask, here or the Monitor
    page's tests, makes them) and only read after that (a test that changes one copies it first)."""
    if ENDED_RUNS not in config.stash:
        folder = built_once(tmp_path_factory, "ended-runs", lambda target: _build_ended_runs(demo_root, target))
        exits = json.loads((folder / EXITS_FILE).read_text(encoding="utf-8"))
        config.stash[ENDED_RUNS] = {
            label: EndedRun(RunDir(next((folder / "runs").glob(f"*_{label}"))), int(e["returncode"]), str(e["stderr"]))
            for label, e in exits.items()
        }
    return config.stash[ENDED_RUNS]


@pytest.fixture(scope="module")
def ended_runs(
    request: pytest.FixtureRequest, demo_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, EndedRun]:
    return ended_runs_of(request.config, demo_root, tmp_path_factory)


def test_a_run_that_meets_its_budget_says_so_and_keeps_an_increasing_history(ended_runs: dict[str, EndedRun]) -> None:
    run_dir = ended_runs["budget"].run_dir
    status = final_status(run_dir)
    assert (status["state"], status["ended_because"]) == (RunState.FINISHED, EndReason.BUDGET_MET)
    assert status["stop_requested_by"] is None and status["worker_failures"] == []
    # The trials the report counted, by pandas from trials.csv: each strategy's completed trials, capped at the budget.
    trials = pd.read_csv(run_dir.path / "trials.csv")
    completed = trials[trials["state"] == "COMPLETE"].groupby("strategy").size().clip(upper=BUDGET_TRIALS).sum()
    history = status["history"]
    assert isinstance(history, list) and 2 <= len(history) <= 500
    elapsed = [point[0] for point in history]
    done = [point[1] for point in history]
    assert elapsed == sorted(elapsed) and done == sorted(done)
    assert done[-1] == completed == status["completed"] == 2 * BUDGET_TRIALS
    assert elapsed[-1] <= float(str(status["elapsed_s"])) + 0.1
    assert all(point[2] >= 0 for point in history)
    run_ended = [e for e in run_dir.read_progress() if e["event"] == "run_ended"]
    assert run_ended[-1]["ended_because"] == "budget_met"


def test_a_time_budget_ends_the_run_before_its_trials(ended_runs: dict[str, EndedRun]) -> None:
    run_dir = ended_runs["timed"].run_dir
    status = final_status(run_dir)
    assert (status["state"], status["ended_because"]) == (RunState.FINISHED, EndReason.TIME_BUDGET)
    assert 0 < int(str(status["completed"])) < 10_000_000
    # The workers said it themselves: each stopped on the time budget.
    finished = [e for e in run_dir.read_progress() if e["event"] == "worker_finished"]
    assert [e["stopped_by"] for e in finished] == ["time budget"]
    assert float(finished[0]["elapsed_s"]) >= TIME_BUDGET_S


def test_run_stop_is_named_as_the_one_who_stopped_the_run(ended_runs: dict[str, EndedRun]) -> None:
    status = final_status(ended_runs["stopped"].run_dir)
    assert (status["state"], status["ended_because"]) == (RunState.STOPPED, EndReason.STOP_REQUESTED)
    assert status["stop_requested_by"] == "run stop"
    assert int(str(status["completed"])) >= 5  # it was stopped while searching, after the trials it waited for


def test_sigterm_to_run_start_is_an_interruption(ended_runs: dict[str, EndedRun]) -> None:
    status = final_status(ended_runs["interrupted"].run_dir)
    assert (status["state"], status["ended_because"]) == (RunState.STOPPED, EndReason.INTERRUPTED)
    assert status["stop_requested_by"] == "SIGTERM"


def test_a_failed_worker_is_named_with_its_exit_code_and_error(ended_runs: dict[str, EndedRun]) -> None:
    failed = ended_runs["failed"]
    assert failed.returncode == 1 and "worker 0 (exit code 1" in failed.stderr, failed.stderr
    status = final_status(failed.run_dir)
    assert (status["state"], status["ended_because"]) == (RunState.FAILED, EndReason.WORKER_FAILED)
    failures = status["worker_failures"]
    assert isinstance(failures, list) and len(failures) == 1
    assert failures[0]["worker"] == 0 and failures[0]["exit_code"] == 1
    # The error is the worker log's own last line.
    log_lines = (failed.run_dir.workers_dir / "worker-0.log").read_text().strip().splitlines()
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
