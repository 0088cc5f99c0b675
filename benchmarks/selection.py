"""Is the selection honest? Champions chosen on pure-noise markets and on markets with a planted edge, replayed on a
forward year that no run saw.

Markets (``benchmarks/_markets.py`` gives the exact processes): N pure-noise markets (a driftless GARCH(1,1) random
walk with Student-t shocks: no rule has an edge, every one pays its costs) and N planted-edge markets (the same noise
plus persistent trends, which ``range_breakout`` rides, or fast-fading excursions, which ``rsi_reversion`` trades),
1h bars, 2021..2023 for the runs and 2024 as the forward year, written into a temporary store.

Per market: ``create_run`` over the in-run years only (default request: every strategy, default search space, TPE,
split 75/25, so the selection part is the last 25 % of 2021..2023) with the same budget per strategy everywhere, then
``start_run(workers=2, live=False)``; report.json gives the champion (what the default pipeline exports whenever there
is one) and ``luck.verdict`` (``pass`` is what the gated pipeline exports as good; ``flagged`` is not). A report
without ``luck`` counts as unknown for the gated pipeline: its figures then read n/a. The champion's manifest
(champion.json) is replayed on the forward year: its strategy and parameters signal on the candles from 2021 on (so
indicators are warmed up on the bars before 2024), and its backtest config trades only inside 2024.

The "true edge" column is the forward-year backtest of the strategy each edge was built for, with fixed sensible
parameters (``_markets.INTENDED``), not optimised: it shows that the edge is real after the default costs.

Targets, printed next to the figures and never asserted: with the gates, at most 10 % of the noise markets exported as
good, at least 80 % of the planted edges kept. Both pipelines are shown; returns are compared as the mean reported
selection-part return of the exported champions (annualised: the part is about nine months) against their mean
forward-year return. ``--quick``: 3 + 3 markets and a small budget.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from _common import cpu_model, versions
from _markets import (
    BAR_MS,
    DAY_MS,
    FORWARD_END,
    FORWARD_START,
    INTENDED,
    REVERSION_STRENGTH,
    RUN_END,
    RUN_START,
    SOURCE,
    TIMEFRAME,
    TREND_STRENGTH,
    MarketSpec,
    describe_market,
    forward_first_ms,
    generate_market,
    market_specs,
)

VERSIONED = ("numpy", "numba", "optuna", "scipy", "arch")
WORKERS = 2
MARKETS = {"full": 10, "quick": 3}  # markets of each kind (noise, planted)
BUDGET = {"full": 100, "quick": 12}  # completed trials per strategy, the same for every market
TARGET_NOISE_GOOD_SHARE = 0.10  # at most, with the gates
TARGET_PLANTED_KEPT_SHARE = 0.80  # at least, with the gates
DAYS_PER_YEAR = 365.25

# Wide enough for the per-market table when the output is a file or a pipe (rich would assume 80 columns).
console = Console(highlight=False, markup=False, width=None if sys.stdout.isatty() else 200)


# the markets ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backtested:
    """A backtest's headline figures on one period."""

    return_pct: float
    sharpe: float | None
    max_drawdown_pct: float
    n_trades: int


def build_store(data_root: Path, specs: Sequence[MarketSpec]) -> None:
    from stratlab.data import MarketStore

    store = MarketStore(data_root)
    for spec in specs:
        store.write_candles(SOURCE, spec.symbol, TIMEFRAME, generate_market(spec), origin=f"market {spec.symbol}")


def load_whole(symbol: str, data_root: Path) -> tuple[Any, int]:
    """The stored candles from the first in-run bar to the end of the forward year, and the forward year's first bar."""
    from stratlab.data.loader import load_ohlcv

    candles = load_ohlcv(SOURCE, symbol, TIMEFRAME, RUN_START, FORWARD_END, data_root=data_root)
    return candles, int(np.searchsorted(candles.timestamp_ms, forward_first_ms()))


def forward_backtest(candles: Any, forward_bar: int, strategy: str, params: dict[str, Any], config: Any) -> Backtested:
    """Signals on every bar up to the end (strategies are causal: the bars before the forward year warm them up);
    trades only from ``forward_bar`` on."""
    from stratlab.engine import run_backtest
    from stratlab.strategies import get_strategy

    chosen = get_strategy(strategy)
    signals = chosen.signals(candles, params)
    stops = chosen.stops(candles, params)
    result = run_backtest(candles, signals, config, stops=stops, start=forward_bar)
    kpis = result.kpis
    return Backtested(result.return_pct, kpis["sharpe"], result.max_drawdown_pct, int(kpis["n_trades"]))


