"""Data page: what the store holds, a chart of any series, the order books recorded (depth and imbalance of any
day), and background jobs that fill the store.

Each form's jobs show right under it, newest first, each running one with a Cancel button and the tail of its log
(a download's retries appear there as they happen). A jobs panel polls every two seconds only while one of its jobs
runs; when the last one ends, the whole page reruns once (without the timer) so the data the job wrote shows up by
itself."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from stratlab.data.dates import format_day, format_ms, format_ms_seconds
from stratlab.data.orderbook.store import OrderBookStore
from stratlab.data.store import MarketStore
from stratlab.errors import StratlabError
from stratlab.ui.charts import candles_figure, order_book_figure
from stratlab.ui.common import cached_candles, cached_series_report, roots, series_signature
from stratlab.ui.jobs import RUNNING, Job, cancel_job, list_jobs, start_job
from stratlab.ui.orderbook import book_signature, cached_book_day, cached_book_summary, day_starts

st.title("Data")
data_root, runs_root = roots()
store = MarketStore(data_root)
st.caption(f"Store: {data_root}")


REFRESH_S = 2.0
JOBS_SHOWN = 5


def jobs_of(kind: str) -> list[Job]:
    """The newest jobs of one form (``demo`` or ``download``), newest first."""
    return [job for job in list_jobs(runs_root, limit=50) if job.kind == kind][:JOBS_SHOWN]


def any_running(jobs: list[Job]) -> bool:
    return any(job.state == RUNNING for job in jobs)


def job_box(job: Job) -> None:
    started = dt.datetime.fromtimestamp(job.started_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    line = f"**{job.title}**: {job.state}" + (f" (exit code {job.exit_code})" if job.exit_code else "")
    with st.expander(f"{job.title} · {job.state} · started {started}", expanded=job.state != "finished"):
        st.markdown(line)
        if job.state == RUNNING and st.button("Cancel", key=f"cancel_{job.job_id}", help="Stops the job now."):
            try:
                cancel_job(runs_root, job.job_id)
            except StratlabError as exc:
                st.error(f"Cannot cancel: {exc}")
            else:
                st.rerun()
        st.code(job.log_tail() or "(no output yet)", language=None)


def jobs_panel(kind: str, polling: bool) -> None:
    jobs = jobs_of(kind)
    if polling and not any_running(jobs):
        st.rerun()  # the last job just ended: redraw the whole page once, with its data and without the timer
    for job in jobs:
        job_box(job)
    if polling:
        st.caption(f"Refreshing every {REFRESH_S:g} s while a job runs.")


def show_jobs(kind: str) -> None:
    """The jobs a form started, right under it, refreshed on a timer while one runs."""
    polling = any_running(jobs_of(kind))
    st.fragment(run_every=REFRESH_S if polling else None)(jobs_panel)(kind, polling)


keys = store.list_series()
if not keys:
    st.info(
        f"No market data yet in {data_root}. The demo market (BTC and ETH, 12 months of 5m bars) is one click away."
    )
if st.button("Create the demo market", type="primary" if not keys else "secondary"):
    start_job(runs_root, "demo market", ["data", "demo", "--data-root", str(data_root)])
    st.rerun()
show_jobs("demo")
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


def when(ts_ms: int | None) -> str:
    return format_ms_seconds(ts_ms) if ts_ms is not None else "-"


def order_books_section() -> None:
    """The recorded order books: a table, then depth and imbalance over one UTC day of the chosen series."""
    st.subheader("Order books")
    book_keys = OrderBookStore(data_root).list_series()
    if not book_keys:
        st.info("No order books recorded yet; `stratlab data orderbook record --source hyperliquid_perps --symbol BTC` "
                "records one.")  # fmt: skip
        return
    summaries = [cached_book_summary(str(data_root), key, book_signature(data_root, key)) for key in book_keys]
    st.dataframe(
        pd.DataFrame(
            [
                {"source": s.key.source, "symbol": s.key.symbol, "first snapshot": when(s.first_ms),
                 "last snapshot": when(s.last_ms), "days": s.days, "snapshots": s.snapshots,
                 "problems": len(s.problems)}
                for s in summaries
            ]
        ),
        hide_index=True, width="stretch",
    )  # fmt: skip
    for summary in summaries:
        for problem in summary.problems[:3]:
            st.warning(str(problem))
    labels = {f"{k.source} / {k.symbol}": k for k in book_keys}
    columns = st.columns(4)
    chosen = labels[columns[0].selectbox("Order book", list(labels))]
    days = day_starts(data_root, chosen)
    day = columns[1].selectbox("Day (UTC)", days, format_func=format_day)
    depth_bps = columns[2].number_input("Depth band (bps from mid)", min_value=0.1, max_value=10_000.0, value=10.0)
    levels = int(columns[3].number_input("Imbalance levels", min_value=1, max_value=100, value=5, step=1))
    if day is None:
        return
    try:
        book_day = cached_book_day(str(data_root), chosen, int(day), float(depth_bps), levels,
                                   book_signature(data_root, chosen))  # fmt: skip
    except (OSError, StratlabError) as exc:
        st.error(f"{chosen}: {exc}")
        return
    note = f" (each point = mean of {book_day.per_point:,} snapshots)" if book_day.per_point > 1 else ""
    title = f"{chosen} on {format_day(int(day))}: {book_day.snapshots:,} snapshots{note}"
    st.plotly_chart(order_book_figure(book_day.frame, title, float(depth_bps), levels), width="stretch")


order_books_section()

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
show_jobs("download")
