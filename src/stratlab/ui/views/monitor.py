"""Monitor page: a run's live state, read from its directory (status.json, progress.jsonl) every two seconds.

Status files of older versions (no ``history``, no ``ended_because``) still show: the throughput chart says it has
no history, and the end is told from the state alone."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from stratlab.errors import StratlabError
from stratlab.optimize.rundir import EndReason, RunState
from stratlab.ui.charts import front_figure, throughput_figure
from stratlab.ui.common import pick_run, roots
from stratlab.ui.events import STOPPED_BY, event_line
from stratlab.ui.runs import (
    ACTIVE_STATES,
    UNKNOWN_STATE,
    describe_run,
    keeps_refreshing,
    load_results,
    open_run,
    run_names,
)  # fmt: skip

REFRESH_S = 2.0
ETA_CAP_S = 100 * 365.25 * 86_400  # beyond a century an exact duration says nothing (and overflows timedelta)
EVENT_TAIL = 30

st.title("Monitor")
data_root, runs_root = roots()
name = pick_run(runs_root, key="monitor_run")


def format_eta(seconds: object) -> str:
    """Any ``eta_s`` a status file may hold, as text: a duration, "more than 100 years", or "-" when it is none,
    not a number, negative or NaN."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or math.isnan(seconds) or seconds < 0:
        return "-"
    if seconds > ETA_CAP_S:
        return "more than 100 years"
    return str(dt.timedelta(seconds=round(seconds)))


def format_elapsed(seconds: object) -> str:
    """Elapsed time as h:mm:ss (hours keep counting past a day); "-" when the status holds none."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds < 0:
        return "-"
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def fraction(done: int, budget: int) -> float:
    """A progress bar's value: st.progress refuses anything outside 0..1."""
    return min(max(done / budget, 0.0), 1.0) if budget > 0 else 0.0


def stopped_by_text(by: object) -> str:
    return STOPPED_BY.get(str(by), f"by {by}") if by else ""


def failures_text(status: dict[str, Any]) -> str:
    """Each failed worker with its exit code and its last log line (older files: the exit codes only)."""
    failures = status.get("worker_failures") or []
    if failures:
        return "; ".join(
            f"worker {f['worker']} (exit code {f['exit_code']}" + (f": {f['error']}" if f.get("error") else "") + ")"
            for f in failures
        )
    codes = status.get("worker_exit_codes") or []
    failed = status.get("failed_workers") or []
    return ", ".join(f"worker {i} (exit code {codes[i] if i < len(codes) else '?'})" for i in failed)


def end_sentence(status: dict[str, Any], budget: int, time_budget_s: float) -> str | None:
    """Why the run ended, in one sentence; None while it works. Older status files say only their state."""
    state = str(status.get("state", ""))
    if state not in {RunState.FINISHED, RunState.STOPPED, RunState.FAILED}:
        return None
    done = f"{int(status.get('completed', 0)):,} of {budget:,} trials completed"
    reason = status.get("ended_because")
    by = stopped_by_text(status.get("stop_requested_by"))
    if reason == EndReason.BUDGET_MET:
        return f"Ended because its budget was met: {done}."
    if reason == EndReason.TIME_BUDGET:
        return f"Ended because its time budget of {format_elapsed(time_budget_s)} passed: {done}."
    if reason == EndReason.STOP_REQUESTED:
        return f"Ended because a stop was requested {by or 'with stop.flag'}: {done}."
    if reason == EndReason.INTERRUPTED:
        return f"Ended because `run start` was interrupted {by or 'by a signal'}: {done}."
    if reason == EndReason.WORKER_FAILED:
        return f"Ended because a worker failed: {failures_text(status)}; {done}."
    # Written before the end reason was recorded.
    if state == RunState.FAILED:
        return f"Ended with failed workers: {failures_text(status) or 'see the workers/ logs'}; {done}."
    if state == RunState.STOPPED:
        return f"Ended because it was stopped: {done}."
    return f"Ended: {done}."


def progress_bars(status: dict[str, Any], strategies: Sequence[str], max_trials: int, budget: int) -> None:
    rows = {row["strategy"]: row for row in status.get("strategies", [])}
    for strategy in strategies:
        row = rows.get(strategy, {})
        done = int(row.get("completed", 0))
        extra = ", ".join(f"{row[k]} {k}" for k in ("running", "failed", "pruned") if row.get(k))
        st.progress(
            fraction(done, max_trials), text=f"{strategy}: {done}/{max_trials}" + (f" ({extra})" if extra else "")
        )
    total = int(status.get("completed", 0))
    st.progress(fraction(total, budget), text=f"total: {total}/{budget}")


