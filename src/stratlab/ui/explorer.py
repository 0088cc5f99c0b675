"""Analyze's trials explorer: every trial of a run in one filterable, sortable table with a CSV export, and any trial
backtested again over the whole period (split boundaries, buy-and-hold, log scale), its KPIs per part under each
part's role, its trades, its months and its manifest.

The table is ``stratlab.ui.trial_table`` (pure pandas); the backtest is ``stratlab.optimize.trial_backtest``, cached
per run, study, trial and the run's files, so moving between widgets does not backtest again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from stratlab.errors import StratlabError
from stratlab.metrics.tables import monthly_returns
from stratlab.optimize.report import WINDOW_CANDIDATES_FILE
from stratlab.optimize.trial_backtest import TrialBacktest, TrialBacktester, trial_manifest
from stratlab.report.figures import backtest_chart_data, backtest_figure
from stratlab.report.split import PartName, SplitPart
from stratlab.ui.charts import monthly_figure
from stratlab.ui.luck import role_tag
from stratlab.ui.readable import partial_months, readable_value, trades_table
from stratlab.ui.runs import RunResults, files_signature, open_run, read_table
from stratlab.ui.trial_table import (
    TrialTable,
    build_trial_table,
    filter_trials,
    trial_label,
    trials_csv,
    without_blank_parameters,
)

Signature = tuple[tuple[str, int, int], ...]
CHART_POINTS = 1_000  # near one per screen pixel of a wide chart: more only slows the browser down
# The KPIs of a backtest's card, per part: the figures a person compares first.
KPI_ROWS = (
    "return_pct", "cagr_pct", "max_drawdown_pct", "sharpe", "sortino", "calmar", "profit_factor", "win_rate_pct",
    "n_trades", "exposure_pct", "buy_hold_return_pct", "fees_paid", "is_valid",
)  # fmt: skip
WHOLE_PERIOD = "whole period"
# Trades as people read them: UTC date-times, thousands separators, units in the headers.
TRADE_COLUMN_CONFIG = {
    "entry (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    "exit (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    "size": st.column_config.NumberColumn(format="%.6g"),
    "entry price": st.column_config.NumberColumn(format="localized"),
    "exit price": st.column_config.NumberColumn(format="localized"),
    "return %": st.column_config.NumberColumn(format="%+.2f %%"),
    "PnL": st.column_config.NumberColumn(format="localized"),
    "fees": st.column_config.NumberColumn(format="localized"),
    "funding": st.column_config.NumberColumn(format="localized"),
    "bars held": st.column_config.NumberColumn(format="localized"),
}


def shown_kpi(value: object) -> str:
    """A KPI for a card: floats to two decimals with thousands separators, None as a dash."""
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:,.2f}"
    return "-" if value is None else str(value)


# -- the table ------------------------------------------------------------------------------------------------------


def run_candidates(runs_root: Path, name: str, results: RunResults) -> pd.DataFrame | None:
    """The candidates the table joins: the selection part's (every window's in a walk-forward run); None without a
    report (nothing is known of the front yet)."""
    if results.report is None or results.context is None:
        return None
    if not results.context.windows:
        return results.candidates
    return read_table(open_run(runs_root, name).path / WINDOW_CANDIDATES_FILE, ("strategy",), ("window", "trial"))


def column_config(table: TrialTable) -> dict[str, Any]:
    """Formats for people: percentages with their sign and unit, counts with thousands separators."""
    config: dict[str, Any] = {}
    for column in table.frame.columns:
        values = table.frame[column]
        if column.endswith("%"):
            config[column] = st.column_config.NumberColumn(format="%+.2f %%" if "return" in column else "%.2f %%")
        elif column in table.parameters and pd.api.types.is_float_dtype(values):
            config[column] = st.column_config.NumberColumn(format="%.6g")
        elif pd.api.types.is_integer_dtype(values) and column not in {"trial", "window"}:
            config[column] = st.column_config.NumberColumn(format="localized")
        elif column in {"duration (s)", "DSR"} or column.endswith("Sharpe"):
            config[column] = st.column_config.NumberColumn(format="%.3f")
    return config


def _range_widget(frame: pd.DataFrame, column: str) -> tuple[float, float] | None:
    values = pd.to_numeric(frame[column], errors="coerce").dropna()
    if values.empty or values.min() == values.max():
        st.caption(f"{column}: one value or none, nothing to narrow")
        return None
    if pd.api.types.is_integer_dtype(frame[column]):
        low, high = st.slider(column, int(values.min()), int(values.max()), (int(values.min()), int(values.max())),
                              key=f"trials_range_{column}")  # fmt: skip
        return float(low), float(high)
    low_f, high_f = float(values.min()), float(values.max())
    chosen = st.slider(column, low_f, high_f, (low_f, high_f), key=f"trials_range_{column}")
    return float(chosen[0]), float(chosen[1])


def filtered_view(table: TrialTable) -> pd.DataFrame:
    """The filter widgets and the rows they keep: strategies, states, and the ranges or values of the columns the
    user picks (one slider per picked column, not one per column)."""
    frame = table.frame
    left, right = st.columns(2)
    strategies = left.multiselect("Strategies", sorted(frame["strategy"].unique()), key="trials_strategies")
    states = right.multiselect("States", sorted(frame["state"].unique()), key="trials_states")
    ranged = left.multiselect("Narrow the range of", table.numeric_columns, key="trials_ranged")
    valued = right.multiselect("Choose values of", table.categorical_columns, key="trials_valued")
    ranges = {}
    for column in ranged:
        with left:
            chosen = _range_widget(frame, column)
        if chosen is not None:
            ranges[column] = chosen
    choices = {
        column: right.multiselect(
            column, sorted(str(v) for v in frame[column].dropna().unique()), key=f"trials_values_{column}"
        )
        for column in valued
    }
    kept = filter_trials(
        frame, strategies=strategies or None, states=states or None, ranges=ranges,
        choices={c: v for c, v in choices.items() if v},
    )  # fmt: skip
    return without_blank_parameters(kept, table.parameters)


def pick_trial(shown: pd.DataFrame, selected_rows: list[int]) -> str | None:
    """The trial to backtest: the table's selected row, else the picker's choice (of the rows shown)."""
    labels = [
        trial_label(row) for row in shown[[c for c in ("window", "strategy", "trial") if c in shown]].to_dict("records")
    ]
    if selected_rows and selected_rows != st.session_state.get("trials_last_selection"):
        # A row clicked in the table: the picker follows it (set before the picker exists, as Streamlit requires).
        st.session_state["trials_pick"] = labels[selected_rows[0]]
    st.session_state["trials_last_selection"] = selected_rows
    if st.session_state.get("trials_pick") not in labels:
        st.session_state.pop("trials_pick", None)
    return st.selectbox(
        "Trial to backtest", labels, index=None, key="trials_pick", placeholder="Choose a trial (or select a row)"
    )


# -- the backtest ---------------------------------------------------------------------------------------------------


@st.cache_resource(max_entries=2, show_spinner="Loading the run's candles…")
def _backtester(runs_root: str, name: str, data_root: str, _signature: Signature) -> TrialBacktester:
    # One per run: holds the candles (read-only arrays, shared by sessions) and the evaluator's cut views.
    return TrialBacktester(open_run(Path(runs_root), name), data_root)


@st.cache_resource(max_entries=8, show_spinner="Backtesting the trial…")
def _trial_backtest(
    runs_root: str, name: str, data_root: str, study: str, trial: int, signature: Signature
) -> TrialBacktest:
    return _backtester(runs_root, name, data_root, signature).backtest(study, trial)


def part_of_times(times_ms: pd.Series, parts: tuple[SplitPart, ...]) -> pd.Series:
    """The split part each time falls in (a walk-forward window's embargo bars belong to none)."""
    values = times_ms.to_numpy()
    names = np.full(values.size, "between parts", dtype=object)
    for part in parts:
        names[(values >= part.first_bar_ms) & (values <= part.last_bar_ms)] = str(part.name)
    return pd.Series(names, index=times_ms.index)


def show_backtest(backtest: TrialBacktest, file_stem: str) -> None:
    """The chosen trial: chart over the whole period, KPIs per part (each under what it is worth for this trial),
    trades, months, manifest."""

    def role(part: str) -> str:
        return str(backtest.roles[PartName(part)])

    st.subheader(f"{backtest.study} · trial {backtest.trial}")
    row = backtest.candidate
    if backtest.is_champion:
        st.caption("The run's champion.")
    if row is not None:
        failed = row.get("failed_gates") or "every gate passed"
        st.caption(f"Pareto candidate; the run's report judged it {row.get('verdict')}: {failed}")
    else:
        st.caption("Not a Pareto candidate: no verdict was computed for it.")
    st.caption("Parameters: " + ", ".join(f"{k} {readable_value(v)}" for k, v in backtest.stored.params.items()))
    log_y = st.toggle("Log scale", key="trials_log_scale", help="Price and equity on log scales")
    chart = backtest_chart_data(backtest.whole, max_points=CHART_POINTS, parts=backtest.parts, buy_and_hold=True)
    st.plotly_chart(backtest_figure(chart, log_y=log_y), width="stretch", key="trials_chart")
    st.caption(
        "One backtest over the whole period: a position open at a part's end is carried into the next part, so the "
        "parts' own figures below (each part backtested alone, as the report does) can differ from this curve."
    )
    columns = {
        f"{part} ({role_tag(role(part))})": {k: shown_kpi(result.kpis[k]) for k in KPI_ROWS}
        for part, result in backtest.by_part.items()
    }
    columns[WHOLE_PERIOD] = {k: shown_kpi(backtest.whole.kpis[k]) for k in KPI_ROWS}
    st.markdown("**KPIs per part**")
    st.dataframe(pd.DataFrame(columns), width="stretch", height="content")
    st.caption("; ".join(f"{part}: {role(part)}" for part in backtest.by_part))
    st.markdown("**Trades** (whole period)")
    trades = trades_table(backtest.whole)
    trades.insert(0, "part", part_of_times(backtest.whole.trades["entry_time_ms"], backtest.parts))
    st.dataframe(trades, hide_index=True, width="stretch", column_config=TRADE_COLUMN_CONFIG)
    months = monthly_returns(backtest.whole)
    if months.empty:
        st.info("No full day of equity in this period.")
    else:
        st.plotly_chart(monthly_figure(months, partial_months(backtest.whole)), width="stretch", key="trials_months")
    st.download_button(
        "Download this trial's manifest (JSON)", data=trial_manifest(backtest).to_json(),
        file_name=f"{file_stem}.json", mime="application/json", key="trials_manifest",
    )  # fmt: skip


# -- the tab --------------------------------------------------------------------------------------------------------


def show_trials(
    runs_root: Path,
    name: str,
    results: RunResults,
    data_root: Path,
    trials: pd.DataFrame | None = None,
) -> None:
    """The Trials tab of run ``name``: the table (``trials``, a trials frame; by default the run's trials.csv), its
    filters and CSV export, and the backtest of the trial picked."""
    context = results.context
    trials = results.trials if trials is None else trials
    if context is None or trials is None or trials.empty:
        st.info("No trials yet: trials.csv is written with the run's report (or `stratlab run report`).")
        return
    try:
        candidates = run_candidates(runs_root, name, results)
        table = build_trial_table(trials, candidates, str(context.selection_part), context.request.min_train_trades)
    except (StratlabError, ValueError, KeyError) as exc:
        st.error(f"The trials cannot be shown: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        return
    shown = filtered_view(table)
    st.caption(f"{len(shown):,} of {len(table.frame):,} trials")
    st.download_button(
        "Download filtered trials (CSV)", data=trials_csv(shown), file_name=f"{name}_trials.csv", mime="text/csv",
        key="trials_csv",
    )  # fmt: skip
    event = st.dataframe(
        shown, hide_index=True, width="stretch", column_config=column_config(table), on_select="rerun",
        selection_mode="single-row", key="trials_table",
    )  # fmt: skip
    chosen = pick_trial(shown, list(event.selection.rows) if event is not None else [])
    if chosen is None:
        return
    study, _, number = chosen.rpartition(" #")
    try:
        backtest = _trial_backtest(
            str(runs_root), name, str(data_root), study, int(number), files_signature(runs_root, name)
        )
        show_backtest(backtest, f"{name}_{study.replace('@', '_')}_trial{number}")
    except (StratlabError, OSError) as exc:
        st.error(f"{chosen} cannot be backtested: {exc}")


__all__ = ["KPI_ROWS", "TRADE_COLUMN_CONFIG", "column_config", "show_trials", "shown_kpi"]
