"""Data page: what the store holds, a chart of any series, and background jobs that fill it.

The jobs panel polls every two seconds only while a job runs; when the last one ends, the whole page reruns once
(without the timer) so the data the job wrote shows up by itself."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from stratlab.data.dates import format_ms
from stratlab.data.store import MarketStore
from stratlab.errors import StratlabError
from stratlab.ui.charts import candles_figure
from stratlab.ui.common import cached_candles, cached_series_report, roots, series_signature
from stratlab.ui.jobs import Job, list_jobs, start_job

st.title("Data")
data_root, runs_root = roots()
store = MarketStore(data_root)
st.caption(f"Store: {data_root}")


REFRESH_S = 2.0


def any_running(jobs: list[Job]) -> bool:
    return any(job.state == "running" for job in jobs)


def jobs_panel(polling: bool) -> None:
    jobs = list_jobs(runs_root, limit=5)
    if polling and not any_running(jobs):
        st.rerun()  # the last job just ended: redraw the whole page once, with its data and without the timer
    if not jobs:
        return
    st.subheader("Background jobs")
    for job in jobs:
        started = dt.datetime.fromtimestamp(job.started_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        line = f"**{job.title}**: {job.state}" + (f" (exit code {job.exit_code})" if job.exit_code else "")
        with st.expander(f"{job.title} · {job.state} · started {started}", expanded=job.state != "finished"):
            st.markdown(line)
            st.code(job.log_tail() or "(no output yet)", language=None)
    if polling:
        st.caption(f"Refreshing every {REFRESH_S:g} s while a job runs.")


keys = store.list_series()
if not keys:
    st.info(
        f"No market data yet in {data_root}. The demo market (BTC and ETH, 12 months of 5m bars) is one click away."
    )
if st.button("Create the demo market", type="primary" if not keys else "secondary"):
    start_job(runs_root, "demo market", ["data", "demo", "--data-root", str(data_root)])
    st.rerun()
polling = any_running(list_jobs(runs_root, limit=5))
st.fragment(run_every=REFRESH_S if polling else None)(jobs_panel)(polling)
if st.button("Refresh"):
    st.rerun()

if keys:
    rows = []
    for key in keys:
        try:
            report = cached_series_report(str(data_root), key, series_signature(data_root, key))
        except (OSError, StratlabError) as exc:
            st.warning(f"{key}: {exc}")
            continue
        rows.append(
            {
                "source": key.source, "symbol": key.symbol, "timeframe": key.timeframe,
                "first bar": format_ms(report.first_ms) if report.first_ms is not None else "-",
                "last bar": format_ms(report.last_ms) if report.last_ms is not None else "-",
                "bars": report.bars, "gaps": len(report.gaps), "missing bars": report.missing_bars,
                "problems": len(report.problems),
            }
        )  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

    labels = {f"{k.source} / {k.symbol} / {k.timeframe}": k for k in keys}
    chosen = labels[st.selectbox("Series", list(labels))]
    try:
        candles = cached_candles(
            str(data_root), chosen.source, chosen.symbol, chosen.timeframe, series_signature(data_root, chosen)
        )
        st.plotly_chart(candles_figure(candles, str(chosen)), width="stretch")
    except (OSError, StratlabError) as exc:
        st.error(f"{chosen}: {exc}")

with st.form("Download"):
    st.subheader("Download")
    st.caption("Fetches closed bars from the source into the store, resuming where the store ends.")
    columns = st.columns(5)
    source = columns[0].text_input("Source", value="hyperliquid_perps")
    symbol = columns[1].text_input("Symbol", value="BTC")
    timeframe = columns[2].text_input("Timeframe", value="5m")
    start = columns[3].text_input("Start", placeholder="YYYY-MM-DD")
    end = columns[4].text_input("End", placeholder="YYYY-MM-DD (optional)")
    if st.form_submit_button("Start download"):
        if not (source.strip() and symbol.strip() and timeframe.strip() and start.strip()):
            st.error("Cannot download: source, symbol, timeframe and start are required.")
        else:
            args = [
                "data", "download", "--source", source.strip(), "--symbol", symbol.strip(),
                "--timeframe", timeframe.strip(), "--start", start.strip(), "--data-root", str(data_root),
            ]  # fmt: skip
            if end.strip():
                args += ["--end", end.strip()]
            start_job(runs_root, f"download {source.strip()} {symbol.strip()} {timeframe.strip()}", args)
            st.rerun()
