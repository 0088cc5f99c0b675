"""Analyze of a run without a report, through Streamlit's AppTest: counts per strategy and state, the train fronts so
far and the best-so-far table, all from the run's storage, checked against Optuna's own reading of the journal and a
brute-force dominance check; a run whose journal is lost is one line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from stratlab.optimize.rundir import RunDir
from stratlab.ui.charts import MAX_DOMINATED_POINTS, front_mask, live_front_figure, pareto_figure
from stratlab.ui.study import storage_trials_frame
from tests.ui.test_pages import app
from tests.ui.test_study import optuna_trials, partial_run

STUDIES = ("ma_cross", "stochastic")


@pytest.fixture(scope="module")
def run_dir(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    return partial_run(tmp_path_factory.mktemp("runs"), demo_root)


def _live_page(runs_root: str, name: str) -> None:
    from pathlib import Path

    from stratlab.ui.live_analyze import show_live_run

    show_live_run(Path(runs_root), name)


def live_app(run_dir: RunDir) -> AppTest:
    at = AppTest.from_function(_live_page, args=(str(run_dir.path.parent), run_dir.path.name), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def brute_force_front(returns: np.ndarray, drawdowns: np.ndarray) -> set[int]:
    """Indices no other point dominates (>= return, <= drawdown, better in one): the definition, pair by pair."""
    front = set()
    for i in range(len(returns)):
        dominated = (returns >= returns[i]) & (drawdowns <= drawdowns[i]) & (
            (returns > returns[i]) | (drawdowns < drawdowns[i])
        )  # fmt: skip
        if not dominated.any():
            front.add(i)
    return front


def test_live_analyze_shows_counts_fronts_and_best_so_far_from_the_storage(run_dir: RunDir, tmp_path: Path) -> None:
    at = live_app(run_dir)
    reference = {study: optuna_trials(run_dir.journal_path, study, tmp_path) for study in STUDIES}
    every = [t for trials in reference.values() for t in trials]
    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in every)
    headline = next(m.value for m in at.markdown if "Live from the run's storage" in m.value)
    assert f"{len(every):,} trials, {done:,} completed" in headline

    counts = at.dataframe[0].value.set_index("study")
    for study, trials in reference.items():
        states = pd.Series([t.state.name for t in trials]).value_counts()
        assert counts.loc[study, "total"] == len(trials)
        for state, count in states.items():
            assert counts.loc[study, state] == count

    minimum = run_dir.load_context().request.min_train_trades
    best = at.dataframe[1].value
    for study, trials in reference.items():
        eligible = [
            t for t in trials
            if t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs.get("n_trades", 0) >= minimum
        ]  # fmt: skip
        returns = np.array([t.values[0] for t in eligible])
        drawdowns = np.array([t.values[1] for t in eligible])
        expected = {eligible[i].number for i in brute_force_front(returns, drawdowns)}
        assert set(best.loc[best["study"] == study, "trial"]) == expected
    assert re.search(r"\w+ = ", best["parameters"].iloc[0])  # parameters as "name = value"

    charts = at.get("plotly_chart")
    assert charts and "dominated trials" in charts[0].proto.spec
    # The Optuna views come with it.
    assert at.selectbox(key="live_optuna_view").value == "importance" and len(charts) == 2


def test_a_run_whose_journal_is_lost_is_one_line(run_dir: RunDir, tmp_path: Path) -> None:
    copy = RunDir(tmp_path / "runs" / run_dir.path.name)
    shutil.copytree(run_dir.path, copy.path)
    copy.journal_path.unlink()
    at = AppTest.from_function(_live_page, args=(str(copy.path.parent), copy.path.name), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [i.value for i in at.info] + [e.value for e in at.error]
    assert any("journal is missing" in text for text in shown), shown
    assert not copy.journal_path.exists()


def test_the_analyze_page_shows_a_run_without_report_live(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, run_dir: RunDir
) -> None:
    at = app(monkeypatch, demo_root, run_dir.path.parent, "analyze", run=run_dir.path.name)
    assert any("Live from the run's storage" in m.value for m in at.markdown)
    assert not any("No report yet" in i.value for i in at.info)


def dominated_points(figure: go.Figure) -> list[tuple[str, int]]:
    return [
        (strategy, int(trial))
        for trace in figure.data
        if trace.name == "dominated trials"
        for strategy, trial in zip(trace.text, trace.customdata, strict=True)
    ]


def test_the_pareto_chart_draws_the_dominated_trials_behind_the_train_front(run_dir: RunDir) -> None:
    trials = storage_trials_frame(run_dir)
    # Candidates as the report writes them: each strategy's train front, with its figures on the selection part.
    front = trials[front_mask(trials, run_dir.load_context().request.min_train_trades)]
    candidates = front.assign(test_return_pct=1.0, test_max_drawdown_pct=2.0)[
        ["strategy", "trial", "params", "train_return_pct", "train_max_drawdown_pct", "test_return_pct",
         "test_max_drawdown_pct"]
    ]  # fmt: skip
    before = pareto_figure(candidates, "test", None, 20.0)
    assert not dominated_points(before)  # the old call draws what it drew
    after = pareto_figure(candidates, "test", None, 20.0, trials)
    done = trials[trials["state"] == "COMPLETE"]
    expected = set(zip(done["strategy"], done["trial"], strict=True)) - set(
        zip(candidates["strategy"], candidates["trial"], strict=True)
    )
    assert sorted(dominated_points(after)) == sorted(expected)
    assert after.data[0].name == "dominated trials"  # drawn first: behind the front
    assert all(trace.xaxis == "x" for trace in after.data if trace.name == "dominated trials")  # the train panel
    assert len(after.data) == len(before.data) + trials["strategy"].nunique()


def test_dominated_points_past_the_limit_are_thinned_but_the_front_is_whole() -> None:
    generator = np.random.default_rng(7)
    n = 6_000
    trials = pd.DataFrame(
        {
            "strategy": np.where(np.arange(n) % 2 == 0, "a", "b"), "trial": np.arange(n) // 2, "state": "COMPLETE",
            "train_return_pct": generator.normal(0, 10, n), "train_max_drawdown_pct": generator.uniform(1, 50, n),
            "n_trades": 50, "duration_s": 0.1, "worker": "w", "params": "{}",
        }
    )  # fmt: skip
    figure = live_front_figure(trials)
    assert 0 < len(dominated_points(figure)) <= MAX_DOMINATED_POINTS
    for strategy, group in trials.groupby("strategy"):
        returns = group["train_return_pct"].to_numpy()
        drawdowns = group["train_max_drawdown_pct"].to_numpy()
        expected = {int(group["trial"].iloc[i]) for i in brute_force_front(returns, drawdowns)}
        (line,) = [trace for trace in figure.data if trace.name == strategy]
        assert {int(t.split("#")[1].split("<")[0]) for t in line.text} == expected
