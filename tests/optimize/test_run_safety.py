"""A run's results are never lost, and every bad state is one line: moved and copied runs, a missing, empty or
damaged journal, two supervisors, a dead supervisor or worker, a finished run started again, unreadable status files,
bad search ranges, and reproducible seeds. Real processes on the real demo market."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from stratlab.errors import DataError
from stratlab.optimize.journal import repair_journal
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.runner import eta_seconds
from tests.conftest import run_cli

STRATEGIES = "ma_cross,rsi_reversion"
PERIOD = ["--start", "2025-01-01", "--end", "2025-03-31"]  # a test part with enough trades to crown a champion
RESULTS = ("champion.json", "trials.csv", "report.json", "pareto.csv")


def optimize(demo_root: Path, runs_root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "optimize", "--source", "demo", "--symbol", "BTC", *PERIOD, "--strategies", STRATEGIES, "--sampler",
        "random", "--workers", "1", "--no-live", "--dd-threshold", "100", "--data-root", str(demo_root), *extra,
        env={"STRATLAB_RUNS_ROOT": str(runs_root)},
    )  # fmt: skip


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """The bytes of every result file and of the journal."""
    return {name: (run_dir / name).read_bytes() for name in (*RESULTS, "optuna.journal") if (run_dir / name).exists()}


@pytest.fixture(scope="module")
def finished_run(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small finished run with a champion, built once; tests work on copies of it."""
    runs = tmp_path_factory.mktemp("finished") / "runs"
    result = optimize(demo_root, runs, "--max-trials", "8", "--label", "done")
    assert result.returncode == 0, result.stderr
    run_dir = next(runs.iterdir())
    assert (run_dir / "champion.json").exists(), "the fixture run needs a champion"
    return run_dir


