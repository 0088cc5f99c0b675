"""Engine speed, side by side with vectorbt and backtesting.py on the same bars and the same entry events.

Prints backtests per second at 100k and 1M bars of a random-walk 5m market (entry events about every 100 bars), for
mode ``none`` with TP 2 % / SL 1 % and for mode ``grid``:

- ``run_backtest`` end to end: validation, kernel and result, reading ``return_pct`` and ``max_drawdown_pct`` (both
  straight from the kernel's outputs, as the optimiser reads a trial);
- the same plus the full KPI record (``result.kpis``), its own row so that its cost is seen, not hidden;
- the bare ``simulate_nb`` kernel on prepared inputs;
- the kernel as it was before it was split into named rules (``_engine_kernel_before.py``, a frozen copy kept for
  this comparison only), so that the split's cost is measured in the same run on the same noisy machine, as the
  ratio now / before; and the ratio end to end / kernel alone.

Our four jobs for one config and size are timed in turns, batch by batch, so that a busy spell of a shared machine
slows them alike and their ratios hold.

Peers: vectorbt ``Portfolio.from_signals`` with the same stops, fees and reversal, plus its ``total_return`` and
``max_drawdown``; backtesting.py replaying the same events with bracket orders (its statistics, return and drawdown
included, are part of ``run``). vectorbt gets numpy arrays and is timed after a warm-up call, so its JIT is excluded.
Also the first-call time of the kernel in a fresh process, with an empty numba cache and then with that cache loaded.

One core: the process is pinned to one CPU and numba runs one thread. ``--quick`` takes fewer, shorter batches and
skips backtesting.py at 1M bars; ``--ours-only`` skips the peers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from _common import cpu_model, versions

VERSIONED = ("numpy", "numba", "pandas", "vectorbt", "backtesting")  # printed with their versions

FloatArray = npt.NDArray[np.float64]
Int8Array = npt.NDArray[np.int8]

SIZES = (100_000, 1_000_000)
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
BAR_MS = 300_000
FEE_BPS = 4.5
TP_PCT, SL_PCT = 2.0, 1.0
# Grid: a quarter of equity per fill so that three adds of the same size still fit at leverage 1.
GRID = {"position_mode": "grid", "size_pct": 25.0, "grid_step_pct": 0.5, "grid_max_adds": 3}

TARGET_RATE_100K = 1_500.0
TARGET_KERNEL_VS_BEFORE = 0.9  # the kernel split into rules keeps at least 90 % of the single function's speed
TARGET_END_TO_END_VS_KERNEL = 0.8  # run_backtest + return and drawdown: at least 80 % of the kernel alone
TARGET_VS_VECTORBT = 30.0
TARGET_VS_BACKTESTING = 1_000.0
TARGET_CACHED_FIRST_CALL_S = 2.0


def one_core() -> str:
    """Pin this process (and the subprocesses it starts) to one CPU; numba to one thread. Before numba loads."""
    os.environ["NUMBA_NUM_THREADS"] = "1"
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity here)"


def market(n: int, seed: int = 7) -> pd.DataFrame:
    """BTC-like 5m bars: fat-tailed returns (Student t, 4 dof), slowly drifting volatility, open = previous close."""
    rng = np.random.default_rng(seed)
    vol = 0.0015 * np.exp(0.1 * np.cumsum(rng.normal(0.0, 0.02, n)))
    returns = rng.standard_t(4, n) * vol / np.sqrt(2.0)  # t(4) has variance 2
    close = 60_000.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[60_000.0], close[:-1]])
    wicks = np.abs(rng.normal(0.0, 1.0, (2, n))) * vol * 0.6
    return pd.DataFrame(
        {
            "timestamp_ms": START_MS + BAR_MS * np.arange(n, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) * (1.0 + wicks[0]),
            "low": np.minimum(open_, close) * (1.0 - wicks[1]),
            "close": close,
            "volume": rng.gamma(2.0, 5.0, n),
        }
    )


def entry_events(n: int, seed: int = 11) -> Int8Array:
    """±1 on about one bar in 100, sides at random; none on the last bar (it could not be filled)."""
    rng = np.random.default_rng(seed)
    events = np.zeros(n, dtype=np.int8)
    at = rng.random(n) < 0.01
    events[at] = rng.choice(np.array([-1, 1], dtype=np.int8), int(at.sum()))
    events[-1] = 0
    return events


def rate(job: Callable[[], object], *, batches: int, min_batch_s: float) -> float:
    """Calls per second: one untimed warm-up call, then the best of ``batches`` batches of at least ``min_batch_s``."""
    return rates({"job": job}, batches=batches, min_batch_s=min_batch_s)["job"]


def rates(jobs: dict[str, Callable[[], object]], *, batches: int, min_batch_s: float) -> dict[str, float]:
    """``rate`` of several jobs whose batches take turns, so that a busy spell of a shared machine slows them all
    alike and their ratios hold."""
    calls = {}
    for name, job in jobs.items():
        started = time.perf_counter()
        job()
        calls[name] = max(1, int(min_batch_s / max(time.perf_counter() - started, 1e-9)))
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(batches):
        for name, job in jobs.items():
            started = time.perf_counter()
            for _ in range(calls[name]):
                job()
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: calls[name] / best[name] for name in jobs}


# first call in a fresh process ----------------------------------------------------------------------------------


def first_call_probe() -> None:
    """Run in a child process: time the import and the first ``run_backtest`` (compile or cache load), as JSON."""
    started = time.perf_counter()
    from stratlab.data.candles import Candles
    from stratlab.engine import BacktestConfig, run_backtest

    imported = time.perf_counter()
    candles = Candles.from_frame(market(500), source="bench", symbol="BTC", timeframe="5m")
    run_backtest(candles, entry_events(500), BacktestConfig(tp_pct=TP_PCT, sl_pct=SL_PCT))
    done = time.perf_counter()
    print(json.dumps({"import_s": imported - started, "first_call_s": done - imported}))


def first_call_in_fresh_process(cache_dir: str) -> dict[str, float]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--first-call-probe"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# the engines ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """Backtests per second for one job, by bar count (None: not run), and a note."""

    name: str
    per_second: dict[int, float | None]
    note: str = ""


def bars(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def outcome(n: int, trades: int, return_pct: float) -> str:
    """What a run produced, so that a reader can see the engines did comparable work."""
    return f"{bars(n)}: {trades:,} trades, return {return_pct:+.1f} %"


def ours_once(run_backtest: Callable[..., Any], candles: Any, signals: Int8Array, config: Any) -> tuple[float, float]:
    """One backtest as the optimiser runs it: the result's return and max drawdown, straight from the kernel."""
    result = run_backtest(candles, signals, config)
    return result.return_pct, result.max_drawdown_pct


