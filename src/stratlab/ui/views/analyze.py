"""Analyze page: a run's Pareto fronts, candidates, champion and whether it is luck, every trial (filtered, exported,
any one backtested), the champion's backtest, Optuna's views of each study, history, the paper manifest, and two runs
side by side. Everything is read from the run directory; before the report exists, the live trials are read from the
run's storage. Each figure is named by its part's role: the part that chose the champion gives selection figures,
not out-of-sample ones."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from stratlab.errors import StratlabError
from stratlab.metrics.tables import monthly_returns
from stratlab.optimize.report import ROBUSTNESS_FILE
from stratlab.optimize.space import searched_settings
from stratlab.report.figures import backtest_chart_data, backtest_figure
from stratlab.report.manifest import Replay
from stratlab.report.split import PartName, PartRole
from stratlab.research.explain import Explanation, completed_run_trials, explain_run_trials
from stratlab.research.surrogate import MIN_FIT_ROWS, umap_embedding
from stratlab.selection.gates import VerdictName
from stratlab.ui.analysis import champion_replays
from stratlab.ui.charts import compare_figure, history_figure, monthly_figure, pareto_figure
from stratlab.ui.common import pick_run, results_of, roots, run_data_root, show_problems
from stratlab.ui.explorer import KPI_ROWS, TRADE_COLUMN_CONFIG, show_trials, shown_kpi
from stratlab.ui.live_analyze import show_live_run
from stratlab.ui.luck import Robustness, escaped, parse_robustness, part_role, role_tag, show_luck
from stratlab.ui.matters import show_what_matters
from stratlab.ui.readable import parameters_table, partial_months, period_text, trades_table, validity_text
from stratlab.ui.runs import RunResults, files_signature, open_run, read_robustness, run_names
from stratlab.ui.study_views import show_study_views

CHART_POINTS = 1_000  # near one per screen pixel of a wide chart: more only slows the browser down
ROLE_COLOURS = {"in-sample": "gray", "selection figure": "orange", "out-of-sample": "green"}  # by role_tag
TABS = (
    "Pareto", "Candidates", "Champion", "Is it luck?", "Trials", "Charts", "Trades", "Monthly", "Optuna",
    "What matters", "History", "Compare",
)  # fmt: skip


@st.cache_resource(max_entries=8, show_spinner="Fitting the surrogate…")
def cached_run_explanation(run: str, strategy: str, signature: object, _trials: pd.DataFrame) -> Explanation:
    # The run's files' signature is in the key: a run still going is explained again as its trials grow.
    return explain_run_trials(_trials, strategy)


@st.cache_resource(max_entries=8, show_spinner="Mapping the trials (UMAP; the first map compiles for a few seconds)…")
def cached_run_map(run: str, strategy: str, signature: object, _trials: pd.DataFrame) -> np.ndarray:
    return umap_embedding(cached_run_explanation(run, strategy, signature, _trials).shap)


def show_run_matters(run: str, trials: pd.DataFrame, signature: object) -> None:
    counts = completed_run_trials(trials)["strategy"].value_counts()
    strategies = [s for s in counts.index if counts[s] >= MIN_FIT_ROWS]
    if not strategies:
        st.info(f"A strategy needs {MIN_FIT_ROWS} completed trials before a surrogate can learn from it.")
        return
    strategy = str(st.selectbox("Strategy", strategies, key="analyze-matters-strategy"))
    try:
        explained = cached_run_explanation(run, strategy, signature, trials)
    except StratlabError as exc:
        st.error(str(exc))
        return
    show_what_matters(
        explained, "train return (%)", "analyze-matters", lambda: cached_run_map(run, strategy, signature, trials)
    )


st.title("Analyze")
data_root, runs_root = roots()
name = pick_run(runs_root, key="analyze_run")
if name is None:
    st.stop()
results = results_of(runs_root, name)
show_problems(results)
if results.context is None:
    st.stop()
context = results.context
candles_root = run_data_root(context, data_root)
selection = results.selection_part
report = results.report
st.caption(
    f"{context.request.source} / {context.request.symbol} / {context.request.timeframe}, {context.n_bars:,} bars, "
    f"parts {', '.join(f'{p.name} {p.end - p.start:,}' for p in context.parts)}; state {results.state}"
)
if report is None:
    if results.report_problem is not None:  # its one line is shown above
        st.caption(f"`stratlab run report --run-dir {runs_root / name}` rebuilds it from the run's storage.")
        st.stop()
    show_live_run(runs_root, name)
    st.stop()

champion = report.get("champion")
reason = report.get("champion_reason") or "no candidate qualified"
split_kind = context.split_kind


def role_of(part: str) -> str:
    return part_role(report, split_kind, part)


def shown_part(part: str) -> str:
    """A part's name with what its figures are worth: "test (selection figure)"."""
    return f"{part} ({role_tag(role_of(part))})"