def true_edge(spec: MarketSpec, data_root: Path) -> Backtested | None:
    """The intended strategy with its fixed parameters on the forward year; None for a noise market."""
    from stratlab.engine import BacktestConfig

    if not spec.planted:
        return None
    intended = INTENDED[spec.kind]
    candles, forward_bar = load_whole(spec.symbol, data_root)
    return forward_backtest(
        candles, forward_bar, intended.strategy, intended.params, BacktestConfig(**intended.backtest)
    )


# the runs ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Luck:
    """What report.json's ``luck`` says of a run's champion."""

    verdict: str | None  # "pass" | "flagged" | None (no champion)
    summary: str | None
    failed_gates: tuple[str, ...]
    dsr: float | None

    @classmethod
    def of(cls, luck: dict[str, Any]) -> Luck:
        gates = luck.get("gates") or []
        statistics = luck.get("statistics") or {}
        return cls(
            verdict=luck.get("verdict"),
            summary=luck.get("summary"),
            failed_gates=tuple(g["name"] for g in gates if g["passed"] is False),
            dsr=statistics.get("dsr"),
        )


@dataclass(frozen=True)
class Outcome:
    """What one market's run exported and what its champion did on the forward year."""

    spec: MarketSpec
    edge: Backtested | None
    run_name: str
    run_s: float
    luck: Luck | None  # None: report.json has no "luck" (the gated pipeline's verdict is unknown)
    champion: str | None = None  # "strategy #trial"; None: the run exported no champion
    selection_return_pct: float | None = None
    selection_annual_pct: float | None = None
    selection_sharpe: float | None = None
    forward: Backtested | None = None

    @property
    def exported_by_default(self) -> bool:
        return self.champion is not None

    @property
    def exported_as_good(self) -> bool:
        return self.exported_by_default and self.luck is not None and self.luck.verdict == "pass"


def annualised_pct(return_pct: float, days: float) -> float:
    growth = 1.0 + return_pct / 100.0
    return float((growth ** (DAYS_PER_YEAR / days) - 1.0) * 100.0) if growth > 0 else -100.0


def selection_days(report: dict[str, Any]) -> float:
    part = next(p for p in report["dataset"]["parts"] if p["name"] == report["selection_part"])
    return float(part["last_bar_ms"] - part["first_bar_ms"] + BAR_MS) / DAY_MS


def run_market(spec: MarketSpec, edge: Backtested | None, budget: int, data_root: Path, runs_root: Path) -> Outcome:
    from stratlab.optimize.context import RunRequest
    from stratlab.optimize.runner import create_run, start_run
    from stratlab.report.manifest import read_manifest

    request = RunRequest.parse(
        source=SOURCE, symbol=spec.symbol, timeframe=TIMEFRAME, start=RUN_START, end=RUN_END, max_trials=budget,
        label=f"selection-{spec.symbol}",
    )  # fmt: skip
    started = time.perf_counter()
    run_dir = create_run(request, data_root=data_root, runs_root=runs_root)
    final = start_run(run_dir, workers=WORKERS, live=False)
    run_s = time.perf_counter() - started
    if final["state"] != "finished":
        raise SystemExit(f"{spec.symbol}: the run ended {final['state']} (see {run_dir.path})")
    report = run_dir.read_report()
    luck = report.get("luck")
    champion = report["champion"]
    outcome = Outcome(spec, edge, run_dir.path.name, run_s, Luck.of(luck) if luck else None)
    if champion is None:
        return outcome

    part = report["selection_part"]
    selection_return = float(champion[f"{part}_return_pct"])
    manifest = read_manifest(run_dir.champion_path)
    if manifest.dataset.last_bar_ms >= forward_first_ms():
        raise SystemExit(f"{spec.symbol}: the run saw bars of the forward year ({run_dir.champion_path})")
    candles, forward_bar = load_whole(spec.symbol, data_root)
    forward = forward_backtest(candles, forward_bar, manifest.strategy, manifest.params, manifest.backtest)
    return replace(
        outcome,
        champion=f"{manifest.strategy} #{manifest.trial}",
        selection_return_pct=selection_return,
        selection_annual_pct=annualised_pct(selection_return, selection_days(report)),
        selection_sharpe=champion.get(f"{part}_sharpe"),
        forward=forward,
    )


# the report -------------------------------------------------------------------------------------------------------


def pct(value: float | None, signed: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+,.1f}" if signed else f"{value:,.1f}"


def ratio(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:+.2f}"


def share(count: int, total: int) -> str:
    return f"{count}/{total} = {100.0 * count / total:.0f} %" if total else "-"


def verdict_text(outcome: Outcome) -> str:
    luck = outcome.luck
    if luck is None:
        return "unknown"
    if luck.verdict is None:
        return "-"
    return f"{luck.verdict} ({', '.join(luck.failed_gates)})" if luck.failed_gates else luck.verdict


