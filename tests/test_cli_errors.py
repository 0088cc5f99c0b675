"""Usage errors of every command: one `error:` line on stderr naming the option and the problem, exit 2."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["backtest", "--fee-bps", "abc"], "error: --fee-bps: 'abc' is not a valid number"),
        (["backtest", "--atr-period", "1.5"], "error: --atr-period: '1.5' is not a valid integer"),
        (["ui", "--port", "0"], "error: --port: 0 is below the minimum 1"),
        (["data", "check", "--source", "demo", "--timeframe", "5m"], "error: --symbol: required"),
        (["backtest", "--fe", "3"], "error: --fe: no such option of 'stratlab backtest'; did you mean"),
        (["data", "nosuch"], "error: stratlab data: No such command 'nosuch'"),
    ],
    ids=["not-a-float", "not-an-int", "below-minimum", "missing-option", "unknown-option", "unknown-command"],
)
def test_a_usage_error_is_one_line_and_exits_2(args: list[str], line: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(line)
    assert len(result.stderr.strip().splitlines()) == 1  # no usage box, no "Try --help", no traceback
    assert result.stdout == ""


def test_help_and_version_still_answer_on_stdout_and_exit_0() -> None:
    helped = run_cli("backtest", "--help")
    assert helped.returncode == 0 and "--fee-bps" in helped.stdout and helped.stderr == ""
    versioned = run_cli("--version")
    assert versioned.returncode == 0 and versioned.stdout.startswith("stratlab ")


def test_an_error_inside_a_command_still_exits_1() -> None:
    result = run_cli("backtest", "--strategy", "no_such_strategy")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_a_bad_parameter_a_command_raises_itself_names_its_option() -> None:
    import typer

    from stratlab.cli.app import _usage_line

    raised = typer.BadParameter("expected 1 to 64 worker processes, got 0", param_hint="--workers")
    assert _usage_line(raised) == "--workers: expected 1 to 64 worker processes, got 0"


def test_ctrl_c_while_the_cli_is_still_starting_is_no_traceback() -> None:
    """The imports take about a second: an interrupt then is as quiet as one later (exit 130, one line)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "stratlab", "data", "list"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    assert process.returncode in (130, -signal.SIGINT), (process.returncode, stderr)
