"""Paper runner speed: what one closed bar costs, next to backtesting.py's bar-by-bar loop, measured in the same run.

A runner pays, per bar, for the strategy's signals on every bar it has seen (no trailing window: exactness), one
kernel step, and (the full runner) one SQLite transaction. Printed for two history lengths (10,000 and 100,000 bars
of the demo market's BTC 5m before the traded bars, ma_cross EMA 20/100):

- ``Book.advance``: signals + kernel step, in memory;
- the runner (``stratlab paper start`` without the CLI): replay feed, risk manager, book, one commit per bar;
- ``run_backtest`` over the same bars (the whole series at once), per bar, for scale;
- backtesting.py's event loop over the same bars replaying the same entry events (its ``Strategy.next`` per bar),
  per bar: the bar-by-bar peer.

A 5m bar leaves 300,000 ms; the last column says how many times over a bar's cost fits in it.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import build_demo, cpu_model, versions  # noqa: E402

TRADED = 2_000
HISTORIES = (10_000, 100_000)
PARAMS = {"fast": 20, "slow": 100, "ma_type": "ema"}
BAR_MS = 300_000


def row(name: str, bars: int, seconds: float) -> str:
    per_bar_ms = seconds / bars * 1000
    rate, margin = bars / seconds, BAR_MS / per_bar_ms
    return f"  {name:<44} {bars:>7,} bars  {per_bar_ms:>9.3f} ms/bar  {rate:>10,.0f} bars/s  {margin:>14,.0f}×"


def main() -> None:
    from rich.console import Console
    from tests.live.manifests import write_manifest

    from stratlab.data.loader import load_ohlcv
    from stratlab.engine import BacktestConfig, run_backtest
    from stratlab.live.alerts import NotifyMode
    from stratlab.live.book import Book
    from stratlab.live.feeds import ClosedBar
    from stratlab.live.runner import open_runner
    from stratlab.live.start import StartOptions, new_spec
    from stratlab.settings import load_settings
    from stratlab.strategies import get_strategy

    print(f"paper runner benchmark · {cpu_model()} · {versions('numpy', 'numba', 'SQLAlchemy', 'backtesting')}")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "market_data"
        build_demo(root)
        candles = load_ohlcv("demo", "BTC", "5m", data_root=root)
        strategy = get_strategy("ma_cross")
        config = BacktestConfig(tp_pct=2.0, sl_pct=1.0)
        for history in HISTORIES:
            start = history
            end = history + TRADED
            window = candles.slice(0, end)
            print(f"\nhistory {history:,} bars, then {TRADED:,} traded bars")

            book = Book("ma_cross", PARAMS, config, candles.slice(0, start))
            started = time.perf_counter()
            for i in range(start, end):
                book.advance(
                    ClosedBar(int(window.timestamp_ms[i]), float(window.open[i]), float(window.high[i]),
                              float(window.low[i]), float(window.close[i]), float(window.volume[i]), last=i == end - 1)
                )  # fmt: skip
            print(row("Book.advance (signals + kernel step)", TRADED, time.perf_counter() - started))

            day = pd.Timestamp(int(window.timestamp_ms[start]), unit="ms").strftime("%Y-%m-%d")
            last_day = pd.Timestamp(int(window.timestamp_ms[end - 1]), unit="ms").strftime("%Y-%m-%d")
            manifest = write_manifest(
                Path(folder) / f"m{history}.json", root, strategy="ma_cross", params=PARAMS,
                config=config.model_dump(), start="2025-01-01", end=last_day,
            )  # fmt: skip
            spec = new_spec(StartOptions(manifests=(manifest,), notify=NotifyMode.NONE, start=day, end=last_day))
            runner = open_runner(
                Path(folder) / f"paper{history}", spec, settings=load_settings(), data_root=root,
                console=Console(file=io.StringIO()),
            )  # fmt: skip
            started = time.perf_counter()
            done = runner.run()
            print(row("runner: replay + risk + book + SQLite commit", done.bars, time.perf_counter() - started))

            signals = strategy.signals(window, PARAMS)
            started = time.perf_counter()
            for _ in range(20):
                run_backtest(window, signals, config, start=start)
            print(row("run_backtest, the whole series at once", TRADED * 20, time.perf_counter() - started))

            print(row("backtesting.py, Strategy.next per bar", *backtesting_py(window, signals, start)))


def backtesting_py(window: object, signals: np.ndarray, start: int) -> tuple[int, float]:
    """backtesting.py over the same bars, placing the same events with the same 2 % / 1 % brackets; (bars, s)."""
    from backtesting import Backtest, Strategy
    from backtesting import backtesting as backtesting_module

    backtesting_module._tqdm = lambda iterable, **_: iterable
    candles = window  # a Candles
    data = pd.DataFrame(
        {
            "Open": candles.open, "High": candles.high, "Low": candles.low, "Close": candles.close,  # type: ignore[attr-defined]
            "Volume": candles.volume,  # type: ignore[attr-defined]
        },
        index=pd.to_datetime(candles.timestamp_ms, unit="ms"),  # type: ignore[attr-defined]
    )  # fmt: skip
    opens = candles.open  # type: ignore[attr-defined]

    class Replay(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            pass

        def next(self) -> None:
            i = len(self.data) - 1
            signal = int(signals[i]) if i >= start else 0
            if signal == 0 or self.position.size * signal > 0 or i + 1 >= len(opens):
                return
            fill = float(opens[i + 1])
            brackets = {"tp": fill * (1 + signal * 0.02), "sl": fill * (1 - signal * 0.01)}
            (self.buy if signal > 0 else self.sell)(size=0.999, **brackets)

    backtest = Backtest(data, Replay, cash=1e9, commission=4.5e-4, exclusive_orders=True, finalize_trades=True)
    started = time.perf_counter()
    backtest.run()
    return len(data), time.perf_counter() - started


if __name__ == "__main__":
    main()
