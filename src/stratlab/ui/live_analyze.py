"""Analyze while a run is going: its trials read from the Optuna storage (no report needed), redrawn every two
seconds like the Monitor page: trial counts per strategy and state, each strategy's train front so far with the other
trials faint behind it, the best so far as a table, and Optuna's views of the studies. When the run ends and its
report is written, the whole page is drawn again once, as the finished run's Analyze."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from stratlab.errors import ConfigError, DataError
from stratlab.optimize.rundir import RunDir
from stratlab.ui.charts import front_mask, live_front_figure
from stratlab.ui.common import opened_run
from stratlab.ui.readable import params_of, readable_value
from stratlab.ui.runs import keeps_refreshing, open_run
from stratlab.ui.study import live_trials_frame
from stratlab.ui.study_views import show_study_views

REFRESH_S = 2.0
STATES = ("COMPLETE", "RUNNING", "WAITING", "PRUNED", "FAIL")
BEST_COLUMNS = {
    "train_return_pct": st.column_config.NumberColumn("train return %", format="%+.2f %%"),
    "train_max_drawdown_pct": st.column_config.NumberColumn("train max DD %", format="%.2f %%"),
    "n_trades": st.column_config.NumberColumn("trades (train)", format="localized"),
}


def _status(run_dir: RunDir) -> dict[str, Any] | None:
    try:
        return run_dir.read_status()
    except DataError:
        return None  # the page above already shows status.json's one line


def readable_params(text: object) -> str:
    """A trials frame's params cell (JSON) as "name = value" pairs at sensible precision."""
    return ", ".join(f"{k} = {readable_value(v)}" for k, v in params_of(text).items())


def study_column(trials: pd.DataFrame) -> pd.Series:
    """Each row's study as the run names it: the strategy, or strategy@w<k> in a walk-forward run."""
    if "window" not in trials.columns:
        return trials["strategy"].astype(str)
    return trials["strategy"].astype(str) + "@w" + trials["window"].astype("Int64").astype(str)


def state_counts(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials per study and state (the states that occur, in a fixed order), with each study's total."""
    counts = pd.crosstab(study_column(trials).rename("study"), trials["state"])
    counts = counts[[s for s in STATES if s in counts.columns] + [s for s in counts.columns if s not in STATES]]
    counts["total"] = counts.sum(axis=1)
    return counts.reset_index()


def best_so_far(trials: pd.DataFrame, min_train_trades: int) -> pd.DataFrame:
    """Each study's train front so far: the trials the report would take as candidates, best return first."""
    front = trials[front_mask(trials, min_train_trades)]
    table = pd.DataFrame(
        {
            "study": study_column(front),
            "trial": front["trial"].astype(int),
            "train_return_pct": front["train_return_pct"].astype(float),
            "train_max_drawdown_pct": front["train_max_drawdown_pct"].astype(float),
            "n_trades": front["n_trades"],
            "parameters": front["params"].map(readable_params),
        }
    )
    return table.sort_values(["study", "train_return_pct"], ascending=[True, False])


def _window_of(trials: pd.DataFrame, key: str) -> pd.DataFrame:
    """A walk-forward run's fronts are per window (the report chooses per window): one window at a time, the
    newest with completed trials by default."""
    if "window" not in trials.columns or trials.empty:
        return trials
    windows = sorted(int(w) for w in trials["window"].dropna().unique())
    done = sorted(int(w) for w in trials.loc[trials["state"] == "COMPLETE", "window"].dropna().unique())
    default = windows.index(done[-1]) if done else 0
    window = st.selectbox("Window", windows, index=default, key=f"{key}_window", format_func=lambda w: f"w{w}")
    return trials[trials["window"] == window]


def _live(runs_root: Path, name: str, refreshing: bool, key: str) -> None:
    opened = opened_run(runs_root, name)
    if opened is None:
        return
    run_dir, context = opened
    has_report = run_dir.report_path.exists()
    if refreshing and (has_report or not keeps_refreshing(_status(run_dir), has_report)):
        st.rerun()  # the run ended (and its report is written): the whole page again, without the timer
    try:
        trials = live_trials_frame(run_dir)
    except DataError as exc:
        st.info(str(exc))
        return
    done = int((trials["state"] == "COMPLETE").sum())
    st.markdown(
        f"**Live from the run's storage** (no report yet): {len(trials):,} trials, {done:,} completed"
        + (f", as of {time.strftime('%H:%M:%S', time.gmtime())} UTC" if refreshing else "")
    )
    if trials.empty:
        st.info("No trial yet: the workers are starting.")
        return
    counts = state_counts(trials)
    st.dataframe(
        counts, hide_index=True, width="stretch",
        column_config={c: st.column_config.NumberColumn(format="localized") for c in counts.columns if c != "study"},
    )  # fmt: skip
    shown = _window_of(trials, key)
    minimum = context.request.min_train_trades
    if not (shown["state"] == "COMPLETE").any():
        st.info("No completed trial yet.")
        return
    st.plotly_chart(live_front_figure(shown, minimum), width="stretch", key=f"{key}_front")
    st.caption(
        f"Each strategy's train Pareto front so far (completed trials with at least {minimum:,} train trades); "
        "the other completed trials faint behind it. Train figures are in-sample: the report judges the front on "
        "the selection part when the run ends."
    )
    st.markdown("**Best so far** (each strategy's train front)")
    st.dataframe(best_so_far(shown, minimum), hide_index=True, width="stretch", column_config=BEST_COLUMNS)


def show_live_run(runs_root: Path, name: str, key: str = "live") -> None:
    """The live Analyze of run ``name`` (for a run without a report): redrawn every two seconds while the run is
    active, then once as a whole page when its report appears; Optuna's views below, redrawn on demand."""
    try:
        run_dir = open_run(runs_root, name)
    except (ConfigError, DataError) as exc:
        st.error(str(exc))
        return
    has_report = run_dir.report_path.exists()
    # With its report written the run is shown as it is, without the timer (the page shows the report instead).
    refreshing = not has_report and keeps_refreshing(_status(run_dir), has_report)
    st.fragment(run_every=REFRESH_S if refreshing else None)(_live)(runs_root, name, refreshing, key)
    st.subheader("Optuna views")
    st.caption("Drawn from the trials stored when you choose a view; choose again for the newest.")
    show_study_views(runs_root, name, key=f"{key}_optuna", live=True)


__all__ = ["REFRESH_S", "best_so_far", "readable_params", "show_live_run", "state_counts"]
