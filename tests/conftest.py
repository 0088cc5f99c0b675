"""Shared fixtures: an empty store root per test, candle frames built by hand, the CLI run as a real process."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratlab.settings import get_settings

# A suite started in the background of a script inherits SIGINT ignored, and so would every process a test starts:
# the tests that press Ctrl+C would then see it lost. Processes started from here get the default again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

FIVE_MIN_MS = 300_000
# 2025-01-01 00:00 UTC
JAN_2025_MS = 1_735_689_600_000


def make_frame(n: int, start_ms: int = JAN_2025_MS, step_ms: int = FIVE_MIN_MS, seed: int = 0) -> pd.DataFrame:
    """A valid OHLCV frame of ``n`` bars: a seeded random walk with consistent high/low."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, n))
    return pd.DataFrame(
        {
            "timestamp_ms": start_ms + step_ms * np.arange(n, dtype=np.int64),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.uniform(1, 10, n),
        }
    )


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "market_data"
    root.mkdir()
    return root


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own log folder and no .env of the developer's; settings are re-read."""
    monkeypatch.setenv("STRATLAB_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m stratlab ARGS`` as a user would, capturing output (no stdin)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "stratlab", *args],
        capture_output=True,
        text=True,
        env=full_env,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


# The throwaway PostgreSQL fixtures live beside their server helper; importing them here makes them available to
# every test (postgres_server and postgres_url per process, fresh_postgres_url per test).
from tests.pg_server import fresh_postgres_url, postgres_server, postgres_url  # noqa: E402, F401


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A directory that ``build`` fills once per test run, however many test processes ask for it.

    Under xdist every worker's base temp directory sits in one folder per run: the first worker to ask builds the
    directory there while it holds a lock, the others wait for it and then read it. A build that failed half way
    is started again by the next one to ask. Without xdist it is this process's own temp directory. What is built
    here is only read by tests (a test that changes it copies it first)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    target = shared / name
    done = target / ".built"
    with (shared / f"{name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            build(target)
            done.touch()
    return target


def _write_demo_market(folder: Path) -> None:
    result = run_cli("data", "demo", "--data-root", str(folder / "market_data"))
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo market, built once per test run by the CLI a user would run; tests only read it."""
    return built_once(tmp_path_factory, "demo-store", _write_demo_market) / "market_data"
