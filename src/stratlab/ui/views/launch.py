"""Launch page: everything ``stratlab run new`` offers (data, period, split and walk-forward, strategies, backtest
settings, searched ranges, selection rule, gates, budget, sampler and seed), optionally pre-filled from a previous
run's request; the request is built by the CLI's own parsing (``request_from_options``), so both accept and refuse
the same input with the same one-line message. Then the runner starts.

Every field has a key in ``st.session_state`` (``launch_*``), set before the widgets draw: to the defaults of a new
request on the first visit, or to a previous run's request when one is chosen."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st
from pydantic import ValidationError

from stratlab.cli.run import request_from_options
from stratlab.data.store import MarketStore
from stratlab.engine.config import (
    SIZING_FIELDS,
    BacktestConfig,
    OppositePolicy,
    PositionMode,
    describe_validation_error,
)
from stratlab.errors import ConfigError, StratlabError
from stratlab.optimize.backtest_space import MAY_BE_OFF, OPTIONS, RANGED, format_range
from stratlab.optimize.context import RunRequest, SamplerName
from stratlab.selection.gates import GATE_FIELDS, Gates
from stratlab.strategies import strategy_names
from stratlab.ui.common import roots
from stratlab.ui.jobs import launch_run
from stratlab.ui.runs import describe_run, open_run, run_names

MODES: tuple[str, ...] = tuple(mode.value for mode in PositionMode)
SAMPLERS: tuple[str, ...] = tuple(sampler.value for sampler in SamplerName)
POLICIES: tuple[str, ...] = tuple(policy.value for policy in OppositePolicy)
TWO_WAY, THREE_WAY = "two-way", "three-way"
SPLIT_KINDS = {TWO_WAY: "two-way: train / test", THREE_WAY: "three-way: train / validation / holdout"}
THREE_WAY_DEFAULT = (0.6, 0.2, 0.2)
# The searched ranges' fields: the setting each one sets and its label. Defaults, syntax and checks are the CLI's.
RANGES = (("tp_pct", "TP range (%)"), ("sl_pct", "SL range (%)"))
MODE_RANGES = (
    ("grid_step_pct", "Grid step (%)"),
    ("grid_max_adds", "Grid max adds"),
    ("grid_size_mult", "Grid size multiplier"),
    ("martingale_mult", "Martingale multiplier"),
    ("martingale_max_steps", "Martingale max steps"),
)
# No sizing field: every strategy trades with its own default (Strategy.backtest_defaults, else size_pct 100).
STRATEGY_SIZING = "strategy"
# BacktestConfig's sizing rules: the field each one sets and what its number means.
SIZING = {
    STRATEGY_SIZING: "each strategy's own (100 % of equity as margin; scalping: 0.5 % risked at its stop)",
    "size_pct": "% of equity as margin per entry (size_pct)",
    "risk_pct": "% of equity lost at the stop loss (risk_pct)",
    "size_units": "a fixed quantity per entry (size_units)",
}
# The fixed backtest settings with a field of their own; any other BacktestConfig field goes in the JSON field.
OWN_FIELDS = (
    "initial_equity", "fee_bps", "slippage_bps", "leverage", "maintenance_margin_pct", "funding_bps_per_8h",
    "on_opposite", *SIZING_FIELDS,
)  # fmt: skip
NO_PREVIOUS = ""


def key(name: str) -> str:
    return f"launch_{name}"


def gates_text(gates: Gates) -> str:
    """The gates that differ from the defaults, as the CLI's --gates takes them (``dsr=0.9,pbo=0.4``)."""
    default = Gates()
    changed = [(n, getattr(gates, f)) for n, f in GATE_FIELDS.items() if getattr(gates, f) != getattr(default, f)]
    return ",".join(f"{name}={value:g}" for name, value in changed)


def sizing_rule(given: dict[str, Any]) -> str:
    """The sizing field a run's fixed settings give, or ``STRATEGY_SIZING`` when they give none."""
    return next((name for name in SIZING_FIELDS if given.get(name) is not None), STRATEGY_SIZING)


