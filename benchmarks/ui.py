"""UI speed: how fast ``stratlab ui`` renders its pages in a real browser for a run on 100k bars.

In a temp dir: the demo market (12 months of 5m BTC = 105,120 bars), then two runs on all of it with all five
strategies (random sampler, seed 0, DD threshold 100 % so a champion always qualifies, ``start_run`` with two workers,
report included): a small one (only there so the Compare tab has a second run to show) and then the measured one,
the newest, 1,000 trials per strategy, 5,000 in all (40 per strategy with ``--quick``). Then ``stratlab ui`` on a
free port of 127.0.0.1 with those roots, and Debian's chromium (``/usr/bin/chromium``, headless, a fresh profile,
``--disable-gpu``: it draws in software, there is no GPU here) driven by Playwright's sync API. Nothing goes to the
network beyond 127.0.0.1.

Every figure is wall seconds (``time.perf_counter()``) from the Playwright action (``goto``, ``reload``, a click)
until the page is done, which is polled on every animation frame (no fixed sleeps):

* Streamlit's script run is over: the app root's ``data-test-script-state`` is ``notRunning``, no element is marked
  stale and the running indicator (``[data-testid=stStatusWidget]``) is gone. The indicator alone is a late signal: it
  appears only about half a second into a run and leaves with a ~0.15 s fade-out, so the app root's state is the
  precise one and the indicator is only required not to be on its way in;
* the page's own elements (its title, so the previous page's elements never count) are there and its content is
  drawn, i.e. has a non-empty box: a plotly chart's ``.main-svg``, a ``[data-testid=stDataFrame]`` grid, a heading.

The "server" columns give the part until Streamlit's ``script_finished`` message for that run reached the browser
(read from the websocket frames): the server's script run and the transfer of its elements. The rest of a figure is
the browser: handling the elements, loading lazy JS chunks (plotly, the data grid, ...) and drawing.

Measured, on the newest run:

0. The app's first page load in a new browser profile, on Data by its URL (``/data``): the app's JS bundle comes
   from the server. Cold only; it is not a figure of any run.
1. Analyze by its URL (``/analyze?run=<run dir>``), a page load until the "Download paper manifest (JSON)" button and
   the Pareto chart are drawn. Cold = the first visit of the run (first Analyze script run of the server: its
   imports, reading the run; plotly's chunk comes from the server); warm = a reload of the same URL (warm server
   caches and browser cache, but a new page load and a new Streamlit session), median of 3.
2. Data and Monitor through the sidebar links: cold = the first visit of each in the session (the Data page's candles
   and series report are read then), warm = median of 3 more (Data, Monitor, Data, ...).
3. Analyze through the sidebar link from Monitor (in-app navigation, the usual case), until the Pareto chart is
   drawn: cold = the first time in the session, warm = median of 3 more (back to Monitor, untimed, in between).
4. Each Analyze tab (tabs are lazy: a click reruns the page and only the open tab draws), until its content is drawn:
   a plotly chart (Pareto, Is it luck?, Charts, Monthly, Optuna, History, Compare), a data grid (Candidates,
   Trials, Trades), the champion's heading (Champion). Cold = the first time the tab is opened (Charts replays the
   champion's backtest, Optuna replays the run's journal and ranks the first study's parameters; Trades and Monthly
   reuse the replay Charts made); Pareto is open on arrival, so its cold figure is the page's (step 1). Warm = median
   of 3 more rounds over all tabs.

Targets: every page and tab of a 105k-bar, 5,000-trial run renders in under 2 s after the first load (judged on the
warm column), and the first Analyze visit of the run in under 3 s (judged on the cold figures of steps 1 and 3); printed
next to the figures, never asserted. A peer comparison is not available: no other tool renders these pages.
``--quick`` takes 40 trials per strategy instead of 1,000; the pages are the same.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import build_demo, cpu_model, versions

# The browser and server plumbing of the browser tests, so the benchmark drives the UI exactly as they do.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, UIServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

TRIALS = {"full": 1_000, "quick": 40}  # per strategy, the measured run (5 strategies: 5,000 trials)
COMPARE_TRIALS = 20  # per strategy, the second run the Compare tab needs
WORKERS = 2
REPEATS = 3
TARGET_S = 2.0
FIRST_VISIT_TARGET_S = 3.0  # the first Analyze visit of a run
WAIT_MS = 120_000  # a cold tab on a busy machine; a figure that long is reported, not waited for forever
TABS = (
    "Pareto", "Candidates", "Champion", "Is it luck?", "Trials", "Charts", "Trades", "Monthly", "Optuna", "History",
    "Compare",
)  # fmt: skip

# What "drawn" means, as (css selector, text it must contain or "", inside the open tab panel only).
Check = tuple[str, str, bool]
PLOT: Check = (".js-plotly-plot .main-svg", "", True)
GRID: Check = ('[data-testid="stDataFrame"]', "", True)
TAB_CONTENT: dict[str, tuple[Check, ...]] = {
    "Pareto": (PLOT,),
    "Candidates": (GRID,),
    "Champion": (("h3", " · trial ", True),),
    "Is it luck?": (PLOT,),
    "Trials": (GRID,),
    "Charts": (PLOT,),
    "Trades": (GRID,),
    "Monthly": (PLOT,),
    "Optuna": (PLOT,),
    "History": (PLOT,),
    "Compare": (PLOT,),
}
MANIFEST_BUTTON: Check = ('[data-testid="stDownloadButton"] button', "Download paper manifest (JSON)", False)
PAGE_CONTENT: dict[str, tuple[Check, ...]] = {
    "Data": (('[data-testid="stDataFrame"]', "", False), (".js-plotly-plot .main-svg", "", False)),
    "Monitor": (
        ('[data-testid="stMarkdownContainer"]', "State: finished", False),
        ('[data-testid="stDataFrame"]', "", False),
        ("a", "Analyze this run", False),
    ),
    "Analyze": (MANIFEST_BUTTON, ('[role="tab"][aria-selected="true"]', "Pareto", False), PLOT),
}

# Polled on every animation frame. arg: {title, tab, content, drawn}. False until Streamlit's script run is over and
# the page is the one wanted (its h1, the selected tab with something in its panel); with drawn, also until every
# content check has an element with a non-empty box.
READY_JS = """
({title, tab, content, drawn}) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.dataset.testScriptState !== 'notRunning') return false;
  if (document.querySelector('[data-stale="true"]')) return false;
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  if (status && !status.className.includes('StatusWidget-exit')) return false;
  if (![...document.querySelectorAll('h1')].some(h => h.textContent.trim() === title)) return false;
  const panel = document.querySelector('[role="tabpanel"]:not([hidden])');
  if (tab) {
    const open = document.querySelector('[role="tab"][aria-selected="true"]');
    if (!open || !open.textContent.includes(tab) || !panel) return false;
    if (!panel.querySelector('[data-testid="stElementContainer"]')) return false;
  }
  if (!drawn) return true;
  const shown = e => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== 'hidden';
  };
  return content.every(([selector, text, inPanel]) => {
    const root = inPanel ? panel : document;
    const hits = root ? [...root.querySelectorAll(selector)] : [];
    return hits.some(e => (!text || e.textContent.includes(text)) && shown(e));
  });
}
"""
PROBLEMS_JS = """
() => [...document.querySelectorAll(
  '[data-testid="stException"], [data-testid="stAlertContentError"], [data-testid="stAlertContentWarning"]'
)].map(e => e.textContent.trim().slice(0, 200))
"""


# the run ----------------------------------------------------------------------------------------------------------


def build_market(data_root: Path) -> tuple[int, float]:
    """The demo market into ``data_root``; (BTC 5m bars, seconds)."""
    from stratlab.data.loader import load_ohlcv

    took = build_demo(data_root)
    return len(load_ohlcv("demo", "BTC", "5m", data_root=data_root)), took


@dataclass(frozen=True)
class RunMade:
    name: str
    completed: int
    state: str
    champion: bool
    seconds: float


def make_run(trials: int, label: str, data_root: Path, runs_root: Path) -> RunMade:
    from stratlab.optimize.context import RunRequest
    from stratlab.optimize.runner import create_run, start_run

    started = time.perf_counter()
    request = RunRequest.parse(
        source="demo", symbol="BTC", timeframe="5m", max_trials=trials, sampler="random", seed=0,
        dd_threshold_pct=100.0, label=label,
    )  # fmt: skip
    run_dir = create_run(request, data_root=data_root, runs_root=runs_root)
    final = start_run(run_dir, workers=WORKERS, live=False)
    return RunMade(
        name=run_dir.path.name,
        completed=int(final["completed"]),
        state=str(final["state"]),
        champion=(run_dir.path / "champion.json").exists(),
        seconds=time.perf_counter() - started,
    )


# the server -------------------------------------------------------------------------------------------------------


# the browser ------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[BrowserContext]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            user_data_dir=str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport=VIEWPORT,  # type: ignore[arg-type]
        )
        try:
            yield context
        finally:
            context.close()


@dataclass(frozen=True)
class Timing:
    server_s: float  # until the script_finished message of the run reached the browser
    total_s: float  # until the page was done and its content drawn


@dataclass
class Bench:
    """One page of the browser, timing actions and noting what the app showed that looked wrong."""

    page: Page
    problems: dict[str, list[str]] = field(default_factory=dict)
    finished: list[float] = field(default_factory=list)  # perf_counter of each whole script run's end message

    def __post_init__(self) -> None:
        self.page.on("websocket", lambda socket: socket.on("framereceived", self.frame))

    def frame(self, payload: str | bytes) -> None:
        """Note when a ``script_finished`` message of a whole run (not a fragment's) arrives."""
        from google.protobuf.message import DecodeError
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        arrived = time.perf_counter()
        if isinstance(payload, str):
            return
        message = ForwardMsg()
        try:
            message.ParseFromString(payload)
        except DecodeError:
            return
        kind = message.WhichOneof("type")
        if kind == "script_finished" and message.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
            self.finished.append(arrived)

    def note(self, where: str, text: str) -> None:
        seen = self.problems.setdefault(where, [])
        if text not in seen:
            seen.append(text)

    def time(
        self, where: str, action: Callable[[], Any], title: str, content: tuple[Check, ...], tab: str = ""
    ) -> Timing | None:
        """Seconds from ``action`` until page ``title`` (and ``tab``) has finished its script run and drawn
        ``content``; None (and a note) when that does not happen within WAIT_MS."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        arg = {"title": title, "tab": tab, "content": [list(c) for c in content], "drawn": False}
        started = time.perf_counter()
        try:
            action()
            self.page.wait_for_function(READY_JS, arg=arg, timeout=WAIT_MS)
            left = max(WAIT_MS - (time.perf_counter() - started) * 1000, 1_000)
            self.page.wait_for_function(READY_JS, arg={**arg, "drawn": True}, timeout=left)
            ended = time.perf_counter()
        except PlaywrightTimeoutError:
            self.note(where, f"not drawn within {WAIT_MS / 1000:.0f} s")
            self.check(where)
            return None
        self.check(where)
        runs = [t for t in self.finished if started < t <= ended]
        if not runs:
            self.note(where, "no script_finished message seen (server time unknown)")
        return Timing(runs[-1] - started if runs else math.nan, ended - started)

    def check(self, where: str) -> None:
        for text in self.page.evaluate(PROBLEMS_JS):
            self.note(where, text)

    def sidebar(self, title: str) -> Callable[[], None]:
        def click() -> None:
            self.page.get_by_test_id("stSidebarNavItems").get_by_role("link", name=title, exact=True).click()

        return click

    def tab(self, name: str) -> Callable[[], None]:
        def click() -> None:
            self.page.get_by_role("tab", name=name, exact=True).click()

        return click


@dataclass
class Row:
    name: str
    cold: Timing | None = None
    warm: list[Timing | None] = field(default_factory=list)
    cold_note: str = ""


def measure(page: Page, base_url: str, run: str) -> tuple[list[Row], Bench]:
    bench = Bench(page)
    url = f"{base_url}/analyze?run={run}"
    analyze = PAGE_CONTENT["Analyze"]

    # 0. The app's first page load in this new browser profile (its JS bundle, the server's first session), on Data:
    # what follows measures the first visit of the run, not the download of the app.
    app_load = Row("Data by URL: the app's first page load (new browser profile)")
    app_load.cold = bench.time(
        "Data, first visit", lambda: page.goto(f"{base_url}/data", wait_until="commit"), "Data", PAGE_CONTENT["Data"]
    )

    # 1. Analyze by URL: first visit of the run, then reloads.
    by_url = Row("Analyze by URL: page load (cold = first visit of the run, warm = reload)")
    by_url.cold = bench.time(
        "Analyze, first visit", lambda: page.goto(url, wait_until="commit"), "Analyze", analyze, tab="Pareto"
    )
    for _ in range(REPEATS):
        by_url.warm.append(
            bench.time("Analyze, reload", lambda: page.reload(wait_until="commit"), "Analyze", analyze, tab="Pareto")
        )

    # 2. Data and Monitor through the sidebar.
    pages = {title: Row(f"{title} via the sidebar") for title in ("Data", "Monitor")}
    for round_ in range(REPEATS + 1):
        for title, row in pages.items():
            timing = bench.time(title, bench.sidebar(title), title, PAGE_CONTENT[title])
            if round_ == 0:
                row.cold = timing
            else:
                row.warm.append(timing)

    # 3. Analyze through the sidebar from Monitor (where step 2 ended), then back to Monitor (not timed), and again.
    nav = Row("Analyze via the sidebar from Monitor")
    for round_ in range(REPEATS + 1):
        if round_:
            bench.time("Monitor", bench.sidebar("Monitor"), "Monitor", PAGE_CONTENT["Monitor"])
        timing = bench.time("Analyze via the sidebar", bench.sidebar("Analyze"), "Analyze", analyze, tab="Pareto")
        if round_:
            nav.warm.append(timing)
        else:
            nav.cold = timing

    # 4. The tabs: Pareto is open; each other one opened once (cold), then rounds over all of them (warm).
    tabs = {name: Row(f"Analyze tab {name}") for name in TABS}
    tabs["Pareto"].cold_note = "(step 1)"
    for name in TABS[1:]:
        tabs[name].cold = bench.time(f"tab {name}", bench.tab(name), "Analyze", TAB_CONTENT[name], tab=name)
    for _ in range(REPEATS):
        for name in TABS:
            tabs[name].warm.append(bench.time(f"tab {name}", bench.tab(name), "Analyze", TAB_CONTENT[name], tab=name))
    return [app_load, by_url, pages["Data"], pages["Monitor"], nav, *tabs.values()], bench


# the report -------------------------------------------------------------------------------------------------------


def chromium_version() -> str:
    try:
        done = subprocess.run(
            [str(CHROMIUM), "--version"], check=False, capture_output=True, text=True, timeout=30,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{CHROMIUM}: {exc}"
    return done.stdout.strip() or f"{CHROMIUM}: no version ({done.stderr.strip()[-100:]})"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def median(timings: list[Timing | None], part: str) -> float:
    """Median of one part of the timings: inf when one of them timed out, nan when one is unknown."""
    if not timings or any(t is None for t in timings):
        return math.inf
    values = [getattr(t, part) for t in timings]
    return math.nan if any(math.isnan(v) for v in values) else statistics.median(values)


def worst(timings: list[Timing | None]) -> float:
    if not timings or any(t is None for t in timings):
        return math.inf
    return max(t.total_s for t in timings if t is not None)


def seconds(value: float | None, width: int) -> str:
    if value is None:
        text = "-"
    elif math.isnan(value):
        text = "?"
    elif math.isinf(value):
        text = "timeout"
    else:
        text = f"{value:.2f}"
    return f"{text:>{width}}"


def print_table(rows: list[Row]) -> None:
    width = max(len(r.name) for r in rows) + 2
    print(
        f"{'page / tab':<{width}}{'cold s':>8}{'server':>8}{'warm s':>8}{'server':>8}{'max':>7}{'target':>9}   verdict"
    )
    met, judged = 0, sum(1 for row in rows if row.warm)
    for row in rows:
        if row.cold_note:
            cold = f"{row.cold_note:>8}{seconds(None, 8)}"
        else:
            cold = seconds(median([row.cold], "total_s"), 8) + seconds(median([row.cold], "server_s"), 8)
        if not row.warm:  # measured once, cold: not a page of a run, no warm figure to judge
            print(f"{row.name:<{width}}{cold}{seconds(None, 8)}{seconds(None, 8)}{seconds(None, 7)}{'':>9}   -")
            continue
        warm = median(row.warm, "total_s")
        ok = math.isfinite(warm) and warm < TARGET_S
        met += ok
        print(
            f"{row.name:<{width}}{cold}{seconds(warm, 8)}{seconds(median(row.warm, 'server_s'), 8)}"
            f"{seconds(worst(row.warm), 7)}{'< ' + format(TARGET_S, 'g') + ' s':>9}   {'met' if ok else 'MISSED'}"
        )
    print(
        f"target (warm column, median of {REPEATS}): a page with a 100k-bar run renders in < {TARGET_S:g} s after the "
        f"first load: met on {met} of {judged} rows" + ("" if met == judged else f", MISSED on {judged - met}")
    )


def print_first_visits(rows: list[Row]) -> None:
    """The first Analyze visit of the run, by URL (a new browser profile) and through the sidebar (the app already
    loaded in the browser), against its own target."""
    for row in (rows[1], rows[4]):
        first = median([row.cold], "total_s")
        verdict = "met" if first < FIRST_VISIT_TARGET_S else "MISSED"
        target = f"target < {FIRST_VISIT_TARGET_S:g} s: {verdict}"
        print(f"first visit, {row.name}: {seconds(first, 0).strip()} s ({target})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 trials per strategy instead of 1,000")
    opts = parser.parse_args()
    trials = TRIALS["quick" if opts.quick else "full"]
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium (see DEVELOPERS.md, 'Browser test')")

    began = time.perf_counter()
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {load()} at the start")
    print(f"python {platform.python_version()}, {versions('streamlit', 'plotly', 'playwright')}")
    print(
        f"browser: {chromium_version()}, headless, {VIEWPORT['width']}x{VIEWPORT['height']}, fresh profile, "
        f"--disable-gpu (no GPU here: software rendering)"
    )
    tmp = Path(tempfile.mkdtemp(prefix="stratlab-uibench-"))
    try:
        data_root, runs_root = tmp / "data", tmp / "runs"
        n_bars, build_s = build_market(data_root)
        print(f"data: demo BTC 5m, {n_bars:,} bars (12 months, built in {build_s:.1f} s)")
        # The Compare tab's second run first, so that the measured run is the newest (every page's default).
        other = make_run(COMPARE_TRIALS, "uibench-compare", data_root, runs_root)
        run = make_run(trials, "uibench", data_root, runs_root)
        for made, trials_each in ((run, trials), (other, COMPARE_TRIALS)):
            print(
                f"run {made.name}: 5 strategies x {trials_each} trials, random, {WORKERS} workers, whole 12 months: "
                f"{made.completed:,} completed, {made.state}, {'a' if made.champion else 'NO'} champion, "
                f"{made.seconds:.1f} s (create_run + start_run, report included)"
                + ("" if made is run else "; only there for the Compare tab")
            )
        if not run.champion:
            sys.exit("the run has no champion: the Analyze page would have no manifest button; nothing measured")

        server = UIServer(tmp)  # serves tmp/data and tmp/runs, the roots filled above
        started = time.perf_counter()
        server.start()
        try:
            up_s = time.perf_counter() - started
            with chromium(tmp / "chromium-profile") as context:
                print(f"server: stratlab ui at {server.url}, healthy after {up_s:.1f} s")
                page = context.pages[0] if context.pages else context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
                page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
                rows, bench = measure(page, server.url, run.name)
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(
        f"seconds from the action to the page drawn; server = until the run's script_finished message arrived (the "
        f"rest is the browser); warm = median of {REPEATS}, max = the slowest of them"
    )
    print_table(rows)
    print_first_visits(rows)
    if bench.problems or errors:
        print("what the app showed along the way:")
        for where, texts in bench.problems.items():
            for text in texts:
                print(f"  {where}: {text}")
        for text in dict.fromkeys(errors):
            print(f"  browser {text}")
    else:
        print("no exception, error or warning on any page; no browser console error")
    print(f"({load()} at the end; whole script {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
