"""End to end in a real browser: a user with no data creates the demo market, launches a small run, watches it
finish and downloads the champion's paper manifest, all through ``stratlab ui``.

Screenshots land in tests/ui/artifacts/ (gitignored) for a human to look at; see DEVELOPERS.md, "Browser test".
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stratlab.report.manifest import MANIFEST_KIND, MANIFEST_SCHEMA_VERSION, read_manifest

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Locator, Page

    from tests.ui.browser import UIServer

PAGES = ("Data", "Launch", "Monitor", "Analyze", "Portfolio", "Paper", "Research")
ANALYZE_TABS = (
    "Pareto", "Candidates", "Champion", "Is it luck?", "Trials", "Charts", "Trades", "Monthly", "Optuna",
    "What matters", "History", "Compare",
)  # fmt: skip
STRATEGIES = ("bollinger_breakout", "ma_cross", "range_breakout", "rsi_reversion", "stochastic")
# The demo market covers 2025; two months keep the run to a few seconds.
START, END = "2025-01-01", "2025-02-28"
# Every candidate's test drawdown is below 100 %, so the run always has a champion (and so a manifest to download).
DD_THRESHOLD = "100"
MAX_TRIALS = "8"
WORKERS = "2"
LABEL = "browser-e2e"
# Fields of the paper manifest as stratlab.report.manifest.Manifest writes them.
MANIFEST_FIELDS = {
    "schema_version", "kind", "created_at", "package_version", "run_id", "dataset", "strategy", "trial", "params",
    "backtest", "kpis", "selection",
}  # fmt: skip
SCREENSHOTS = (
    "01-data.png",
    "01b-data-demo.png",
    "02-launch.png",
    "03-monitor.png",
    "04-analyze.png",
    "05-analyze-champion.png",
)
MAX_SHOT_HEIGHT = 8000
DEMO_TIMEOUT_S = 60
RUN_TIMEOUT_S = 120
REPORT_TIMEOUT_S = 60
# The Data page polls every 2 s while a job runs; idle, it must not rerun at all. 2.5 periods of silence tell.
IDLE_WINDOW_MS = 5_000

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


# -- helpers ----------------------------------------------------------------------------------------------------------


# While a script run is going, Streamlit shows its "Running..." status widget (after about half a second) and marks
# the elements of the previous run stale.
BUSY_JS = '() => !!document.querySelector(\'[data-testid="stStatusWidget"], [data-stale="true"]\')'


def wait_idle(page: Page, timeout_ms: float = 30_000) -> None:
    """Streamlit finished the script run: no status widget, no stale element."""
    page.wait_for_function(f"() => !({BUSY_JS})()", timeout=timeout_ms)


def wait_rerun(page: Page, timeout_ms: float = 60_000) -> None:
    """After an action that reruns the script: wait for the run to show up (a quick one may be over unseen), then
    for it to end."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(BUSY_JS, timeout=2_000)
    wait_idle(page, timeout_ms)


def assert_no_exception(page: Page, where: str) -> None:
    """No exception box (st.exception, an uncaught error in a page) and no "Script execution error" dialog."""
    boxes = page.get_by_test_id("stException")
    if boxes.count():
        texts = "\n---\n".join(t.strip() for t in boxes.all_text_contents())
        pytest.fail(f"{where}: Streamlit shows {boxes.count()} exception box(es):\n{texts}", pytrace=False)
    dialog = page.get_by_role("dialog").filter(has_text="Script execution error")
    if dialog.count():
        pytest.fail(f"{where}: Streamlit shows a script error:\n{dialog.first.inner_text()}", pytrace=False)


def shoot(page: Page, artifacts: Path, name: str) -> None:
    """The whole page. Streamlit scrolls inside its main section, not the document, so a full-page screenshot alone
    would stop at the window's edge: the window grows to the section's height for the shot."""
    size = page.viewport_size
    assert size is not None
    height = int(page.get_by_test_id("stMain").evaluate("e => e.scrollHeight"))
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), MAX_SHOT_HEIGHT)})
    try:
        page.wait_for_timeout(300)  # charts re-layout to the new window
        page.screenshot(path=str(artifacts / name), full_page=True)
    finally:
        page.set_viewport_size(size)


