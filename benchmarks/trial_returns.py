"""What keeping every trial's daily returns costs the optimiser: time per trial and disk for 5,000 trials.

On the demo market (BTC 5m, a year: the train part of the default 75/25 split is about 79k bars), 5,000 trials with
parameters drawn at random over the five strategies are backtested on train exactly as a worker does
(``Evaluator.evaluate``); each result is then handed to the worker's ``TrialReturnsWriter``, timed apart, which is
all the recording a worker adds. The ratio of the two is the optimiser's slowdown (target: at most 10 %). Then the
report's side: joining the batches into ``trial_returns.parquet`` (time, and the file's size: target under ~50 MB).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import build_demo, cpu_model, versions
from stratlab.indicators import indicator_cache
from stratlab.optimize.context import RunRequest
from stratlab.optimize.evaluate import Evaluator, load_run_candles
from stratlab.optimize.runner import create_run
from stratlab.optimize.trial_returns import (
    MATRIX_FILE,
    PARTS_DIR,
    TrialReturnsWriter,
    read_batches,
    trial_key,
    write_matrix,
)
from stratlab.strategies import get_strategy, strategy_names

TRIALS = 5_000
TARGET_SLOWDOWN_PCT = 10.0
TARGET_MB = 50.0


def main() -> None:
    print(f"machine: {cpu_model()}; {versions('numpy', 'numba', 'pandas', 'pyarrow')}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_demo(root / "data")
        run_dir = create_run(
            RunRequest.parse(source="demo", symbol="BTC", timeframe="5m"),
            data_root=root / "data",
            runs_root=root / "runs",
        )
        context = run_dir.load_context()
        evaluator = Evaluator(context, load_run_candles(context, root / "data"))
        train = context.part("train")
        writer = TrialReturnsWriter(run_dir.path, "bench")
        rng = np.random.default_rng(0)
        names = strategy_names()
        backtest_s = record_s = 0.0
        keys = []
        with indicator_cache():
            for trial in range(TRIALS):
                name = names[trial % len(names)]
                params = get_strategy(name).space.sample(rng)
                started = time.perf_counter()
                result = evaluator.evaluate(name, params, {}, train)
                backtested = time.perf_counter()
                writer.add(trial_key(name, trial), result)
                record_s += time.perf_counter() - backtested
                backtest_s += backtested - started
                keys.append(trial_key(name, trial))
            started = time.perf_counter()
            writer.close()
            record_s += time.perf_counter() - started
        started = time.perf_counter()
        matrix = write_matrix(run_dir.path, read_batches(run_dir.path), keys)
        join_s = time.perf_counter() - started
        size_mb = (run_dir.path / MATRIX_FILE).stat().st_size / 1e6
        batches_mb = sum(p.stat().st_size for p in (run_dir.path / PARTS_DIR).glob("*.parquet")) / 1e6

    slowdown = record_s / backtest_s * 100.0
    print(f"{TRIALS:,} trials on train ({train.end - train.start:,} bars, {matrix.shape[0]:,} days)")
    per_backtest_ms, per_record_ms = backtest_s / TRIALS * 1e3, record_s / TRIALS * 1e3
    print(f"  backtests (what a worker does without recording): {backtest_s:,.1f} s, {per_backtest_ms:.2f} ms a trial")
    print(f"  recording the daily returns (resample + batches): {record_s:,.2f} s, {per_record_ms:.3f} ms a trial")
    print(
        f"  slowdown of the optimiser: {slowdown:.2f} % (target <= {TARGET_SLOWDOWN_PCT:g} %: "
        f"{'met' if slowdown <= TARGET_SLOWDOWN_PCT else 'MISSED'})"
    )
    size_verdict = "met" if size_mb < TARGET_MB else "MISSED"
    print(
        f"  {MATRIX_FILE}: {size_mb:,.1f} MB (target < {TARGET_MB:g} MB: {size_verdict}), joined in {join_s:.2f} s; "
        f"the workers' batches: {batches_mb:,.1f} MB"
    )


if __name__ == "__main__":
    main()