@pytest.fixture
def copied_run(finished_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "runs" / finished_run.name
    shutil.copytree(finished_run, target)
    return target


def assert_one_error_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and "pydantic.dev" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# moved and copied runs ---------------------------------------------------------------------------------------------


def test_a_copied_run_reads_and_writes_its_own_journal_not_the_original(finished_run: Path, tmp_path: Path) -> None:
    original = tmp_path / "original" / finished_run.name
    shutil.copytree(finished_run, original)
    copy = tmp_path / "archive" / finished_run.name
    shutil.copytree(original, copy)
    assert str(original.parent) not in (copy / "context.json").read_text()
    champion_before = json.loads((copy / "champion.json").read_text())
    shutil.rmtree(original)  # the copy must not need the original any more

    result = run_cli("run", "report", "--run-dir", str(copy))
    assert result.returncode == 0, result.stderr
    assert not original.exists(), "the report recreated the original's journal"
    champion = json.loads((copy / "champion.json").read_text())
    assert (champion["strategy"], champion["trial"]) == (champion_before["strategy"], champion_before["trial"])
    assert len(pd.read_csv(copy / "trials.csv")) == len(pd.read_csv(finished_run / "trials.csv"))


# missing, empty, damaged journal -----------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["missing", "empty"])
def test_a_lost_journal_next_to_results_is_refused_and_the_results_stay(copied_run: Path, damage: str) -> None:
    journal = copied_run / "optuna.journal"
    if damage == "missing":
        journal.unlink()
    else:
        journal.write_bytes(b"")
    before = snapshot(copied_run)

    report = run_cli("run", "report", "--run-dir", str(copied_run))
    assert_one_error_line(report, str(journal), damage)
    start = run_cli("run", "start", "--run-dir", str(copied_run), "--workers", "1", "--no-live")
    assert_one_error_line(start, str(journal), damage)
    assert snapshot(copied_run) == before
    assert journal.exists() == (damage == "empty"), "opening the storage created a journal"


def _insert_line(journal: Path, index: int, line: bytes) -> int:
    lines = journal.read_bytes().splitlines(keepends=True)
    lines.insert(index, line)
    journal.write_bytes(b"".join(lines))
    return len(lines)


@pytest.mark.parametrize("where", ["middle", "end"])
def test_a_damaged_journal_line_is_named_and_run_repair_resumes_the_run(copied_run: Path, where: str) -> None:
    journal = copied_run / "optuna.journal"
    n_lines = len(journal.read_bytes().splitlines())
    bad_line = 11 if where == "middle" else n_lines + 1
    _insert_line(journal, bad_line - 1, b"\x00\xffnot json\n")
    damaged = journal.read_bytes()
    results = {name: (copied_run / name).read_bytes() for name in RESULTS}

    start = run_cli("run", "start", "--run-dir", str(copied_run), "--workers", "1", "--no-live")
    assert_one_error_line(start, str(journal), f"line {bad_line} ", "run repair")

    repair = run_cli("run", "repair", "--run-dir", str(copied_run))
    assert repair.returncode == 0, repair.stderr
    backups = list(copied_run.glob("optuna.journal.*.bak"))
    assert len(backups) == 1 and backups[0].read_bytes() == damaged
    assert journal.read_bytes() == damaged[: damaged.index(b"\x00\xff")]
    assert {name: (copied_run / name).read_bytes() for name in RESULTS} == results

    again = run_cli("run", "repair", "--run-dir", str(copied_run))
    assert again.returncode == 0 and "nothing to repair" in again.stdout
    resumed = run_cli("run", "start", "--run-dir", str(copied_run), "--workers", "1", "--no-live")
    assert resumed.returncode == 0, resumed.stderr
    trials = pd.read_csv(copied_run / "trials.csv")
    complete = trials[trials["state"] == "COMPLETE"].groupby("strategy").size()
    assert complete.to_dict() == {"ma_cross": 8, "rsi_reversion": 8}


def test_repair_cuts_before_the_first_bad_line_and_never_replaces_a_backup(tmp_path: Path) -> None:
    journal = tmp_path / "optuna.journal"
    good = b'{"op_code": 0, "worker_id": "a"}\n'
    journal.write_bytes(good * 3 + b"[1, 2]\n" + good + b'{"op_code": "x"}\n')
    stamp = datetime(2026, 1, 2, 3, 4, 5)
    outcome = repair_journal(journal, now=stamp)
    assert (outcome.kept_lines, outcome.cut_lines, outcome.first_bad_line) == (3, 3, 4)
    assert journal.read_bytes() == good * 3
    journal.write_bytes(good + b"oops\n")
    with pytest.raises(DataError, match="exists"):
        repair_journal(journal, now=stamp)  # the same second: the earlier copy is never overwritten
    assert outcome.backup is not None and outcome.backup.read_bytes().count(b"\n") == 6


def test_a_report_built_from_fewer_trials_than_the_written_one_is_refused(copied_run: Path) -> None:
    journal = copied_run / "optuna.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[: len(lines) // 2]))  # an old copy of the journal put back
    before = snapshot(copied_run)
    result = run_cli("run", "report", "--run-dir", str(copied_run))
    assert_one_error_line(result, "report.json", "refusing to replace")
    assert snapshot(copied_run) == before


# supervisors and workers --------------------------------------------------------------------------------------------


def _start(run_dir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stratlab", "run", "start", "--run-dir", str(run_dir), "--workers", "1", "--no-live",
         *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def _wait_for(predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _worker_pids(run_dir: RunDir) -> list[int]:
    return [int(e["worker"].rsplit(":", 1)[1]) for e in run_dir.read_progress() if e["event"] == "worker_started"]


def _new_big_run(demo_root: Path, tmp_path: Path) -> RunDir:
    result = run_cli(
        "run", "new", "--source", "demo", "--symbol", "BTC", *PERIOD, "--strategies", STRATEGIES, "--sampler",
        "random", "--max-trials", "100000", "--data-root", str(demo_root),
        env={"STRATLAB_RUNS_ROOT": str(tmp_path / "runs")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return RunDir(result.stdout.strip())


def test_one_supervisor_per_run_and_a_killed_one_reads_as_interrupted(demo_root: Path, tmp_path: Path) -> None:
    run_dir = _new_big_run(demo_root, tmp_path)
    first = _start(run_dir.path)
    try:
        _wait_for(lambda: bool(_worker_pids(run_dir)) and (run_dir.read_status() or {}).get("state") == "running")
        second = run_cli("run", "start", "--run-dir", str(run_dir.path), "--workers", "1", "--no-live")
        assert_one_error_line(second, "already running", str(first.pid))
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        status = run_cli("run", "status", "--run-dir", str(run_dir.path))
        assert status.returncode == 0, status.stderr
        assert "interrupted" in status.stdout and "running" not in status.stdout.splitlines()[0]
        listing = run_cli("run", "list", env={"STRATLAB_RUNS_ROOT": str(tmp_path / "runs")})
        assert "interrupted" in listing.stdout
        # Its worker notices that its supervisor is gone and stops after its trial, without a stop.flag.
        for pid in _worker_pids(run_dir):
            _wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout=60)
        finished = [e for e in run_dir.read_progress() if e["event"] == "worker_finished"]
        assert [e["stopped_by"] for e in finished] == ["supervisor gone"]
        assert not run_dir.stop_requested()
    finally:
        if first.poll() is None:
            first.kill()
        run_dir.request_stop()  # whatever happened above, no worker of this test outlives it


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in {"Z", "X"}
    except OSError:
        return True


def test_sigterm_stops_run_start_cleanly_and_the_status_says_stopped(demo_root: Path, tmp_path: Path) -> None:
    run_dir = _new_big_run(demo_root, tmp_path)
    supervisor = _start(run_dir.path)
    _wait_for(lambda: (run_dir.read_status() or {}).get("completed", 0) > 0)
    supervisor.send_signal(signal.SIGTERM)
    supervisor.communicate(timeout=120)
    status = run_dir.read_status()
    assert status is not None and status["state"] == "stopped"
    events = [e["event"] for e in run_dir.read_progress()]
    assert "run_ended" in events and events.index("stop_requested") < events.index("run_ended")
    assert run_dir.report_path.exists()


def test_a_killed_worker_makes_run_start_exit_non_zero(demo_root: Path, tmp_path: Path) -> None:
    run_dir = _new_big_run(demo_root, tmp_path)
    supervisor = _start(run_dir.path)
    _wait_for(lambda: bool(_worker_pids(run_dir)))
    os.kill(_worker_pids(run_dir)[0], signal.SIGKILL)
    _, stderr = supervisor.communicate(timeout=120)
    assert supervisor.returncode == 1
    assert stderr.strip().startswith("error: worker 0 (exit code -9") and "worker-0.log" in stderr
    assert (run_dir.read_status() or {})["state"] == "failed"


def _proc_strings(pid: int, name: str) -> list[str]:
    return Path(f"/proc/{pid}/{name}").read_bytes().decode().split("\0")[:-1]


def test_run_start_runs_each_worker_through_the_optimisers_entry_point(demo_root: Path, tmp_path: Path) -> None:
    """``python -m stratlab.optimize.worker`` with the run, the index and the supervisor, one numba and OpenMP thread,
    its output (only its summary line) appended to workers/worker-<n>.log."""
    run_dir = _new_big_run(demo_root, tmp_path)
    supervisor = _start(run_dir.path)
    try:
        _wait_for(lambda: bool(_worker_pids(run_dir)))
        (pid,) = _worker_pids(run_dir)
        command = _proc_strings(pid, "cmdline")
        environment = dict(item.split("=", 1) for item in _proc_strings(pid, "environ"))
        run_cli("run", "stop", "--run-dir", str(run_dir.path))
        supervisor.communicate(timeout=120)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
        run_dir.request_stop()
    assert command[1:] == ["-m", "stratlab.optimize.worker", "--run-dir", str(run_dir.path), "--index", "0",
                           "--supervisor-pid", str(supervisor.pid)]  # fmt: skip
    assert environment["NUMBA_NUM_THREADS"] == "1" and environment["OMP_NUM_THREADS"] == "1"
    assert supervisor.returncode == 0
    lines = (run_dir.workers_dir / "worker-0.log").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"worker {socket.gethostname()}:{pid}: "), lines
    assert lines[0].endswith(" trials, stopped by stop.flag")


def test_a_worker_that_fails_writes_one_error_line_to_its_log_and_exits_1(demo_root: Path, tmp_path: Path) -> None:
    run_dir = _new_big_run(demo_root, tmp_path)
    empty_store = tmp_path / "empty_store"
    empty_store.mkdir()
    supervisor = _start(run_dir.path, "--data-root", str(empty_store))
    _, stderr = supervisor.communicate(timeout=120)
    assert supervisor.returncode == 1
    # The cause first: the report fails too (no candles), but the line names the failed worker and its log.
    assert stderr.startswith("error: worker 0 (exit code 1, log ") and len(stderr.strip().splitlines()) == 1, stderr
    status = run_dir.read_status() or {}
    assert (status["state"], status["worker_exit_codes"]) == ("failed", [1])
    lines = (run_dir.workers_dir / "worker-0.log").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "demo" in lines[0], lines


@pytest.mark.parametrize(
    ("arguments", "code", "needle"),
    [
        ([], 2, "--run-dir"),
        (["--run-dir", "no-such-run", "--index", "x"], 2, "--index"),
        (["--run-dir", "nowhere"], 1, "nowhere"),
    ],
)
def test_the_worker_entry_point_says_what_is_wrong_in_one_line(
    tmp_path: Path, arguments: list[str], code: int, needle: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stratlab.optimize.worker", *arguments], capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == code
    assert_one_error_line(result, needle)


def test_starting_a_finished_run_changes_nothing(copied_run: Path) -> None:
    before = snapshot(copied_run)
    status_before = (copied_run / "status.json").read_bytes()
    for _ in range(2):
        result = run_cli("run", "start", "--run-dir", str(copied_run), "--workers", "2", "--no-live")
        assert result.returncode == 0, result.stderr
        assert "nothing to run" in result.stdout
    assert snapshot(copied_run) == before
    assert (copied_run / "status.json").read_bytes() == status_before


def test_a_worker_joining_a_finished_run_adds_no_trial(copied_run: Path) -> None:
    journal = (copied_run / "optuna.journal").read_bytes()
    result = run_cli("run", "worker", "--run-dir", str(copied_run))
    assert result.returncode == 0, result.stderr
    assert (copied_run / "optuna.journal").read_bytes() == journal


def test_run_stop_on_a_run_that_is_not_running_says_so(copied_run: Path) -> None:
    result = run_cli("run", "stop", "--run-dir", str(copied_run))
    assert_one_error_line(result, "finished", "nothing to stop")
    assert not (copied_run / "stop.flag").exists()


# unreadable status and progress -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'{"state": "running", \xff\xfe}', "unreadable"),
        (b'{"run_id": "x", "state": "running", "completed": "many", "budget": 4, "trials_per_s": 0, "eta_s": null, '
         b'"workers": 1, "strategies": []}', "completed"),
        (b'{"run_id": "x", "state": "running", "completed": 1, "budget": 4, "trials_per_s": 0, "eta_s": null, '
         b'"workers": 1, "strategies": 5}', "strategies"),
        (b"[1, 2]", "expected a JSON object"),
    ],
)  # fmt: skip
def test_run_status_on_a_damaged_status_file_is_one_line_and_list_goes_on(
    copied_run: Path, content: bytes, needle: str
) -> None:
    (copied_run / "status.json").write_bytes(content)
    result = run_cli("run", "status", "--run-dir", str(copied_run))
    assert_one_error_line(result, "status.json", needle)
    shutil.copytree(copied_run, copied_run.parent / "20200101T000000000Z_good")
    (copied_run.parent / "20200101T000000000Z_good" / "status.json").write_bytes(_good_status())
    listing = run_cli("run", "list", env={"STRATLAB_RUNS_ROOT": str(copied_run.parent)})
    assert listing.returncode == 0, listing.stderr
    assert "unreadable" in listing.stdout and "finished" in listing.stdout


def _good_status() -> bytes:
    status = {"run_id": "g", "state": "finished", "completed": 16, "budget": 16, "trials_per_s": 1.0, "eta_s": None,
              "workers": 1, "strategies": []}  # fmt: skip
    return json.dumps(status).encode()


def test_binary_and_foreign_progress_lines_are_skipped(copied_run: Path) -> None:
    run_dir = RunDir(copied_run)
    events = run_dir.read_progress()
    with run_dir.progress_path.open("ab") as handle:
        handle.write(b'\x89PNG\r\n\x1a\n\xff\xfe\n[1,2]\n{"no_event": 1}\n')
    run_dir.append_progress("after_garbage")
    read = run_dir.read_progress()
    assert read[:-1] == events and read[-1]["event"] == "after_garbage"


# messages, flags, reproducibility -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--tp-range", "8:0.5"], ["--tp-range", "8:0.5"]),
        (["--sl-range", "-1:5"], ["--sl-range", "-1:5"]),
        (["--modes", "none,yolo"], ["--modes", "yolo", "martingale"]),
        (["--workers", "0"], ["--workers", "0"]),
        (["--workers", "1000"], ["--workers", "1000"]),
    ],
)
def test_bad_search_options_name_the_option_and_the_problem(
    demo_root: Path, tmp_path: Path, args: list[str], needles: list[str]
) -> None:
    result = optimize(demo_root, tmp_path / "runs", *args)
    assert_one_error_line(result, *needles)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_same_seed_with_one_worker_gives_the_same_trials_and_champion(demo_root: Path, tmp_path: Path) -> None:
    outputs = []
    for label in ("first", "second"):
        result = optimize(demo_root, tmp_path / "runs", "--max-trials", "6", "--sampler", "tpe", "--seed", "11",
                          "--label", label)  # fmt: skip
        assert result.returncode == 0, result.stderr
        run_dir = next((tmp_path / "runs").glob(f"*_{label}"))
        trials = pd.read_csv(run_dir / "trials.csv")
        champion = json.loads((run_dir / "champion.json").read_text())
        outputs.append((trials[["strategy", "trial", "state", "train_return_pct", "params"]], champion))
    (first, champion_1), (second, champion_2) = outputs
    pd.testing.assert_frame_equal(first, second)
    assert first["params"].nunique() > 1
    assert (champion_1["strategy"], champion_1["params"]) == (champion_2["strategy"], champion_2["params"])
    context = json.loads(next((tmp_path / "runs").glob("*_first")).joinpath("context.json").read_text())
    assert "several workers" in context["reproducibility"]


