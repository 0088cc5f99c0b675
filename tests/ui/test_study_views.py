"""Optuna's views of a run's study, checked against the trials Optuna's own journal reader sees: the EDF is the
empirical distribution of the completed trials' objective values, the slice has one point per completed trial,
importance is computed per objective, and the Streamlit section draws every view without an error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from stratlab.errors import DataError
from stratlab.optimize.rundir import RunDir
from stratlab.ui.analysis import OBJECTIVES, TRAIN_DRAWDOWN, TRAIN_RETURN, Objective
from stratlab.ui.study import run_studies
from stratlab.ui.study_views import StudyView, study_figure
from tests.ui.test_study import optuna_trials, partial_run

STUDY = "ma_cross"


@pytest.fixture(scope="module")
def run_dir(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    return partial_run(tmp_path_factory.mktemp("runs"), demo_root)


@pytest.fixture(scope="module")
def completed(run_dir: RunDir, tmp_path_factory: pytest.TempPathFactory) -> list[optuna.trial.FrozenTrial]:
    """The study's completed trials, read by Optuna's own journal reader (independently of stratlab's)."""
    trials = optuna_trials(run_dir.journal_path, STUDY, tmp_path_factory.mktemp("reference"))
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) >= 20
    return done


def figure(
    run_dir: RunDir, view: StudyView, objective: Objective = TRAIN_RETURN, params: tuple[str, ...] = ()
) -> go.Figure:
    return study_figure(run_studies(run_dir, run_dir.load_context())[STUDY], objective, view, params)


def test_edf_is_the_empirical_distribution_of_the_objective(
    run_dir: RunDir, completed: list[optuna.trial.FrozenTrial]
) -> None:
    for objective in OBJECTIVES:
        values = np.array([t.values[objective.index] for t in completed])
        (trace,) = figure(run_dir, StudyView.EDF, objective).data
        x, y = np.asarray(trace.x, dtype=float), np.asarray(trace.y, dtype=float)
        assert x[0] == values.min() and x[-1] == values.max() and y[-1] == 1.0
        np.testing.assert_allclose(y, [(values <= point).mean() for point in x])


def test_slice_has_one_point_per_completed_trial_for_each_parameter(
    run_dir: RunDir, completed: list[optuna.trial.FrozenTrial]
) -> None:
    drawn = figure(run_dir, StudyView.SLICE)
    searched = {name for t in completed for name in t.params}
    points = [trace for trace in drawn.data if trace.mode == "markers"]
    assert len(points) == len(searched)
    values = sorted(t.values[0] for t in completed)
    for trace in points:
        assert sorted(trace.y) == values
    assert "train return %" in drawn.to_json()  # the objective's name and unit on the axis


def test_importance_is_computed_per_objective(run_dir: RunDir, completed: list[optuna.trial.FrozenTrial]) -> None:
    reference_study = optuna.create_study(directions=["maximize", "minimize"])
    reference_study.add_trials(completed)
    shown = {}
    for objective in OBJECTIVES:
        (bars,) = figure(run_dir, StudyView.IMPORTANCE, objective).data
        shown[objective.label] = dict(zip(bars.y, bars.x, strict=True))
        expected = optuna.importance.get_param_importances(
            reference_study, evaluator=optuna.importance.MeanDecreaseImpurityImportanceEvaluator(seed=0),
            target=lambda t, k=objective.index: t.values[k],
        )  # fmt: skip
        assert shown[objective.label] == pytest.approx(dict(expected))
    assert shown[TRAIN_RETURN.label] != pytest.approx(shown[TRAIN_DRAWDOWN.label])


def test_parallel_coordinates_and_contour_show_the_objective(
    run_dir: RunDir, completed: list[optuna.trial.FrozenTrial]
) -> None:
    drawn = figure(run_dir, StudyView.PARALLEL, TRAIN_DRAWDOWN)
    drawdowns = [t.values[1] for t in completed]
    assert len([trace for trace in drawn.data if trace.mode == "lines"]) == len(completed)  # a line per trial
    assert drawn.layout.xaxis.ticktext[0] == TRAIN_DRAWDOWN.label  # the objective's axis comes first
    (scale,) = [trace for trace in drawn.data if trace.mode == "markers"]
    assert (scale.marker.cmin, scale.marker.cmax) == (min(drawdowns), max(drawdowns))
    params = sorted(completed[0].params)[:2]
    contour = figure(run_dir, StudyView.CONTOUR, TRAIN_RETURN, tuple(params))
    assert any(trace.type == "contour" for trace in contour.data)
    with pytest.raises(DataError, match="two parameters"):
        figure(run_dir, StudyView.CONTOUR, TRAIN_RETURN, tuple(params[:1]))


def test_too_few_trials_is_one_line() -> None:
    study = optuna.create_study(study_name="tiny", directions=["maximize", "minimize"])
    study.enqueue_trial({"x": 1.0})
    study.optimize(lambda t: (t.suggest_float("x", 0.0, 2.0), 1.0), n_trials=1)
    for view in StudyView:
        with pytest.raises(DataError, match="completed trials") as few:
            study_figure(study, TRAIN_RETURN, view, ("x", "x"))
        assert "\n" not in str(few.value)


def _section(runs_root: str, name: str) -> None:
    from pathlib import Path

    from stratlab.ui.study_views import show_study_views

    show_study_views(Path(runs_root), name)


def test_the_section_draws_every_view_for_both_objectives(
    run_dir: RunDir, completed: list[optuna.trial.FrozenTrial]
) -> None:
    at = AppTest.from_function(_section, args=(str(run_dir.path.parent), run_dir.path.name), default_timeout=60)
    at.run()
    assert not at.exception
    assert at.selectbox(key="optuna_study").options == ["ma_cross", "stochastic"]
    for objective in [o.label for o in OBJECTIVES]:
        at.selectbox(key="optuna_objective").set_value(next(o for o in OBJECTIVES if o.label == objective))
        for view in StudyView:
            at.selectbox(key="optuna_view").set_value(view).run()
            assert not at.exception, [e.value for e in at.exception]
            assert not at.info, [i.value for i in at.info]
            charts = at.get("plotly_chart")
            assert len(charts) == 1
            assert objective in charts[0].proto.spec, (objective, view)  # what the browser receives
    at.selectbox(key="optuna_view").set_value(StudyView.CONTOUR).run()
    # The contour's two parameters default to the two most important for the objective chosen (the drawdown).
    reference_study = optuna.create_study(directions=["maximize", "minimize"])
    reference_study.add_trials(completed)
    ranked = optuna.importance.get_param_importances(
        reference_study, evaluator=optuna.importance.MeanDecreaseImpurityImportanceEvaluator(seed=0),
        target=lambda t: t.values[1],
    )  # fmt: skip
    assert at.multiselect(key="optuna_contour_ma_cross").value == list(ranked)[:2]


def test_a_running_search_redraws_its_views_once_per_window_not_per_trial() -> None:
    from stratlab.ui.study_views import LIVE_REDRAW_S, live_signature

    start = 1_700_000_000.0  # a window's first second
    assert live_signature(start) == live_signature(start + LIVE_REDRAW_S - 0.001)  # trials written meanwhile: kept
    assert live_signature(start) != live_signature(start + LIVE_REDRAW_S)  # the next window draws again
