"""Samplers on the real problem: GP-TR against Optuna's TPE, NSGA-II and random search, at equal trials and at equal
wall-clock time, with paired bootstrap confidence intervals.

For each demo market (the demo generator with seeds 7, 11 and 13: three different synthetic years of BTC and ETH, BTC
used) and each paired seed, one optimisation run per sampler (``create_run`` + ``start_run``, two workers, the five
strategies, split 0.6 / 0.2 / 0.2). Per run:

- **train hypervolume** of the run's train Pareto set (return up, max drawdown down),
- **holdout hypervolume** of that same train Pareto set, every member backtested on holdout,
- **holdout return of the champion** (chosen on validation by the run's rule),
- **trials/s** over the worker phase.

Hypervolumes use a fixed reference point (return -100 %, drawdown 100 %) after a pooled min-max normalisation over
every sampler's points of the same market and seed, so two samplers of one pair are measured on one scale. Each
difference between two samplers is paired by market and seed; its 95 % interval is a bootstrap over the pairs (10,000
resamples). A win is claimed only where the interval excludes zero.

``--equal-time S``: every run gets the same wall-clock budget of S seconds (and an unreachable trial budget), so a
slow sampler pays for its proposals. ``--quick``: one market, two seeds, 20 trials per strategy. ``--out FILE`` appends
each run to a JSON-lines file as it ends; ``--summarise FILE`` prints the tables of such a file again.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import cpu_model, versions  # noqa: E402

SAMPLERS = ("gp-tr", "tpe", "nsga2", "random")
MARKET_SEEDS = (7, 11, 13)
REFERENCE = (-100.0, 100.0)  # return %, max drawdown %
WORKERS = 2


@dataclass(frozen=True)
class RunResult:
    sampler: str
    market: int
    seed: int
    train: list[tuple[float, float]]
    holdout: list[tuple[float, float]]
    champion_holdout_return: float | None
    trials: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.trials / self.seconds if self.seconds else 0.0


def hypervolume(points: list[tuple[float, float]], low: tuple[float, float], high: tuple[float, float]) -> float:
    """Area dominated by ``points`` (return up, drawdown down) up to the reference point, on the [0, 1]² scale of
    ``low``..``high`` (the pooled bounds)."""
    span_r = max(high[0] - low[0], 1e-12)
    span_d = max(high[1] - low[1], 1e-12)
    ref_r = (REFERENCE[0] - low[0]) / span_r
    ref_d = (REFERENCE[1] - low[1]) / span_d
    scaled = sorted((((r - low[0]) / span_r, (d - low[1]) / span_d) for r, d in points), reverse=True)
    area, best_d = 0.0, ref_d
    for r, d in scaled:  # by return, highest first: each point adds the strip below the best drawdown so far
        if d < best_d and r > ref_r:
            area += (r - ref_r) * (best_d - d)
            best_d = d
    return area


def one_run(sampler: str, market: int, seed: int, budget: int, time_s: float, data_root: Path, runs: Path) -> RunResult:
    from stratlab.optimize.context import RunRequest
    from stratlab.optimize.runner import create_run, start_run
    from stratlab.optimize.trial_backtest import TrialBacktester

    request = RunRequest.parse(
        source="demo", symbol="BTC", timeframe="5m", max_trials=budget, sampler=sampler, seed=seed,
        split=(0.6, 0.2, 0.2), time_budget_s=time_s, label=f"{sampler}-m{market}-s{seed}",
    )  # fmt: skip
    run_dir = create_run(request, data_root=data_root, runs_root=runs)
    started = time.perf_counter()
    final = start_run(run_dir, workers=WORKERS, live=False)
    seconds = time.perf_counter() - started
    report = json.loads((run_dir.path / "report.json").read_text())
    pareto = pd.read_csv(run_dir.path / "pareto.csv") if (run_dir.path / "pareto.csv").exists() else pd.DataFrame()
    tester = TrialBacktester(run_dir, data_root)
    train, holdout = [], []
    for row in pareto.itertuples():
        train.append((float(row.train_return_pct), float(row.train_max_drawdown_pct)))
        result = tester.backtest(str(row.strategy), int(row.trial)).by_part["holdout"]  # type: ignore[index]
        holdout.append((result.return_pct, result.max_drawdown_pct))
    champion = report.get("champion") or {}
    return RunResult(sampler, market, seed, train, holdout, champion.get("holdout_return_pct"),
                     int(final["completed"]), seconds)  # fmt: skip


def paired_interval(differences: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Mean difference and its 95 % bootstrap interval over the pairs."""
    rng = np.random.default_rng(seed)
    means = rng.choice(differences, size=(10_000, len(differences)), replace=True).mean(axis=1)
    return float(differences.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarise(results: list[RunResult]) -> pd.DataFrame:
    rows = []
    for (market, seed), group in pd.DataFrame([r.__dict__ for r in results]).groupby(["market", "seed"]):
        every = [p for points in group["train"].tolist() + group["holdout"].tolist() for p in points]
        if not every:
            continue
        low = (min(p[0] for p in every), min(p[1] for p in every))
        high = (max(p[0] for p in every), max(p[1] for p in every))
        for row in group.itertuples():
            rows.append({
                "sampler": row.sampler, "market": market, "seed": seed,
                "train_hv": hypervolume(row.train, low, high), "holdout_hv": hypervolume(row.holdout, low, high),
                "champion_holdout_return": row.champion_holdout_return, "trials_per_s": row.trials / row.seconds,
            })  # fmt: skip
    return pd.DataFrame(rows)


def read_results(path: Path) -> list[RunResult]:
    """The runs ``--out`` wrote; a line that is not one, or a second line for the same sampler, market and seed (two
    benchmarks appended to one file), ends the script with one line naming the file and the line."""
    results: list[RunResult] = []
    seen: set[tuple[str, int, int]] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        sys.exit(f"error: {path}: unreadable ({exc})")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            result = RunResult(**json.loads(line))
        except (json.JSONDecodeError, TypeError) as exc:
            sys.exit(f"error: {path} line {number}: not a run of this benchmark ({exc})")
        key = (result.sampler, result.market, result.seed)
        if key in seen:
            sys.exit(f"error: {path} line {number}: a second run of {key[0]} on market {key[1]} seed {key[2]}")
        seen.add(key)
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=200, help="trials per strategy (equal-trials mode)")
    parser.add_argument("--equal-time", type=float, default=0.0, help="seconds per run instead of a trial budget")
    parser.add_argument("--out", type=Path, help="append each run's figures to this JSON-lines file as it ends")
    parser.add_argument("--summarise", type=Path, help="only print the tables of a JSON-lines file written by --out")
    args = parser.parse_args()
    if args.summarise:
        report(read_results(args.summarise), str(args.summarise))
        return
    markets = MARKET_SEEDS[:1] if args.quick else MARKET_SEEDS
    seeds = range(2 if args.quick else args.seeds)
    budget = 20 if args.quick else args.trials
    if args.equal_time:
        budget = 100_000
    print(f"samplers on the real problem · {cpu_model()} · {versions('optuna', 'scikit-learn')}")
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory() as temp:
        from stratlab.data import MarketStore
        from stratlab.data.demo import write_demo_market

        for market in markets:
            data_root = Path(temp) / f"market-{market}"
            write_demo_market(MarketStore(data_root), seed=market)
            for seed in seeds:
                for sampler in SAMPLERS:
                    results.append(one_run(sampler, market, seed, budget, args.equal_time, data_root,
                                           Path(temp) / "runs"))  # fmt: skip
                    last = results[-1]
                    if args.out:
                        with args.out.open("a") as out:
                            out.write(json.dumps(last.__dict__) + "\n")
                    print(f"  market {market} seed {seed} {sampler}: {last.trials:,} trials in {last.seconds:.0f} s",
                          flush=True)  # fmt: skip
    mode = f"equal time ({args.equal_time:g} s per run)" if args.equal_time else f"equal trials ({budget} per strategy)"
    report(results, f"{mode}, {len(markets)} markets × {len(seeds)} seeds")