def widget_values(request: RunRequest) -> dict[str, Any]:
    """Every field of the form as ``request`` sets it (a default request: the CLI's defaults)."""
    config = BacktestConfig.from_mapping(request.backtest)
    rule = sizing_rule(request.backtest)
    size = float(config.size_pct if rule == STRATEGY_SIZING else getattr(config, rule))
    others = {k: v for k, v in request.backtest.items() if k not in OWN_FIELDS}
    split = request.split
    walk_forward = request.walk_forward
    values: dict[str, Any] = {
        "start": request.start or "", "end": request.end or "",
        **{f"strategy_{name}": name in request.strategies for name in strategy_names()},
        "initial_equity": float(config.initial_equity), "fee_bps": float(config.fee_bps),
        "slippage_bps": float(config.slippage_bps), "leverage": float(config.leverage),
        "maintenance_margin_pct": float(config.maintenance_margin_pct),
        "funding_bps_per_8h": float(config.funding_bps_per_8h), "on_opposite": str(config.on_opposite),
        "sizing": rule, "size": size, "other_backtest": json.dumps(others) if others else "",
        "modes": [str(mode) for mode in request.common.position_modes],
        "split_kind": TWO_WAY if len(split) == 2 else THREE_WAY,
        "train_frac": float(split[0]) if len(split) == 2 else 0.75,
        **dict(zip(("train_part", "validation_part", "holdout_part"),
                   (float(f) for f in (split if len(split) == 3 else THREE_WAY_DEFAULT)), strict=True)),
        "walk_forward": walk_forward.windows if walk_forward else 0,
        "anchored": walk_forward.anchored if walk_forward else False,
        "embargo_bars": walk_forward.embargo_bars if walk_forward else 0,
        "skip_check": bool(request.skip_check),
        "dd_threshold": float(request.dd_threshold_pct), "max_trials": int(request.max_trials),
        "time_budget": int(request.time_budget_s) if float(request.time_budget_s).is_integer()
        else float(request.time_budget_s),
        "min_train_trades": int(request.min_train_trades), "sampler": str(request.sampler), "seed": int(request.seed),
        "storage": request.storage or "", "label": request.label, "gates": gates_text(request.gates),
        "cscv_blocks": int(request.cscv_blocks),
    }  # fmt: skip
    for name in RANGED:
        chosen = getattr(request.common, name)
        values[f"range_{name}"] = "off" if chosen is None else format_range(*chosen)
    return values


def prefill_from_previous() -> None:
    """The chosen run's request into every field (a callback: it runs before the widgets of the rerun draw)."""
    name = st.session_state[key("previous")]
    if name == NO_PREVIOUS:
        return
    try:
        request = open_run(runs_root, name).load_context().request
        values = widget_values(request)
    except StratlabError as exc:
        st.session_state[key("prefill_problem")] = f"Cannot start from {name}: {exc}"
        return
    for field, value in values.items():
        st.session_state[key(field)] = value
    # The data fields only when the store still holds that series (a selectbox takes only one of its options).
    missing = None
    if request.source not in store.sources():
        missing = f"source {request.source}"
    elif request.symbol not in store.symbols(request.source):
        missing = f"symbol {request.symbol} of {request.source}"
    elif request.timeframe not in store.timeframes(request.source, request.symbol):
        missing = f"{request.source}/{request.symbol}/{request.timeframe}"
    if missing is None:
        for field in ("source", "symbol", "timeframe"):
            st.session_state[key(field)] = getattr(request, field)
    else:
        st.session_state[key("prefill_problem")] = f"{name}: the store holds no {missing}; choose the data anew."
    try:
        status = open_run(runs_root, name).read_status() or {}
    except StratlabError:
        status = {}
    if isinstance(status.get("workers"), int) and status["workers"] > 0:
        st.session_state[key("workers")] = int(status["workers"])


def choose(label: str, options: list[str], field: str, preferred: str | None = None, **kwargs: Any) -> str | None:
    """A selectbox whose remembered value is kept while it is still an option."""
    if not options:
        return None
    if st.session_state.get(key(field)) not in options:
        st.session_state[key(field)] = preferred if preferred in options else options[0]
    chosen = st.selectbox(label, options, key=key(field), **kwargs)
    return None if chosen is None else str(chosen)


def range_input(column: Any, name: str, label: str) -> str:
    """A searched range's field, preset to the declared range (LOW:HIGH, as in the CLI)."""
    off = ", or off: not searched" if name in MAY_BE_OFF else ""
    return str(column.text_input(label, key=key(f"range_{name}"), help=f"LOW:HIGH{off} (the CLI's {OPTIONS[name]})."))


def backtest_text(values: dict[str, Any]) -> str:
    """The fixed backtest settings as the CLI's --backtest JSON: the fields of the form, then the JSON field's."""
    fixed: dict[str, Any] = {name: values[name] for name in OWN_FIELDS if name in values}
    if values["sizing"] != STRATEGY_SIZING:
        fixed[values["sizing"]] = values["size"]
    other = values["other_backtest"].strip()
    if other:
        try:
            extra = json.loads(other)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"other backtest settings: not valid JSON ({exc.msg})") from None
        if not isinstance(extra, dict):
            raise ConfigError("other backtest settings: expected a JSON object of BacktestConfig fields")
        duplicated = sorted(set(extra) & set(OWN_FIELDS))
        if duplicated:
            raise ConfigError(f"other backtest settings: {', '.join(duplicated)} has a field of its own on this page")
        fixed.update(extra)
    return json.dumps(fixed)


