"""The research loop on a Dask cluster started here: a scheduler and two worker processes on 127.0.0.1, each the
``dask`` command a user runs on a machine. The same loop sends its batches to them.

Independent reference: the same experiment run in this process (``InlineExecutor``). A search task's proposals
depend only on its history and seed, so the cluster must write exactly the same backtests with exactly the same
KPI values; and both workers must have done part of the work (each kept its own warm candles).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest

from stratlab.errors import ConfigError
from stratlab.research.config import ResearchConfig
from stratlab.research.db import ResultsDb
from stratlab.research.execute import DaskExecutor, InlineExecutor, warm_markets
from stratlab.research.loop import ResearchLoop
from stratlab.strategies import forget_user_strategies, load_strategies_dir
from tests.pg_server import free_port

DASK = str(Path(sys.executable).with_name("dask"))
CONFIG = {
    "name": "cluster",
    "markets": [{"source": "demo", "symbol": "BTC", "timeframe": "5m", "start": "2025-02-01", "end": "2025-04-30"}],
    "strategies": ["ma_cross", "rsi_reversion"],
    "batch_size": 24,
    "seed": 5,
    "stop": {"best": 1000, "max_backtests": 96},
    "soft": {"top_days_pnl_share_pct": "off", "n_trades": {"min": 5}, "active_days": {"min": 5}},
}


def stop(address: str, processes: list[subprocess.Popen[bytes]]) -> None:
    """The scheduler told to shut the cluster down (its workers with it, in about a second); whatever is left after
    that is ended by its pid."""
    from distributed import Client

    with contextlib.suppress(Exception), Client(address, timeout="5s") as client:  # type: ignore[no-untyped-call]
        client.shutdown()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes (one thread each), torn down after the module."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
        "env": {**os.environ, "PYTHONWARNINGS": "ignore"},
    }
    processes = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                  **quiet)]  # type: ignore[call-overload]  # fmt: skip
    try:
        for name in ("w0", "w1"):
            processes.append(
                subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                  "--name", name, "--memory-limit", "0"], **quiet)  # type: ignore[call-overload]
            )  # fmt: skip
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="5s") as client:  # type: ignore[no-untyped-call]
                    client.wait_for_workers(2, timeout=30)
                break
            except OSError:
                assert time.monotonic() < deadline, "the Dask scheduler did not answer"
                time.sleep(0.2)
        yield address
    finally:
        stop(address, processes)


def backtests(path: Path) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(
            "select b.iteration, b.strategy, b.params_json, b.config_json, k.sharpe, k.return_pct, k.n_trades "
            "from backtests b join kpis k on k.backtest_id = b.id and k.part = 'train' order by b.id"
        ).fetchall()
    finally:
        connection.close()


def run(executor: DaskExecutor | InlineExecutor, path: Path, demo_root: Path, work: Path) -> None:
    db = ResultsDb.open(path)
    try:
        ResearchLoop(ResearchConfig.model_validate(CONFIG), db, data_root=demo_root, work_dir=work,
                     executor=executor).run()  # fmt: skip
    finally:
        db.close()
        executor.close()


def test_the_loop_on_two_cluster_workers_writes_what_it_writes_in_one_process(
    scheduler: str, demo_root: Path, tmp_path: Path
) -> None:
    cluster = DaskExecutor(demo_root, scheduler)
    assert cluster.workers == 2 and scheduler in cluster.where
    run(cluster, tmp_path / "cluster.sqlite", demo_root, tmp_path / "w1")
    run(InlineExecutor(demo_root), tmp_path / "inline.sqlite", demo_root, tmp_path / "w2")
    on_cluster = backtests(tmp_path / "cluster.sqlite")
    with sqlite3.connect(tmp_path / "cluster.sqlite") as connection:
        stored = json.loads(connection.execute("select config_json from experiments").fetchone()[0])
    fingerprint = stored["markets"][0]["fingerprint"]
    assert len(on_cluster) == 96
    assert on_cluster == backtests(tmp_path / "inline.sqlite")

    from distributed import Client

    with Client(scheduler, timeout="10s") as client:  # type: ignore[no-untyped-call]
        loaded = client.run(warm_markets)
    # Both workers ran backtests, and each loaded the market once and kept it.
    assert list(loaded.values()) == [[fingerprint], [fingerprint]]


def test_cluster_workers_import_a_user_strategy_from_the_file_the_experiment_recorded(
    scheduler: str, demo_root: Path, tmp_path: Path
) -> None:
    """The workers know no strategies folder: each search task carries the file (and hash) the loop recorded, and the
    worker imports it. The experiment keeps that the check was skipped."""
    folder = tmp_path / "mine"
    folder.mkdir()
    template = files("stratlab.strategies").joinpath("templates/ema_cross.py.tmpl").read_text(encoding="utf-8")
    (folder / "cross_mine.py").write_text(template.replace("__NAME__", "cross_mine").replace("__CLASS__", "CrossMine"))
    load_strategies_dir(folder)
    config = {**CONFIG, "name": "user", "strategies": ["cross_mine"], "skip_check": True,
              "stop": {"best": 1000, "max_backtests": 48}}  # fmt: skip
    path = tmp_path / "user.sqlite"
    db = ResultsDb.open(path)
    try:
        loop = ResearchLoop(ResearchConfig.model_validate(config), db, data_root=demo_root, work_dir=tmp_path / "w",
                            executor=DaskExecutor(demo_root, scheduler))  # fmt: skip
        loop.run()
        loop.executor.close()
    finally:
        db.close()
        forget_user_strategies()
    rows = backtests(path)
    assert len(rows) == 48 and {row[1] for row in rows} == {"cross_mine"}
    assert len({row[2] for row in rows}) > 40  # searched: distinct parameter sets
    with sqlite3.connect(path) as connection:
        stored = json.loads(connection.execute("select config_json from experiments").fetchone()[0])
    recorded = stored["strategy_sources"]["cross_mine"]
    assert recorded["file"] == str((folder / "cross_mine.py").resolve()) and recorded["check"] == "skipped"


def test_no_scheduler_at_the_address_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"no Dask scheduler answers at tcp://127\.0\.0\.1"):
        DaskExecutor(".", f"tcp://127.0.0.1:{free_port()}", timeout_s=2)
