"""Monitor page: a run's live state, read from its directory (status.json, progress.jsonl) every two seconds."""

from __future__ import annotations

import datetime as dt
import json
import time

import pandas as pd
import streamlit as st

from stratlab.errors import StratlabError
from stratlab.ui.common import pick_run, roots
from stratlab.ui.runs import describe_run, load_results, open_run, run_names

REFRESH_S = 2.0
REPORT_WAIT_S = 60.0
ACTIVE = {"created", "running"}  # a created run's runner may be starting

st.title("Monitor")
data_root, runs_root = roots()
name = pick_run(runs_root, key="monitor_run")


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return str(dt.timedelta(seconds=round(seconds)))


def needs_refresh(status: dict[str, object], has_report: bool) -> bool:
    """While the run works, and after it ends until its report is written (a minute at most: a runner that died
    before writing it would otherwise keep the page polling forever)."""
    state = str(status.get("state", "created"))
    if state in ACTIVE:
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
    state = str(status.get("state", "created"))
    if refreshing and not needs_refresh(status, results.report is not None):
        st.rerun()  # the run ended and its report is written: redraw the whole page once, without the timer
    st.markdown(f"**State: {state}**")
    if state == "created" and not results.events[1:]:
        st.caption("Waiting for the runner to start…")
    metrics = st.columns(4)
    metrics[0].metric("Trials/s", f"{status.get('trials_per_s', 0.0):.1f}")
    metrics[1].metric("ETA", _eta(status.get("eta_s")))
    metrics[2].metric("Completed", f"{status.get('completed', 0)} / {request.max_trials * len(request.strategies)}")
    metrics[3].metric("Workers", str(status.get("workers", "-")))
    rows = {row["strategy"]: row for row in status.get("strategies", [])}
    for strategy in request.strategies:
        row = rows.get(strategy, {})
        done = int(row.get("completed", 0))
        extra = ", ".join(f"{row[k]} {k}" for k in ("running", "failed", "pruned") if row.get(k))
        st.progress(
            min(done / request.max_trials, 1.0), text=f"{strategy}: {done}/{request.max_trials}"
            + (f" ({extra})" if extra else "")
        )  # fmt: skip
    total = int(status.get("completed", 0))
    budget = request.max_trials * len(request.strategies)
    st.progress(min(total / budget, 1.0), text=f"total: {total}/{budget}")

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
    if state in ACTIVE and st.button("Stop run"):
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