st.title("Launch")
data_root, runs_root = roots()
store = MarketStore(data_root)
sources = store.sources()
if not sources:
    st.info("No market data yet: create the demo market on the Data page first.")
    st.page_link("views/data.py", label="Go to Data")
    st.stop()

# First visit (or a field Streamlit forgot after another page): the CLI's defaults.
for field, value in widget_values(RunRequest(source=sources[0], symbol="-")).items():
    st.session_state.setdefault(key(field), value)
st.session_state.setdefault(key("workers"), 2)

previous = run_names(runs_root)
st.selectbox(
    "Start from a previous run's settings", [NO_PREVIOUS, *previous], key=key("previous"),
    format_func=lambda n: "(no: the defaults, or what is filled in below)" if n == NO_PREVIOUS
    else describe_run(runs_root, n).label,
    on_change=prefill_from_previous,
    help="Fills every field below with that run's request; change any before launching.",
)  # fmt: skip
if problem := st.session_state.pop(key("prefill_problem"), None):
    st.warning(problem)

# Source, symbol and timeframe sit outside the form: each choice narrows the next one's options.
columns = st.columns(3)
with columns[0]:
    source = choose("Source", sources, "source")
with columns[1]:
    symbol = choose("Symbol", store.symbols(source) if source else [], "symbol")
with columns[2]:
    timeframe = choose("Timeframe", store.timeframes(source, symbol) if source and symbol else [], "timeframe", "5m")
split_kind = st.radio(
    "Split", list(SPLIT_KINDS), key=key("split_kind"), format_func=SPLIT_KINDS.__getitem__, horizontal=True,
    help="Two-way: the champion is chosen on test. Three-way: chosen on validation, holdout stays unseen.",
)  # fmt: skip

with st.form("launch"):
    period = st.columns(2)
    start = period[0].text_input("Start", key=key("start"), placeholder="YYYY-MM-DD (optional)")
    end = period[1].text_input("End", key=key("end"), placeholder="YYYY-MM-DD (optional)")
    parts = st.columns(4)
    if split_kind == TWO_WAY:
        parts[0].number_input("Train fraction", key=key("train_frac"), step=0.05, help="The CLI's --train-frac.")
    else:
        for column, (field, label) in zip(
            parts, (("train_part", "Train fraction"), ("validation_part", "Validation fraction"),
                    ("holdout_part", "Holdout fraction")), strict=False,
        ):  # fmt: skip
            column.number_input(label, key=key(field), step=0.05, help="The CLI's --split (three fractions, sum 1).")
    parts[3].number_input("Embargo bars", key=key("embargo_bars"), step=1, help="The CLI's --embargo-bars.")
    walk = st.columns(2)
    walk[0].number_input(
        "Walk-forward windows (0 = none)", key=key("walk_forward"), step=1,
        help="The CLI's --walk-forward K: each window searched, chosen, then traded on the next bars.",
    )  # fmt: skip
    walk[1].toggle("Anchored windows", key=key("anchored"), help="The CLI's --anchored: every window starts at bar 0.")

    st.subheader("Strategies")
    names = strategy_names()
    toggles = st.columns(3)  # three to a row, so long names are not cut
    chosen = [name for i, name in enumerate(names) if toggles[i % 3].toggle(name, key=key(f"strategy_{name}"))]
    st.toggle("Search my strategies even if they never passed `stratlab strategy check`", key=key("skip_check"),
              help="The CLI's --skip-check: recorded in the run and its manifest.")  # fmt: skip

    st.subheader("Backtest")
    # No min/max on the number inputs: Streamlit would only outline a bad value in red and launch with another one;
    # the run's own validation (the CLI's) names what is wrong instead.
    money = st.columns(3)
    money[0].number_input("Initial equity", key=key("initial_equity"), step=1_000.0)
    money[1].number_input("Fee (bps)", key=key("fee_bps"), step=0.5)
    money[2].number_input("Slippage (bps)", key=key("slippage_bps"), step=0.5)
    risk = st.columns(4)
    risk[0].number_input("Leverage", key=key("leverage"), step=1.0)
    risk[1].number_input("Maintenance margin (% of notional)", key=key("maintenance_margin_pct"), step=0.1)
    risk[2].number_input("Funding (bps per 8 h)", key=key("funding_bps_per_8h"), step=0.5,
                         help="Longs pay, shorts receive when positive.")  # fmt: skip
    risk[3].selectbox("On an opposite signal", POLICIES, key=key("on_opposite"))
    sizing = st.columns(2)
    sizing[0].selectbox("Sizing", list(SIZING), key=key("sizing"), format_func=SIZING.__getitem__)
    sizing[1].number_input("Size (% of equity, % risked, or units)", key=key("size"), step=1.0)
    st.text_input(
        "Other backtest settings (JSON)", key=key("other_backtest"), placeholder='e.g. {"max_drawdown_stop_pct": 30}',
        help="Any other BacktestConfig field (tp_atr, sl_atr, atr_period, max_drawdown_stop_pct, "
        "max_consecutive_losses, max_idle_bars), as the CLI's --backtest takes them.",
    )  # fmt: skip
    searched = st.columns(3)
    searched[0].multiselect("Position modes", MODES, key=key("modes"), help="The CLI's --modes: each one searched.")
    range_texts = {
        name: range_input(column, name, label) for column, (name, label) in zip(searched[1:], RANGES, strict=True)
    }
    with st.expander("Grid and martingale ranges"):
        grid, martingale = st.columns(3), st.columns(2)
        for column, (name, label) in zip([*grid, *martingale], MODE_RANGES, strict=True):
            range_texts[name] = range_input(column, name, label)

    st.subheader("Selection and budget")
    budget = st.columns(4)
    budget[0].number_input("DD threshold X (test, %)", key=key("dd_threshold"),
                           help="Max drawdown on test (two-way) or validation (three-way).")  # fmt: skip
    budget[1].number_input("Max trials per strategy", key=key("max_trials"), step=50)
    budget[2].number_input("Time budget (s, 0 = off)", key=key("time_budget"), step=60)
    budget[3].number_input("Worker processes", key=key("workers"), step=1)
    checks = st.columns(3)
    checks[0].number_input("Min train trades", key=key("min_train_trades"), step=1,
                           help="Trials with fewer trades on train are never candidates.")  # fmt: skip
    checks[1].text_input("Gates", key=key("gates"), placeholder="e.g. dsr=0.9,pbo=0.4",
                         help=f"The CLI's --gates: {', '.join(GATE_FIELDS)} (empty: the defaults).")  # fmt: skip
    checks[2].number_input("CSCV blocks", key=key("cscv_blocks"), step=2, help="The CLI's --cscv-blocks (even).")
    search = st.columns(4)
    search[0].selectbox("Sampler", SAMPLERS, key=key("sampler"))
    search[1].number_input("Seed", key=key("seed"), step=1)
    search[2].text_input("Storage URL (optional)", key=key("storage"), help="Default: the run's own journal file.")
    search[3].text_input("Label", key=key("label"))
    submitted = st.form_submit_button("Launch", type="primary")


