"""In a real browser: Analyze of a run while its worker is still searching shows the trials live from the run's
storage (the count grows as the page refreshes itself every two seconds), the train fronts with the dominated trials
faint behind them, and Optuna's slice and importance views as plotly charts.

The page is the Analyze page when it shows runs without a report live, else a one-line Streamlit script calling the
same section (``show_live_run``), served by real Streamlit either way.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from stratlab.optimize.rundir import RunDir
from tests.conftest import run_cli
from tests.ui.browser import UIServer
from tests.ui.conftest import ARTIFACTS
from tests.ui.test_browser import assert_no_exception, choose

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Page

HEADLINE = re.compile(r"Live from the run's storage.*?([\d,]+) trials")
SEARCH_S = "90"  # the worker's time budget: longer than the test, which stops it by its PID
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[UIServer]:
    """The UI, up before the search starts: the page then opens on the first trials, not on thousands of them."""
    served = UIServer(base=tmp_path / "ui-server")
    try:
        served.start()
        yield served
    finally:
        served.stop()


@dataclass(frozen=True)
class SearchingRun:
    run_dir: RunDir
    worker: subprocess.Popen[bytes]

    def pause(self) -> None:
        """Hold the worker where it is (SIGSTOP): the storage stops growing, the worker stays alive."""
        os.kill(self.worker.pid, signal.SIGSTOP)


@pytest.fixture
def searching_run(server: UIServer, demo_root: Path) -> Iterator[SearchingRun]:
    """A run made by the CLI in the server's runs root whose worker is searching (started here, stopped by its PID
    at the end)."""
    created = run_cli(
        "run", "new", "--source", "demo", "--symbol", "BTC", "--start", "2025-01-01", "--end", "2025-06-30",
        "--strategies", "ma_cross,stochastic", "--max-trials", "100000", "--time-budget", SEARCH_S,
        "--sampler", "random", "--data-root", str(demo_root), "--label", "live",
        env={"STRATLAB_RUNS_ROOT": str(server.runs_root)},
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    run_dir = RunDir(next(p for p in server.runs_root.iterdir() if p.is_dir()))
    worker = subprocess.Popen(
        # Niced: searching at full speed, it would slow down the page it is watched on.
        ["nice", "-n", "19", sys.executable, "-m", "stratlab", "run", "worker", "--run-dir", str(run_dir.path),
         "--data-root", str(demo_root)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while run_dir.journal_path.stat().st_size < 20_000 and time.monotonic() < deadline:
            time.sleep(0.1)  # a few completed trials of each study before the page opens
        assert worker.poll() is None, "the worker ended before the page could watch it"
        yield SearchingRun(run_dir, worker)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)  # its own session: the group is the worker alone (paused or not)
        worker.wait(timeout=30)


def shown_trials(page: Page) -> int:
    text = page.get_by_test_id("stMarkdown").filter(has_text="Live from the run's storage").first.inner_text()
    found = HEADLINE.search(text)
    assert found, text
    return int(found.group(1).replace(",", ""))


def test_analyze_during_a_run_is_live_with_optuna_views(
    server: UIServer, searching_run: SearchingRun, browser_page: Page
) -> None:
    run_dir = searching_run.run_dir
    page = browser_page
    page.goto(f"{server.url}/analyze?run={run_dir.path.name}")
    page.get_by_text("Live from the run's storage").first.wait_for(timeout=60_000)
    assert_no_exception(page, "live Analyze")
    first = shown_trials(page)
    # The fragment redraws itself every 2 s: the count grows with the worker's trials, without any click.
    deadline = time.monotonic() + 30
    while shown_trials(page) <= first and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    assert shown_trials(page) > first, "the live view did not refresh"
    # Liveness is shown; the views below are drawn from the storage as it stands. Held still, it is a few thousand
    # trials, not tens of thousands, and every redraw finds the views it cached (their key is the run's files).
    searching_run.pause()
    page.get_by_text("dominated trials").first.wait_for()  # the legend of the faint cloud behind the fronts
    assert page.get_by_test_id("stPlotlyChart").count() >= 1

    page.get_by_text("ma_cross: importance of the train return %").first.wait_for(timeout=60_000)
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    # The live section redraws every 2 s and a redraw closes an open list: try again rather than fail on the race.
    for attempt in range(3):
        try:
            choose(page, "View", "slice")
            break
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
    page.get_by_text("ma_cross: slice of the train return %").first.wait_for(timeout=60_000)
    # The live front and the slice.
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stPlotlyChart\"]').length === 2")
    assert_no_exception(page, "Optuna views")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live-analyze.png"), full_page=True)