def ours_with_kpis(run_backtest: Callable[..., Any], candles: Any, signals: Int8Array, config: Any) -> float:
    """One backtest and its full KPI record."""
    return float(run_backtest(candles, signals, config).kpis["sharpe"] or 0.0)


@dataclass(frozen=True)
class Ours:
    """Our rows of the table, and the figures the ratios are taken from (by config name, then bar count)."""

    rows: list[Figures]
    end_to_end: dict[str, dict[int, float | None]]
    kernel: dict[str, dict[int, float | None]]
    kernel_before: dict[str, dict[int, float | None]]


def ours(frames: dict[int, pd.DataFrame], events: dict[int, Int8Array], opts: argparse.Namespace) -> Ours:
    import _engine_kernel_before as before
    from stratlab.data.candles import Candles
    from stratlab.engine import BacktestConfig, run_backtest
    from stratlab.engine import _kernel as kernel
    from stratlab.engine.schema import POSITION_CHANGE_DTYPE, STATE_DTYPE, TRADE_DTYPE, pack_settings

    configs = {
        "none + TP/SL": BacktestConfig(fee_bps=FEE_BPS, tp_pct=TP_PCT, sl_pct=SL_PCT),
        "grid + TP/SL": BacktestConfig(fee_bps=FEE_BPS, tp_pct=TP_PCT, sl_pct=SL_PCT, **GRID),
    }
    jobs = ("end to end", "full KPI record", "kernel", "kernel before")
    figures: dict[str, dict[str, dict[int, float | None]]] = {job: {name: {} for name in configs} for job in jobs}
    notes: dict[str, list[str]] = {name: [] for name in configs}
    for n, frame in frames.items():
        candles = Candles.from_frame(frame, source="bench", symbol="BTC", timeframe="5m")
        signals = events[n]
        for name, config in configs.items():
            result = run_backtest(candles, signals, config)
            adds = int(result.trade_arrays["adds"].sum())
            note = outcome(n, result.n_trades, result.return_pct)
            notes[name].append(note + (f", {adds:,} adds" if adds else ""))

            # The bare kernels on prepared inputs: what run_backtest adds is validation, allocation and the result.
            # Both get the same bars, signals and output room; their outputs are checked equal below.
            none = np.empty(0, dtype=np.float64)
            entries = int(np.count_nonzero(signals))
            rows = min(n, entries * 5) + 1
            equity_now, equity_before = np.empty(n), np.empty(n)
            trades, changes = np.empty(entries + 1, dtype=TRADE_DTYPE), np.empty(rows, dtype=POSITION_CHANGE_DTYPE)
            state = np.empty(1, dtype=STATE_DTYPE)
            kernel_job = partial(
                kernel.simulate_nb, candles.timestamp_ms, candles.open, candles.high, candles.low, candles.close,
                signals, none, none, pack_settings(config, BAR_MS), 0, n, equity_now, changes, trades, state,
            )  # fmt: skip
            trades_before = np.empty((entries + 1, before.N_TRADE_FIELDS), dtype=np.float64)
            changes_before = np.empty((rows, 2), dtype=np.float64)
            before_job = partial(
                before.simulate_nb, candles.open, candles.high, candles.low, candles.close, signals, none, none,
                before.pack_settings_before(config, BAR_MS), 0, n, equity_before, changes_before, trades_before,
            )  # fmt: skip
            # Timed in turns: the ratios between these four are the figures that matter.
            measured = rates(
                {
                    "end to end": partial(ours_once, run_backtest, candles, signals, config),
                    "full KPI record": partial(ours_with_kpis, run_backtest, candles, signals, config),
                    "kernel": kernel_job,
                    "kernel before": before_job,
                },
                batches=opts.batches,
                min_batch_s=opts.min_batch_s,
            )
            for job, per_second in measured.items():
                figures[job][name][n] = per_second
            if not np.array_equal(equity_now, equity_before) or before_job()[0] != state[0]["n_trades"]:
                raise SystemExit(f"{name}, {bars(n)}: the kernel and its frozen copy disagree; the timing is void")
    labels = {
        "end to end": ("stratlab run_backtest, {} (return + max DD)", None),
        "full KPI record": ("  + full KPI record", "run_backtest and result.kpis"),
        "kernel": ("stratlab simulate_nb, {}", "the kernel alone, inputs prepared"),
        "kernel before": ("  simulate_nb before the split", "the frozen single-function kernel, same inputs"),
    }
    table = []
    for name in configs:
        for job, (label, note) in labels.items():
            table.append(Figures(label.format(name), figures[job][name], note or "; ".join(notes[name])))
    return Ours(table, figures["end to end"], figures["kernel"], figures["kernel before"])


