"""Paper page: the runners of ``stratlab paper start`` under the paper root (STRATLAB_PAPER_ROOT), read from their
state databases: status, risk, books, orders, the log, trades and the parity picture (paper against the backtest of
the same bars). While a runner runs, its section is read again every two seconds, so the curve grows bar by bar."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from stratlab.errors import StratlabError
from stratlab.ui.explorer import TRADE_COLUMN_CONFIG
from stratlab.ui.paper import (
    START_HINT,
    PaperView,
    book_trades_table,
    list_runners,
    live_parity_figure,
    load_paper_view,
    manifest_line,
    no_orders_text,
    paper_root,
    parity_identical,
    parity_line,
    request_stop,
    spec_line,
)

REFRESH_S = 2.0
UTC_MINUTES = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")
UTC_SECONDS = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")

st.title("Paper")
root = paper_root()
listings = list_runners(root)
if not listings:
    st.info(
        f"No runner yet under {root}. Start one with `{START_HINT}` (its state goes to a folder of {root}, or to "
        "`--state-dir`; STRATLAB_PAPER_ROOT sets where this page looks)."
    )
    st.stop()

by_name = {listing.name: listing for listing in listings}
wanted = st.query_params.get("state")
if wanted and wanted not in by_name:
    st.warning(f"Runner {wanted!r} is not under {root}; showing the newest instead.")
names = list(by_name)
# No key: when a label changes (the runner stopped) the picker is redrawn with it, on the runner the URL names.
name = st.selectbox(
    "Runner", names, index=names.index(wanted) if wanted in by_name else 0, format_func=lambda n: by_name[n].label
)
if name != st.query_params.get("state"):
    st.query_params["state"] = name


def stop_button(view: PaperView) -> None:
    if view.alive and st.button("Stop this runner"):
        try:
            request_stop(view.state_dir)
            st.toast("Stop requested: the runner stops after the bar in progress (start it again to resume).")
        except OSError as exc:
            st.error(f"{view.state_dir}: cannot request a stop ({exc})")


def risk_section(view: PaperView) -> None:
    st.markdown("#### Risk")
    st.markdown("\n".join(f"- {line}" for line in view.risk_lines))
    if view.risk_decisions.empty:
        st.caption("No risk decision yet.")
    else:
        st.caption("Last risk decisions, newest first")
        st.dataframe(view.risk_decisions, hide_index=True, width="stretch", column_config={"bar (UTC)": UTC_MINUTES})


def books_section(view: PaperView) -> None:
    st.markdown("#### Books")
    st.dataframe(view.books, hide_index=True, width="stretch")
    for line in view.notes:
        st.caption(line)
    for book in view.reports:
        st.markdown(f"##### {book.book_id}")
        st.caption(manifest_line(book))
        (st.success if parity_identical(book) else st.error)(parity_line(book))
        st.caption(
            f"{book.bars:,} bars traded; return {book.return_pct:+,.2f} % (backtest {book.expected_return_pct:+,.2f} "
            f"%), max drawdown {book.max_drawdown_pct:,.2f} %"
        )
        st.plotly_chart(live_parity_figure(book), width="stretch", key=f"parity-{book.book_id}")
        trades = book_trades_table(book)
        with st.expander(f"Trades of {book.book_id} ({len(trades):,})", expanded=not view.alive):
            if trades.empty:
                st.caption("No trade yet.")
            else:
                st.dataframe(trades, hide_index=True, width="stretch", column_config=TRADE_COLUMN_CONFIG)


def orders_section(view: PaperView) -> None:
    st.markdown("#### Orders")
    if view.orders.empty:
        st.caption(no_orders_text(view.spec))
    else:
        st.dataframe(
            view.orders, hide_index=True, width="stretch",
            column_config={"bar (UTC)": UTC_MINUTES, "amount": st.column_config.NumberColumn(format="%.6g"),
                           "price": st.column_config.NumberColumn(format="localized")},
        )  # fmt: skip


def events_section(view: PaperView) -> None:
    st.markdown("#### Event log (newest first)")
    st.dataframe(
        view.events, hide_index=True, width="stretch",
        column_config={"time (UTC)": UTC_SECONDS, "bar (UTC)": UTC_MINUTES},
    )  # fmt: skip


def runner_section(state_dir: Path, refreshing: bool) -> None:
    try:
        view = load_paper_view(state_dir)
    except StratlabError as exc:
        st.error(str(exc))
        return
    if refreshing and not view.alive:
        st.rerun()  # it ended: redraw the whole page once, without the timer
    st.markdown(f"**Status: {view.headline}**")
    st.caption(f"{spec_line(view.spec)} · state in {state_dir}")
    stop_button(view)
    risk_section(view)
    books_section(view)
    orders_section(view)
    events_section(view)


chosen = by_name[name]
# Read again on a timer only while the runner's process is alive.
st.fragment(run_every=REFRESH_S if chosen.alive else None)(runner_section)(root / name, chosen.alive)