if champion is None:
    st.warning(f"No champion: {reason}")
elif results.manifest_text is not None:  # else champion.json's one line is shown above
    st.download_button(
        "Download paper manifest (JSON)", data=results.manifest_text, file_name="champion.json",
        mime="application/json", type="primary",
    )  # fmt: skip


@st.cache_resource(max_entries=4, show_spinner="Replaying the champion…")
def replays(runs_root: str, name: str, _signature: tuple[tuple[str, int, int], ...]) -> list[Replay]:
    # Backtest results hold arrays: shared, not copied, between reruns and sessions.
    return champion_replays(open_run(Path(runs_root), name), candles_root)


@st.cache_data(max_entries=16, show_spinner=False)
def robustness(runs_root: str, name: str, signature: tuple[tuple[str, int, int], ...]) -> Robustness | None:
    raw = read_robustness(open_run(Path(runs_root), name).path / ROBUSTNESS_FILE)
    return None if raw is None else parse_robustness(raw)


signature = files_signature(runs_root, name)
if champion is not None and champion.get("verdict") is not None:
    # Before any figure of the champion: whether it is likely luck.
    colour = "green" if champion["verdict"] == VerdictName.PASS else "red"
    summary = champion.get("verdict_summary") or champion["verdict"]
    st.markdown(f"**Is it luck?** :{colour}[**{escaped(str(summary))}**] (see the tab)")
# Lazy tabs: only the open one runs, so a page with big charts sends one of them, not all ten.
tabs = dict(zip(TABS, st.tabs(list(TABS), key="analyze_section", on_change="rerun"), strict=True))
candidates = results.candidates if results.candidates is not None else pd.DataFrame()
champion_key = (champion["strategy"], int(champion["trial"])) if champion else None

with tabs["Pareto"]:
    if tabs["Pareto"].open:
        if candidates.empty:
            st.info("No candidate: no strategy has a completed trial with enough trades on train.")
        else:
            threshold = report.get("dd_threshold_pct") if report else None
            st.plotly_chart(
                pareto_figure(candidates, selection, champion_key, threshold, trials=results.trials), width="stretch"
            )
            st.caption(
                f"Each strategy's train Pareto front (left: {role_tag(role_of(PartName.TRAIN))}; faint: the other "
                f"completed trials on train) and the front's trials on {selection} (right: {role_of(selection)})."
            )

with tabs["Candidates"]:
    if tabs["Candidates"].open and not candidates.empty:
        st.caption(f"Figures on {shown_part(selection)}: {role_of(selection)}.")
        st.dataframe(candidates, hide_index=True, width="stretch")

