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
import pandas as pd
import pytest

from stratlab.optimize.rundir import RunDir
from stratlab.optimize.storage import default_storage_url, open_storage
from stratlab.optimize.worker import open_studies
from tests.conftest import run_cli

STRATEGIES = "ma_cross,rsi_reversion"
PERIOD = ["--start", "2025-01-01", "--end", "2025-01-31"]


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
    # Every strategy reached its budget (workers may overshoot by at most one trial each), no trial repeated.
    for strategy in STRATEGIES.split(","):
        done = complete[complete["strategy"] == strategy]
        assert 25 <= len(done) <= 26
        assert done["trial"].is_unique
        assert report["strategies"][strategy]["complete"] == len(done)
    assert (trials["state"] != "RUNNING").all()
    # status.json and every progress line follow their documented schemas.
    schemas = Path(__file__).parents[2] / "docs" / "schemas"
    status = run_dir.read_status()
    assert status is not None
    jsonschema.validate(status, json.loads((schemas / "status.schema.json").read_text()))
    # The final rate is the run's mean: every completed trial over the elapsed time (the supervisor's clock starts
    # a moment after started_at, so allow a little).
    assert status["trials_per_s"] == pytest.approx(status["completed"] / status["elapsed_s"], rel=0.1)
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
    for strategy, group in pareto.groupby("strategy"):
        pool = traded[traded["strategy"] == strategy]
        for row in group.itertuples():
            better = pool[
                (pool["train_return_pct"] >= row.train_return_pct)
                & (pool["train_max_drawdown_pct"] <= row.train_max_drawdown_pct)
                & (
                    (pool["train_return_pct"] > row.train_return_pct)
                    | (pool["train_max_drawdown_pct"] < row.train_max_drawdown_pct)
                )
            ]
            assert better.empty, (strategy, row.trial)
    # The champion is the best test return among candidates with test DD <= 30 %.
    candidates = pd.read_csv(run_dir.path / "candidates_test.csv")
    assert len(candidates) == len(pareto)
    eligible = candidates[candidates["test_max_drawdown_pct"] <= 30]
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
    assert "champion:" in result.stdout and str(run_dir.path) in result.stdout
    # The manifest replays to identical KPIs, through the CLI a user would run.
    replay = run_cli("backtest", "--manifest", str(run_dir.champion_path), "--data-root", str(demo_root), "--json")
    assert replay.returncode == 0, replay.stderr
    payload = json.loads(replay.stdout)
    assert payload["identical"] is True
    for part in ("train", "test"):
        assert payload["kpis"][part]["return_pct"] == pytest.approx(manifest["kpis"][part]["return_pct"], rel=1e-12)


def test_a_worker_killed_mid_run_loses_nothing_and_the_run_reaches_its_budget(demo_root: Path, tmp_path: Path) -> None:
    run_dir = new_run(demo_root, tmp_path, max_trials=400)
    env = {**os.environ, **cli_env(tmp_path)}
    command = [sys.executable, "-m", "stratlab", "run", "start", "--run-dir", str(run_dir.path), "--workers", "2",
               "--no-live", "--data-root", str(demo_root)]  # fmt: skip
    supervisor = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
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
    assert supervisor.returncode == 0, err.decode()
    status = run_dir.read_status()
    assert status is not None and status["state"] == "failed"  # a worker died: said, not hidden
    assert status["failed_workers"]
    # Restarting finishes whatever the dead worker left: every study at its budget, nothing RUNNING.
    resumed = run_cli("run", "start", "--run-dir", str(run_dir.path), "--workers", "1", "--no-live",
                      "--data-root", str(demo_root), env=cli_env(tmp_path))  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    trials = trials_frame(run_dir)
    assert (trials["state"] != "RUNNING").all()
    for strategy in STRATEGIES.split(","):
        done = trials[(trials["strategy"] == strategy) & (trials["state"] == "COMPLETE")]
        assert 400 <= len(done) <= 402 and done["trial"].is_unique
    studies = open_studies(run_dir.load_context(), open_storage(run_storage_url(run_dir)), seed=0)
    failed = [t for s in studies.values() for t in s.get_trials(deepcopy=False) if t.state.name == "FAIL"]
    assert all(t.user_attrs.get("failed_because") == "its worker died" for t in failed)
    assert run_dir.read_status()["state"] == "finished"


def test_stop_flag_stops_every_worker_within_seconds_and_status_says_so(demo_root: Path, tmp_path: Path) -> None:
    run_dir = new_run(demo_root, tmp_path, max_trials=100_000)
    env = {**os.environ, **cli_env(tmp_path)}
    command = [sys.executable, "-m", "stratlab", "run", "start", "--run-dir", str(run_dir.path), "--workers", "2",
               "--no-live", "--data-root", str(demo_root)]  # fmt: skip
    supervisor = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(e["event"] == "worker_progress" for e in run_dir.read_progress()) >= 2:
                break
            time.sleep(0.1)
        stopped = run_cli("run", "stop", "--run-dir", str(run_dir.path), env=cli_env(tmp_path))
        assert stopped.returncode == 0, stopped.stderr
        asked = time.monotonic()
        supervisor.communicate(timeout=60)
        elapsed = time.monotonic() - asked
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    finished = [e for e in run_dir.read_progress() if e["event"] == "worker_finished"]
    assert len(finished) == 2 and all(e["stopped_by"] == "stop.flag" for e in finished)
    assert elapsed < 30  # includes rebuilding the report after the workers stopped
    status = run_cli("run", "status", "--run-dir", str(run_dir.path), "--json", env=cli_env(tmp_path))
    assert status.returncode == 0
    payload = json.loads(status.stdout)
    assert payload["state"] == "stopped"
    trials = trials_frame(run_dir)
    assert payload["completed"] == int((trials["state"] == "COMPLETE").sum())
    assert (trials["state"] != "RUNNING").all()


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
    run_worker(run_dir.path)
    report = write_report(run_dir)
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
        # The best train point shown is the best return among trials that traded at least min_train_trades (5)
        # times, the report's rule: a trial without trades (return 0, drawdown 0) is no edge.
        traded = trials[(trials["strategy"] == strategy) & (trials["state"] == "COMPLETE") & (trials["n_trades"] >= 5)]
        if traded.empty:
            assert "best train" not in line
        else:
            assert f"best train {traded['train_return_pct'].max():+.1f} %" in line
    assert any(line.startswith("total") and "100%" in line for line in out.splitlines())
