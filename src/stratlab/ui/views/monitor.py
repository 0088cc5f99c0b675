"""Monitor page: a run's live state, read from its directory (status.json, progress.jsonl) every two seconds."""

from __future__ import annotations

import datetime as dt
import json
import math
import time

import pandas as pd
import streamlit as st

from stratlab.errors import StratlabError
from stratlab.ui.common import pick_run, roots
from stratlab.ui.runs import ACTIVE_STATES, UNKNOWN_STATE, describe_run, load_results, open_run, run_names

REFRESH_S = 2.0
REPORT_WAIT_S = 60.0
ETA_CAP_S = 100 * 365.25 * 86_400  # beyond a century an exact duration says nothing (and overflows timedelta)

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


def fraction(done: int, budget: int) -> float:
    """A progress bar's value: st.progress refuses anything outside 0..1."""
    return min(max(done / budget, 0.0), 1.0) if budget > 0 else 0.0


def needs_refresh(status: dict[str, object], has_report: bool) -> bool:
    """While the run works, and after it ends until its report is written (a minute at most: a runner that died
    before writing it would otherwise keep the page polling forever)."""
    state = str(status.get("state", "created"))
    if state in ACTIVE_STATES:
        return True
    updated = status.get("updated_at")
    recent = isinstance(updated, int | float) and time.time() - updated < REPORT_WAIT_S
    return not has_report and recent


def live(name: str, refreshing: bool) -> None:
    results = load_results(runs_root, name, event_tail=30, tables=False)
    for problem in results.problems:
        st.warning(problem)
    if results.context is None:
        return
    request = results.context.request
    status = results.status or {}
    state = results.state
    if refreshing and not needs_refresh(status, results.report is not None):
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
    total = int(status.get("completed", 0))
    metrics = st.columns(4)
    metrics[0].metric("Trials/s", f"{float(status.get('trials_per_s', 0.0)):.1f}")
    metrics[1].metric("ETA", format_eta(status.get("eta_s")))
    metrics[2].metric("Completed", f"{total:,} / {budget:,}")
    metrics[3].metric("Workers", str(status.get("workers", "-")))
    rows = {row["strategy"]: row for row in status.get("strategies", [])}
    for strategy in request.strategies:
        row = rows.get(strategy, {})
        done = int(row.get("completed", 0))
        extra = ", ".join(f"{row[k]} {k}" for k in ("running", "failed", "pruned") if row.get(k))
        st.progress(
            fraction(done, request.max_trials), text=f"{strategy}: {done}/{request.max_trials}"
            + (f" ({extra})" if extra else "")
        )  # fmt: skip
    st.progress(fraction(total, budget), text=f"total: {total}/{budget}")

    points = [
        {"strategy": row["strategy"], **point}
        for row in status.get("strategies", [])
        for point in row.get("pareto", [])
    ]
    st.subheader("Best so far")
    if points:
        st.dataframe(
            pd.DataFrame(points).sort_values(["strategy", "return_pct"], ascending=[True, False]),
            hide_index=True, width="stretch",
        )  # fmt: skip
    else:
        st.caption("No completed trial yet.")
    with st.expander("Event log"):
        st.code("\n".join(json.dumps(e) for e in results.events) or "(empty)", language=None)
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
        refresh = needs_refresh(run_dir.read_status() or {}, run_dir.report_path.exists())
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