with tabs["Champion"]:
    if tabs["Champion"].open:
        if champion is None:
            st.info(reason)
        else:
            st.subheader(f"{champion['strategy']} · trial {champion['trial']}")
            recorded = results.manifest.kpis if results.manifest is not None else {}
            parts = [p.name for p in context.parts if p.name in recorded]
            for column, part in zip(st.columns(max(len(parts), 1)), parts, strict=False):
                # Each part's figures under what they are worth: the selection part's chose the champion.
                tag = role_tag(role_of(part))
                column.markdown(f"**{part}**: :{ROLE_COLOURS.get(tag, 'gray')}[**{tag}**]", help=role_of(part))
                returns, drawdown = column.columns(2)
                returns.metric(f"{part} return", f"{recorded[part].return_pct:+.2f} %")
                drawdown.metric(f"{part} max drawdown", f"{recorded[part].max_drawdown_pct:.2f} %")
            # How it was chosen: the rule, and which part's figure did the choosing (so it is not out-of-sample).
            st.markdown(
                f"**How it was chosen**: {escaped(reason)}. The figure that chose it is its {selection} return: "
                f"{role_of(selection)}."
            )
            if parts:
                validity = "; ".join(f"{part}: {escaped(validity_text(recorded[part]))}" for part in parts)
                st.markdown(f"**Validity** (the KPI rules a part must meet): {validity}")
            left, right = st.columns(2)
            left.markdown("**Parameters** (the strategy's, then the backtest settings searched with them)")
            searched = searched_settings(champion["backtest"], context.request.common)
            left.dataframe(
                parameters_table(champion["strategy"], champion["params"], searched), hide_index=True, width="stretch"
            )
            right.markdown("**KPIs per part** (from the manifest)")
            right.dataframe(
                pd.DataFrame({shown_part(part): {k: shown_kpi(recorded[part][k]) for k in KPI_ROWS} for part in parts}),
                width="stretch",
            )  # fmt: skip
            with st.expander("Every backtest setting"):
                st.json(champion["backtest"])


def champion_by_part(run: str, reason: str) -> dict[str, Replay]:
    """The champion's backtest per part, replayed on first use (only the tabs that draw it ask)."""
    if champion is None:
        st.info(reason)
        return {}
    if results.manifest is None:
        st.info("The champion cannot be replayed without its manifest (champion.json, see above).")
        return {}
    try:
        return {r.part: r for r in replays(str(runs_root), run, signature)}
    except (StratlabError, OSError) as exc:
        st.error(f"The champion cannot be replayed: {exc}")
        return {}


with tabs["Is it luck?"]:
    if tabs["Is it luck?"].open:
        show_luck(report, split_kind, runs_root / name, partial(robustness, str(runs_root), name, signature))

with tabs["Trials"]:
    if tabs["Trials"].open:
        show_trials(runs_root, name, results, candles_root)

with tabs["Charts"]:
    if tabs["Charts"].open and (by_part := champion_by_part(name, reason)):
        shown = st.radio("Part", list(by_part), horizontal=True, key="chart_part")
        st.caption(f"{shown}: {role_of(shown)}")
        chart = backtest_chart_data(by_part[shown].result, max_points=CHART_POINTS)
        st.plotly_chart(backtest_figure(chart), width="stretch")
        mismatched = {r.part: r.mismatches for r in by_part.values() if r.mismatches}
        if mismatched:
            st.error(f"The replay differs from the manifest: {json.dumps(mismatched, default=str)[:300]}")

with tabs["Trades"]:
    if tabs["Trades"].open and (by_part := champion_by_part(name, reason)):
        shown = st.radio("Part", list(by_part), horizontal=True, key="trades_part")
        st.caption(f"{shown}: {role_of(shown)}")
        st.dataframe(
            trades_table(by_part[shown].result), hide_index=True, width="stretch", column_config=TRADE_COLUMN_CONFIG
        )

with tabs["Monthly"]:
    if tabs["Monthly"].open and (by_part := champion_by_part(name, reason)):
        shown = st.radio("Part", list(by_part), horizontal=True, key="monthly_part")
        st.caption(f"{shown}: {role_of(shown)}")
        table = monthly_returns(by_part[shown].result)
        if table.empty:
            st.info("No full day of equity in this part.")
        else:
            st.plotly_chart(monthly_figure(table, partial_months(by_part[shown].result)), width="stretch")