def form_values() -> dict[str, Any]:
    """The fields as the last submit left them, by field name."""
    return {str(k).removeprefix("launch_"): v for k, v in st.session_state.items() if str(k).startswith("launch_")}


if submitted:
    try:
        if source is None or symbol is None or timeframe is None:
            raise ConfigError(f"source {source} holds no series")
        if not chosen:
            raise ConfigError("strategies: choose at least one strategy")
        values = form_values()
        fractions = (values["train_part"], values["validation_part"], values["holdout_part"])
        request = request_from_options(
            source=source, symbol=symbol, timeframe=timeframe, start=start.strip() or None, end=end.strip() or None,
            strategies=",".join(chosen), max_trials=int(values["max_trials"]),
            time_budget=float(values["time_budget"]), dd_threshold=float(values["dd_threshold"]),
            min_train_trades=int(values["min_train_trades"]),
            train_frac=float(values["train_frac"]) if split_kind == TWO_WAY else None,
            split=",".join(f"{f!r}" for f in fractions), sampler=str(values["sampler"]), seed=int(values["seed"]),
            storage=values["storage"].strip() or None, label=values["label"].strip(),
            backtest=backtest_text(values), modes=",".join(values["modes"]),
            tp_range=range_texts["tp_pct"], sl_range=range_texts["sl_pct"],
            grid_step_range=range_texts["grid_step_pct"], grid_max_adds_range=range_texts["grid_max_adds"],
            grid_size_mult_range=range_texts["grid_size_mult"], martingale_mult_range=range_texts["martingale_mult"],
            martingale_max_steps_range=range_texts["martingale_max_steps"], gates=values["gates"],
            cscv_blocks=int(values["cscv_blocks"]), walk_forward=int(values["walk_forward"]),
            anchored=bool(values["anchored"]), embargo_bars=int(values["embargo_bars"]),
            skip_check=bool(values["skip_check"]),
        )  # fmt: skip
        run_dir = launch_run(request, data_root=data_root, runs_root=runs_root, workers=int(values["workers"]))
    except ValidationError as exc:
        st.error(f"Cannot launch: {describe_validation_error(exc)}")
    except (StratlabError, ValueError) as exc:
        st.error(f"Cannot launch: {str(exc).splitlines()[0]}")
    else:
        st.switch_page("views/monitor.py", query_params={"run": run_dir.path.name})
