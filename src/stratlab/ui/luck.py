"""The Analyze page's "Is it luck?" tab: the verdict on the champion, its gates and statistics (report.json's
``luck``), the CSCV logits, the walk-forward windows, and the champion's robustness (robustness.json).

Reading and tables are plain functions (tested without Streamlit); ``show_luck`` draws the tab. Every part is
optional: a run reported before a part existed, or a damaged part, shows one line saying so, and the others still
show. Gates and robustness rows are read into the very types that wrote them (``stratlab.selection.gates.Gate``,
``stratlab.report.robustness``'s rows); only what the JSON holds in another shape (the heat-map grid, the equity
fan, walk-forward) has a reading model here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

import pandas as pd
import streamlit as st
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, model_validator

from stratlab.data.dates import format_day
from stratlab.errors import DataError
from stratlab.report.robustness import CostRow, Neighbour, ParamStep, Plateau, SymbolRow, TradeReshuffle
from stratlab.report.split import PartRole, SplitKind
from stratlab.selection.gates import Gate, VerdictName
from stratlab.ui.charts import (
    FAIL_COLOUR,
    PASS_COLOUR,
    cscv_logit_figure,
    equity_fan_figure,
    neighbourhood_figure,
    walk_forward_figure,
)

Number: TypeAlias = int | float
Kind = Literal["count", "probability", "share", "ratio", "return", "percent"]
UNDEFINED = "—"
SELECTION_FIGURE = "selection figure"


# -- reading ------------------------------------------------------------------------------------------------------


class WalkForwardWindow(BaseModel):
    """One walk-forward window: its train and out-of-sample spans (UTC ms), the champion chosen on its train part
    (None when none qualified) and both returns."""

    model_config = ConfigDict(extra="allow")

    window: int
    train_start_ms: int
    train_end_ms: int
    oos_start_ms: int
    oos_end_ms: int
    strategy: str | None = None
    trial: int | None = None
    params: dict[str, Any] | None = None
    is_return_pct: float | None = None
    oos_return_pct: float | None = None
    is_annual_return_pct: float | None = None
    oos_annual_return_pct: float | None = None
    oos_trades: int | None = None


class StitchedEquity(BaseModel):
    day_ms: list[int]
    equity: list[float | None]

    @model_validator(mode="after")
    def _same_length(self) -> StitchedEquity:
        if len(self.day_ms) != len(self.equity):
            raise ValueError(f"{len(self.day_ms)} days but {len(self.equity)} equity values")
        return self


class WalkForward(BaseModel):
    model_config = ConfigDict(extra="allow")

    windows: list[WalkForwardWindow]
    efficiency: float | None = None
    profitable_share: float | None = None
    oos_return_pct: float | None = None
    oos_annual_return_pct: float | None = None
    mean_is_annual_return_pct: float | None = None
    anchored: bool | None = None
    embargo_bars: int | None = None
    oos_equity: StitchedEquity | None = None


class LuckStatistics(BaseModel):
    """The statistics; only the logits are read as a type (the others are shown as they come, by name)."""

    model_config = ConfigDict(extra="allow")

    pbo: float | None = None
    pbo_logits: list[float] = []


class Luck(BaseModel):
    """report.json's ``luck``: the verdict on the champion (None without one), its gates, the statistics and the
    walk-forward block (None when the run was not a walk-forward one)."""

    model_config = ConfigDict(extra="allow")

    verdict: VerdictName | None
    summary: str
    gates: list[Gate]
    statistics: LuckStatistics
    walk_forward: WalkForward | None = None

    @property
    def statistic_values(self) -> dict[str, Any]:
        return self.statistics.model_dump()


def _first_error(where: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    path = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}.{path}: {message}" if path else f"{where}: {message}"


def read_luck(report: Mapping[str, Any]) -> Luck | None:
    """report.json's ``luck`` block checked, or None for a report written before it existed; a damaged block is a
    one-line DataError naming the field."""
    if "luck" not in report:
        return None
    try:
        return Luck.model_validate(report["luck"])
    except ValidationError as exc:
        raise DataError(f"report.json: {_first_error('luck', exc)}") from None


class HeatGridRecord(BaseModel):
    """robustness.json's grid: ``return_pct[i][j]`` is ``y_values[i]`` with ``x_values[j]``, at ``steps`` steps."""

    model_config = ConfigDict(extra="allow")

    x_param: str
    y_param: str
    steps: list[int]
    x_values: list[Number | None]
    y_values: list[Number | None]
    return_pct: list[list[float | None]]

    @model_validator(mode="after")
    def _shape(self) -> HeatGridRecord:
        n = len(self.steps)
        if len(self.x_values) != n or len(self.y_values) != n:
            raise ValueError(f"x_values and y_values need {n} values, one per step")
        if len(self.return_pct) != n or any(len(row) != n for row in self.return_pct):
            raise ValueError(f"return_pct: expected a {n} × {n} matrix")
        return self


class NeighbourhoodRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    params: list[ParamStep]
    neighbours: list[Neighbour]
    plateau: Plateau
    grid: HeatGridRecord | None = None
    grid_reason: str | None = None


class EquityFanRecord(BaseModel):
    day_ms: list[int]
    p5: list[float | None]
    p50: list[float | None]
    p95: list[float | None]
    observed: list[float | None]

    @model_validator(mode="after")
    def _same_length(self) -> EquityFanRecord:
        n = len(self.day_ms)
        if any(len(values) != n for values in (self.p5, self.p50, self.p95, self.observed)):
            raise ValueError(f"every series needs {n} values, one per day")
        return self


class PercentilesRecord(BaseModel):
    p5: float
    p50: float
    p95: float


class BlockBootstrapRecord(BaseModel):
    """``stratlab.report.robustness.BlockBootstrap`` as JSON (its fan holds arrays, read here as lists)."""

    model_config = ConfigDict(extra="allow")

    n_simulations: int
    mean_block_days: float
    n_days: int
    final_return_pct: PercentilesRecord | None
    max_drawdown_pct: PercentilesRecord | None
    loss_probability: float | None
    observed_final_return_pct: float | None
    observed_max_drawdown_pct: float | None
    fan: EquityFanRecord | None
    reason: str | None


class MonteCarloRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    trade_reshuffle: TradeReshuffle
    block_bootstrap: BlockBootstrapRecord


@dataclass
class Robustness:
    """robustness.json's sections, each read on its own: a section that is damaged is None with its one line in
    ``problems`` (section -> line) and the others still show; ``other_symbols`` None without a problem means the
    check was not run."""

    part: str | None = None
    neighbourhood: NeighbourhoodRecord | None = None
    cost_stress: list[CostRow] | None = None
    monte_carlo: MonteCarloRecord | None = None
    other_symbols: list[SymbolRow] | None = None
    problems: dict[str, str] = field(default_factory=dict)


_SECTIONS: dict[str, TypeAdapter[Any]] = {
    "neighbourhood": TypeAdapter(NeighbourhoodRecord),
    "cost_stress": TypeAdapter(list[CostRow]),
    "monte_carlo": TypeAdapter(MonteCarloRecord),
    "other_symbols": TypeAdapter(list[SymbolRow] | None),
}


def parse_robustness(raw: Mapping[str, Any], file: str = "robustness.json") -> Robustness:
    """The sections of a robustness.json object (see ``Robustness``)."""
    out = Robustness(part=raw["part"] if isinstance(raw.get("part"), str) else None)
    for section, adapter in _SECTIONS.items():
        if section not in raw:
            out.problems[section] = f"{file}: no {section!r} section"
            continue
        try:
            setattr(out, section, adapter.validate_python(raw[section]))
        except ValidationError as exc:
            out.problems[section] = f"{file}: {_first_error(section, exc)}"
    return out


