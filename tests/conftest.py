"""Shared fixtures: an empty store root per test, candle frames built by hand, the CLI run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratlab.settings import get_settings

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


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo market, built once per test process by the CLI a user would run; tests only read it."""
    root = tmp_path_factory.mktemp("store") / "market_data"
    result = run_cli("data", "demo", "--data-root", str(root))
    assert result.returncode == 0, result.stderr
    return root
