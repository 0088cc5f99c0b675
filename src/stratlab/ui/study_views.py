"""Optuna's own views of one study of a run: slice, contour, parallel coordinates, EDF and parameter importance, each
for one objective at a time (train return % or train max drawdown %, with its unit on the axis).

Figures are drawn by ``optuna.visualization`` from the run's storage (``stratlab.ui.study``) and cached per run,
study, objective, view, parameters and the run's files signature, so a redraw costs nothing until the run writes
again; while the search still runs, by a window of ``LIVE_REDRAW_S`` seconds instead (``live_signature``).
Importance is Optuna's mean decrease in impurity with seed 0, as the Importance tab computes it: fANOVA took minutes
on a 1,000-trial study.
"""

from __future__ import annotations

import enum
import time
import warnings
from pathlib import Path

import optuna
import optuna.visualization as views
import plotly.graph_objects as go
import streamlit as st

from stratlab.errors import ConfigError, DataError
from stratlab.optimize.rundir import RunDir
from stratlab.ui.analysis import (
    MIN_TRIALS_FOR_IMPORTANCE,
    OBJECTIVES,
    Objective,
    completed_trials,
    objective_importance,
)
from stratlab.ui.common import opened_run
from stratlab.ui.runs import files_signature
from stratlab.ui.study import run_studies

MIN_TRIALS_FOR_VIEWS = 2  # one point says nothing about a parameter; a contour needs two to draw at all
Signature = tuple[tuple[str, int, int], ...]
# While a search runs, its Optuna views are drawn again at most this often (seconds).
LIVE_REDRAW_S = 10


class StudyView(enum.StrEnum):
    # The first is the one shown on arrival: which knobs matter, and a bar chart the browser draws at once (a slice of
    # 1,000 trials over every parameter takes it 1.5 s).
    IMPORTANCE = "importance"
    SLICE = "slice"
    CONTOUR = "contour"
    PARALLEL = "parallel coordinates"
    EDF = "EDF"


MINIMUM_TRIALS = {view: MIN_TRIALS_FOR_VIEWS for view in StudyView} | {StudyView.IMPORTANCE: MIN_TRIALS_FOR_IMPORTANCE}
EXPLAINED = {
    StudyView.SLICE: "each completed trial's {objective} against each parameter's value (colour: trial number)",
    StudyView.CONTOUR: "{objective} interpolated over two parameters (points: the trials)",
    StudyView.PARALLEL: "each completed trial as a line through its parameter values to its {objective}",
    StudyView.EDF: "share of completed trials whose {objective} is at most x",
    StudyView.IMPORTANCE: "how much each parameter drives the {objective} (random-forest importance, seed 0)",
}


def _searched_params(study: optuna.Study) -> list[str]:
    """Parameters that took more than one value (a fixed one has nothing to show)."""
    seen: dict[str, set[str]] = {}
    for trial in completed_trials(study):
        for name, value in trial.params.items():
            seen.setdefault(name, set()).add(repr(value))
    return sorted(name for name, values in seen.items() if len(values) > 1)


def study_figure(study: optuna.Study, objective: Objective, view: StudyView, params: tuple[str, ...] = ()) -> go.Figure:
    """``view`` of ``study`` for ``objective`` drawn by optuna.visualization; too few completed trials (or, for the
    contour, not two parameters) is a one-line DataError. ``params``: the contour's two parameters."""
    n_complete = len(completed_trials(study))
    if n_complete < MINIMUM_TRIALS[view]:
        raise DataError(
            f"{study.study_name}: {n_complete} completed trials; the {view} view needs at least {MINIMUM_TRIALS[view]}"
        )
    target, target_name = objective.of, objective.label
    with warnings.catch_warnings():
        # Experimental-API notices and "parameters missing in some trials" (grid/martingale settings) say nothing
        # a reader of the figure needs.
        warnings.simplefilter("ignore")
        try:
            if view == StudyView.SLICE:
                figure = views.plot_slice(study, target=target, target_name=target_name)
            elif view == StudyView.CONTOUR:
                if len(params) != 2:
                    raise DataError(f"{study.study_name}: the contour view needs two parameters")
                figure = views.plot_contour(study, params=list(params), target=target, target_name=target_name)
            elif view == StudyView.PARALLEL:
                figure = views.plot_parallel_coordinate(study, target=target, target_name=target_name)
            elif view == StudyView.EDF:
                figure = views.plot_edf(study, target=target, target_name=target_name)
            else:
                evaluator = optuna.importance.MeanDecreaseImpurityImportanceEvaluator(seed=0)
                figure = views.plot_param_importances(
                    study, evaluator=evaluator, target=target, target_name=target_name
                )
        except (ValueError, RuntimeError) as exc:
            raise DataError(f"{study.study_name}: the {view} view cannot be drawn ({exc})") from None
    figure.update_layout(title=f"{study.study_name}: {view} of the {objective.label}")
    return figure


