"""Optimisation runs as a user drives them: real processes, a real store, real storage files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import optuna
import pandas as pd
import pytest
from optuna.trial import FrozenTrial, TrialState

from stratlab.optimize.rundir import RunDir
from stratlab.optimize.storage import default_storage_url, open_storage
from stratlab.optimize.worker import WORKER_ATTR
from tests.conftest import run_cli

STRATEGIES = "ma_cross,rsi_reversion"
PERIOD = ["--start", "2025-01-01", "--end", "2025-03-31"]  # a test part with enough trades to crown a champion


def cli_env(tmp_path: Path) -> dict[str, str]:
    return {"STRATLAB_RUNS_ROOT": str(tmp_path / "runs")}


def new_run(demo_root: Path, tmp_path: Path, *extra: str, max_trials: int = 20) -> RunDir:
    result = run_cli(
        "run", "new", "--source", "demo", "--symbol", "BTC", *PERIOD, "--strategies", STRATEGIES,
        "--max-trials", str(max_trials), "--data-root", str(demo_root), "--sampler", "random", *extra,
        env=cli_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return RunDir(result.stdout.strip().splitlines()[-1])


def run_storage_url(run_dir: RunDir) -> str:
    """The storage the run was created with; without one, its own journal in the run directory."""
    return run_dir.load_context().storage_url or default_storage_url(run_dir.path)


def trials_frame(run_dir: RunDir) -> pd.DataFrame:
    return pd.read_csv(run_dir.path / "trials.csv")


def stored_trials(run_dir: RunDir) -> dict[str, list[FrozenTrial]]:
    """Every strategy's trials as a fresh reader of the run's storage sees them (also while the run goes on)."""
    storage = open_storage(run_storage_url(run_dir))
    return {
        study.study_name: optuna.load_study(study_name=study.study_name, storage=storage).get_trials(deepcopy=False)
        for study in storage.get_all_studies()
    }


def count_complete(run_dir: RunDir) -> int:
    return sum(t.state == TrialState.COMPLETE for trials in stored_trials(run_dir).values() for t in trials)


def start_in_background(run_dir: RunDir, demo_root: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    """`run start` with two workers, as a user leaves it running in a terminal."""
    command = [sys.executable, "-m", "stratlab", "run", "start", "--run-dir", str(run_dir.path), "--workers", "2",
               "--no-live", "--data-root", str(demo_root)]  # fmt: skip
    return subprocess.Popen(
        command, env={**os.environ, **cli_env(tmp_path)}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def test_optimize_end_to_end_report_csvs_champion_and_replay(demo_root: Path, tmp_path: Path) -> None:
    result = run_cli(
        "optimize", "--source", "demo", "--symbol", "BTC", *PERIOD, "--strategies", STRATEGIES, "--max-trials", "25",
        "--workers", "2", "--no-live", "--dd-threshold", "30", "--data-root", str(demo_root), "--label", "e2e",
        env=cli_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run_dir = RunDir(next((tmp_path / "runs").iterdir()))
    assert run_dir.path.name.endswith("_e2e")
    report = json.loads(run_dir.report_path.read_text())
    trials = trials_frame(run_dir)
    complete = trials[trials["state"] == "COMPLETE"]
    # Every strategy reached its budget exactly (two workers asking for the last trials at once never both run
    # one), no trial repeated.
    for strategy in STRATEGIES.split(","):
        done = complete[complete["strategy"] == strategy]
        assert len(done) == 25
        assert done["trial"].is_unique
        assert report["strategies"][strategy]["complete"] == len(done)
    assert (trials["state"] != "RUNNING").all()
    # status.json and every progress line follow their documented schemas.
    schemas = Path(__file__).parents[2] / "docs" / "schemas"
    status = run_dir.read_status()
    assert status is not None
    jsonschema.validate(status, json.loads((schemas / "status.schema.json").read_text()))
    # The final rate is the run's mean: every completed trial over the time the supervisor ran. Its clock starts
    # after started_at and stops before elapsed_s is read, so the rate is at least completed / elapsed_s; a smoothed
    # recent rate, which decays once the workers stop, would be below it. The upper bound only says "the same
    # mean", generous enough for a loaded machine that is slow to spawn the workers.
    mean = status["completed"] / status["elapsed_s"]
    assert 0.99 * mean <= status["trials_per_s"] <= 1.5 * mean
    line_schema = json.loads((schemas / "progress.schema.json").read_text())
    events = run_dir.read_progress()
    assert {"run_created", "run_started", "worker_started", "worker_finished", "run_ended"} <= {
        e["event"] for e in events
    }
    for event in events:
        jsonschema.validate(event, line_schema)
    # Pareto rows are non-dominated within their strategy on the train figures of trials.csv, among the trials
    # that traded at least min_train_trades (5) times on train.
    pareto = pd.read_csv(run_dir.path / "pareto.csv")
    traded = complete[complete["n_trades"] >= 5]
    assert set(pareto["trial"].astype(str) + pareto["strategy"]) <= set(
        traded["trial"].astype(str) + traded["strategy"]
    )
    for front_strategy, group in pareto.groupby("strategy"):
        pool = traded[traded["strategy"] == front_strategy]
        for row in group.itertuples():
            better = pool[
                (pool["train_return_pct"] >= row.train_return_pct)
                & (pool["train_max_drawdown_pct"] <= row.train_max_drawdown_pct)
                & (
                    (pool["train_return_pct"] > row.train_return_pct)
                    | (pool["train_max_drawdown_pct"] < row.train_max_drawdown_pct)
                )
            ]
            assert better.empty, (front_strategy, row.trial)
    # Choices are enums in the code and their plain names in the files.
    context = json.loads(run_dir.context_path.read_text())
    assert context["request"]["sampler"] == "nsga2" and context["request"]["common"]["position_modes"] == ["none"]
    assert [part["name"] for part in context["parts"]] == ["train", "test"] and report["selection_part"] == "test"
    # The champion is the best test return among candidates valid on test (enough trades there: the KPI record's own
    # rule, counted here from the test trade counts) with test DD <= 30 %.
    candidates = pd.read_csv(run_dir.path / "candidates_test.csv")
    assert len(candidates) == len(pareto)
    assert (candidates["test_is_valid"] <= (candidates["test_n_trades"] >= 10)).all()
    eligible = candidates[(candidates["test_max_drawdown_pct"] <= 30) & candidates["test_is_valid"]]
    champion = report["champion"]
    if eligible.empty:
        assert champion is None and "no candidate" in report["champion_reason"]
        return
    best = eligible.sort_values("test_return_pct", ascending=False).iloc[0]
    assert (champion["strategy"], champion["trial"]) == (best["strategy"], best["trial"])
    assert champion["test_return_pct"] == pytest.approx(best["test_return_pct"], rel=1e-12)
    manifest = json.loads(run_dir.champion_path.read_text())
    assert manifest["strategy"] == champion["strategy"] and manifest["params"] == champion["params"]
    assert set(manifest["kpis"]) == {"train", "test"}
    assert [part["name"] for part in manifest["dataset"]["parts"]] == ["train", "test"]
    assert (manifest["backtest"]["position_mode"], manifest["backtest"]["on_opposite"]) == ("none", "reverse")
    assert "champion:" in result.stdout and str(run_dir.path) in result.stdout
    # The manifest replays to identical KPIs, through the CLI a user would run.
    replay = run_cli("backtest", "--manifest", str(run_dir.champion_path), "--data-root", str(demo_root), "--json")
    assert replay.returncode == 0, replay.stderr
    payload = json.loads(replay.stdout)
    assert payload["identical"] is True
    for part in ("train", "test"):
        assert payload["kpis"][part]["return_pct"] == pytest.approx(manifest["kpis"][part]["return_pct"], rel=1e-12)


def test_a_worker_killed_mid_run_loses_nothing_and_the_run_reaches_its_budget(demo_root: Path, tmp_path: Path) -> None:
    # 400 trials per strategy: enough that a worker reports progress before the run can end
    run_dir = new_run(demo_root, tmp_path, max_trials=400)
    supervisor = start_in_background(run_dir, demo_root, tmp_path)
    try:
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            events = run_dir.read_progress()
            progressed = [e for e in events if e["event"] == "worker_progress"]
            if progressed:
                victim = int(progressed[0]["worker"].rsplit(":", 1)[1])
            time.sleep(0.1)
        assert victim is not None, "no worker made progress"
        os.kill(victim, signal.SIGKILL)
        _, err = supervisor.communicate(timeout=240)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    # A worker died: said, not hidden, in one line naming the worker and how to resume, and a non-zero exit.
    lines = err.decode().strip().splitlines()
    assert supervisor.returncode == 1 and len(lines) == 1, err.decode()
    assert lines[0].startswith("error: worker ") and "run start" in lines[0]
    status = run_dir.read_status()
    assert status is not None and status["state"] == "failed"
    assert status["failed_workers"]
    # The surviving worker failed the trial the dead one left (or it had none running) and completed the budget:
    # every study at its budget exactly, nothing RUNNING, no trial counted twice.
    trials = trials_frame(run_dir)
    assert (trials["state"] != "RUNNING").all()
    for strategy in STRATEGIES.split(","):
        done = trials[(trials["strategy"] == strategy) & (trials["state"] == "COMPLETE")]
        assert len(done) == 400 and done["trial"].is_unique
    failed = [t for trials in stored_trials(run_dir).values() for t in trials if t.state == TrialState.FAIL]
    assert all(t.user_attrs.get("failed_because") == "its worker died" for t in failed)
    # Starting it again finds nothing left to run and changes no trial.
    resumed = run_cli("run", "start", "--run-dir", str(run_dir.path), "--workers", "1", "--no-live",
                      "--data-root", str(demo_root), env=cli_env(tmp_path))  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    pd.testing.assert_frame_equal(trials_frame(run_dir), trials)


def test_stop_flag_stops_every_worker_within_seconds_and_status_says_so(demo_root: Path, tmp_path: Path) -> None:
    run_dir = new_run(demo_root, tmp_path, max_trials=100_000)
    supervisor = start_in_background(run_dir, demo_root, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(e["event"] == "worker_progress" for e in run_dir.read_progress()) >= 2:
                break
            time.sleep(0.1)
        stopped = run_cli("run", "stop", "--run-dir", str(run_dir.path), env=cli_env(tmp_path))
        assert stopped.returncode == 0, stopped.stderr
        supervisor.communicate(timeout=180)  # a bound for a loaded machine; the promise is checked by counting below
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    events = run_dir.read_progress()
    finished = [e for e in events if e["event"] == "worker_finished"]
    assert len(finished) == 2 and all(e["stopped_by"] == "stop.flag" for e in finished)
    # Each worker finishes the trial it is running and starts no other: once stop.flag exists (it does before the
    # stop_requested line is written), a worker can have started at most one trial, having looked for the flag
    # just before it appeared.
    asked_at = next(e["time"] for e in events if e["event"] == "stop_requested")
    started_after: dict[str, int] = {}
    for strategy_trials in stored_trials(run_dir).values():
        for trial in strategy_trials:
            if trial.datetime_start is not None and trial.datetime_start.timestamp() > asked_at:
                worker = str(trial.user_attrs[WORKER_ATTR])
                started_after[worker] = started_after.get(worker, 0) + 1
    assert all(count <= 1 for count in started_after.values()), started_after
    status = run_cli("run", "status", "--run-dir", str(run_dir.path), "--json", env=cli_env(tmp_path))
    assert status.returncode == 0
    payload = json.loads(status.stdout)
    assert payload["state"] == "stopped"
    trials = trials_frame(run_dir)
    assert payload["completed"] == int((trials["state"] == "COMPLETE").sum())
    assert (trials["state"] != "RUNNING").all()


def test_a_stopped_run_resumes_to_its_exact_budget_keeping_every_finished_trial(
    demo_root: Path, tmp_path: Path
) -> None:
    budget = 300  # large enough that the stop, written after 4 trials, always lands mid-run on a fast machine
    run_dir = new_run(demo_root, tmp_path, max_trials=budget)
    supervisor = start_in_background(run_dir, demo_root, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while count_complete(run_dir) < 4:
            assert supervisor.poll() is None, "the run ended before it could be stopped"
            assert time.monotonic() < deadline, "no trial completed"
            time.sleep(0.05)
        run_dir.request_stop()  # what `run stop` writes (the command itself is tested above)
        _, err = supervisor.communicate(timeout=180)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    assert supervisor.returncode == 0, err.decode()
    first_status = run_dir.read_status()
    assert first_status is not None and first_status["state"] == "stopped"
    first = {(name, t.number): t for name, trials in stored_trials(run_dir).items() for t in trials}
    first_complete = {key for key, t in first.items() if t.state == TrialState.COMPLETE}
    assert 0 < len(first_complete) < 2 * budget  # stopped mid-run
    assert all(t.state != TrialState.RUNNING for t in first.values())

    resumed = run_cli("run", "start", "--run-dir", str(run_dir.path), "--workers", "2", "--no-live",
                      "--data-root", str(demo_root), env=cli_env(tmp_path), timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    final_status = run_dir.read_status()
    assert final_status is not None and final_status["state"] == "finished"
    final = {(name, t.number): t for name, trials in stored_trials(run_dir).items() for t in trials}
    # Nothing of the first part lost or redone: each of its trials still there, in its state, with its values.
    for key, before in first.items():
        after = final[key]
        assert (after.state, after.values, after.params) == (before.state, before.values, before.params), key
    # The resumed part added exactly the trials the budget lacked, numbered after the first part's.
    for name in STRATEGIES.split(","):
        complete = [
            number for (strategy, number), t in final.items() if strategy == name and t.state == TrialState.COMPLETE
        ]
        assert len(complete) == budget, name
        last_of_first = max(number for strategy, number in first if strategy == name)
        assert all(number > last_of_first for number in complete if (name, number) not in first_complete)
    assert all(t.state != TrialState.RUNNING for t in final.values())
    # ... and its workers say so: the trials they completed are exactly the missing ones.
    events = run_dir.read_progress()
    second_start = max(i for i, e in enumerate(events) if e["event"] == "run_started")
    done_by_second = [e for e in events[second_start:] if e["event"] == "worker_finished"]
    assert sum(sum(e["trials"].values()) for e in done_by_second) == 2 * budget - len(first_complete)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategies", "ma_cross,nope"], "unknown strategy 'nope'"),
        (["--start", "2025-02-01", "--end", "2025-01-01"], "before start"),
        (["--start", "2031-01-01", "--end", "2031-01-31"], "2031"),
        (["--start", "2025-01-01", "--end", "2025-01-01", "--strategies", "ma_cross"], "split"),
        (["--dd-threshold", "-1"], "dd_threshold_pct"),
        (["--split", "0.5,0.6"], "split"),
        (["--storage", "postgresql+psycopg://nobody@127.0.0.1:1/none"], "not reachable"),
        (["--label", "../escape"], "label"),
    ],
)
def test_bad_run_requests_are_refused_in_one_line_before_anything_is_written(
    demo_root: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli(
        "run", "new", "--source", "demo", "--symbol", "BTC", "--data-root", str(demo_root), *args,
        env=cli_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_three_way_split_chooses_on_validation_and_reports_the_holdout_once(demo_root: Path, tmp_path: Path) -> None:
    from stratlab.optimize.context import RunRequest
    from stratlab.optimize.report import write_report
    from stratlab.optimize.runner import create_run
    from stratlab.optimize.worker import run_worker

    request = RunRequest.parse(
        source="demo", symbol="BTC", start="2025-01-01", end="2025-02-28", strategies=("rsi_reversion",),
        max_trials=30, split=(0.6, 0.15, 0.25), sampler="random", dd_threshold_pct=50.0,
    )  # fmt: skip
    run_dir = create_run(request, data_root=demo_root, runs_root=tmp_path / "runs")
    parts = run_dir.load_context().parts
    assert [p.name for p in parts] == ["train", "validation", "holdout"]
    assert parts[0].end == parts[1].start and parts[1].end == parts[2].start
    assert (parts[1].end - parts[1].start) == pytest.approx(0.15 * (parts[2].end - parts[0].start), abs=1)
    summary = run_worker(run_dir.path)
    assert summary.trials == {"rsi_reversion": 30} and summary.stopped_by == "budget"
    report = write_report(run_dir)
    assert report["strategies"]["rsi_reversion"]["complete"] == 30
    assert report["selection_part"] == "validation"
    assert (run_dir.path / "candidates_validation.csv").exists()
    if report["champion"] is None:
        pytest.fail(f"no champion at a 50 % threshold: {report['champion_reason']}")
    assert "validation" in report["champion_reason"]
    manifest = json.loads(run_dir.champion_path.read_text())
    assert set(manifest["kpis"]) == {"train", "validation", "holdout"}
    candidates = pd.read_csv(run_dir.path / "candidates_validation.csv")
    assert not any(column.startswith("holdout") for column in candidates.columns)  # never used to choose


def test_the_live_view_shows_every_strategy_the_total_rate_eta_and_the_best_traded_point(
    demo_root: Path, tmp_path: Path
) -> None:
    run_dir = new_run(demo_root, tmp_path, max_trials=12)
    result = run_cli("run", "start", "--run-dir", str(run_dir.path), "--workers", "2", "--data-root", str(demo_root))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"run {run_dir.load_context().run_id}" in out and "trials/s" in out and "2 workers" in out
    trials = trials_frame(run_dir)
    for strategy in STRATEGIES.split(","):
        line = next(line for line in out.splitlines() if line.startswith(strategy))
        assert "100%" in line
        assert ((trials["strategy"] == strategy) & (trials["state"] == "COMPLETE")).sum() == 12
        # The best train point shown is the best return among trials that traded at least min_train_trades (5)
        # times, the report's rule: a trial without trades (return 0, drawdown 0) is no edge.
        traded = trials[(trials["strategy"] == strategy) & (trials["state"] == "COMPLETE") & (trials["n_trades"] >= 5)]
        if traded.empty:
            assert "best train" not in line
        else:
            assert f"best train {traded['train_return_pct'].max():+.1f} %" in line
    assert any(line.startswith("total") and "100%" in line for line in out.splitlines())
