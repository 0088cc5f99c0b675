"""In a real browser: the Research page on the loop tests' experiment (its database copied under the server's default
research root, the demo market under its data root): progress numbers that match the database, a KPI filter whose
count is what pandas counts, a backtest's detail and its paper manifest written to disk."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from stratlab.report.manifest import read_manifest
from tests.research.test_detail import EXPERIMENT, research_experiment
from tests.ui.test_browser import assert_no_exception, heading, shoot, type_into, wait_rerun

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.ui.browser import UIServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute(sql).fetchone()[0])


def metric(page: Page, label: str) -> str:
    box = page.get_by_test_id("stMetric").filter(has_text=label).first
    return box.get_by_test_id("stMetricValue").inner_text().strip()


def test_the_research_page_shows_an_experiment_filters_it_and_exports_a_manifest(
    ui_server: UIServer, browser_page: Page, demo_root: Path, ui_artifacts: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    page = browser_page
    # The server runs in its base folder without STRATLAB_RESEARCH_ROOT: the default research root is there.
    root = ui_server.base / "research"
    root.mkdir()
    db = root / "results.sqlite"
    shutil.copyfile(research_experiment(tmp_path_factory, demo_root) / "results.sqlite", db)
    shutil.copytree(demo_root, ui_server.data_root, dirs_exist_ok=True)

    page.goto(f"{ui_server.url}/research")
    heading(page, "Research").wait_for()
    assert page.get_by_role("combobox", name="Experiment").input_value() == EXPERIMENT
    page.get_by_test_id("stMetric").first.wait_for()
    assert metric(page, "Backtests") == f"{count(db, 'SELECT COUNT(*) FROM backtests'):,}"
    best_members = count(db, "SELECT COUNT(*) FROM pools WHERE pool = 'BEST'")
    assert metric(page, "BEST") == f"{best_members:,}"
    assert_no_exception(page, "Research page")

    with sqlite3.connect(db) as connection:
        sharpe = pd.read_sql_query("SELECT sharpe FROM kpis WHERE part = 'train'", connection)["sharpe"]
    type_into(page, "Sharpe at least", "1.5", number=True)
    wait_rerun(page)
    page.get_by_text(f"{int((sharpe >= 1.5).sum()):,} of {len(sharpe):,} backtests pass the filter").wait_for()

    best = count(db, "SELECT MIN(backtest_id) FROM pools WHERE pool = 'BEST'")
    type_into(page, "Backtest id", str(best), number=True)
    wait_rerun(page)
    page.get_by_role("button", name="Write the paper manifest").click()
    path = root / EXPERIMENT / "manifests" / f"{best}.json"
    page.get_by_text(f"Manifest written to {path}.", exact=False).wait_for(timeout=30_000)
    manifest = read_manifest(path)
    assert manifest.trial == best and "admitted to BEST" in manifest.selection.reason
    assert_no_exception(page, "Research page, manifest written")
    shoot(page, ui_artifacts, "research.png")