def vectorbt_portfolio(vbt: Any, frame: pd.DataFrame, shifted_events: Int8Array) -> Any:
    open_ = frame["open"].to_numpy()
    return vbt.Portfolio.from_signals(
        frame["close"].to_numpy(),
        entries=shifted_events == 1,
        short_entries=shifted_events == -1,
        price=open_,
        open=open_,
        high=frame["high"].to_numpy(),
        low=frame["low"].to_numpy(),
        sl_stop=SL_PCT / 100.0,
        tp_stop=TP_PCT / 100.0,
        stop_entry_price="fillprice",
        fees=FEE_BPS / 10_000.0,
        upon_opposite_entry="reverse",
        accumulate=False,
        init_cash=10_000.0,
    )


def vectorbt_once(vbt: Any, frame: pd.DataFrame, shifted_events: Int8Array) -> tuple[float, float]:
    portfolio = vectorbt_portfolio(vbt, frame, shifted_events)
    return float(portfolio.total_return()), float(portfolio.max_drawdown())


def vectorbt_figures(
    frames: dict[int, pd.DataFrame], events: dict[int, Int8Array], opts: argparse.Namespace
) -> Figures:
    import vectorbt as vbt

    per_second: dict[int, float | None] = {}
    notes = []
    for n, frame in frames.items():
        # vectorbt fills an order on its signal's bar at ``price``: the event of bar i goes on bar i + 1 at that
        # bar's open, where our engine fills it. Same-side entries are ignored (accumulate=False), an opposite one
        # reverses, stops are fractions of the fill price tested against high/low.
        shifted = np.concatenate([np.zeros(1, dtype=np.int8), events[n][:-1]])
        per_second[n] = rate(
            partial(vectorbt_once, vbt, frame, shifted), batches=opts.batches, min_batch_s=opts.min_batch_s
        )
        portfolio = vectorbt_portfolio(vbt, frame, shifted)
        notes.append(outcome(n, int(portfolio.trades.count()), float(portfolio.total_return()) * 100.0))
    engine = "rust" if vbt._engine.is_rust_available() else "numba"
    return Figures("vectorbt from_signals + return + max DD", per_second, f"{engine} engine; " + "; ".join(notes))