# -- people's numbers ---------------------------------------------------------------------------------------------


def shown(value: object, kind: Kind) -> str:
    """A number as a person reads it: counts with thousands separators, probabilities to two decimals (``< 0.01``
    rather than a misleading 0.00), shares in percent, returns signed in percent, drawdowns (``percent``) in
    percent; None or not finite is a dash."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return UNDEFINED if value is None or isinstance(value, int | float) else str(value)
    number = float(value)
    if kind == "count":
        return f"{round(number):,}"
    if kind == "probability":
        if 0.0 < number < 0.005:
            return "< 0.01"
        if 0.995 < number < 1.0:
            return "> 0.99"
        return f"{number:.2f}"
    if kind == "share":
        return f"{number:.1%}".replace("%", " %")
    if kind == "return":
        return f"{number:+,.2f} %"
    if kind == "percent":
        return f"{number:,.2f} %"
    if number != 0.0 and abs(number) < 0.1:
        return f"{number:.3g}"
    return f"{number:,.0f}" if abs(number) >= 1_000 else f"{number:,.2f}"


# statistic -> (what it is, how to show it); the order is the table's
STATISTICS: dict[str, tuple[str, Kind]] = {
    "dsr": ("Deflated Sharpe ratio (PSR against the best Sharpe ratio luck gives N trials)", "probability"),
    "psr": ("Probabilistic Sharpe ratio (against 0)", "probability"),
    "champion_sharpe": ("Champion's Sharpe ratio (daily, train + selection part)", "ratio"),
    "expected_max_sharpe": ("Best daily Sharpe ratio expected by luck alone among the trials", "ratio"),
    "sharpe_variance": ("Variance of the trials' daily Sharpe ratios", "ratio"),
    "null_sharpe_variance": ("Variance of a daily Sharpe estimate with no skill (the DSR's)", "ratio"),
    "skewness": ("Skewness of the champion's daily returns", "ratio"),
    "kurtosis": ("Kurtosis of the champion's daily returns", "ratio"),
    "n_trials": ("Trials (every strategy)", "count"),
    "n_days": ("Champion's days (train + selection part)", "count"),
    "n_train_days": ("Train days of the search", "count"),
    "pbo": ("Probability of backtest overfitting (CSCV)", "probability"),
    "cscv_blocks": ("CSCV blocks S", "count"),
    "degradation_slope": ("Degradation: out-of-sample Sharpe per unit of in-sample Sharpe (CSCV winners)", "ratio"),
    "probability_of_loss": ("CSCV splits where the winner loses out of sample", "share"),
    "spa_pvalue_zero": ("SPA p-value against cash", "probability"),
    "reality_check_pvalue_zero": ("White's Reality Check p-value against cash", "probability"),
    "spa_pvalue_buy_and_hold": ("SPA p-value against buy-and-hold", "probability"),
    "reality_check_pvalue_buy_and_hold": ("White's Reality Check p-value against buy-and-hold", "probability"),
    "walk_forward_efficiency": ("Walk-forward efficiency (out-of-sample / in-sample annual return)", "ratio"),
    "selection_trades": ("Trades on the selection part", "count"),
}
GATE_KINDS: dict[str, Kind] = {"dsr": "probability", "pbo": "probability", "spa": "probability", "trades": "count"}
GATE_OPS = {">=": "≥", "<=": "≤"}


def gate_result(gate: Gate) -> str:
    return "skipped" if gate.passed is None else "passed" if gate.passed else "failed"


def gates_table(gates: Iterable[Gate]) -> pd.DataFrame:
    """One row per gate: statistic, value, threshold, result (passed / failed / skipped) and the reason."""
    rows = []
    for gate in gates:
        kind = GATE_KINDS.get(gate.name, "ratio")
        rows.append(
            {
                "statistic": gate.label,
                "value": shown(gate.value, kind),
                "threshold": f"{GATE_OPS.get(gate.op, gate.op)} {shown(gate.threshold, kind)}",
                "result": gate_result(gate),
                "reason": gate.reason,
            }
        )
    return pd.DataFrame(rows, columns=["statistic", "value", "threshold", "result", "reason"])


def statistics_table(statistics: Mapping[str, Any]) -> pd.DataFrame:
    """Every scalar statistic, the known ones first in their order, formatted; lists (the logits) are drawn
    instead."""
    known = [name for name in STATISTICS if name in statistics]
    others = sorted(name for name, value in statistics.items() if name not in STATISTICS and _scalar(value))
    rows = [
        {"statistic": STATISTICS[name][0], "value": shown(statistics[name], STATISTICS[name][1]), "key": name}
        for name in known
    ]
    rows += [{"statistic": name, "value": shown(statistics[name], "ratio"), "key": name} for name in others]
    return pd.DataFrame(rows, columns=["statistic", "value", "key"])


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, int | float | str)


def windows_table(windows: Iterable[WalkForwardWindow]) -> pd.DataFrame:
    """Each walk-forward window's spans, champion, parameters and returns."""
    rows = []
    for w in windows:
        rows.append(
            {
                "window": w.window,
                "train (UTC)": f"{format_day(w.train_start_ms)} → {format_day(w.train_end_ms)}",
                "out-of-sample (UTC)": f"{format_day(w.oos_start_ms)} → {format_day(w.oos_end_ms)}",
                "champion": f"{w.strategy} #{w.trial}" if w.strategy is not None else "none qualified",
                "params": json.dumps(w.params) if w.params is not None else UNDEFINED,
                "in-sample annual": shown(w.is_annual_return_pct, "return"),
                "out-of-sample annual": shown(w.oos_annual_return_pct, "return"),
                "in-sample return": shown(w.is_return_pct, "return"),
                "out-of-sample return": shown(w.oos_return_pct, "return"),
                "out-of-sample trades": shown(w.oos_trades, "count"),
            }
        )
    return pd.DataFrame(rows)


