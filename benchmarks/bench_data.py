"""Data-layer speed, side by side with pandas doing the same job in the same run.

Prints, for one year of 5m bars (the demo market): loading + validating the month files with ``load_ohlcv`` versus
``pandas.read_parquet`` on the same files (no validation), and ``resample`` to 1h versus ``DataFrame.resample``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from stratlab.data import MarketStore, load_ohlcv, resample
from stratlab.data.demo import write_demo_market


def best_of(repeats: int, job: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        job()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        write_demo_market(MarketStore(root))
        build_s = time.perf_counter() - started
        files = sorted((root / "ohlcv/demo/BTC/5m").rglob("*.parquet"))

        candles = load_ohlcv("demo", "BTC", "5m", data_root=root)
        ours_load = best_of(5, lambda: load_ohlcv("demo", "BTC", "5m", data_root=root))
        peer_load = best_of(
            5, lambda: pd.concat([pd.read_parquet(f) for f in files], ignore_index=True).sort_values("timestamp_ms")
        )
        frame = candles.to_frame()
        indexed = frame.set_index(pd.to_datetime(frame["timestamp_ms"], unit="ms"))
        agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
        ours_resample = best_of(5, lambda: resample(candles, "1h"))
        peer_resample = best_of(5, lambda: indexed.resample("1h").agg(agg))

    print(f"demo market built in {build_s:.2f} s ({len(candles):,} bars per symbol)")
    print(f"{'job':<44}{'stratlab ms':>12}{'pandas ms':>12}{'ratio':>8}")
    rows = [
        ("load 12 month files (stratlab validates)", ours_load, peer_load),
        ("resample 5m -> 1h", ours_resample, peer_resample),
    ]
    for name, ours, peer in rows:
        print(f"{name:<44}{ours:>12.1f}{peer:>12.1f}{peer / ours:>7.1f}x")
    print(f"(best of 5; median ratio {statistics.median(p / o for _, o, p in rows):.1f}x)")


if __name__ == "__main__":
    main()
