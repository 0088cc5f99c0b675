"""The results database at 100,000 backtests: how long a bulk write takes, and how fast it answers the question people
ask most ("the 50 best by Sharpe with max DD <= 20 % and >= 60 % green days"), next to pandas answering the same
question from a frame already in memory, measured in the same run.

The KPI records are real ones (``run_backtest`` on the demo market, a few hundred parameter sets) repeated with
their figures jittered, so the columns carry realistic values and NULLs. SQLite file, revision head (its indexes).
"""

from __future__ import annotations

import dataclasses
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import build_demo, cpu_model, versions  # noqa: E402

BACKTESTS = 100_000
BATCH = 5_000
WHERE = "max_drawdown_pct <= 20 and green_days_pct >= 60"


def main() -> None:
    from stratlab.data.loader import load_ohlcv
    from stratlab.engine import BacktestConfig, run_backtest
    from stratlab.research.db import BacktestRow, Dataset, ResultsDb
    from stratlab.strategies import get_strategy

    print(f"results database benchmark · {cpu_model()} · {versions('SQLAlchemy', 'pandas')}")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "market_data"
        build_demo(root)
        candles = load_ohlcv("demo", "BTC", "5m", "2025-01-01", "2025-06-30", data_root=root)
        strategy = get_strategy("rsi_reversion")
        dataset = Dataset("demo", "BTC", "5m", candles.fingerprint())
        rng = random.Random(0)
        records = []
        for _ in range(200):
            params = strategy.space.sample(np.random.default_rng(rng.randrange(10**9)))
            result = run_backtest(candles, strategy.signals(candles, params), BacktestConfig(sl_pct=2.0, tp_pct=3.0))
            records.append((params, result.kpis))
        db = ResultsDb.open(Path(folder) / "results.db")
        experiment = db.experiment("benchmark", {})
        started = time.perf_counter()
        rows = []
        for i in range(BACKTESTS):
            params, kpis = records[i % len(records)]
            jitter = 1 + rng.uniform(-0.3, 0.3)
            varied = dataclasses.replace(
                kpis,
                sharpe=None if kpis.sharpe is None else kpis.sharpe * jitter,
                max_drawdown_pct=kpis.max_drawdown_pct * jitter,
                green_days_pct=None if kpis.green_days_pct is None else min(100.0, kpis.green_days_pct * jitter * 1.2),
            )
            rows.append(
                BacktestRow("rsi_reversion", params, BacktestConfig(), dataset, "train/test", {"train": varied})
            )
            if len(rows) == BATCH:
                db.write_batch(experiment, i // BATCH, rows)
                rows = []
        written = time.perf_counter() - started
        print(f"  write {BACKTESTS:,} backtests in batches of {BATCH:,}: {written:,.1f} s "
              f"({BACKTESTS / written:,.0f} backtests/s)")  # fmt: skip

        timings = []
        for _ in range(5):
            started = time.perf_counter()
            best = db.query(WHERE, part="train", order_by="sharpe", limit=50)
            timings.append(time.perf_counter() - started)
        print(f"  the 50 best by Sharpe where {WHERE}: {min(timings) * 1000:,.0f} ms (best of 5), {len(best)} rows")

        frame = db.query(None, part="train", order_by="sharpe", limit=None)
        started = time.perf_counter()
        for _ in range(5):
            reference = frame.query(WHERE).nlargest(50, "sharpe")
        in_memory = (time.perf_counter() - started) / 5
        print(f"  pandas on a frame already in memory ({len(frame):,} rows): {in_memory * 1000:,.0f} ms")
        assert best["backtest_id"].tolist() == reference["backtest_id"].tolist(), "the database and pandas disagree"
        print("  same 50 backtests from both")
        pd.set_option("display.width", 200)


if __name__ == "__main__":
    main()
