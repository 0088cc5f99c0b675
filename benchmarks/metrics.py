"""KPI speed: ``compute_kpis`` at 100k and 1M 5m bars, side by side with quantstats and empyrical on the same days.

One backtest per size (the random-walk 5m market of ``engine.py``, entry events about every 65 bars for about 1,000
trades per 100k bars, a quarter of equity per trade, fee 4.5 bps, TP 2 % / SL 1 %), then milliseconds per call of:

* ``compute_kpis``: the whole record (about 60 figures) from the per-bar equity, the trades and the candles, daily
  reconstruction included; ``monthly_returns`` and ``rolling_sharpe`` (30 days) on their own;
* quantstats 0.0.86 on the daily returns and the buy-and-hold daily returns, as a user would call it: the
  ``qs.stats`` functions for the figures our record shares with it (total return, CAGR, Sharpe, Sortino, Calmar, max
  drawdown, Ulcer, VaR 95/99 (its VaR is parametric), historical CVaR 95/99, tail ratio, worst day, win days, skew,
  alpha/beta via ``greeks``), its whole ``qs.reports.metrics(mode="full", display=False)`` table, and its
  ``monthly_returns`` and ``rolling_sharpe``;
* empyrical-reloaded on the same days, given numpy arrays (its fastest input): ``cum_returns_final``,
  ``annual_return``, ``sharpe_ratio``, ``sortino_ratio``, ``calmar_ratio``, ``max_drawdown``, ``value_at_risk`` and
  ``conditional_value_at_risk`` at 95/99, ``tail_ratio``, ``alpha_beta``.

The peers get the daily series ready-made (quantstats as pandas Series on a DatetimeIndex); ours starts from the
per-bar arrays.
Every job gets one untimed warm-up call (numba kernels load from their cache there), then the best of several
batches. One core: the process is pinned to one CPU and numba runs one thread. ``--quick`` takes fewer, shorter
batches.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from _common import cpu_model, versions

VERSIONED = ("numpy", "numba", "pandas", "quantstats", "empyrical-reloaded")  # printed with their versions

Int8Array = npt.NDArray[np.int8]

SIZES = (100_000, 1_000_000)
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
BAR_MS = 300_000
DAY_MS = 86_400_000
FEE_BPS = 4.5
TP_PCT, SL_PCT = 2.0, 1.0
SIZE_PCT = 25.0  # a quarter of equity per trade keeps the 1M-bar curve off zero
EVENT_RATE = 0.015
PERIODS = 365  # a crypto source
ROLLING_DAYS = 30

TARGET_KPIS_MS_100K = 5.0


def one_core() -> str:
    """Pin this process to one CPU and numba to one thread. Before numba loads."""
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
    """±1 on about one bar in 65 (about 1,000 trades per 100k bars), sides at random; none on the last bar."""
    rng = np.random.default_rng(seed)
    events = np.zeros(n, dtype=np.int8)
    at = rng.random(n) < EVENT_RATE
    events[at] = rng.choice(np.array([-1, 1], dtype=np.int8), int(at.sum()))
    events[-1] = 0
    return events


def best_ms(job: Callable[[], object], *, batches: int, min_batch_s: float) -> float:
    """Milliseconds per call: one untimed warm-up call, then the best of ``batches`` batches of >= ``min_batch_s``."""
    started = time.perf_counter()
    job()
    once = max(time.perf_counter() - started, 1e-9)
    calls = max(1, int(min_batch_s / once))
    best = math.inf
    for _ in range(batches):
        started = time.perf_counter()
        for _ in range(calls):
            job()
        best = min(best, time.perf_counter() - started)
    return best / calls * 1000.0


# the peers' jobs --------------------------------------------------------------------------------------------------


def quantstats_figures(qs: Any, r: pd.Series, b: pd.Series) -> list[Any]:
    """The figures our record shares with quantstats, one ``qs.stats`` call each."""
    s = qs.stats
    return [
        s.comp(r),
        s.cagr(r, periods=PERIODS),
        s.sharpe(r, periods=PERIODS),
        s.sortino(r, periods=PERIODS),
        s.calmar(r, periods=PERIODS),
        s.max_drawdown(r),
        s.ulcer_index(r),
        s.value_at_risk(r, confidence=0.95),
        s.value_at_risk(r, confidence=0.99),
        s.cvar(r, confidence=0.95, method="historical"),
        s.cvar(r, confidence=0.99, method="historical"),
        s.tail_ratio(r),
        s.worst(r),
        s.win_rate(r),
        s.skew(r),
        s.greeks(r, b, periods=PERIODS),
    ]


def empyrical_figures(ep: Any, r: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> list[Any]:
    """The figures our record shares with empyrical, one call each."""
    return [
        ep.cum_returns_final(r),
        ep.annual_return(r, annualization=PERIODS),
        ep.sharpe_ratio(r, annualization=PERIODS),
        ep.sortino_ratio(r, annualization=PERIODS),
        ep.calmar_ratio(r, annualization=PERIODS),
        ep.max_drawdown(r),
        ep.value_at_risk(r, cutoff=0.05),
        ep.value_at_risk(r, cutoff=0.01),
        ep.conditional_value_at_risk(r, cutoff=0.05),
        ep.conditional_value_at_risk(r, cutoff=0.01),
        ep.tail_ratio(r),
        ep.alpha_beta(r, b, annualization=PERIODS),
    ]


# measuring --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """Milliseconds per call for one job, by bar count, and a note."""

    name: str
    ms: dict[int, float]
    note: str = ""


def bars(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def measure(opts: argparse.Namespace) -> tuple[list[Row], list[str]]:
    import empyrical as ep
    import quantstats as qs

    from stratlab.data.candles import Candles
    from stratlab.engine import BacktestConfig, run_backtest
    from stratlab.metrics import compute_kpis, daily_series, monthly_returns, rolling_sharpe

    timed = partial(best_ms, batches=opts.batches, min_batch_s=opts.min_batch_s)
    config = BacktestConfig(fee_bps=FEE_BPS, tp_pct=TP_PCT, sl_pct=SL_PCT, size_pct=SIZE_PCT)
    names = (
        "stratlab compute_kpis (full record)",
        "stratlab monthly_returns",
        f"stratlab rolling_sharpe ({ROLLING_DAYS} d)",
        "quantstats qs.stats, the shared figures",
        "quantstats reports.metrics(mode='full')",
        "quantstats stats.monthly_returns",
        f"quantstats stats.rolling_sharpe ({ROLLING_DAYS} d)",
        "empyrical, the shared figures",
    )
    ms: dict[str, dict[int, float]] = {name: {} for name in names}
    notes = []
    for n in SIZES:
        candles = Candles.from_frame(market(n), source="bench", symbol="BTC", timeframe="5m")
        result = run_backtest(candles, entry_events(n), config)
        ts = result.timestamp_ms
        daily = daily_series(ts, result.equity, result.initial_equity)
        index = pd.DatetimeIndex(pd.to_datetime(daily.day_ms, unit="ms"))
        # Buy and hold on the same days: each day's last close over the previous one's, the first over the first open.
        last_bars = np.append(np.flatnonzero(np.diff(ts // DAY_MS)), ts.size - 1)
        day_close = candles.close[last_bars]
        bench_returns = day_close / np.concatenate([[candles.open[0]], day_close[:-1]]) - 1.0
        returns = pd.Series(daily.returns, index=index)
        bench = pd.Series(bench_returns, index=index)
        kpis = compute_kpis(result)
        notes.append(
            f"{bars(n)}: {result.n_trades:,} trades over {kpis.n_days:,} days, return {kpis.return_pct:+.1f} %, "
            f"Sharpe {kpis.sharpe:.2f}"
        )
        jobs: dict[str, Callable[[], object]] = {
            names[0]: partial(compute_kpis, result),
            names[1]: partial(monthly_returns, result),
            names[2]: partial(rolling_sharpe, result, ROLLING_DAYS),
            names[3]: partial(quantstats_figures, qs, returns, bench),
            names[4]: partial(
                qs.reports.metrics, returns, benchmark=bench, mode="full", display=False, periods_per_year=PERIODS
            ),
            names[5]: partial(qs.stats.monthly_returns, returns),
            names[6]: partial(qs.stats.rolling_sharpe, returns, rolling_period=ROLLING_DAYS, periods_per_year=PERIODS),
            names[7]: partial(empyrical_figures, ep, daily.returns, bench_returns),
        }
        for name, job in jobs.items():
            ms[name][n] = timed(job)
    return [Row(name, ms[name]) for name in names], notes


# the report -------------------------------------------------------------------------------------------------------


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter batches")
    opts = parser.parse_args()
    opts.batches = 3 if opts.quick else 5
    opts.min_batch_s = 0.1 if opts.quick else 0.25

    began = time.perf_counter()
    pinned = one_core()
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {pinned}, NUMBA_NUM_THREADS=1")
    print(f"python {platform.python_version()}, {versions(*VERSIONED)}")
    print(
        f"data: random-walk 5m bars from 60,000 (t(4) returns, drifting volatility); entry events on {EVENT_RATE:.1%} "
        f"of bars"
    )
    print(
        f"trading: {SIZE_PCT:.0f} % of equity per trade, fee {FEE_BPS} bps per fill, TP {TP_PCT} %, SL {SL_PCT} %; "
        f"KPIs annualised over {PERIODS} days"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the peers' deprecation chatter
        rows, notes = measure(opts)

    best = "best of 3 batches of >= 0.1 s" if opts.quick else "best of 5 batches of >= 0.25 s"
    print()
    print(f"milliseconds per call, one core ({best}, after one warm-up call)")
    width = max(len(row.name) for row in rows) + 2
    print(f"{'job':<{width}}" + "".join(f"{bars(n) + ' bars':>12}" for n in SIZES))
    for row in rows:
        print(f"{row.name:<{width}}" + "".join(f"{fmt_ms(row.ms.get(n)):>12}" for n in SIZES))
    for note in notes:
        print(f"  {note}")

    ours = rows[0].ms
    print()
    print("peer time over ours (above 1x: the peer is slower)")
    # Each peer job against the stratlab job that produces the same figures: the record, or the same table.
    pairs = (
        ("quantstats qs.stats / compute_kpis", rows[3], rows[0]),
        ("quantstats reports.metrics / compute_kpis", rows[4], rows[0]),
        ("empyrical / compute_kpis", rows[7], rows[0]),
        ("quantstats / ours, monthly_returns", rows[5], rows[1]),
        ("quantstats / ours, rolling_sharpe", rows[6], rows[2]),
    )
    for label, peer, base in pairs:
        cells = "".join(f"{peer.ms[n] / base.ms[n]:>11.1f}x" for n in SIZES)
        print(f"{label:<{width}}{cells}")
    at_100k = ours[SIZES[0]]
    verdict = "met" if at_100k < TARGET_KPIS_MS_100K else "MISSED"
    print()
    print(f"target: compute_kpis < {TARGET_KPIS_MS_100K:.0f} ms at 100k bars: {fmt_ms(at_100k)} ms, {verdict}")
    print(f"(whole script {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
