"""Shared storages: workers on PostgreSQL joining one run from separate processes, and four on one SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from stratlab.optimize.rundir import RunDir
from tests.conftest import run_cli
from tests.optimize.test_runs import PERIOD, cli_env

BUDGET = 30


def new_run(demo_root: Path, tmp_path: Path, storage: str) -> RunDir:
    result = run_cli(
        "run", "new", "--source", "demo", "--symbol", "BTC", *PERIOD, "--strategies", "ma_cross,range_breakout",
        "--max-trials", str(BUDGET), "--sampler", "random", "--storage", storage, "--data-root", str(demo_root),
        env=cli_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return RunDir(result.stdout.strip().splitlines()[-1])


def check_budget_met(run_dir: RunDir, storage: str, demo_root: Path) -> pd.DataFrame:
    report = run_cli(
        "run", "report", "--run-dir", str(run_dir.path), "--storage", storage, "--data-root", str(demo_root)
    )
    assert report.returncode == 0, report.stderr
    trials = pd.read_csv(run_dir.path / "trials.csv")
    assert (trials["state"] != "RUNNING").all()
    for strategy, group in trials.groupby("strategy"):
        complete = group[group["state"] == "COMPLETE"]
        assert len(complete) == BUDGET, strategy
        assert complete["trial"].is_unique
    return trials


@pytest.mark.slow
def test_two_workers_on_postgresql_share_one_study(
    demo_root: Path,
    tmp_path: Path,
    fresh_postgres_url: str,
) -> None:
    run_dir = new_run(demo_root, tmp_path, fresh_postgres_url)
    env = {**os.environ, **cli_env(tmp_path)}
    command = [sys.executable, "-m", "stratlab", "run", "worker", "--run-dir", str(run_dir.path),
               "--storage", fresh_postgres_url, "--data-root", str(demo_root)]  # fmt: skip
    # Two separate processes, as two machines would run them: each joins the studies through the server only.
    workers = [
        subprocess.Popen(
            [*command, "--index", str(i)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode()
    trials = check_budget_met(run_dir, fresh_postgres_url, demo_root)
    contributors = trials.loc[trials["state"] == "COMPLETE", "worker"].dropna().unique()
    assert len(contributors) == 2  # both workers added trials to the same studies


@pytest.mark.slow
def test_four_workers_on_one_sqlite_file_never_hit_database_is_locked(
    demo_root: Path,
    tmp_path: Path,
) -> None:
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    run_dir = new_run(demo_root, tmp_path, storage)
    started = run_cli(
        "run", "start", "--run-dir", str(run_dir.path), "--workers", "4", "--no-live", "--data-root", str(demo_root),
        env=cli_env(tmp_path), timeout=600,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    logs = "".join(p.read_text() for p in run_dir.workers_dir.glob("worker-*.log"))
    assert "locked" not in logs and "Traceback" not in logs, logs[-2000:]
    assert run_dir.read_status()["state"] == "finished"
    check_budget_met(run_dir, storage, demo_root)