def assert_navigation(page: Page, where: str) -> None:
    """The sidebar lists the app's pages, in order (not Streamlit's guess from the pages folder's files)."""
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    links.first.wait_for()
    assert links.all_inner_texts() == list(PAGES), f"{where}: sidebar shows {links.all_inner_texts()}"


def heading(page: Page, title: str) -> Locator:
    return page.get_by_role("heading", name=title, exact=True)


def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` (a combobox whose options open in a listbox)."""
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    assert box.input_value() == option, f"selectbox {label!r} shows {box.input_value()!r}, not {option!r}"


def type_into(page: Page, label: str, value: str, *, number: bool = False) -> None:
    """Fill the text or number input labelled ``label``; Tab commits it (Enter would submit the form)."""
    field = page.locator(f'input[aria-label="{label}"]')
    field.fill(value)
    field.press("Tab")
    shown = field.input_value()
    # A number input reformats what was typed ("100" -> "100.00") once it loses focus.
    same = float(shown) == float(value) if number else shown == value
    assert same, f"input {label!r} shows {shown!r}, not {value!r}"


def open_tab(page: Page, name: str) -> None:
    """Open a tab of st.tabs and wait for the script run it may start (lazy tabs rerun the page)."""
    tab = page.get_by_role("tab", name=name, exact=True)
    tab.click()
    tab.and_(page.locator('[aria-selected="true"]')).wait_for()
    wait_rerun(page)
    content = page.locator('[role="tabpanel"]:not([hidden]) [data-testid="stElementContainer"]')
    assert content.count() > 0, f"the {name} tab shows nothing"


def table_rows(page: Page) -> list[list[str]]:
    """Cell texts of every st.dataframe's rows (glide-data-grid keeps an accessible table inside its canvas; only
    the rows in view are rendered, plenty for a few series)."""
    cells = page.get_by_test_id("stDataFrame").locator("table[role=grid] tbody tr")
    cells.first.locator("td").first.wait_for(state="attached")
    return [row.locator("td").all_text_contents() for row in cells.all()]


# -- the flow ---------------------------------------------------------------------------------------------------------


def count_sent_frames(page: Page) -> list[object]:
    """Every websocket frame the page sends from now on (a script run it asks for, a widget change): a list that
    grows as they go. Register before ``goto``."""
    sent: list[object] = []
    # A lambda, not sent.append: Playwright cannot wrap a builtin method as a handler.
    page.on("websocket", lambda socket: socket.on("framesent", lambda payload: sent.append(payload)))  # noqa: PLW0108
    return sent


def assert_no_rerun_while_idle(page: Page, sent: list[object], where: str) -> None:
    """Nothing runs, so the page must not ask the server for anything (a timer would rerun it every 2 s)."""
    before = len(sent)
    page.wait_for_timeout(IDLE_WINDOW_MS)  # a window of silence: absence has no event to wait on
    assert len(sent) == before, f"{where}: the idle page sent {len(sent) - before} frame(s) in {IDLE_WINDOW_MS} ms"


def create_demo_market(page: Page, server: UIServer, artifacts: Path) -> None:
    sent = count_sent_frames(page)
    page.goto(f"{server.url}/")
    heading(page, "Data").wait_for()
    page.wait_for_url(f"{server.url}/data")  # the root opens the Data page, which lives on /data
    page.get_by_text("No market data yet").wait_for()
    wait_idle(page)
    assert_no_exception(page, "Data page (no data)")
    assert_navigation(page, "Data page")
    shoot(page, artifacts, "01-data.png")

    page.get_by_role("button", name="Create the demo market").click()
    # The demo is written by a background job (~5 s); the page shows the series by itself once the job ends, with
    # no click on Refresh.
    series = page.get_by_role("combobox", name="Series", exact=True)
    series.wait_for(timeout=DEMO_TIMEOUT_S * 1000)
    wait_idle(page)
    assert series.input_value() == "demo / BTC / 5m"
    rows = table_rows(page)
    for symbol in ("BTC", "ETH"):
        assert any({"demo", symbol, "5m"} <= set(row) for row in rows), f"no demo {symbol} 5m in the table: {rows}"
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    assert_no_exception(page, "Data page (demo market)")
    shoot(page, artifacts, "01b-data-demo.png")
    assert_no_rerun_while_idle(page, sent, "Data page after the demo job")


def launch_run(page: Page, server: UIServer, artifacts: Path) -> Path:
    page.get_by_role("link", name="Launch", exact=True).click()
    heading(page, "Launch").wait_for()
    wait_idle(page)
    assert_no_exception(page, "Launch page")
    assert_navigation(page, "Launch page")
    choose(page, "Source", "demo")
    choose(page, "Symbol", "BTC")
    choose(page, "Timeframe", "5m")
    type_into(page, "Start", START)
    type_into(page, "End", END)
    for name in STRATEGIES:
        assert page.get_by_role("switch", name=name, exact=True).is_checked(), f"strategy {name} is not on"
    type_into(page, "DD threshold X (test, %)", DD_THRESHOLD, number=True)
    type_into(page, "Max trials per strategy", MAX_TRIALS, number=True)
    type_into(page, "Worker processes", WORKERS, number=True)
    type_into(page, "Label", LABEL)
    shoot(page, artifacts, "02-launch.png")

    page.get_by_role("button", name="Launch", exact=True).click()
    refused = page.get_by_text("Cannot launch:")
    heading(page, "Monitor").or_(refused).first.wait_for()
    if refused.is_visible():
        pytest.fail(f"the Launch page refused the run: {refused.first.inner_text()}", pytrace=False)
    # A run directory is one with a context.json (the app keeps its own folders, e.g. for jobs, there too).
    runs = sorted(p.parent for p in server.runs_root.glob("*/context.json"))
    assert len(runs) == 1, f"expected one run directory in {server.runs_root}, found {[p.name for p in runs]}"
    assert runs[0].name.endswith(LABEL), f"the run directory {runs[0].name} does not carry the label {LABEL!r}"
    return runs[0]


def watch_run(page: Page, run_dir: Path, artifacts: Path) -> None:
    heading(page, "Monitor").wait_for()
    run_box = page.get_by_role("combobox", name="Run", exact=True)
    run_box.wait_for()
    assert run_dir.name in run_box.input_value(), f"Monitor shows run {run_box.input_value()!r}, not {run_dir.name}"
    ended = page.get_by_text(re.compile(r"State:\s*(finished|stopped|failed)"))
    ended.first.wait_for(timeout=RUN_TIMEOUT_S * 1000)
    state = ended.first.inner_text()
    assert "finished" in state, f"the run ended as {state!r}; its status: {(run_dir / 'status.json').read_text()}"
    # "finished" comes a moment before the report (champion.json) is written; Monitor links to Analyze once it is.
    page.get_by_role("link", name="Analyze this run").wait_for(timeout=REPORT_TIMEOUT_S * 1000)
    wait_idle(page)
    assert_no_exception(page, "Monitor page")
    assert_navigation(page, "Monitor page")
    assert page.get_by_test_id("stProgress").count() >= len(STRATEGIES) + 1, "a progress bar per strategy + total"
    shoot(page, artifacts, "03-monitor.png")


def analyze_and_download(page: Page, run_dir: Path, artifacts: Path) -> Path:
    page.get_by_role("link", name="Analyze this run").click()
    report = json.loads((run_dir / "report.json").read_text())
    assert (run_dir / "champion.json").exists(), f"the run has no champion: {report.get('champion_reason')}"
    champion = report["champion"]
    heading(page, "Analyze").wait_for()
    run_box = page.get_by_role("combobox", name="Run", exact=True)
    assert run_dir.name in run_box.input_value(), f"Analyze shows run {run_box.input_value()!r}, not {run_dir.name}"
    button = page.get_by_role("button", name="Download paper manifest (JSON)")
    button.wait_for(timeout=60_000)
    wait_idle(page, timeout_ms=60_000)
    assert_no_exception(page, "Analyze page")
    assert_navigation(page, "Analyze page")
    for tab in ANALYZE_TABS:
        assert page.get_by_role("tab", name=tab, exact=True).count() == 1, f"no tab {tab!r} on Analyze"
    shoot(page, artifacts, "04-analyze.png")
    # Tabs are lazy (only the open one runs), so each one is opened to see that it renders without an error.
    for tab in ANALYZE_TABS[1:]:
        open_tab(page, tab)
        assert_no_exception(page, f"Analyze page, {tab} tab")
        if tab == "Champion":
            heading(page, f"{champion['strategy']} · trial {champion['trial']}").wait_for()
            shoot(page, artifacts, "05-analyze-champion.png")

    with page.expect_download() as caught:
        button.click()
    download = caught.value
    assert download.failure() is None, f"the download failed: {download.failure()}"
    assert download.suggested_filename == "champion.json"
    saved = artifacts / "champion.json"
    download.save_as(saved)
    return saved


def check_manifest(saved: Path, run_dir: Path) -> None:
    on_disk = (run_dir / "champion.json").read_bytes()
    got = saved.read_bytes()
    manifest = json.loads(got)
    assert got == on_disk or manifest == json.loads(on_disk), "the download differs from the run's champion.json"
    read_manifest(saved)  # the reader `stratlab backtest --manifest` uses accepts it
    assert manifest.keys() >= MANIFEST_FIELDS, f"manifest lacks {sorted(MANIFEST_FIELDS - manifest.keys())}"
    assert manifest["kind"] == MANIFEST_KIND
    assert manifest["schema_version"] == MANIFEST_SCHEMA_VERSION
    assert manifest["strategy"] in STRATEGIES
    assert isinstance(manifest["params"], dict)
    assert manifest["params"]
    assert {"train", "test"} <= manifest["kpis"].keys()
    dataset = manifest["dataset"]
    assert (dataset["source"], dataset["symbol"], dataset["timeframe"]) == ("demo", "BTC", "5m")
    assert (dataset["start"], dataset["end"]) == (START, END)
    assert manifest["selection"]["dd_threshold_pct"] == float(DD_THRESHOLD)
    context = json.loads((run_dir / "context.json").read_text())
    assert manifest["run_id"] == context["run_id"]


def test_demo_launch_monitor_analyze_download(ui_server: UIServer, browser_page: Page, ui_artifacts: Path) -> None:
    for name in SCREENSHOTS:
        (ui_artifacts / name).unlink(missing_ok=True)
    create_demo_market(browser_page, ui_server, ui_artifacts)
    run_dir = launch_run(browser_page, ui_server, ui_artifacts)
    watch_run(browser_page, run_dir, ui_artifacts)
    saved = analyze_and_download(browser_page, run_dir, ui_artifacts)
    check_manifest(saved, run_dir)


def test_deep_link_as_first_visit_keeps_navigation(ui_server: UIServer, browser_page: Page) -> None:
    """A bookmark to a page, opened before anyone visited the app's root, shows the app's own sidebar and layout."""
    browser_page.goto(f"{ui_server.url}/analyze")
    heading(browser_page, "Analyze").wait_for()
    wait_idle(browser_page)
    assert_no_exception(browser_page, "/analyze as the first visit")
    assert_navigation(browser_page, "/analyze as the first visit")
    # The sidebar's first page has an address of its own too (a bookmark of it must not say "Page not found").
    browser_page.goto(f"{ui_server.url}/data")
    heading(browser_page, "Data").wait_for()
    wait_idle(browser_page)
    assert browser_page.get_by_text("Page not found").count() == 0, "/data is not a page of the app"
    assert browser_page.url == f"{ui_server.url}/data"
    assert_no_exception(browser_page, "/data")
    assert_navigation(browser_page, "/data")


# -- "Is it luck?" and the Portfolio page, on a run and a portfolio made beforehand ----------------------------------

LUCK_SCREENSHOTS = ("06-analyze-luck.png", "07-portfolio.png")
LUCK_CHARTS = 3  # the CSCV logits, the neighbourhood heat map, the bootstrap's equity fan (no walk-forward here)


def wait_for_charts(page: Page, count: int) -> None:
    """At least ``count`` plotly charts drawn: plotly.js marks each chart it has drawn with the class js-plotly-plot."""
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot').length >= n", arg=count
    )


def rows_once(page: Page, complete: Callable[[list[list[str]]], bool], timeout_s: float = 15) -> list[list[str]]:
    """The tables' rows once ``complete`` holds for them, or the last reading after ``timeout_s``: a table the page
    is still drawing has no rows in its accessible copy yet, or those of a table drawn before it."""
    deadline = time.monotonic() + timeout_s
    rows = table_rows(page)
    while not complete(rows) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        rows = table_rows(page)
    return rows


def gate_row(gate: dict[str, Any], result: str, rows: list[list[str]]) -> bool:
    return any(gate["label"] in row and result in row and gate["reason"] in row for row in rows)


def member_row(member: dict[str, Any], rows: list[list[str]]) -> bool:
    weight = f"{member['weight'] * 100:.1f} %"
    name = f"{member['strategy']}#{member['trial']}"
    return any(weight in row and any(cell.endswith(name) for cell in row) for row in rows)


def test_is_it_luck_tab_and_portfolio_page(
    ui_server: UIServer, browser_page: Page, ui_artifacts: Path, finished_runs: tuple[Path, list[str]]
) -> None:
    """A finished run (made by the CLI: the page tests' run of two strategies, copied whole into the server's runs
    root) opened on Analyze: its "Is it luck?" tab shows the verdict, every gate and the charts; a portfolio of its
    candidates on the Portfolio page shows its weights, labelled in-sample."""
    from tests.ui.test_luck import build_inspection_portfolio
    from tests.ui.test_pages import copy_run

    for name in LUCK_SCREENSHOTS:
        (ui_artifacts / name).unlink(missing_ok=True)
    runs_root, names = finished_runs
    run_dir = copy_run(runs_root, next(n for n in names if n.endswith("_first")), ui_server.runs_root)
    portfolio = build_inspection_portfolio(run_dir, ui_server.runs_root / "portfolios" / "inspection")
    luck = json.loads((run_dir / "report.json").read_text())["luck"]
    page = browser_page

    page.goto(f"{ui_server.url}/analyze?run={run_dir.name}")
    heading(page, "Analyze").wait_for()
    wait_idle(page, timeout_ms=60_000)
    assert_navigation(page, "Analyze page")
    open_tab(page, "Is it luck?")
    verdict = {"flagged": "✘ flagged: likely luck", "pass": "✔ pass"}[luck["verdict"]]
    page.get_by_role("heading", name=re.compile(re.escape(verdict))).first.wait_for()
    panel = page.locator('[role="tabpanel"]:not([hidden])')
    assert luck["summary"] in panel.inner_text(), "the verdict's summary line is not on the tab"
    assert "selection figure" in panel.inner_text()
    wait_for_charts(page, LUCK_CHARTS)
    shown = [
        (gate, "skipped" if gate["passed"] is None else "passed" if gate["passed"] else "failed")
        for gate in luck["gates"]
    ]
    rows = rows_once(page, lambda rows: all(gate_row(gate, result, rows) for gate, result in shown))
    for gate, result in shown:
        assert gate_row(gate, result, rows), (gate, rows)
    assert_no_exception(page, "Is it luck? tab")
    shoot(page, ui_artifacts, LUCK_SCREENSHOTS[0])

    page.get_by_role("link", name="Portfolio", exact=True).click()
    heading(page, "Portfolio").wait_for()
    wait_idle(page)
    page.get_by_text("Selection figures, not out-of-sample").wait_for()
    rows = rows_once(page, lambda rows: all(member_row(member, rows) for member in portfolio["members"]))
    for member in portfolio["members"]:
        assert member_row(member, rows), (member, rows)
    wait_for_charts(page, 2 if len(portfolio["members"]) > 1 else 1)
    assert_no_exception(page, "Portfolio page")
    assert_navigation(page, "Portfolio page")
    shoot(page, ui_artifacts, LUCK_SCREENSHOTS[1])
