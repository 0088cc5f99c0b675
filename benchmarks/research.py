"""Research loop throughput next to the optimiser's, at the same settings, measured in one run.

On the demo market (12 months of 5m BTC, built into a temp data root first), the five strategies, the default search
space, train = the first 75 % of the bars, two workers:

1. The optimiser: ``create_run`` then ``start_run(workers=2, live=False)`` with a budget per strategy (its final
   report skipped, as in ``benchmarks/optimize.py``): trials/s = completed trials over the worker phase, from the
   ``run_started`` event to the last ``worker_finished`` one (start-up counted).
2. The research loop: ``ResearchLoop`` with the same five strategies, the same sampler and seed, split 0.75 / 0.125 /
   0.125 (the same train bars), ``max_backtests`` = the optimiser's trials, on a local pool of two warm worker
   processes (spawned inside the measured time), writing every backtest with its 58 KPIs to a SQLite results
   database and confirming pool candidates on validation: backtests/s = backtests written over the whole ``run``.
3. The same loop on a Dask cluster started here (a scheduler and two single-thread worker processes), when
   ``distributed`` is installed; the cluster's start is not counted (it runs before and after many loops).

The target, printed next to the figures and never asserted: the loop keeps at least 80 % of the optimiser's
trials/s. ``--quick`` takes smaller budgets.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import build_demo, cpu_model, versions  # noqa: E402
from benchmarks.optimize import whole_run  # noqa: E402

STRATEGIES = 5
WORKERS = 2
BUDGET = {"full": 400, "quick": 60}  # trials per strategy
SAMPLERS = ("random", "tpe")
TARGET = 0.80


def loop_config(sampler: str, budget: int, name: str) -> Any:
    from stratlab.research.config import ResearchConfig

    return ResearchConfig.model_validate(
        {
            "name": name, "markets": [{"source": "demo", "symbol": "BTC", "timeframe": "5m"}],
            "split": [0.75, 0.125, 0.125], "sampler": sampler, "seed": 0, "batch_size": 64,
            "stop": {"best": 10**9, "max_backtests": budget * STRATEGIES},
        }
    )  # fmt: skip


def loop_rate(
    sampler: str, budget: int, data_root: Path, folder: Path, cluster: str | None = None
) -> tuple[float, int]:
    from stratlab.research.db import ResultsDb
    from stratlab.research.execute import make_executor
    from stratlab.research.loop import ResearchLoop

    name = f"{sampler}-{'dask' if cluster else 'pool'}"
    db = ResultsDb.open(folder / f"{name}.sqlite")
    started = time.perf_counter()
    executor = make_executor(data_root, WORKERS, cluster)
    try:
        loop = ResearchLoop(loop_config(sampler, budget, name), db, data_root=data_root, work_dir=folder / name,
                            executor=executor)  # fmt: skip
        status = loop.run()
    finally:
        executor.close()
        db.close()
    return status.backtests / (time.perf_counter() - started), status.backtests


def start_dask() -> tuple[Any, str] | None:
    try:
        from distributed import LocalCluster
    except ImportError:
        return None
    cluster = LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None)
    return cluster, str(cluster.scheduler_address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller budgets")
    parser.add_argument("--sampler", choices=SAMPLERS, action="append", help="only these samplers (repeatable)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask cluster")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    budget = BUDGET[mode]
    print(f"research loop throughput · {cpu_model()} · {versions('optuna', 'SQLAlchemy', 'distributed')}")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        data_root = folder / "market_data"
        build_demo(data_root)
        rows = []
        dask = None if args.no_dask else start_dask()
        try:
            for sampler in args.sampler or SAMPLERS:
                optimiser = whole_run(sampler, "journal", budget, data_root, folder / "runs")
                rate, done = loop_rate(sampler, budget, data_root, folder)
                rows.append((sampler, "local pool", optimiser.rate, rate, done))
                if dask is not None:
                    rate, done = loop_rate(sampler, budget, data_root, folder, dask[1])
                    rows.append((sampler, "Dask, 2 workers", optimiser.rate, rate, done))
        finally:
            if dask is not None:
                dask[0].close()
    print(f"\n{budget * STRATEGIES:,} backtests per run (5 strategies × {budget}), {WORKERS} workers; target ≥ "
          f"{TARGET:.0%} of the optimiser\n")  # fmt: skip
    print("| sampler | loop on | optimiser trials/s | loop backtests/s | loop / optimiser |")
    print("|---|---|---|---|---|")
    for sampler, where, optimiser_rate, rate, done in rows:
        verdict = "meets" if rate >= TARGET * optimiser_rate else "BELOW"
        print(f"| {sampler} | {where} | {optimiser_rate:,.0f} | {rate:,.0f} ({done:,}) | "
              f"{rate / optimiser_rate:.2f} ({verdict}) |")  # fmt: skip


if __name__ == "__main__":
    main()