def _kpi_cells(kpis: Any) -> dict[str, str]:
    if kpis is None:
        return {"return": UNDEFINED, "max drawdown": UNDEFINED, "Sharpe": UNDEFINED, "trades": UNDEFINED}
    return {
        "return": shown(kpis.return_pct, "return"),
        "max drawdown": shown(kpis.max_drawdown_pct, "percent"),
        "Sharpe": shown(kpis.sharpe, "ratio"),
        "trades": shown(kpis.n_trades, "count"),
    }


def neighbours_table(record: NeighbourhoodRecord) -> pd.DataFrame:
    """The champion's ±1-step neighbours: which parameter moved, to what, and its figures (or why not run)."""
    rows = [
        {"parameter": n.param, "steps": f"{n.steps:+d}", "value": f"{n.value:g}", **_kpi_cells(n.kpis),
         "not run because": n.skipped or ""}
        for n in record.neighbours
    ]  # fmt: skip
    return pd.DataFrame(rows)


def params_table(record: NeighbourhoodRecord) -> pd.DataFrame:
    rows = [
        {"parameter": p.name, "champion's value": f"{p.value:g}", "step": f"{p.step:g}", "step rule": p.step_rule,
         "importance (return points per step)": shown(p.importance, "ratio")}
        for p in record.params
    ]  # fmt: skip
    return pd.DataFrame(rows)


def cost_table(rows: Iterable[CostRow]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"costs": f"× {r.multiplier:g}", "fee (bps)": f"{r.fee_bps:,.2f}",
             "slippage (bps)": f"{r.slippage_bps:,.2f}", **_kpi_cells(r.kpis), "not run because": r.skipped or ""}
            for r in rows
        ]
    )  # fmt: skip


