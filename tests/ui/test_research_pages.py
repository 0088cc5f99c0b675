"""The Research page through Streamlit's AppTest, on the loop tests' experiment (a copy of its database under a
research root of the test's own): progress numbers and pool counts against SQL, a KPI filter against pandas, the
detail's manifest written and parsed; a missing database and an unknown experiment are one error line each."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from stratlab.report.manifest import read_manifest
from tests.research.test_detail import EXPERIMENT, research_experiment
from tests.ui.test_pages import APP


@pytest.fixture
def research_root(demo_root: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    root = tmp_path / "research"
    root.mkdir()
    shutil.copyfile(research_experiment(tmp_path_factory, demo_root) / "results.sqlite", root / "results.sqlite")
    return root


def research_page(
    monkeypatch: pytest.MonkeyPatch, root: Path, data_root: Path, experiment: str | None = None
) -> AppTest:
    monkeypatch.setenv("STRATLAB_RESEARCH_ROOT", str(root))
    monkeypatch.setenv("STRATLAB_DATA_ROOT", str(data_root))
    at = AppTest.from_file(str(APP), default_timeout=60)
    if experiment is not None:
        at.query_params["experiment"] = experiment
    at.run()
    at.switch_page("views/research.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Research"]
    return at


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute(sql).fetchone()[0])


def test_progress_filter_pools_and_manifest_export(
    monkeypatch: pytest.MonkeyPatch, research_root: Path, demo_root: Path
) -> None:
    db = research_root / "results.sqlite"
    at = research_page(monkeypatch, research_root, demo_root)
    assert at.selectbox[0].value == EXPERIMENT
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Backtests"] == f"{count(db, 'SELECT COUNT(*) FROM backtests'):,}"
    for pool in ("GOOD", "BEST"):
        members = count(db, f"SELECT COUNT(*) FROM pools WHERE pool = '{pool}'")
        assert metrics[pool] == f"{members:,}"
    pools = next(d.value for d in at.dataframe if "Pareto" in d.value.columns)
    assert len(pools) == count(db, "SELECT COUNT(*) FROM pools")

    at.number_input(key="filter-sharpe").set_value(1.0).run()
    at.number_input(key="filter-max_drawdown_pct").set_value(20.0).run()
    with sqlite3.connect(db) as connection:
        train = pd.read_sql_query("SELECT sharpe, max_drawdown_pct FROM kpis WHERE part = 'train'", connection)
    passing = int(((train["sharpe"] >= 1.0) & (train["max_drawdown_pct"] <= 20.0)).sum())
    assert f"**{passing:,} of {len(train):,} backtests pass the filter**" in [m.value for m in at.markdown]

    # What matters: the surrogate of the first strategy, fitted on exactly its backtests with a train Sharpe.
    strategy = at.selectbox(key="research-matters-strategy").value
    learnt = count(
        db, f"SELECT COUNT(*) FROM backtests b JOIN kpis k ON k.backtest_id = b.id AND k.part = 'train' "
        f"WHERE b.strategy = '{strategy}' AND k.sharpe IS NOT NULL",
    )  # fmt: skip
    said = [m.value for m in at.markdown if m.value.startswith("A LightGBM model")]
    assert len(said) == 1 and f"over {learnt:,} trials" in said[0] and "rank correlation" in said[0]

    best = count(db, "SELECT MIN(backtest_id) FROM pools WHERE pool = 'BEST'")
    at.number_input(key="research-backtest").set_value(best).run()
    next(b for b in at.button if b.label == "Write the paper manifest").click().run()
    assert not at.exception, [e.value for e in at.exception]
    path = research_root / EXPERIMENT / "manifests" / f"{best}.json"
    (written,) = [s.value for s in at.success]
    assert written.startswith(f"Manifest written to {path}.")
    manifest = read_manifest(path)
    assert manifest.trial == best and "admitted to BEST" in manifest.selection.reason


def test_a_missing_database_and_an_unknown_experiment_are_one_line_each(
    monkeypatch: pytest.MonkeyPatch, research_root: Path, demo_root: Path, tmp_path: Path
) -> None:
    at = research_page(monkeypatch, tmp_path / "nowhere", demo_root)
    (error,) = [e.value for e in at.error]
    assert "no results database there" in error and "\n" not in error
    assert not (tmp_path / "nowhere" / "results.sqlite").exists()  # not created by looking
    at = research_page(monkeypatch, research_root, demo_root, experiment="nope")
    (error,) = [e.value for e in at.error]
    assert error.startswith("Experiment 'nope' is not in") and "\n" not in error
    assert at.selectbox[0].value == EXPERIMENT
