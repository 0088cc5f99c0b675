"""In a real browser: Launch's new fields (a three-way split, walk-forward windows with an embargo, a seed, two
position modes) launch a run whose context.json asks exactly that, and Monitor charts it and says why it ended."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.ui.test_browser import assert_no_exception, heading, type_into, wait_idle, wait_rerun

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.ui.browser import UIServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

LABEL = "ops-browser"


def test_launch_walk_forward_three_way_then_monitor_charts_it_and_says_why_it_ended(
    ui_server: UIServer, browser_page: Page, demo_root: Path, ui_artifacts: Path
) -> None:
    page = browser_page
    shutil.copytree(demo_root, ui_server.data_root, dirs_exist_ok=True)  # the demo market, as the Data page makes it
    page.goto(f"{ui_server.url}/launch")
    heading(page, "Launch").wait_for()
    wait_idle(page)
    page.get_by_text("three-way: train / validation / holdout", exact=True).click()
    wait_rerun(page)
    page.locator('input[aria-label="Validation fraction"]').wait_for()
    type_into(page, "Start", "2025-01-01")
    type_into(page, "End", "2025-02-28")
    type_into(page, "Walk-forward windows (0 = none)", "2", number=True)
    type_into(page, "Embargo bars", "6", number=True)
    type_into(page, "Seed", "3", number=True)
    type_into(page, "Max trials per strategy", "4", number=True)
    type_into(page, "Worker processes", "1", number=True)
    type_into(page, "DD threshold X (test, %)", "100", number=True)
    type_into(page, "Label", LABEL)
    modes = page.get_by_role("combobox", name="Position modes")
    modes.click()
    page.get_by_role("option", name="grid", exact=True).click()
    page.keyboard.press("Escape")
    for name in ("bollinger_breakout", "range_breakout", "rsi_reversion", "stochastic"):
        switch = page.get_by_role("switch", name=name, exact=True)
        page.get_by_text(name, exact=True).click()  # its label: the switch itself lies under it
        assert not switch.is_checked(), f"strategy {name} is still on"
    page.get_by_role("button", name="Launch", exact=True).click()
    refused = page.get_by_text("Cannot launch:")
    heading(page, "Monitor").or_(refused).first.wait_for(timeout=60_000)
    if refused.is_visible():
        pytest.fail(f"the Launch page refused the run: {refused.first.inner_text()}", pytrace=False)

    runs = [p.parent for p in ui_server.runs_root.glob(f"*_{LABEL}/context.json")]
    assert len(runs) == 1
    request = json.loads((runs[0] / "context.json").read_text())["request"]
    assert request["split"] == [0.6, 0.2, 0.2] and request["seed"] == 3 and request["strategies"] == ["ma_cross"]
    assert request["walk_forward"] == {"windows": 2, "anchored": False, "embargo_bars": 6}
    assert request["common"]["position_modes"] == ["none", "grid"]

    ended = page.get_by_text("Ended because its budget was met")
    ended.wait_for(timeout=90_000)
    status = json.loads((runs[0] / "status.json").read_text())
    assert status["ended_because"] == "budget_met" and status["completed"] == 8  # 2 windows x 1 strategy x 4
    assert f"{status['completed']:,} of 8 trials completed" in ended.inner_text()
    # Once the report is written the page redraws a last time, without its timer: count the charts after that.
    page.get_by_role("link", name="Analyze this run").wait_for(timeout=60_000)
    wait_idle(page)
    charts = page.get_by_test_id("stPlotlyChart")
    charts.nth(1).wait_for()  # the fronts, and the progress over time
    assert charts.count() == 2
    page.get_by_text("Progress over time").first.wait_for()
    assert page.get_by_text("Elapsed", exact=True).count() == 1
    assert_no_exception(page, "Monitor page")
    page.screenshot(path=str(ui_artifacts / "ops-monitor.png"), full_page=True)
