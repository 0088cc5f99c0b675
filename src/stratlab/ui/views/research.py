"""Research page: a results database of the research loop (``stratlab research start``): an experiment's progress and
thresholds over iterations (read again every two seconds while its loop runs), its train backtests filtered on key
KPIs, its GOOD and BEST pools, and one backtest in detail with a button that writes its paper manifest."""

from __future__ import annotations

import numpy as np
import streamlit as st

from stratlab.errors import StratlabError
from stratlab.report.figures import backtest_chart_data, backtest_figure
from stratlab.research.db import ResultsDb
from stratlab.research.detail import BacktestDetail, backtest_detail
from stratlab.research.explain import Explanation, explain_strategy
from stratlab.research.report import (
    ExperimentView,
    how_chosen,
    kpi_histogram,
    load_experiment,
    pool_of,
    pools_table,
    progress_figure,
    progress_frame,
    threshold_history,
    thresholds_figure,
)
from stratlab.research.surrogate import MIN_FIT_ROWS, umap_embedding
from stratlab.ui.common import roots
from stratlab.ui.explorer import TRADE_COLUMN_CONFIG
from stratlab.ui.matters import show_what_matters
from stratlab.ui.readable import trades_table
from stratlab.ui.research import (
    KPI_FILTERS,
    START_HINT,
    chosen_text,
    default_database,
    detail_parameters,
    experiment_names,
    export_manifest,
    filtered,
    filtered_table,
    kpis_by_part,
    loop_state,
    open_database,
    research_root,
    status_line,
)

REFRESH_S = 2.0
TWO_DECIMALS = st.column_config.NumberColumn(format="%,.2f")
THREE_DECIMALS = st.column_config.NumberColumn(format="%.3f")
WHOLE = st.column_config.NumberColumn(format="%,d")


@st.cache_resource(max_entries=4, show_spinner=False)
def cached_database(target: str) -> ResultsDb:
    # One engine per database for every session; a failed open is not cached (the next rerun tries again).
    return open_database(target)


@st.cache_resource(max_entries=8, show_spinner="Backtesting again…")
def cached_detail(target: str, backtest_id: int, data_root: str) -> BacktestDetail:
    return backtest_detail(cached_database(target), backtest_id, data_root)


st.title("Research")
root = research_root()
target = st.text_input(
    "Results database", value=str(default_database()), help="A SQLite file, or a database URL (PostgreSQL)."
).strip()
try:
    db = cached_database(target)
    names = experiment_names(db)
except StratlabError as exc:
    st.error(str(exc))
    st.stop()
if not names:
    st.info(f"No experiment yet in {target}. Start one with `{START_HINT}`.")
    st.stop()

wanted = st.query_params.get("experiment")
if wanted and wanted not in names:
    st.error(f"Experiment {wanted!r} is not in {target}; showing the newest instead.")
experiment = st.selectbox("Experiment", names, index=names.index(wanted) if wanted in names else 0)
if experiment != wanted and (wanted in names or not wanted):
    st.query_params["experiment"] = experiment


def progress_section(refreshing: bool) -> None:
    state = loop_state(root, experiment)
    if refreshing and not state.running:
        st.rerun()  # it ended: redraw the whole page once, without the timer
    try:
        view = load_experiment(db, experiment)
    except StratlabError as exc:
        st.error(str(exc))
        return
    st.markdown(f"**Loop: {status_line(state)}**")
    members = view.members["pool"]
    backtests, good, best, iterations = st.columns(4)
    backtests.metric("Backtests", f"{len(view.train):,}")
    good.metric("GOOD", f"{int((members == 'GOOD').sum()):,}")
    best.metric("BEST", f"{int((members == 'BEST').sum()):,}")
    iterations.metric("Iterations", f"{view.last_iteration + 1 if len(view.train) else 0:,}")
    left, right = st.columns(2)
    left.plotly_chart(progress_figure(progress_frame(view)), width="stretch", key="research-progress")
    right.plotly_chart(thresholds_figure(threshold_history(view)), width="stretch", key="research-thresholds")


def distribution_section(view: ExperimentView) -> None:
    st.subheader("KPI distribution (train)")
    kpi = st.selectbox("KPI", [f.kpi for f in KPI_FILTERS], key="research-kpi")
    values: dict[str, float | None] = {}
    for column, kpi_filter in zip(st.columns(len(KPI_FILTERS)), KPI_FILTERS, strict=True):
        values[kpi_filter.kpi] = column.number_input(kpi_filter.label, value=None, key=f"filter-{kpi_filter.kpi}")
    rows = filtered(view.train, values)
    st.markdown(f"**{len(rows):,} of {len(view.train):,} backtests pass the filter**")
    st.plotly_chart(kpi_histogram(rows, kpi, view.members), width="stretch", key="research-histogram")
    st.dataframe(
        filtered_table(rows, pool_of(view.members)), hide_index=True, width="stretch", height=300,
        column_config={f.kpi: TWO_DECIMALS for f in KPI_FILTERS} | {"n_trades": WHOLE},
    )  # fmt: skip