def report(results: list[RunResult], title: str) -> None:
    """The mean of each figure per sampler, then every pair's paired difference with its bootstrap interval."""
    table = summarise(results)
    print(f"\n{title}\n")
    means = table.groupby("sampler")[["train_hv", "holdout_hv", "champion_holdout_return", "trials_per_s"]].mean()
    print(means.reindex([s for s in SAMPLERS if s in means.index]).round(3).to_string())
    print("\nrow minus column, paired by market and seed: mean [95 % bootstrap interval]")
    for metric in ("train_hv", "holdout_hv", "champion_holdout_return"):
        print(f"  {metric}")
        by_sampler = {s: table[table["sampler"] == s].set_index(["market", "seed"])[metric] for s in SAMPLERS}
        for mine, theirs in itertools.combinations(SAMPLERS, 2):
            diff = (by_sampler[mine] - by_sampler[theirs]).dropna().to_numpy(dtype=float)
            if len(diff) < 2:
                continue
            mean, low, high = paired_interval(diff)
            verdict = f"{mine} wins" if low > 0 else f"{theirs} wins" if high < 0 else "no difference shown"
            print(f"    {mine} - {theirs}: {mean:+.3f} [{low:+.3f}, {high:+.3f}] {verdict} ({len(diff)} pairs)")


if __name__ == "__main__":
    main()