def dsr_text(outcome: Outcome) -> str:
    luck = outcome.luck
    if luck is None or luck.verdict is None:
        return "-"
    return f"{luck.dsr:.2f}" if luck.dsr is not None else "-"


MARKET_COLUMNS = (
    "market", "true edge: fwd ret / Sharpe", "champion", "sel. ret (ann.)", "sel. Sharpe", "fwd ret", "fwd Sharpe",
    "fwd DD", "verdict (failed gates)", "DSR", "run s",
)  # fmt: skip
TEXT_COLUMNS = frozenset({"market", "champion", "verdict (failed gates)"})


def progress_line(number: int, total: int, outcome: Outcome) -> str:
    line = f"[{number}/{total}] {outcome.spec.symbol}: {outcome.run_s:.0f} s, champion {outcome.champion or 'none'}"
    if outcome.forward is not None:
        line += f", selection {pct(outcome.selection_return_pct)} %, forward {pct(outcome.forward.return_pct)} %"
    return line + f", verdict {verdict_text(outcome)}"


def market_table(outcomes: Sequence[Outcome]) -> Table:
    table = Table(
        title="per market (returns in %, Sharpe annualised; selection return annualised: the part is ~9 months)"
    )
    for name in MARKET_COLUMNS:
        table.add_column(name, justify="left" if name in TEXT_COLUMNS else "right")
    for o in outcomes:
        edge = f"{pct(o.edge.return_pct)} / {ratio(o.edge.sharpe)}" if o.edge else "none (noise)"
        fwd = o.forward
        table.add_row(
            f"{o.spec.symbol}", edge, o.champion or "none exported", pct(o.selection_annual_pct),
            ratio(o.selection_sharpe), pct(fwd.return_pct) if fwd else "-", ratio(fwd.sharpe) if fwd else "-",
            pct(fwd.max_drawdown_pct, signed=False) if fwd else "-", verdict_text(o), dsr_text(o),
            f"{o.run_s:.0f}",
        )  # fmt: skip
    return table


def mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


@dataclass(frozen=True)
class Exported:
    """The champions one pipeline exports on one kind of market, and how they did."""

    count: int
    of: int
    selection_annual_pct: float | None
    forward_pct: float | None
    selection_sharpe: float | None
    forward_sharpe: float | None

    @classmethod
    def of_outcomes(cls, outcomes: Sequence[Outcome], exported: Callable[[Outcome], bool]) -> Exported:
        chosen = [o for o in outcomes if exported(o)]
        return cls(
            count=len(chosen),
            of=len(outcomes),
            selection_annual_pct=mean([o.selection_annual_pct for o in chosen if o.selection_annual_pct is not None]),
            forward_pct=mean([o.forward.return_pct for o in chosen if o.forward]),
            selection_sharpe=mean([o.selection_sharpe for o in chosen if o.selection_sharpe is not None]),
            forward_sharpe=mean([o.forward.sharpe for o in chosen if o.forward and o.forward.sharpe is not None]),
        )

    def returns(self) -> str:
        if not self.count:
            return "none exported"
        return (
            f"{pct(self.selection_annual_pct)} vs {pct(self.forward_pct)} "
            f"(Sharpe {ratio(self.selection_sharpe)} vs {ratio(self.forward_sharpe)})"
        )


def target_text(value: float, target: float, at_most: bool) -> str:
    met = value <= target if at_most else value >= target
    return f"target {'<=' if at_most else '>='} {target * 100:.0f} %: {'met' if met else 'MISSED'}"