def pools_section(view: ExperimentView) -> None:
    table = pools_table(view)
    st.subheader(f"Pools: {int((table['pool'] == 'BEST').sum()):,} BEST, {int((table['pool'] == 'GOOD').sum()):,} GOOD")
    st.markdown("\n".join(f"- {line}" for line in how_chosen(view)))
    if table.empty:
        st.caption("No member yet.")
        return
    formats = {c: TWO_DECIMALS for c in table.columns if "Sharpe" in c or "(%)" in c}
    st.dataframe(
        table, hide_index=True, width="stretch",
        column_config=formats | {"score": THREE_DECIMALS, "DSR": THREE_DECIMALS, "train trades": WHOLE},
    )  # fmt: skip


@st.cache_resource(max_entries=8, show_spinner="Fitting the surrogate…")
def cached_explanation(target: str, experiment: str, strategy: str, backtests: int) -> Explanation:
    # ``backtests`` is part of the key: a growing experiment is explained again.
    view = load_experiment(cached_database(target), experiment)
    return explain_strategy(view.train, strategy, view.config)


@st.cache_resource(max_entries=8, show_spinner="Mapping the trials (UMAP; the first map compiles for a few seconds)…")
def cached_map(target: str, experiment: str, strategy: str, backtests: int) -> np.ndarray:
    return umap_embedding(cached_explanation(target, experiment, strategy, backtests).shap)


def matters_section(view: ExperimentView) -> None:
    st.subheader("What matters (surrogate)")
    counts = view.train[view.train["sharpe"].notna()]["strategy"].value_counts()
    strategies = [name for name in view.config.strategies if counts.get(name, 0) >= MIN_FIT_ROWS]
    if not strategies:
        st.caption(f"A strategy needs {MIN_FIT_ROWS} backtests with a Sharpe before a surrogate can learn from it.")
        return
    strategy = st.selectbox("Strategy", strategies, key="research-matters-strategy")
    try:
        explained = cached_explanation(target, experiment, strategy, len(view.train))
    except StratlabError as exc:
        st.error(str(exc))
        return
    show_what_matters(
        explained, "train Sharpe (capped)", "research-matters",
        lambda: cached_map(target, experiment, strategy, len(view.train)),
    )  # fmt: skip


def detail_section(view: ExperimentView) -> None:
    st.subheader("Backtest detail")
    pools = pools_table(view)
    default = int(pools["backtest"].iloc[0]) if len(pools) else int(view.train["backtest_id"].iloc[0])
    backtest_id = st.number_input("Backtest id", min_value=1, value=default, step=1, key="research-backtest")
    holdout = st.checkbox(
        "Show holdout figures", key="research-holdout",
        help="The loop never looked at holdout. Once you have, it is no longer out-of-sample for your choice, and a "
        "manifest exported after that says so.",
    )  # fmt: skip
    try:
        detail = cached_detail(target, int(backtest_id), str(roots()[0]))
    except StratlabError as exc:
        st.error(str(exc))
        return
    st.caption(
        f"{detail.strategy} on {detail.market.source}:{detail.market.symbol} {detail.market.timeframe}, experiment "
        f"{detail.experiment}; {chosen_text(detail)}"
    )
    st.dataframe(kpis_by_part(detail, holdout), hide_index=True, width="stretch", height=300)
    shown = detail.whole if holdout else detail.before_holdout
    parts = detail.market.parts if holdout else detail.market.parts[:-1]
    chart = backtest_chart_data(shown, parts=parts, buy_and_hold=True)
    st.plotly_chart(backtest_figure(chart), width="stretch", key="research-equity")
    trades = trades_table(shown)
    with st.expander(f"Trades ({len(trades):,})"):
        st.dataframe(trades, hide_index=True, width="stretch", column_config=TRADE_COLUMN_CONFIG)
    st.dataframe(detail_parameters(detail), hide_index=True, width="stretch")
    if st.button("Write the paper manifest"):
        try:
            path = export_manifest(detail, root, holdout_seen=holdout)
        except (StratlabError, OSError) as exc:
            st.error(f"the manifest could not be written: {exc}")
        else:
            st.success(f"Manifest written to {path}. Paper trade it with `stratlab paper start --manifest {path}`.")


chosen_state = loop_state(root, experiment)
# Read again on a timer only while the experiment's loop runs.
st.fragment(run_every=REFRESH_S if chosen_state.running else None)(progress_section)(chosen_state.running)
try:
    experiment_view = load_experiment(db, experiment)
except StratlabError as exc:
    st.error(str(exc))
    st.stop()
distribution_section(experiment_view)
pools_section(experiment_view)
matters_section(experiment_view)
if len(experiment_view.train):
    detail_section(experiment_view)