def replay_strategy(strategy_base: Any, signals: Int8Array, open_: FloatArray) -> Any:
    """A backtesting.py Strategy that places the events' market orders with TP/SL brackets, nothing else."""

    class Replay(strategy_base):  # type: ignore[misc]
        def init(self) -> None:
            pass

        def next(self) -> None:
            i = len(self.data) - 1
            signal = int(signals[i])
            if signal == 0 or self.position.size * signal > 0:
                return  # no event, or a same-side one while in a position: ignored, as in our engine
            # Brackets are prices fixed when the order is placed; a market order fills at exactly the next open.
            fill = float(open_[i + 1])
            brackets = {"tp": fill * (1.0 + signal * TP_PCT / 100.0), "sl": fill * (1.0 - signal * SL_PCT / 100.0)}
            if signal > 0:
                self.buy(size=0.999, **brackets)
            else:
                self.sell(size=0.999, **brackets)

    return Replay


def backtesting_figures(frames: dict[int, pd.DataFrame], events: dict[int, Int8Array], quick: bool) -> Figures:
    from backtesting import Backtest, Strategy
    from backtesting import backtesting as backtesting_module

    # Its tqdm progress bar would interleave with the table, and tqdm reads its env switch at import.
    backtesting_module._tqdm = lambda iterable, **_: iterable
    per_second: dict[int, float | None] = {}
    notes = []
    for n, frame in frames.items():
        if quick and n > SIZES[0]:
            per_second[n] = None
            notes.append(f"{bars(n)}: skipped (--quick)")
            continue
        data = pd.DataFrame(
            {
                "Open": frame["open"].to_numpy(),
                "High": frame["high"].to_numpy(),
                "Low": frame["low"].to_numpy(),
                "Close": frame["close"].to_numpy(),
                "Volume": frame["volume"].to_numpy(),
            },
            index=pd.to_datetime(frame["timestamp_ms"], unit="ms"),
        )
        strategy = replay_strategy(Strategy, events[n], frame["open"].to_numpy())
        # It trades whole units: with BTC at 60,000 a large cash keeps that rounding negligible.
        backtest = Backtest(
            data, strategy, cash=1e9, commission=FEE_BPS / 10_000.0, exclusive_orders=True, finalize_trades=True
        )
        started = time.perf_counter()
        stats = backtest.run()
        seconds = time.perf_counter() - started
        per_second[n] = 1.0 / seconds
        notes.append(outcome(n, int(stats["# Trades"]), float(stats["Return [%]"])) + f", one run of {seconds:.1f} s")
    return Figures("backtesting.py run (stats included)", per_second, "; ".join(notes))


# the report -------------------------------------------------------------------------------------------------------


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}" if value >= 1 else f"{value:.4f}"


def ratio(ours: float | None, peer: float | None) -> float | None:
    return None if ours is None or peer is None else ours / peer


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}x" if value >= 10 else f"{value:.1f}x"