def percentiles_table(record: MonteCarloRecord) -> pd.DataFrame:
    """5th, 50th and 95th percentile of the final return and the max drawdown under both simulations, beside the
    observed figure on the same footing (drawdowns at trade exits for the reshuffle, daily for the bootstrap)."""
    rows = []
    simulations: tuple[tuple[str, TradeReshuffle | BlockBootstrapRecord], ...] = (
        ("trade reshuffle", record.trade_reshuffle),
        ("block bootstrap", record.block_bootstrap),
    )
    for name, sim in simulations:
        figures: tuple[tuple[str, Any, float | None, Kind], ...] = (
            ("final return", sim.final_return_pct, sim.observed_final_return_pct, "return"),
            ("max drawdown", sim.max_drawdown_pct, sim.observed_max_drawdown_pct, "percent"),
        )
        for figure, spread, observed, kind in figures:
            cells = {f"p{q}": shown(getattr(spread, f"p{q}"), kind) if spread is not None else UNDEFINED
                     for q in (5, 50, 95)}  # fmt: skip
            rows.append({"simulation": name, "figure": figure, **cells, "observed": shown(observed, kind),
                         "note": sim.reason or ""})  # fmt: skip
    return pd.DataFrame(rows)


def symbols_table(rows: Iterable[SymbolRow]) -> pd.DataFrame:
    out = []
    for r in rows:
        first, last = r.first_bar_ms, r.last_bar_ms
        period = "" if first is None or last is None else f"{format_day(first)} → {format_day(last)}"
        out.append({"symbol": r.symbol, "bars": shown(r.n_bars, "count"), "period (UTC)": period,
                    **_kpi_cells(r.kpis), "buy & hold": shown(r.buy_hold_return_pct, "return"),
                    "not run because": r.reason or ""})  # fmt: skip
    return pd.DataFrame(out)


# -- which figures chose the champion ------------------------------------------------------------------------------


def part_role(report: Mapping[str, Any] | None, kind: SplitKind, part: str) -> str:
    """What a part's figures are worth: report.json's ``part_roles``, else the split's own rule (older reports)."""
    roles = (report or {}).get("part_roles")
    if isinstance(roles, dict) and isinstance(roles.get(part), str):
        return str(roles[part])
    return str(kind.role(part))


def role_tag(role: str) -> str:
    """The role's first words: "in-sample", "selection figure" or "out-of-sample"."""
    return role.split(":", maxsplit=1)[0]


def is_selection(role: str) -> bool:
    return role == PartRole.SELECTION or role_tag(role) == SELECTION_FIGURE


# -- the tab ------------------------------------------------------------------------------------------------------


def escaped(text: str) -> str:
    """Plain text for st.markdown: characters Markdown would read as formatting are escaped."""
    return "".join("\\" + c if c in "\\`*_[]{}<>#+-.!|$~:" else c for c in text)


def _result_colour(value: object) -> str:
    colour = {"passed": PASS_COLOUR, "failed": FAIL_COLOUR}.get(str(value))
    return f"color: {colour}; font-weight: bold" if colour else "color: gray"


def rerun_hint(run_dir: Path) -> str:
    return f"`stratlab run report --run-dir {run_dir}` adds it"


def show_verdict(luck: Luck, report: Mapping[str, Any], kind: SplitKind) -> None:
    """The verdict first and large: pass in green, flagged in red, with its one line; the champion's figures named
    by what they are worth (a selection figure chose the champion and is not out-of-sample)."""
    champion = report.get("champion")
    if luck.verdict is None or champion is None:
        st.markdown("### No champion to judge")
        st.markdown(escaped(luck.summary))
        return
    if luck.verdict == VerdictName.PASS:
        st.markdown("### :green[✔ pass: every gate that could be judged passed]")
        st.markdown(f":green[**{escaped(luck.summary)}**]")
    else:
        st.markdown("### :red[✘ flagged: likely luck, not evidence of an edge]")
        st.markdown(f":red[**{escaped(luck.summary)}**]")
    lines = []
    for part in kind.parts:
        value = champion.get(f"{part}_return_pct")
        if value is None:
            continue
        role = part_role(report, kind, part)
        lines.append(f"- **{part}** return {escaped(shown(value, 'return'))}: **{escaped(role_tag(role))}** "
                     f"({escaped(role.partition(': ')[2] or role)})")  # fmt: skip
    if lines:
        st.markdown("\n".join(lines))


