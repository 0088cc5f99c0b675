"""In a real browser: a paced replay runner (``stratlab paper start --speed``) shows as running on the Paper page, its
parity chart grows while the page refreshes itself, and the page's Stop button stops it."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stratlab.live.state import STATE_FILE
from tests.live.manifests import write_manifest
from tests.ui.test_browser import assert_no_exception, heading, shoot

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.ui.browser import UIServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

RUNNER = "paced-replay"
# The manifest's test part, the bars a runner trades: five-minute bars from 2025-03-03 19:10 to 2025-03-05 00:00 UTC.
FIRST_TRADED_BAR = dt.datetime(2025, 3, 3, 19, 10, tzinfo=dt.UTC)
DATA_END = dt.datetime(2025, 3, 5, tzinfo=dt.UTC)
TRADED_BARS = (DATA_END - FIRST_TRADED_BAR) // dt.timedelta(minutes=5)
# At 3,000× real time those 346 bars take about 35 s: far more than the test needs before it stops the runner.
SPEED = "3000"
STARTED_TIMEOUT_S = 30
# How many bars the paper line of the first parity chart has, as plotly.js drew it (its data as sent are encoded
# typed arrays; _fullData holds them decoded).
PAPER_POINTS_JS = """() => {
  const chart = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  const paper = chart && chart._fullData ? chart._fullData.find(t => t.name === 'paper') : null;
  return paper ? paper.y.length : 0;
}"""


def db_row(state_dir: Path, sql: str) -> tuple[Any, ...]:
    """The state database read directly, without stratlab."""
    with sqlite3.connect(state_dir / STATE_FILE, timeout=10) as connection:
        row: tuple[Any, ...] = connection.execute(sql).fetchone()
        return row


def wait_running(state_dir: Path, runner: subprocess.Popen[bytes], output: Path) -> None:
    """Until the runner has committed its first traded bar."""
    deadline = time.monotonic() + STARTED_TIMEOUT_S
    while time.monotonic() < deadline:
        assert runner.poll() is None, f"the runner exited early:\n{output.read_text(errors='replace')}"
        with contextlib.suppress(sqlite3.OperationalError):  # the database may still be being created
            if (state_dir / STATE_FILE).exists() and db_row(state_dir, "SELECT COUNT(*) FROM equity")[0]:
                return
        time.sleep(0.1)
    pytest.fail(f"the runner traded no bar within {STARTED_TIMEOUT_S} s", pytrace=False)


def test_a_paced_runner_grows_on_the_paper_page_and_its_stop_button_stops_it(
    ui_server: UIServer, browser_page: Page, demo_root: Path, ui_artifacts: Path, tmp_path: Path
) -> None:
    page = browser_page
    # The server runs in its base folder without STRATLAB_PAPER_ROOT: the default paper root "paper/" is there.
    state_dir = ui_server.base / "paper" / RUNNER
    manifest = write_manifest(tmp_path / "champion.json", demo_root)
    output = tmp_path / "runner-output.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATLAB_")}
    with output.open("wb") as sink:
        runner = subprocess.Popen(
            [sys.executable, "-m", "stratlab", "paper", "start", "--manifest", str(manifest), "--state-dir",
             str(state_dir), "--data-root", str(demo_root), "--notify", "none", "--speed", SPEED],
            env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_running(state_dir, runner, output)
        page.goto(f"{ui_server.url}/paper?state={RUNNER}")
        heading(page, "Paper").wait_for()
        page.get_by_text(f"Status: running (pid {runner.pid}", exact=False).wait_for()
        picker = page.get_by_role("combobox", name="Runner")
        assert picker.input_value() == f"{RUNNER} · ma_cross-BTC-5m · running"
        page.wait_for_function(f"() => ({PAPER_POINTS_JS})() > 0")
        first = int(page.evaluate(PAPER_POINTS_JS))
        # The section reads the state again every 2 s: the paper line gains the bars committed since.
        page.wait_for_function(f"() => ({PAPER_POINTS_JS})() > {first}", timeout=10_000)
        second = int(page.evaluate(PAPER_POINTS_JS))
        assert second > first and second <= int(db_row(state_dir, "SELECT COUNT(*) FROM equity")[0])
        assert_no_exception(page, "Paper page, running")
        shoot(page, ui_artifacts, "paper-running.png")

        page.get_by_role("button", name="Stop this runner").click()
        page.get_by_text("Status: stopped: stop requested").wait_for(timeout=20_000)
        assert runner.wait(timeout=15) == 0
        status, bars = db_row(state_dir, "SELECT status, (SELECT COUNT(*) FROM equity) FROM runner")
        assert status == "stopped" and int(bars) < TRADED_BARS  # stopped before its end
        # Once stopped the page is drawn a last time: every committed bar is on the chart, and no Stop button.
        page.wait_for_function(f"() => ({PAPER_POINTS_JS})() === {bars}")
        # The button goes with the page's last full redraw, a moment after the status line changed.
        page.get_by_role("button", name="Stop this runner").wait_for(state="detached", timeout=10_000)
        assert page.get_by_role("button", name="Stop this runner").count() == 0
        assert picker.input_value() == f"{RUNNER} · ma_cross-BTC-5m · stopped"  # redrawn with the new status
        assert_no_exception(page, "Paper page, stopped")
        shoot(page, ui_artifacts, "paper-stopped.png")
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=10)
