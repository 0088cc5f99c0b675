"""A runner killed with SIGKILL at random moments and started again ends exactly where an unbroken backtest ends.

Each life of the runner is a real process (forked from the test, which has already compiled the kernels, so a life
starts in milliseconds instead of seconds) that opens the state directory, resumes and trades until the test kills
it with SIGKILL after a random delay: during start-up, between bars, in the middle of a commit. After at least 20
kills the last life runs to the end of the replay. The independent reference is ``run_backtest`` on the manifest's
candles: every trade and the equity of every bar must equal it (nothing lost, nothing doubled), and the equity table
must hold each traded bar exactly once, in order (no bar traded twice, none skipped).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratlab.data.loader import load_ohlcv
from stratlab.engine import EXIT_REASONS, run_backtest
from stratlab.errors import DataError
from stratlab.live.alerts import NotifyMode
from stratlab.live.report import build_report
from stratlab.live.start import StartOptions, new_spec
from stratlab.strategies import get_strategy
from tests.live.lives import forked_life, run_quietly
from tests.live.manifests import make_manifest

KILLS = 20
FIVE_MINUTES = 300_000


def _committed_bars(state_dir: Path) -> int:
    path = state_dir / "state.db"
    if not path.exists():
        return 0
    connection = sqlite3.connect(path, timeout=10)
    try:
        return int(connection.execute("select count(*) from equity").fetchone()[0])
    except sqlite3.OperationalError:  # the tables are not there yet
        return 0
    finally:
        connection.close()


def test_sigkill_at_random_moments_loses_and_doubles_nothing(demo_root: Path, tmp_path: Path) -> None:
    manifest_path = tmp_path / "champion.json"
    make_manifest(demo_root, start="2025-03-01", end="2025-03-14", params={"fast": 5, "slow": 20}).write(manifest_path)
    spec = new_spec(StartOptions(manifests=(manifest_path,), notify=NotifyMode.NONE))
    # One day traded in this process first: the kernels are loaded from numba's cache and the modules imported
    # here once, so that each forked life starts at once.
    warm = new_spec(
        StartOptions(manifests=(manifest_path,), notify=NotifyMode.NONE, start="2025-03-13", end="2025-03-13")
    )
    run_quietly(tmp_path / "paper" / "warm", warm, demo_root)
    build_report(tmp_path / "paper" / "warm")  # and the reads of a resume
    state_dir = tmp_path / "paper" / "killed"
    rng = random.Random(7)

    # The first life creates the state; later lives resume it (spec None: what is stored). Most lives are killed a
    # random few milliseconds after they committed a new bar (in the middle of the next bar or of its commit); every
    # fifth one during its start-up, before it traded anything.
    kills = 0
    progress = [0]
    first = True
    while kills < KILLS:
        process = forked_life(state_dir, spec if first else None, demo_root)
        if kills % 5 == 4:
            time.sleep(rng.uniform(0.0, 0.05))
        else:
            deadline = time.monotonic() + 30
            while _committed_bars(state_dir) <= progress[-1] and process.is_alive() and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.03))
        if not process.is_alive():  # it reached the end before the kill
            process.join()
            break
        os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
        process.join()
        assert process.exitcode == -signal.SIGKILL
        kills += 1
        first = first and not (state_dir / "state.db").exists()
        progress.append(_committed_bars(state_dir))
    assert kills >= KILLS, f"the replay ended after {kills} kills: make it longer"
    assert len(set(progress)) > KILLS // 2, f"the kills did not land mid-run: {progress}"

    last = forked_life(state_dir, None, demo_root)
    last.join(timeout=120)
    assert last.exitcode == 0
    with pytest.raises(DataError, match="already traded its whole replay"):
        run_quietly(state_dir, None, demo_root)  # started again after the end: says so, changes nothing

    # The reference: the manifest's backtest of its test part, on the store's candles.
    manifest = spec.books[0].manifest
    candles = load_ohlcv("demo", "BTC", "5m", "2025-03-01", "2025-03-14", data_root=demo_root)
    strategy = get_strategy(manifest.strategy)
    test_part = manifest.dataset.parts[1]
    expected = run_backtest(
        candles, strategy.signals(candles, manifest.params), manifest.backtest,
        stops=strategy.stops(candles, manifest.params), start=test_part.start,
    )  # fmt: skip

    with sqlite3.connect(state_dir / "state.db") as connection:
        equity = pd.read_sql("select time_ms, equity from equity order by time_ms", connection)
        trades = pd.read_sql("select * from trades order by n", connection)
    stamps = equity["time_ms"].to_numpy()
    assert stamps[0] == candles.timestamp_ms[test_part.start]
    assert (np.diff(stamps) == FIVE_MINUTES).all(), "a bar traded twice or skipped"
    np.testing.assert_array_equal(stamps, expected.timestamp_ms)
    np.testing.assert_array_equal(equity["equity"].to_numpy(), expected.equity)
    reference = expected.trades
    assert len(trades) == len(reference) > 10
    assert trades["n"].tolist() == list(range(len(reference)))
    for column in ("entry_time_ms", "exit_time_ms", "side", "size", "entry_price", "exit_price", "fees", "pnl"):
        np.testing.assert_array_equal(trades[column].to_numpy(), reference[column].to_numpy(), err_msg=column)
    assert trades["exit_reason"].tolist() == [str(reason) for reason in reference["exit_reason"]]
    assert set(trades["exit_reason"]) <= set(EXIT_REASONS)