def show_gates(luck: Luck) -> None:
    st.markdown("#### Gates")
    if not luck.gates:
        st.caption("No gate was judged (there is no champion).")
        return
    table = gates_table(luck.gates)
    st.dataframe(table.style.map(_result_colour, subset=["result"]), hide_index=True, width="stretch")


def show_statistics(luck: Luck) -> None:
    st.markdown("#### Statistics")
    table = statistics_table(luck.statistic_values)
    st.dataframe(table[["statistic", "value"]], hide_index=True, width="stretch", height="content")
    logits = luck.statistics.pbo_logits
    if logits:
        st.plotly_chart(cscv_logit_figure(logits, luck.statistics.pbo), width="stretch")
    else:
        st.info("No CSCV logits: PBO could not be computed on this run (too few trials or train days).")


def show_walk_forward(luck: Luck) -> None:
    st.markdown("#### Walk-forward")
    block = luck.walk_forward
    if block is None:
        st.info("No walk-forward in this run: run with --walk-forward K.")
        return
    if not block.windows:
        st.info("The walk-forward block lists no window.")
        return
    cols = st.columns(4)
    cols[0].metric("Windows", f"{len(block.windows):,}")
    cols[1].metric("Walk-forward efficiency", shown(block.efficiency, "ratio"))
    cols[2].metric("Profitable windows", shown(block.profitable_share, "share"))
    cols[3].metric("Out-of-sample return", shown(block.oos_return_pct, "return"))
    st.caption(
        f"Out-of-sample annual return {shown(block.oos_annual_return_pct, 'return')} against the windows' mean "
        f"in-sample {shown(block.mean_is_annual_return_pct, 'return')}. Each window's champion is chosen on its own "
        "in-sample parts, then traded on the bars that follow: the out-of-sample figures are the only ones here no "
        "choice looked at."
        + (" Windows are anchored (train grows from the start)." if block.anchored else "")
        + (f" Embargo: {block.embargo_bars:,} bars." if block.embargo_bars else "")
    )
    equity = block.oos_equity or StitchedEquity(day_ms=[], equity=[])
    st.plotly_chart(
        walk_forward_figure(
            [f"window {w.window}" for w in block.windows], [w.is_annual_return_pct for w in block.windows],
            [w.oos_annual_return_pct for w in block.windows], equity.day_ms, equity.equity,
        ),
        width="stretch",
    )  # fmt: skip
    st.dataframe(windows_table(block.windows), hide_index=True, width="stretch")