with tabs["Optuna"]:
    if tabs["Optuna"].open:
        show_study_views(runs_root, name)

with tabs["What matters"]:
    if tabs["What matters"].open and results.trials is not None and not results.trials.empty:
        show_run_matters(name, results.trials, signature)

with tabs["History"]:
    if tabs["History"].open and results.trials is not None and not results.trials.empty:
        st.plotly_chart(history_figure(results.trials), width="stretch")


def run_facts(res: RunResults) -> dict[str, object]:
    """What a run's figures rest on: its data, period, split and budget."""
    if res.context is None:
        return {}
    run_context = res.context
    request = run_context.request
    split = ", ".join(f"{p.name} {p.end - p.start:,} bars" for p in run_context.parts)
    return {
        "data": f"{request.source} / {request.symbol} / {request.timeframe}",
        "period (UTC)": period_text(run_context.first_bar_ms, run_context.last_bar_ms),
        "split": split if not run_context.windows else f"walk-forward, {len(run_context.windows)} windows",
        "budget": f"{request.max_trials:,} trials × {len(run_context.study_names)} studies"
        + (f", {request.time_budget_s:,.0f} s" if request.time_budget_s > 0 else ""),
    }


def same_data(runs: list[RunResults]) -> bool:
    """Runs whose figures may be ranked: the same candles (fingerprint) cut into the same parts."""
    keys = {
        (r.context.fingerprint, tuple((p.name, p.start, p.end) for p in r.context.parts))
        for r in runs if r.context is not None
    }  # fmt: skip
    return len(keys) == 1


with tabs["Compare"]:
    if tabs["Compare"].open:
        others = [n for n in run_names(runs_root) if n != name]
        if not others:
            st.info("Only one run so far: launch another to compare.")
        else:
            other = st.selectbox("Compare with", others, key="compare_with")
            theirs = results_of(runs_root, other)
            show_problems(theirs)
            tag = role_tag(PartRole.SELECTION)  # each run's own selection part chose its champion
            return_column = f"champion return % (selection part, {tag})"
            fronts: dict[str, pd.DataFrame] = {}
            their_parts: dict[str, str] = {}
            summary = []
            for run_name, res in ((name, results), (other, theirs)):
                champ = (res.report or {}).get("champion")
                part = res.selection_part
                summary.append(
                    {
                        "run": run_name,
                        **run_facts(res),
                        "strategies": ", ".join(res.context.request.strategies) if res.context else "-",
                        "trials": (res.status or {}).get("completed"),
                        "champion": f"{champ['strategy']} #{champ['trial']}" if champ else "none",
                        "is it luck?": (champ.get("verdict") or "not judged") if champ else None,
                        return_column: champ.get(f"{part}_return_pct") if champ else None,
                        f"champion max DD % (selection part, {tag})": (
                            champ.get(f"{part}_max_drawdown_pct") if champ else None
                        ),
                    }
                )
                if res.candidates is not None and not res.candidates.empty:
                    fronts[run_name], their_parts[run_name] = res.candidates, part
            table = pd.DataFrame(summary)
            if same_data([results, theirs]):
                st.caption(
                    "Same candles, same period and split: ranked by the champion's return on the selection part "
                    f"({tag}: the figure that chose each champion, not an out-of-sample one)."
                )
                table = table.sort_values(return_column, ascending=False, na_position="last")
            else:
                st.warning(
                    "These runs cover different data (candles, period or split, see the table): their figures are "
                    "not comparable, so they are not ranked."
                )
            st.dataframe(
                table, hide_index=True, width="stretch",
                column_config={c: st.column_config.NumberColumn(format="%+.2f %%") for c in table.columns if "%" in c},
            )  # fmt: skip
            if fronts:
                st.plotly_chart(compare_figure(fronts, their_parts), width="stretch")
