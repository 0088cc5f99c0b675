"""The research report's figures and tables against the database read with sqlite3: progress per iteration, the
thresholds' history, the KPI histogram's counts, the pools table (counts, figures, DSR, Pareto flags by the
definition, pair by pair), and the one-file HTML report.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from stratlab.errors import DataError
from stratlab.research.db import ResultsDb
from stratlab.research.report import (
    HOLDOUT_UNTOUCHED,
    ExperimentView,
    kpi_histogram,
    load_experiment,
    pools_table,
    progress_frame,
    threshold_history,
    write_report,
)
from tests.research.test_detail import EXPERIMENT, research_experiment


@pytest.fixture(scope="module")
def experiment(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return research_experiment(tmp_path_factory, demo_root) / "results.sqlite"


@pytest.fixture(scope="module")
def view(experiment: Path) -> ExperimentView:
    db = ResultsDb.open(experiment)
    try:
        return load_experiment(db, EXPERIMENT)
    finally:
        db.close()


def sql(db_path: Path, text: str, *args: Any) -> pd.DataFrame:
    with sqlite3.connect(db_path) as connection:
        return pd.read_sql_query(text, connection, params=args)


def test_progress_counts_backtests_and_pool_sizes_as_of_each_iteration(experiment: Path, view: ExperimentView) -> None:
    progress = progress_frame(view)
    per_iteration = sql(experiment, "SELECT iteration, COUNT(*) AS n FROM backtests GROUP BY iteration")
    assert progress["iteration"].tolist() == list(range(int(per_iteration["iteration"].max()) + 1))
    for row in progress.itertuples():
        ((backtests,),) = sql(experiment, "SELECT COUNT(*) FROM backtests WHERE iteration <= ?", row.iteration).values
        ((good,),) = sql(experiment, "SELECT COUNT(*) FROM pools WHERE pool='GOOD' AND admitted_iteration <= ?",
                         row.iteration).values  # fmt: skip
        ((best,),) = sql(experiment, "SELECT COUNT(*) FROM pools WHERE pool='BEST' AND admitted_iteration <= ?",
                         row.iteration).values  # fmt: skip
        assert (row.backtests, row.GOOD, row.BEST) == (backtests, good, best)


def test_threshold_history_starts_at_the_configs_floor_and_follows_every_logged_move(
    experiment: Path, view: ExperimentView
) -> None:
    history = threshold_history(view)
    moves = sql(experiment, "SELECT name, iteration, new_value FROM adaptive_decisions WHERE kind = 'threshold' "
                            "ORDER BY id")  # fmt: skip
    assert len(moves) > 0
    # The loop tests' config: SOFT's Sharpe starts at its floor 0.5, HARD's at 1.0 (a min rule starts loosest).
    for name, start in (("soft.sharpe", 0.5), ("hard.sharpe", 1.0)):
        mine = history[history["threshold"] == name]
        logged = moves[moves["name"] == name]
        assert mine["value"].iloc[0] == start
        assert mine["value"].iloc[1:-1].tolist() == logged["new_value"].tolist()
        assert mine["iteration"].iloc[1:-1].tolist() == logged["iteration"].tolist()
        assert mine["value"].iloc[-1] == (logged["new_value"].iloc[-1] if len(logged) else start)


def test_the_kpi_histogram_counts_all_finite_values_and_each_pools_members(
    experiment: Path, view: ExperimentView
) -> None:
    figure = kpi_histogram(view.train, "sharpe", view.members)
    sharpe = sql(experiment, "SELECT b.id, k.sharpe FROM backtests b JOIN kpis k ON k.backtest_id = b.id "
                             "AND k.part = 'train'")  # fmt: skip
    finite = sharpe[np.isfinite(sharpe["sharpe"].astype(float))]
    counts = [len(trace.x) for trace in figure.data]
    members = sql(experiment, "SELECT pool, backtest_id FROM pools")
    expected = [len(finite)] + [
        int(finite["id"].isin(members.loc[members["pool"] == pool, "backtest_id"]).sum()) for pool in ("GOOD", "BEST")
    ]
    assert counts == expected and expected[1] > 0


def _dominated(points: np.ndarray, i: int) -> bool:
    others = np.delete(points, i, axis=0)
    return bool(((others >= points[i]).all(axis=1) & (others > points[i]).any(axis=1)).any())


def test_the_pools_table_matches_the_database_row_for_row(experiment: Path, view: ExperimentView) -> None:
    table = pools_table(view)
    counts = sql(experiment, "SELECT pool, COUNT(*) AS n FROM pools GROUP BY pool").set_index("pool")["n"]
    assert table["pool"].value_counts().to_dict() == counts.to_dict()
    assert table["pool"].tolist() == sorted(table["pool"], key=["BEST", "GOOD"].index)  # BEST first
    stored = sql(
        experiment,
        "SELECT p.pool, p.backtest_id, p.luck_json, t.sharpe, t.max_drawdown_pct, t.n_trades, v.return_pct "
        "FROM pools p JOIN kpis t ON t.backtest_id = p.backtest_id AND t.part = 'train' "
        "LEFT JOIN kpis v ON v.backtest_id = p.backtest_id AND v.part = 'validation'",
    ).set_index(["pool", "backtest_id"])
    for row in table.itertuples(index=False):
        expected = stored.loc[(row.pool, row.backtest)]
        assert row[6] == expected["sharpe"] and row[8] == expected["max_drawdown_pct"]
        assert row[10] == expected["n_trades"] and row[12] == expected["return_pct"]
        luck = json.loads(expected["luck_json"]) if expected["luck_json"] else None
        if row.pool == "BEST":
            assert math.isclose(row.DSR, luck["dsr"])
        else:
            assert math.isnan(row.DSR)  # a GOOD member has no DSR
    # Pareto on the config's objectives (max Sharpe, min drawdown) among the pools' backtests, by the definition.
    distinct = table.drop_duplicates("backtest")
    points = np.column_stack([distinct["train Sharpe"], -distinct["train max DD (%)"]])
    assert distinct["Pareto"].tolist() == [not _dominated(points, i) for i in range(len(points))]


def test_the_html_report_is_one_self_contained_file_saying_how_members_were_chosen(
    experiment: Path, tmp_path: Path
) -> None:
    db = ResultsDb.open(experiment)
    try:
        path = write_report(db, EXPERIMENT, tmp_path / "report.html")
        with pytest.raises(DataError, match="no experiment 'nope'") as unknown:
            write_report(db, "nope", tmp_path / "nope.html")
    finally:
        db.close()
    text = path.read_text(encoding="utf-8")
    assert "\n" not in str(unknown.value) and EXPERIMENT in str(unknown.value)
    assert "<script src=" not in text and "plotly.js" in text.lower()  # plotly inlined: opens offline
    assert text.count("Plotly.newPlot") == 3
    assert HOLDOUT_UNTOUCHED in text and "train passes HARD" in text
    ((backtests,),) = sql(experiment, "SELECT COUNT(*) FROM backtests").values
    ((best,),) = sql(experiment, "SELECT COUNT(*) FROM pools WHERE pool = 'BEST'").values
    assert f"{backtests:,} backtests" in text and f"BEST {best:,}" in text
    ((created,),) = sql(experiment, "SELECT created_at FROM experiments").values
    assert f"Created {pd.Timestamp(created).tz_convert('UTC'):%Y-%m-%d %H:%M:%S} UTC" in text
    assert not (tmp_path / "nope.html").exists()
