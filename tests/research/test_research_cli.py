"""``stratlab research start|status|stop`` as a user runs them: killed with -9 mid-run and started again, asked to
stop, refused twice at once, and bad configs as one line.

Independent reference: the results database read with sqlite3 (rows per iteration, KPI rows per backtest).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stratlab.cli.app import main
from stratlab.errors import ConfigError
from stratlab.processes import pid_alive
from stratlab.research.config import load_config
from stratlab.settings import get_settings
from tests.conftest import run_cli

CONFIG = """
name = "cli-loop"
strategies = ["ma_cross", "rsi_reversion"]
batch_size = 40
seed = 1
[[markets]]
source = "demo"
symbol = "ETH"
start = "2025-01-01"
end = "2025-05-31"
[stop]
best = 1000
max_backtests = {max_backtests}
"""


def write_config(folder: Path, max_backtests: int, **extra: str) -> Path:
    path = folder / "research.toml"
    text = CONFIG.replace("{max_backtests}", str(max_backtests))
    path.write_text(text + "".join(f"{k} = {v}\n" for k, v in extra.items()).replace("[stop]", "[stop]"))
    return path


def iterations(db: Path) -> list[tuple[int, int]]:
    try:
        connection = sqlite3.connect(db)
        try:
            return connection.execute("select iteration, count(*) from backtests group by iteration").fetchall()
        finally:
            connection.close()
    except sqlite3.OperationalError:
        return []


def env_for(tmp_path: Path) -> dict[str, str]:
    return {"STRATLAB_RESEARCH_ROOT": str(tmp_path / "research")}


def start_command(config: Path, demo_root: Path) -> list[str]:
    return [sys.executable, "-m", "stratlab", "research", "start", "--config", str(config), "--data-root",
            str(demo_root), "--workers", "1"]  # fmt: skip


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``stratlab ARGS`` through the CLI's own entry point, in this process (no interpreter start-up): exit code,
    stdout, stderr."""
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["stratlab", *args])
        try:
            main()
        except SystemExit as exited:
            code = int(exited.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def wait_for_iterations(db: Path, count: int, loop: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while len(iterations(db)) < count:
        assert loop.poll() is None, loop.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_kill_9_loses_only_the_unfinished_batch_and_a_second_start_resumes_until_stopped(
    demo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATLAB_RESEARCH_ROOT", str(tmp_path / "research"))
    get_settings.cache_clear()
    config = write_config(tmp_path, 100_000)
    db = tmp_path / "research" / "results.sqlite"
    env = {**os.environ, **env_for(tmp_path)}
    pooled = [*start_command(config, demo_root)[:-1], "2"]  # two pool workers: a kill must not orphan them
    loop = subprocess.Popen(pooled, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_iterations(db, 2, loop)
        children = [int(pid) for pid in subprocess.check_output(["ps", "--ppid", str(loop.pid), "-o", "pid="]).split()]
        assert len(children) >= 2
        code, out, err = in_process(capsys, "research", "status", "--config", str(config))
        assert code == 0, err
        assert f"running (pid {loop.pid})" in out
        os.kill(loop.pid, signal.SIGKILL)
        loop.wait(timeout=30)
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.wait()
    deadline = time.monotonic() + 15
    while any(pid_alive(pid) for pid in children):  # the pool's workers leave with the loop
        assert time.monotonic() < deadline, [pid for pid in children if pid_alive(pid)]
        time.sleep(0.1)
    before = iterations(db)
    assert len(before) >= 2 and all(n == 80 for _, n in before)  # whole iterations only: a batch is atomic

    loop = subprocess.Popen(start_command(config, demo_root), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for_iterations(db, len(before) + 1, loop)
        code, out, err = in_process(capsys, *start_command(config, demo_root)[3:])
        assert code == 1 and err.count("\n") == 1 and err.startswith("error: ")
        assert f"already running (pid {loop.pid})" in err
        code, out, err = in_process(capsys, "research", "stop", "--config", str(config))
        assert code == 0, err
        out, err = loop.communicate(timeout=60)
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.wait()
    assert loop.returncode == 0, err
    assert f"resuming at iteration {len(before)} with {80 * len(before):,} backtests" in out
    assert "stopped: stop requested" in out and "Holdout was never looked at" in out
    after = iterations(db)
    assert after[: len(before)] == before and after == [(i, 80) for i in range(len(after))]
    connection = sqlite3.connect(db)
    orphans = connection.execute(
        "select count(*) from backtests b where not exists (select 1 from kpis k where k.backtest_id = b.id)"
    ).fetchone()[0]
    connection.close()
    assert orphans == 0


def test_bad_configs_are_one_line_naming_the_file_and_field(tmp_path: Path) -> None:
    cases = {
        "missing.toml": (None, "no such research config"),
        "syntax.toml": ("name = \n", "not valid TOML"),
        "kpi.toml": (MARKET + "[soft]\nsharp = {min = 1}\n", "unknown KPI 'sharp'; did you mean sharpe"),
        "split.toml": ("split = [0.5, 0.5]\n" + MARKET, "split"),
        "strategy.toml": ('strategies = ["nope"]\n' + MARKET, "nope"),
        "bound.toml": (MARKET + "[hard]\nsharpe = {above = 2}\n", "expected {min = x}"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text('name = "x"\n' + text if name != "syntax.toml" else text)
        with pytest.raises(ConfigError) as raised:
            load_config(path)
        assert str(path) in str(raised.value) and expected in str(raised.value), str(raised.value)
        assert "\n" not in str(raised.value)
    # As the CLI prints one of them: one line, exit 1, no traceback.
    result = run_cli("research", "start", "--config", str(tmp_path / "kpi.toml"), env=env_for(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'kpi.toml'}: {_message(tmp_path / 'kpi.toml')}"]


def _message(path: Path) -> str:
    try:
        load_config(path)
    except ConfigError as exc:
        return " ".join(str(exc).removeprefix(f"{path}: ").split())
    raise AssertionError("the config loaded")


MARKET = '[[markets]]\nsource = "demo"\nsymbol = "BTC"\n'
