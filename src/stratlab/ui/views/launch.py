"""Launch page: choose data, period, strategies, backtest settings, selection rule and budget; start the runner."""

from __future__ import annotations

import streamlit as st
from pydantic import ValidationError
from streamlit.delta_generator import DeltaGenerator

from stratlab.data.store import MarketStore
from stratlab.engine.config import PositionMode, describe_validation_error
from stratlab.errors import StratlabError
from stratlab.optimize.backtest_space import MAY_BE_OFF, OPTIONS, common_space_from_text, declared_text
from stratlab.optimize.context import RunRequest, SamplerName
from stratlab.strategies import strategy_names
from stratlab.ui.common import roots
from stratlab.ui.jobs import launch_run

MODES: tuple[PositionMode, ...] = tuple(PositionMode)
SAMPLERS: tuple[SamplerName, ...] = tuple(SamplerName)
# The searched ranges' fields: the setting each one sets and its label. Defaults, syntax and checks are the CLI's.
RANGES = (("tp_pct", "TP range (%)"), ("sl_pct", "SL range (%)"))
MODE_RANGES = (
    ("grid_step_pct", "Grid step (%)"),
    ("grid_max_adds", "Grid max adds"),
    ("grid_size_mult", "Grid size multiplier"),
    ("martingale_mult", "Martingale multiplier"),
    ("martingale_max_steps", "Martingale max steps"),
)


def range_input(column: DeltaGenerator, name: str, label: str) -> str:
    """A searched range's field, preset to the declared range (LOW:HIGH, as in the CLI)."""
    off = ", or off: not searched" if name in MAY_BE_OFF else ""
    return column.text_input(label, value=declared_text(name), help=f"LOW:HIGH{off} (the CLI's {OPTIONS[name]}).")


st.title("Launch")
data_root, runs_root = roots()
store = MarketStore(data_root)
sources = store.sources()
if not sources:
    st.info("No market data yet: create the demo market on the Data page first.")
    st.page_link("views/data.py", label="Go to Data")
    st.stop()


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
    backtest_row = st.columns(3)
    mode = backtest_row[0].selectbox("Position mode", MODES)
    range_texts = {
        name: range_input(column, name, label) for column, (name, label) in zip(backtest_row[1:], RANGES, strict=True)
    }
    with st.expander("Grid and martingale ranges"):
        grid, martingale = st.columns(3), st.columns(2)
        for column, (name, label) in zip([*grid, *martingale], MODE_RANGES, strict=True):
            range_texts[name] = range_input(column, name, label)

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
        common = common_space_from_text(range_texts, str(mode))
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
