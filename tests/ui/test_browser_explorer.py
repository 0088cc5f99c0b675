"""The trials explorer in a real browser: Analyze's Trials tab on a finished run made by the CLI; the table filtered,
its CSV downloaded and checked against trials.csv filtered by pandas, a trial that is not the champion backtested,
its chart (split marker, buy-and-hold) read from plotly.js in the page, and the log-scale toggle applied there."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from tests.ui.test_browser import assert_no_exception, heading, open_tab, shoot, wait_idle, wait_rerun
from tests.ui.test_pages import copy_run

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.ui.browser import UIServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

STRATEGY = "stochastic"
SCREENSHOT = "08-analyze-trials.png"
# The first plotly chart of the open tab as plotly.js drew it: trace names, the split markers, the y axes' scales.
CHART_JS = """() => {
  const plot = document.querySelector('[role="tabpanel"]:not([hidden]) [data-testid="stPlotlyChart"] .js-plotly-plot');
  if (!plot || !plot.data) return null;
  return {
    names: plot.data.map(t => t.name),
    shapes: (plot.layout.shapes || []).map(s => ({x0: s.x0, yref: s.yref})),
    labels: (plot.layout.annotations || []).map(a => a.text),
    price: plot.layout.yaxis.type,
    equity: plot.layout.yaxis2.type,
  };
}"""


def pick_in_multiselect(page: Page, label: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_rerun(page)
    # The menu stays open after a pick (and would swallow the next click): closed once the pick's rerun is over.
    page.keyboard.press("Escape")
    page.get_by_role("listbox").wait_for(state="detached")


def choose_typed(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``, typed in to narrow its menu (the trial picker may list
    thousands). Right after another widget's menu closed, a click on the box may only focus it: the arrow key opens
    the menu then."""
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    if not page.get_by_role("listbox").count():
        box.press("ArrowDown")
    box.press_sequentially(option)
    page.get_by_role("option", name=option, exact=True).click()
    assert box.input_value() == option, f"selectbox {label!r} shows {box.input_value()!r}, not {option!r}"


def chart(page: Page) -> dict[str, Any]:
    page.wait_for_function(f"() => ({CHART_JS})() !== null")
    drawn: dict[str, Any] = page.evaluate(CHART_JS)
    return drawn


def test_trials_tab_filter_export_and_backtest_a_non_champion(
    ui_server: UIServer, browser_page: Page, ui_artifacts: Path, finished_runs: tuple[Path, list[str]]
) -> None:
    # A finished run of two strategies made by the CLI (the page tests' own, copied whole into the server's runs root).
    runs_root, names = finished_runs
    run_dir = copy_run(runs_root, next(n for n in names if n.endswith("_first")), ui_server.runs_root)
    trials = pd.read_csv(run_dir / "trials.csv")
    report = json.loads((run_dir / "report.json").read_text())
    champion = (report["champion"]["strategy"], report["champion"]["trial"]) if report["champion"] else None
    page = browser_page
    page.goto(f"{ui_server.url}/analyze?run={run_dir.name}")
    heading(page, "Analyze").wait_for()
    wait_idle(page, timeout_ms=60_000)
    open_tab(page, "Trials")
    assert_no_exception(page, "Trials tab")
    page.get_by_text(f"{len(trials):,} of {len(trials):,} trials").wait_for()

    pick_in_multiselect(page, "Strategies", STRATEGY)
    expected = trials[trials["strategy"] == STRATEGY]
    page.get_by_text(f"{len(expected):,} of {len(trials):,} trials").wait_for()
    with page.expect_download() as caught:
        page.get_by_role("button", name="Download filtered trials (CSV)").click()
    download = caught.value
    assert download.failure() is None, download.failure()
    got = pd.read_csv(io.StringIO(Path(download.path()).read_text()))
    assert got["strategy"].tolist() == expected["strategy"].tolist()
    assert got["trial"].tolist() == expected["trial"].tolist()
    pd.testing.assert_series_equal(
        got["train return %"], expected["train_return_pct"].reset_index(drop=True), check_names=False
    )

    # A row ticked in the table is the trial the picker backtests (glide-data-grid draws on a canvas: a click at the
    # third row's checkbox, rows 35 px high under a 35 px header).
    grid = page.get_by_test_id("stDataFrame").first.bounding_box()
    assert grid is not None
    page.mouse.click(grid["x"] + 15, grid["y"] + 35 + 35 * 2 + 17)
    third = expected.iloc[2]
    heading(page, f"{third['strategy']} · trial {third['trial']}").wait_for(timeout=60_000)
    wait_idle(page)
    picker = page.get_by_role("combobox", name="Trial to backtest", exact=True)
    assert picker.input_value() == f"{third['strategy']} #{third['trial']}"

    # Then another trial, not the champion, through the picker.
    row = next(
        r for r in expected.itertuples()
        if r.state == "COMPLETE" and (r.strategy, r.trial) != champion and r.trial != third["trial"]
    )  # fmt: skip
    choose_typed(page, "Trial to backtest", f"{row.strategy} #{row.trial}")
    wait_rerun(page)
    heading(page, f"{row.strategy} · trial {row.trial}").wait_for(timeout=60_000)
    drawn = chart(page)
    assert "buy and hold" in drawn["names"] and "equity" in drawn["names"], drawn["names"]
    assert drawn["labels"] == ["train | test"] and drawn["shapes"][0]["yref"] == "paper"
    context = json.loads((run_dir / "context.json").read_text())
    boundary = pd.Timestamp(context["parts"][1]["first_bar_ms"], unit="ms", tz="UTC")
    assert pd.Timestamp(drawn["shapes"][0]["x0"]).tz_localize(None) == boundary.tz_localize(None)
    assert drawn["price"] != "log" and drawn["equity"] != "log"
    assert_no_exception(page, "Trials tab, backtest")

    page.get_by_text("Log scale", exact=True).click()  # its label: the switch itself lies under it
    wait_rerun(page)
    assert page.get_by_role("switch", name="Log scale").is_checked()
    page.wait_for_function(f"() => {{ const c = ({CHART_JS})(); return c && c.price === 'log'; }}")
    drawn = chart(page)
    assert (drawn["price"], drawn["equity"]) == ("log", "log")
    page.get_by_role("button", name="Download this trial's manifest (JSON)").wait_for()
    assert_no_exception(page, "Trials tab, log scale")
    shoot(page, ui_artifacts, SCREENSHOT)