def live(name: str, refreshing: bool) -> None:
    results = load_results(runs_root, name, event_tail=EVENT_TAIL, tables=False)
    for problem in results.problems:
        st.warning(problem)
    if results.context is None:
        return
    request = results.context.request
    status = results.status or {}
    state = results.state
    if refreshing and not keeps_refreshing(status, results.report is not None):
        st.rerun()  # the run ended and its report is written: redraw the whole page once, without the timer
    st.markdown(f"**State: {state}**")
    if state == "created" and not results.events[1:]:
        st.caption("Waiting for the runner to start…")
    if state == "interrupted":
        st.caption(
            "Its runner is gone without ending the run (killed, or the machine restarted): "
            f"`stratlab run start --run-dir {runs_root / name}` continues where it stopped."
        )
    budget = request.max_trials * len(results.context.study_names)
    ended = end_sentence(status, budget, request.time_budget_s)
    if ended is not None:
        (st.error if status.get("ended_because") == EndReason.WORKER_FAILED else st.info)(ended)
    total = int(status.get("completed", 0))
    metrics = st.columns(5)
    metrics[0].metric("Trials/s", f"{float(status.get('trials_per_s', 0.0)):.1f}")
    metrics[1].metric("ETA", format_eta(status.get("eta_s")))
    metrics[2].metric("Elapsed", format_elapsed(status.get("elapsed_s")), help="h:mm:ss since the runner started")
    metrics[3].metric("Completed", f"{total:,} / {budget:,}")
    metrics[4].metric("Workers", str(status.get("workers", "-")))
    progress_bars(status, results.context.study_names, request.max_trials, budget)

    points = pd.DataFrame(
        [{"strategy": row["strategy"], **point} for row in status.get("strategies", []) for point in row["pareto"]],
        columns=["strategy", "trial", "return_pct", "max_drawdown_pct"],
    )
    st.subheader("Best so far")
    if points.empty:
        st.caption("No completed trial yet.")
    else:
        st.plotly_chart(front_figure(points, results.context.study_names, request.strategies), width="stretch")
        st.dataframe(
            points.sort_values(["strategy", "return_pct"], ascending=[True, False]),
            hide_index=True, width="stretch",
            column_config={
                "return_pct": st.column_config.NumberColumn("return on train (%)", format="%+.2f"),
                "max_drawdown_pct": st.column_config.NumberColumn("max drawdown on train (%)", format="%.2f"),
            },
        )  # fmt: skip
    history = status.get("history") or []
    if history:
        st.plotly_chart(throughput_figure(history), width="stretch")
    elif status:
        st.caption("No progress history: this status was written by an older stratlab, or the run just started.")
    with st.expander("Event log", expanded=state not in ACTIVE_STATES):
        st.code("\n".join(event_line(e) for e in results.events) or "(empty)", language=None)
    if results.report is not None and state != "running":
        st.page_link("views/analyze.py", label="Analyze this run", query_params={"run": name})
    # A run whose status cannot be read may still be working: stopping it stays possible.
    if (state in ACTIVE_STATES or state == UNKNOWN_STATE) and st.button("Stop run"):
        try:
            run_dir = open_run(runs_root, name)
            run_dir.request_stop()
            run_dir.append_progress("stop_requested", by="ui")
            st.toast("Stop requested: the workers finish their current trial and stop.")
        except StratlabError as exc:
            st.error(str(exc))


if name is not None:
    try:
        run_dir = open_run(runs_root, name)
        refresh = keeps_refreshing(run_dir.read_status() or {}, run_dir.report_path.exists())
    except StratlabError:
        refresh = False
    # Refresh on a timer only while the run is active (or its report is still being written).
    st.fragment(run_every=REFRESH_S if refresh else None)(live)(name, refresh)
    with st.expander("Recent runs"):
        listings = [describe_run(runs_root, n) for n in run_names(runs_root)[:20]]
        st.dataframe(
            pd.DataFrame([{"run": r.name, "state": r.state, "summary": r.problem or r.summary} for r in listings]),
            hide_index=True, width="stretch",
        )  # fmt: skip