def summary(outcomes: Sequence[Outcome], budget: int, wall: dict[str, float]) -> list[str]:
    noise = [o for o in outcomes if not o.spec.planted]
    planted = [o for o in outcomes if o.spec.planted]
    gated_known = bool(outcomes) and all(o.luck is not None for o in outcomes)
    lines = [
        f"summary: budget {budget} completed trials per strategy x 5 strategies per run; {len(noise)} noise + "
        f"{len(planted)} planted markets; {TIMEFRAME} bars, in-run {RUN_START}..{RUN_END}, forward "
        f"{FORWARD_START}..{FORWARD_END}"
    ]
    pipelines: list[tuple[str, Callable[[Outcome], bool]]] = [("default", lambda o: o.exported_by_default)]
    if gated_known:
        pipelines.append(("gated", lambda o: o.exported_as_good))
    for name, exported in pipelines:
        on_noise, on_planted = Exported.of_outcomes(noise, exported), Exported.of_outcomes(planted, exported)
        noise_share = on_noise.count / max(on_noise.of, 1)
        planted_share = on_planted.count / max(on_planted.of, 1)
        what = "champions exported (default: whenever there is one)" if name == "default" else "exported as good"
        lines += [
            f"{name}: {what}: noise {on_noise.count}/{on_noise.of}, planted {on_planted.count}/{on_planted.of}",
            f"{name}: share of noise markets exported as good {noise_share * 100:.0f} % "
            f"({target_text(noise_share, TARGET_NOISE_GOOD_SHARE, at_most=True)})",
            f"{name}: share of planted edges kept {planted_share * 100:.0f} % "
            f"({target_text(planted_share, TARGET_PLANTED_KEPT_SHARE, at_most=False)})",
            f"{name}: exported champions, mean selection-part return (annualised) vs mean forward-year return: "
            f"noise {on_noise.returns()}; planted {on_planted.returns()}",
        ]
    if not gated_known:
        missing = sum(o.luck is None for o in outcomes)
        lines += [
            f'gated: n/a: {missing} of {len(outcomes)} report.json have no "luck", so the verdicts are unknown',
            f"gated: share of noise markets exported as good n/a (target <= {TARGET_NOISE_GOOD_SHARE * 100:.0f} %)",
            f"gated: share of planted edges kept n/a (target >= {TARGET_PLANTED_KEPT_SHARE * 100:.0f} %)",
        ]
    edges = [o.edge for o in planted if o.edge is not None]
    if edges:
        lines.append(
            f"true edge (intended strategy, fixed parameters, forward year, default costs): mean return "
            f"{pct(mean([e.return_pct for e in edges]))} %, mean Sharpe "
            f"{ratio(mean([e.sharpe for e in edges if e.sharpe is not None]))}, positive on "
            f"{sum(e.return_pct > 0 for e in edges)}/{len(edges)} planted markets"
        )
    lines.append(
        f"wall time: {wall['total']:.0f} s (markets {wall['markets']:.0f} s, true edges {wall['edges']:.0f} s, runs "
        f"and replays {wall['runs']:.0f} s: {wall['runs'] / max(len(outcomes), 1):.0f} s per market)"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="3 + 3 markets and a small budget (a smoke run)")
    parser.add_argument("--budget", type=int, help="completed trials per strategy in every run")
    parser.add_argument("--markets", type=int, help="markets of each kind (noise, planted)")
    parser.add_argument("--trend-strength", type=float, default=TREND_STRENGTH, help="drift, noise sigmas per bar")
    parser.add_argument(
        "--reversion-strength", type=float, default=REVERSION_STRENGTH, help="excursion shock, noise sigmas per bar"
    )
    parser.add_argument("--keep", type=Path, help="build the store and the runs here and keep them (default: temp)")
    opts = parser.parse_args()
    mode = "quick" if opts.quick else "full"
    budget = opts.budget if opts.budget is not None else BUDGET[mode]
    per_kind = opts.markets if opts.markets is not None else MARKETS[mode]
    if budget < 1 or per_kind < 1:
        parser.error("--budget and --markets must be at least 1")
    os.environ["NUMBA_NUM_THREADS"] = "1"  # as start_run gives its workers; before numba loads here

    specs = market_specs(per_kind, per_kind, opts.trend_strength, opts.reversion_strength)
    console.print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs; runs: {WORKERS} worker processes each")
    console.print(versions(*VERSIONED))
    for kind_line in describe_market(opts.trend_strength, opts.reversion_strength):
        console.print(kind_line)

    began = time.perf_counter()
    wall: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root = opts.keep if opts.keep is not None else Path(tmp)
        data_root, runs_root = root / "data", root / "runs"
        build_store(data_root, specs)
        wall["markets"] = time.perf_counter() - began
        started = time.perf_counter()
        edges = {spec.symbol: true_edge(spec, data_root) for spec in specs}
        wall["edges"] = time.perf_counter() - started
        console.print(
            f"{len(specs)} markets written ({wall['markets']:.1f} s); runs: budget {budget} per strategy, "
            f"{WORKERS} workers, default request otherwise; data and runs in {root}"
            + ("" if opts.keep else " (removed at the end)")
        )
        started = time.perf_counter()
        outcomes = []
        for number, spec in enumerate(specs, start=1):
            outcome = run_market(spec, edges[spec.symbol], budget, data_root, runs_root)
            outcomes.append(outcome)
            console.print(progress_line(number, len(specs), outcome))
        wall["runs"] = time.perf_counter() - started
    wall["total"] = time.perf_counter() - began

    console.print()
    console.print(market_table(outcomes))
    for o in outcomes:
        if o.luck is not None and o.luck.summary:
            print(f"  {o.spec.symbol}: {o.luck.summary}")
    thin = [o.spec.symbol for o in outcomes if o.edge is not None and o.edge.return_pct <= 0]
    if thin:
        console.print(f"warning: the planted edge lost on the forward year in {', '.join(thin)}: too weak a strength?")
    console.print()
    for line in summary(outcomes, budget, wall):
        print(line)


if __name__ == "__main__":
    main()