def show_robustness(robustness: Robustness, part_label: str) -> None:
    """The champion's neighbourhood, cost stress, Monte Carlo and other symbols; each section or its one line."""
    st.markdown(f"#### Parameter neighbourhood ({part_label})")
    record = robustness.neighbourhood
    if record is None:
        st.warning(robustness.problems.get("neighbourhood", "robustness.json: no neighbourhood"))
    else:
        label, colour = record.plateau.label, {"plateau": "green", "spike": "red"}.get(str(record.plateau.label))
        tag = f":{colour}[**{label}**]" if colour else "**undefined**"
        st.markdown(f"{tag}: {escaped(record.plateau.reason)}")
        if record.grid is not None:
            grid = record.grid
            st.plotly_chart(
                neighbourhood_figure(grid.x_param, grid.y_param, grid.steps, grid.x_values, grid.y_values,
                                     grid.return_pct),
                width="stretch",
            )  # fmt: skip
        else:
            st.info(f"No heat map: {record.grid_reason or 'fewer than two numeric parameters'}.")
        if record.neighbours:
            st.dataframe(neighbours_table(record), hide_index=True, width="stretch")
        if record.params:
            st.dataframe(params_table(record), hide_index=True, width="stretch")

    st.markdown(f"#### Monte Carlo ({part_label})")
    monte_carlo = robustness.monte_carlo
    if monte_carlo is None:
        st.warning(robustness.problems.get("monte_carlo", "robustness.json: no monte_carlo"))
    else:
        fan = monte_carlo.block_bootstrap.fan
        if fan is not None and fan.day_ms:
            st.plotly_chart(equity_fan_figure(fan.day_ms, fan.p5, fan.p50, fan.p95, fan.observed), width="stretch")
        else:
            st.info(f"No equity fan: {monte_carlo.block_bootstrap.reason or 'too few days'}.")
        st.dataframe(percentiles_table(monte_carlo), hide_index=True, width="stretch")
        loss = monte_carlo.block_bootstrap.loss_probability
        st.caption(
            f"{monte_carlo.block_bootstrap.n_simulations:,} bootstrap paths (mean block "
            f"{monte_carlo.block_bootstrap.mean_block_days:g} days): {shown(loss, 'share')} of them lose money; "
            f"{monte_carlo.trade_reshuffle.n_simulations:,} orders of {monte_carlo.trade_reshuffle.n_trades:,} trades "
            "(the order changes the drawdown, never the final return)."
        )

    st.markdown(f"#### Cost stress ({part_label})")
    if robustness.cost_stress is None:
        st.warning(robustness.problems.get("cost_stress", "robustness.json: no cost_stress"))
    else:
        st.dataframe(cost_table(robustness.cost_stress), hide_index=True, width="stretch")

    st.markdown("#### Other symbols (same strategy, parameters and dates)")
    if "other_symbols" in robustness.problems:
        st.warning(robustness.problems["other_symbols"])
    elif robustness.other_symbols is None:
        st.info("Other symbols were not checked for this run.")
    elif not robustness.other_symbols:
        st.info("The store holds no other symbol of this source and timeframe.")
    else:
        st.dataframe(symbols_table(robustness.other_symbols), hide_index=True, width="stretch")


def show_luck(
    report: Mapping[str, Any],
    kind: SplitKind,
    run_dir: Path,
    robustness: Callable[[], Robustness | None],
) -> None:
    """The whole tab. ``robustness`` reads robustness.json (None when the run has none; DataError when it cannot
    be read), called only when there is a champion to show it for."""
    try:
        luck = read_luck(report)
    except DataError as exc:
        st.warning(str(exc))
        luck = None
    if luck is None:
        if "luck" not in report:
            st.info(f"This run was reported before stratlab judged luck: {rerun_hint(run_dir)}.")
    else:
        show_verdict(luck, report, kind)
        show_gates(luck)
        show_statistics(luck)
        show_walk_forward(luck)

    selection = str(report.get("selection_part") or kind.selection_part)
    part_label = f"on {selection}: {SELECTION_FIGURE}s"
    st.divider()
    st.markdown("### Robustness of the champion")
    if report.get("champion") is None:
        st.info("No champion, so no robustness checks.")
        return
    try:
        found = robustness()
    except DataError as exc:
        st.warning(str(exc))
        return
    if found is None:
        st.info(f"This run was reported before robustness checks existed: {rerun_hint(run_dir)}.")
        return
    show_robustness(found, part_label)


__all__ = [
    "STATISTICS",
    "Luck",
    "Robustness",
    "cost_table",
    "gates_table",
    "is_selection",
    "neighbours_table",
    "params_table",
    "parse_robustness",
    "part_role",
    "percentiles_table",
    "read_luck",
    "role_tag",
    "show_luck",
    "shown",
    "statistics_table",
    "symbols_table",
    "windows_table",
]
