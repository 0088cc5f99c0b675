"""What a user's strategy costs: the template written with stratlab's indicators against the same rule in pandas (how
a backtesting.py or freqtrade user writes it), and what ``stratlab strategy check`` costs per strategy.

Part 1, signal calls per second at 100,000 demo 5m bars (best of 5 after one warm call): the template
(``strategy new``: EMA 12/48 cross with an SMA 400 trend filter) through ``Strategy.signals``; the same rule in pandas
(``ewm(span, adjust=False)`` seeded with the period's SMA as TA-Lib does, ``rolling().mean()``, ``shift``); the
slowest built-in. The pandas signals must equal the template's on every bar (printed).

Part 2, the whole check (contract, look-ahead over 7 parameter sets × 4 cuts × 2, history over 3 later starts,
speed) on the last 20,000 bars, for the template and each built-in: wall seconds. Target, printed and never
asserted: a check costs less than a minute on this machine for every built-in.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_model, versions
from stratlab.data import Candles
from stratlab.strategies import Strategy, forget_user_strategies, get_strategy, load_strategies_dir
from stratlab.strategies.check import CheckPlan, calls_per_second, check_strategy, speed_candles

BARS = 100_000
CHECK_BARS = 20_000
TARGET_CHECK_S = 60.0


def template_strategy(folder: Path) -> Strategy:
    text = files("stratlab.strategies").joinpath("templates/ema_cross.py.tmpl").read_text(encoding="utf-8")
    (folder / "bench_cross.py").write_text(text.replace("__NAME__", "bench_cross").replace("__CLASS__", "BenchCross"))
    assert load_strategies_dir(folder) == []
    return get_strategy("bench_cross")


def seeded_ewm(close: pd.Series, period: int) -> pd.Series:
    """TA-Lib's EMA in pandas: the first value is the SMA of the first ``period`` closes, then ``adjust=False``."""
    seed = close.rolling(period).mean()
    start = period - 1
    values = pd.concat([seed.iloc[start : start + 1], close.iloc[start + 1 :]])
    out = values.ewm(span=period, adjust=False).mean()
    return out.reindex(close.index)


def pandas_rule(candles: Candles) -> np.ndarray:
    close = pd.Series(candles.close)
    fast, slow, trend = seeded_ewm(close, 12), seeded_ewm(close, 48), close.rolling(400).mean()
    ready = fast.notna() & slow.notna() & trend.notna()
    above, below = ready & (fast > slow), ready & (fast < slow)
    was_above, was_below = above.shift(1, fill_value=False), below.shift(1, fill_value=False)
    events = np.zeros(len(close), dtype=np.int8)
    events[(above & was_below & (close > trend)).to_numpy()] = 1
    events[(below & was_above & (close < trend)).to_numpy()] = -1
    return events


def best_rate(call: Callable[[], object], repeats: int = 5) -> float:
    call()
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - began)
    return 1.0 / best


def main() -> None:
    print(f"machine: {cpu_model()}; {versions('numpy', 'pandas', 'numba')}")
    with tempfile.TemporaryDirectory() as folder:
        template = template_strategy(Path(folder))
        candles = speed_candles(BARS)
        ours = template.signals(candles)
        theirs = pandas_rule(candles)
        same = int((ours == theirs).sum())
        print(f"\npart 1: signal calls per second at {len(candles):,} bars")
        print(f"  the template and the pandas rule agree on {same:,} of {len(candles):,} bars")
        rate = calls_per_second(template, candles, 5)
        peer = best_rate(lambda: pandas_rule(candles))
        built_ins = [get_strategy(name) for name in ("ma_cross", "rsi_reversion", "bollinger_breakout",
                                                      "stochastic", "range_breakout", "scalping")]  # fmt: skip
        rates = {s.name: calls_per_second(s, candles, 5) for s in built_ins}
        slowest = min(rates, key=lambda name: rates[name])
        print(f"  template (stratlab indicators): {rate:10,.1f} calls/s")
        print(f"  same rule in pandas:            {peer:10,.1f} calls/s  (the template: {rate / peer:,.1f}× as fast)")
        print(f"  slowest built-in ({slowest}):  {rates[slowest]:10,.1f} calls/s")
        print(f"\npart 2: the whole check on the last {CHECK_BARS:,} bars (target < {TARGET_CHECK_S:.0f} s each)")
        recent = candles.slice(len(candles) - CHECK_BARS, len(candles))
        for strategy in [template, *built_ins]:
            began = time.perf_counter()
            result = check_strategy(strategy, recent, built_ins, CheckPlan())
            took = time.perf_counter() - began
            verdicts = ", ".join(f"{r.check} {r.status}" for r in result.results)
            mark = "met" if took < TARGET_CHECK_S else "MISSED"
            print(f"  {strategy.name:20s} {took:6.1f} s ({mark}): {verdicts}")
        forget_user_strategies()


if __name__ == "__main__":
    main()