def test_a_resumed_run_does_not_propose_its_first_trials_again(copied_run: Path) -> None:
    """Seeds come from the stored trials, not a process id: the second start must not replay the first's stream."""
    context = json.loads((copied_run / "context.json").read_text())
    context["request"]["max_trials"] = 16
    (copied_run / "context.json").write_text(json.dumps(context))
    result = run_cli("run", "start", "--run-dir", str(copied_run), "--workers", "1", "--no-live")
    assert result.returncode == 0, result.stderr
    trials = pd.read_csv(copied_run / "trials.csv")
    for _, group in trials[trials["state"] == "COMPLETE"].groupby("strategy"):
        ordered = group.sort_values("trial")["params"]
        first, later = ordered.iloc[:8], ordered.iloc[8:]
        assert len(later) == 8 and not set(first) & set(later)


def test_three_way_summary_shows_the_holdout_and_the_threshold_rule(demo_root: Path, tmp_path: Path) -> None:
    result = optimize(demo_root, tmp_path / "runs", "--max-trials", "6", "--split", "0.6,0.2,0.2",
                      "--min-train-trades", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "holdout return" in result.stdout and "out-of-sample: unseen by every choice" in result.stdout
    assert "(selection figure: it chose the champion, not out-of-sample)" in result.stdout
    assert "applies to validation only" in result.stdout
    context = json.loads(next((tmp_path / "runs").iterdir()).joinpath("context.json").read_text())
    assert context["request"]["min_train_trades"] == 1


def test_optimize_warns_about_gaps_inside_the_period(demo_root: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(demo_root, store)
    month = store / "ohlcv" / "demo" / "BTC" / "5m" / "2025" / "02.parquet"
    month.unlink()
    result = run_cli(
        "run", "new", "--source", "demo", "--symbol", "BTC", "--start", "2025-01-01", "--end", "2025-03-31",
        "--strategies", "ma_cross", "--data-root", str(store), env={"STRATLAB_RUNS_ROOT": str(tmp_path / "runs")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 gap inside the period" in result.stderr and "8,064 bars missing" in result.stderr
    assert "2025-02-01 00:00" in result.stderr


def test_eta_is_the_nearer_of_the_trial_budget_and_the_time_budget() -> None:
    assert eta_seconds(100, 10.0, 0.0, 0.0) == 10.0
    assert eta_seconds(100, 10.0, 55.0, 60.0) == 5.0  # the time budget ends first
    assert eta_seconds(100, 10.0, 70.0, 60.0) == 0.0
    assert eta_seconds(10**15, 1e-3, 0.0, 0.0) == 1e18
    assert eta_seconds(100, 0.0, 0.0, 0.0) is None
    assert eta_seconds(100, 0.0, 10.0, 30.0) == 20.0


def test_a_failed_run_whose_budget_is_complete_becomes_finished_without_new_trials(copied_run: Path) -> None:
    status = json.loads((copied_run / "status.json").read_text())
    (copied_run / "status.json").write_text(json.dumps({**status, "state": "failed", "failed_workers": [1]}))
    journal = (copied_run / "optuna.journal").read_bytes()
    result = run_cli("run", "start", "--run-dir", str(copied_run), "--workers", "1", "--no-live")
    assert result.returncode == 0, result.stderr
    assert json.loads((copied_run / "status.json").read_text())["state"] == "finished"
    assert (copied_run / "optuna.journal").read_bytes() == journal


def test_ctrl_c_in_a_terminal_lets_every_worker_finish_its_trial(demo_root: Path, tmp_path: Path) -> None:
    """Ctrl+C reaches a terminal's whole foreground process group: the workers, in groups of their own, must not get
    it (a worker interrupted mid-trial leaves it RUNNING); the supervisor asks them to stop after their trial."""
    run_dir = _new_big_run(demo_root, tmp_path)
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "stratlab", "run", "start", "--run-dir", str(run_dir.path), "--workers", "2",
         "--no-live"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, process_group=0,
    )  # fmt: skip
    _wait_for(lambda: (run_dir.read_status() or {}).get("completed", 0) > 0)
    os.killpg(supervisor.pid, signal.SIGINT)  # what a terminal does on Ctrl+C, to the supervisor's group
    supervisor.communicate(timeout=300)  # a bound for a loaded machine
    status = run_dir.read_status() or {}
    assert status["state"] == "stopped" and status["worker_exit_codes"] == [0, 0], status
    finished = [e["stopped_by"] for e in run_dir.read_progress() if e["event"] == "worker_finished"]
    assert finished == ["stop.flag", "stop.flag"]
    trials = pd.read_csv(run_dir.path / "trials.csv")
    assert not set(trials["state"]) & {"RUNNING", "FAIL"}


def test_a_damaged_report_is_one_line_for_its_readers_and_run_start_rebuilds_it(copied_run: Path) -> None:
    (copied_run / "report.json").write_bytes(b"\x89PNG\r\n\xff\xfe garbage")
    journal = (copied_run / "optuna.journal").read_bytes()
    # The report's own guard treats a report it cannot read as no report: run start rebuilds it from the storage.
    result = run_cli("run", "start", "--run-dir", str(copied_run), "--workers", "1", "--no-live")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "champion:" in result.stdout
    assert json.loads((copied_run / "report.json").read_text())["schema_version"] == 1
    assert (copied_run / "optuna.journal").read_bytes() == journal
    with pytest.raises(DataError, match=r"report\.json: unreadable"):
        (copied_run / "report.json").write_bytes(b"\xff")
        RunDir(copied_run).read_report()


def test_an_unknown_op_code_is_a_damaged_line_that_repair_cuts(copied_run: Path) -> None:
    journal = copied_run / "optuna.journal"
    _insert_line(journal, 5, b'{"op_code": 99, "worker_id": "x"}\n')
    report = run_cli("run", "report", "--run-dir", str(copied_run))
    assert_one_error_line(report, str(journal), "line 6 ")
    repair = run_cli("run", "repair", "--run-dir", str(copied_run))
    assert repair.returncode == 0 and "from line 6 on" in repair.stdout, repair.stdout


def test_a_repair_that_cut_every_line_lets_the_run_start_again(copied_run: Path) -> None:
    journal = copied_run / "optuna.journal"
    _insert_line(journal, 0, b"garbage\n")
    assert run_cli("run", "repair", "--run-dir", str(copied_run)).returncode == 0
    assert journal.read_bytes() == b""
    resumed = run_cli("run", "start", "--run-dir", str(copied_run), "--workers", "1", "--no-live")
    assert resumed.returncode == 0, resumed.stderr
    trials = pd.read_csv(copied_run / "trials.csv")
    assert trials[trials["state"] == "COMPLETE"].groupby("strategy").size().to_dict() == {
        "ma_cross": 8, "rsi_reversion": 8,
    }  # fmt: skip


def test_a_lock_path_that_is_a_folder_is_one_line(copied_run: Path) -> None:
    lock = copied_run / "supervisor.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    result = run_cli("run", "start", "--run-dir", str(copied_run), "--workers", "1", "--no-live")
    assert_one_error_line(result, "supervisor.lock")


def test_run_stop_on_a_run_never_started_here_writes_the_flag_for_joined_workers(copied_run: Path) -> None:
    (copied_run / "status.json").unlink()  # no local supervisor ever ran: workers may have joined with `run worker`
    result = run_cli("run", "stop", "--run-dir", str(copied_run))
    assert result.returncode == 0, result.stderr
    assert (copied_run / "stop.flag").exists()