def verdict(value: float | None, target: float, *, below: bool = False) -> str:
    if value is None:
        return "not measured"
    return "met" if (value < target if below else value >= target) else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter batches; backtesting.py at 100k only")
    parser.add_argument("--ours-only", action="store_true", help="skip vectorbt and backtesting.py")
    parser.add_argument("--first-call-probe", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.first_call_probe:
        first_call_probe()
        return
    # Many short batches: on a shared machine the best of them is the one a busy spell left alone.
    opts.batches = 5 if opts.quick else 15
    opts.min_batch_s = 0.05 if opts.quick else 0.1

    began = time.perf_counter()
    pinned = one_core()
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {pinned}, NUMBA_NUM_THREADS=1")
    print(f"python {platform.python_version()}, {versions(*VERSIONED)}")

    with tempfile.TemporaryDirectory() as cache_dir:
        cold = first_call_in_fresh_process(cache_dir)  # empty cache: compiles, then writes it
        warm = first_call_in_fresh_process(cache_dir)  # a new process that loads what the first one wrote

    frames = {n: market(n) for n in SIZES}
    events = {n: entry_events(n) for n in SIZES}
    counts = ", ".join(f"{int(np.count_nonzero(e)):,} in {bars(n)}" for n, e in events.items())
    print(
        f"data: random-walk 5m bars from 60,000 (t(4) returns, drifting volatility); "
        f"entry events ~ every 100 bars ({counts})"
    )
    print(
        f"trading: fee {FEE_BPS} bps per fill, TP {TP_PCT} %, SL {SL_PCT} %, reverse on an opposite event; "
        f"grid mode: step {GRID['grid_step_pct']} %, up to {GRID['grid_max_adds']} adds, "
        f"{GRID['size_pct']:.0f} % of equity per fill"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the peers' deprecation chatter
        mine = ours(frames, events, opts)
        peers = [] if opts.ours_only else [vectorbt_figures(frames, events, opts)]
        peers += [] if opts.ours_only else [backtesting_figures(frames, events, opts.quick)]
    rows = mine.rows + peers

    print()
    print("first call of run_backtest in a fresh process (NUMBA_CACHE_DIR in a temp dir)")
    print(f"  empty cache, compiles the kernel   {cold['first_call_s']:6.2f} s   (import {cold['import_s']:.2f} s)")
    cached = verdict(warm["first_call_s"], TARGET_CACHED_FIRST_CALL_S, below=True)
    print(
        f"  cache written by that run, loaded  {warm['first_call_s']:6.2f} s   (import {warm['import_s']:.2f} s)"
        f"   target < {TARGET_CACHED_FIRST_CALL_S:.0f} s: {cached}"
    )

    best = f"best of {opts.batches} batches of >= {opts.min_batch_s} s; ours in turns"
    print()
    print(f"backtests per second, one core ({best}; backtesting.py: single runs)")
    width = max(len(row.name) for row in rows) + 2
    header = f"{'job':<{width}}" + "".join(f"{bars(n) + ' bars':>12}" for n in SIZES)
    print(header + "   notes")
    for row in rows:
        cells = "".join(f"{fmt_rate(row.per_second.get(n)):>12}" for n in SIZES)
        print(f"{row.name:<{width}}{cells}   {row.note}")

    print()
    print("ratios measured in this run (same machine, same moment)")
    for name in mine.kernel:
        for label, over, under, target in (
            ("kernel now / before the split", mine.kernel, mine.kernel_before, TARGET_KERNEL_VS_BEFORE),
            ("end to end / kernel alone", mine.end_to_end, mine.kernel, TARGET_END_TO_END_VS_KERNEL),
        ):
            shares = [ratio(over[name].get(n), under[name].get(n)) for n in SIZES]
            cells = "".join(f"{'-' if share is None else f'{share:.2f}':>12}" for share in shares)
            row = f"{label}, {name}"
            print(f"{row:<{width}}{cells}   target >= {target:.2f} at 100k: {verdict(shares[0], target)}")

    headline = mine.end_to_end[next(iter(mine.end_to_end))]
    if peers:
        print()
        print("ratios, stratlab run_backtest (none + TP/SL) over the peer")
        for label, peer, target in (
            ("over vectorbt", peers[0].per_second, TARGET_VS_VECTORBT),
            ("over backtesting.py", peers[1].per_second, TARGET_VS_BACKTESTING),
        ):
            cells = "".join(f"{fmt_ratio(ratio(headline.get(n), peer.get(n))):>12}" for n in SIZES)
            at_100k = ratio(headline.get(SIZES[0]), peer.get(SIZES[0]))
            print(f"{label:<{width}}{cells}   target >= {target:,.0f}x at 100k: {verdict(at_100k, target)}")
    print()
    print(
        f"target: >= {TARGET_RATE_100K:,.0f} backtests/s at 100k bars, none + TP/SL (end to end): "
        f"{fmt_rate(headline.get(SIZES[0]))}/s, {verdict(headline.get(SIZES[0]), TARGET_RATE_100K)}"
    )
    print(f"(whole script {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
