"""Launch page: choose data, period, strategies, backtest settings, selection rule and budget; start the runner."""

from __future__ import annotations

import streamlit as st
from pydantic import ValidationError

from stratlab.data.store import MarketStore
from stratlab.engine.config import PositionMode, describe_validation_error
from stratlab.errors import StratlabError
from stratlab.optimize.context import CommonSpace, RunRequest, SamplerName
from stratlab.strategies import strategy_names
from stratlab.ui.common import roots
from stratlab.ui.jobs import launch_run

MODES: tuple[PositionMode, ...] = tuple(PositionMode)
SAMPLERS: tuple[SamplerName, ...] = tuple(SamplerName)

st.title("Launch")
data_root, runs_root = roots()
store = MarketStore(data_root)
sources = store.sources()
if not sources:
    st.info("No market data yet: create the demo market on the Data page first.")
    st.page_link("views/data.py", label="Go to Data")
    st.stop()


def parse_range(text: str, field: str) -> tuple[float, float] | None:
    """ "0.5-8" -> (0.5, 8.0); empty -> None (not searched)."""
    text = text.strip()
    if not text:
        return None
    low, sep, high = text.partition("-")
    try:
        if not sep:
            raise ValueError
        return float(low), float(high)
    except ValueError:
        raise ValueError(f"{field}: write low-high, e.g. 0.5-8, got {text!r}") from None


# Source, symbol and timeframe sit outside the form: each choice narrows the next one's options.
columns = st.columns(3)
source = columns[0].selectbox("Source", sources)
symbols = store.symbols(source)
symbol = columns[2].selectbox("Symbol", symbols) if symbols else None
timeframes = store.timeframes(source, symbol) if symbol else []
timeframe = columns[1].selectbox("Timeframe", timeframes, index=timeframes.index("5m") if "5m" in timeframes else 0)

with st.form("launch"):
    period = st.columns(2)
    start = period[0].text_input("Start", placeholder="YYYY-MM-DD (optional)")
    end = period[1].text_input("End", placeholder="YYYY-MM-DD (optional)")

    st.subheader("Strategies")
    names = strategy_names()
    toggles = st.columns(3)  # three to a row, so long names are not cut
    chosen = [name for i, name in enumerate(names) if toggles[i % 3].toggle(name, value=True)]

    st.subheader("Backtest")
    money = st.columns(3)
    # No min/max on the number inputs: Streamlit would only outline a bad value in red and launch with another one;
    # the run's own validation (the CLI's) names what is wrong instead.
    initial_equity = money[0].number_input("Initial equity", value=10_000.0, step=1_000.0)
    fee_bps = money[1].number_input("Fee (bps)", value=4.5, step=0.5)
    slippage_bps = money[2].number_input("Slippage (bps)", value=0.0, step=0.5)
    ranges = st.columns(3)
    mode = ranges[0].selectbox("Position mode", MODES)
    tp_text = ranges[1].text_input("TP range (%)", value="0.5-8", help="Searched take-profit range; empty: none.")
    sl_text = ranges[2].text_input("SL range (%)", value="0.3-5", help="Searched stop-loss range; empty: none.")
    with st.expander("Grid and martingale ranges"):
        grid = st.columns(3)
        grid_step = grid[0].text_input("Grid step (%)", value="0.3-3")
        grid_adds = grid[1].text_input("Grid max adds", value="1-5")
        grid_mult = grid[2].text_input("Grid size multiplier", value="1-2")
        mart = st.columns(2)
        mart_mult = mart[0].text_input("Martingale multiplier", value="1.2-3")
        mart_steps = mart[1].text_input("Martingale max steps", value="1-5")

    st.subheader("Selection and budget")
    budget = st.columns(4)
    dd_threshold = budget[0].number_input("DD threshold X (test, %)", value=20.0)
    max_trials = budget[1].number_input("Max trials per strategy", value=200, step=50)
    time_budget = budget[2].number_input("Time budget (s, 0 = off)", value=0, step=60)
    workers = budget[3].number_input("Worker processes", value=2)
    search = st.columns(3)
    sampler = search[0].selectbox("Sampler", SAMPLERS)
    storage = search[1].text_input("Storage URL (optional)", help="Default: the run's own journal file.")
    label = search[2].text_input("Label", value="run")
    submitted = st.form_submit_button("Launch", type="primary")

if submitted:
    try:
        if symbol is None:
            raise ValueError(f"source {source} holds no symbol")
        integers = {
            "grid_max_adds": parse_range(grid_adds, "Grid max adds"),
            "martingale_max_steps": parse_range(mart_steps, "Martingale max steps"),
        }
        common = CommonSpace(
            tp_pct=parse_range(tp_text, "TP range"),
            sl_pct=parse_range(sl_text, "SL range"),
            position_modes=(mode,),
            grid_step_pct=parse_range(grid_step, "Grid step") or (0.3, 3.0),
            grid_size_mult=parse_range(grid_mult, "Grid size multiplier") or (1.0, 2.0),
            martingale_mult=parse_range(mart_mult, "Martingale multiplier") or (1.2, 3.0),
            **{k: (int(v[0]), int(v[1])) for k, v in integers.items() if v is not None},
        )
        request = RunRequest.parse(
            source=source, symbol=symbol, timeframe=timeframe, start=start.strip() or None, end=end.strip() or None,
            strategies=tuple(chosen), max_trials=int(max_trials), time_budget_s=float(time_budget),
            dd_threshold_pct=float(dd_threshold), sampler=sampler, storage=storage.strip() or None,
            label=label.strip(), common=common,
            backtest={"initial_equity": initial_equity, "fee_bps": fee_bps, "slippage_bps": slippage_bps},
        )  # fmt: skip
        run_dir = launch_run(request, data_root=data_root, runs_root=runs_root, workers=int(workers))
    except ValidationError as exc:
        st.error(f"Cannot launch: {describe_validation_error(exc)}")
    except (StratlabError, ValueError) as exc:
        st.error(f"Cannot launch: {str(exc).splitlines()[0]}")
    else:
        st.switch_page("views/monitor.py", query_params={"run": run_dir.path.name})