def _study(run_path: str, study_name: str) -> optuna.Study:
    run_dir = RunDir(Path(run_path))
    studies = run_studies(run_dir, run_dir.load_context())
    if study_name not in studies:
        raise DataError(f"{study_name}: no trial yet (no worker has reached this study)")
    return studies[study_name]


# A resource, not data: st.cache_data would unpickle the figure on every redraw, which rebuilds and validates it (half
# a second for a 1,000-trial parallel-coordinates figure). The cached figure is never changed after it is drawn.
@st.cache_resource(max_entries=64, show_spinner="Drawing the study…")
def cached_study_figure(
    run_path: str, study_name: str, objective_index: int, view: str, params: tuple[str, ...], signature: Signature
) -> go.Figure | str:
    """The figure, or the one line saying why there is none (cached as well: a message is cheap to redraw)."""
    try:
        return study_figure(_study(run_path, study_name), OBJECTIVES[objective_index], StudyView(view), params)
    except (DataError, ConfigError) as exc:
        return str(exc)


@st.cache_data(max_entries=64, show_spinner="Ranking the parameters…")
def cached_importance(
    run_path: str, study_name: str, objective_index: int, signature: Signature
) -> dict[str, float] | str:
    try:
        return objective_importance(_study(run_path, study_name), OBJECTIVES[objective_index])
    except (DataError, ConfigError) as exc:
        return str(exc)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_params(run_path: str, study_name: str, signature: Signature) -> list[str] | str:
    try:
        return _searched_params(_study(run_path, study_name))
    except (DataError, ConfigError) as exc:
        return str(exc)


def _contour_params(
    run_path: str, study_name: str, objective_index: int, signature: Signature, key: str
) -> tuple[str, ...]:
    """The contour's two parameters: the user's pick, by default the two most important for the objective."""
    searched = cached_params(run_path, study_name, signature)
    if isinstance(searched, str) or len(searched) < 2:
        return ()
    importance = cached_importance(run_path, study_name, objective_index, signature)
    ranked = [p for p in importance if p in searched] if isinstance(importance, dict) else []
    default = (ranked + [p for p in searched if p not in ranked])[:2]
    chosen = st.multiselect(
        "Two parameters", searched, default=default, max_selections=2, key=f"{key}_contour_{study_name}",
        help="By default the two most important for this objective.",
    )  # fmt: skip
    return tuple(chosen)


def live_signature(now_s: float) -> Signature:
    """The cache key of a running search's views: the current window of ``LIVE_REDRAW_S`` seconds. Keyed on the
    run's files instead, every trial written would start an importance evaluation (seconds on a large study) over
    again, and a busy run would never let one finish."""
    return (("live", int(now_s // LIVE_REDRAW_S), 0),)


def show_study_views(runs_root: Path, name: str, key: str = "optuna", *, live: bool = False) -> None:
    """The Optuna section of a run: pick the study, the objective and the view; draws it or says in one line why
    not. ``key`` prefixes the widgets' keys (one section per page). ``live``: the run is still searching, and the
    views are drawn again at most every ``LIVE_REDRAW_S`` seconds."""
    opened = opened_run(runs_root, name)
    if opened is None:
        return
    run_dir, context = opened
    signature = live_signature(time.time()) if live else files_signature(runs_root, name)
    columns = st.columns(3)
    study_name = columns[0].selectbox(
        "Study (strategy@window)" if context.windows else "Strategy", list(context.study_names), key=f"{key}_study"
    )
    objective = columns[1].selectbox("Objective", OBJECTIVES, format_func=lambda o: o.label, key=f"{key}_objective")
    view = columns[2].selectbox("View", list(StudyView), key=f"{key}_view")
    if study_name is None or objective is None or view is None:
        return
    run_path = str(run_dir.path)
    params: tuple[str, ...] = ()
    if view == StudyView.CONTOUR:
        params = _contour_params(run_path, study_name, objective.index, signature, key)
        if len(params) != 2:
            st.info("The contour view needs two searched parameters: pick two.")
            return
    figure = cached_study_figure(run_path, study_name, objective.index, str(view), params, signature)
    if isinstance(figure, str):
        st.info(figure)
        return
    st.caption(EXPLAINED[view].format(objective=objective.label))
    st.plotly_chart(figure, width="stretch", key=f"{key}_chart")


__all__ = ["MIN_TRIALS_FOR_VIEWS", "StudyView", "cached_study_figure", "show_study_views", "study_figure"]
