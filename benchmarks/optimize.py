"""Optimiser speed: trials per second of whole runs, where a trial's time goes, and the straightforward approach.

On the demo market (12 months of 5m BTC, built into a temp data root first), all five strategies, default search
space, train part = the first 75 % of the bars:

1. Whole runs: ``create_run`` then ``start_run(workers=2, live=False)`` for each sampler (random, tpe, nsga2, qmc) on
   the default journal storage, and for random on SQLite (``sqlite:///<run dir>/optuna.db``), all with the same trial
   budget per strategy, plus one longer random run on the journal (the throughput target's run: its start-up is the
   same two seconds, so a short run would mostly measure start-up). Trials per second = completed trials
   (``status.json``) over the worker phase: from the ``run_started`` event to the last ``worker_finished`` event in
   ``progress.jsonl``, so start-up (interpreter, imports, opening the storage, loading the candles) counts and the
   supervisor's one-second polling and the report do not. The report step is skipped altogether: it is not part of
   what is measured and it would only lengthen the script. Also shown: start-up (``run_started`` to the first
   ``worker_started``: spawn, imports, storage, candles) and the steady rate, summed over workers, from each worker's
   first ``worker_progress`` line (written after the trial that crosses its first second, so the kernels' first loads
   are behind it) to its end.
2. Where a trial's time goes: one worker in this process (``run_worker``), half the budget of part 1 per strategy
   (the trials one of its two workers ran; a tpe history half as long), after an untimed warm-up run that loads
   the compiled kernels. Manual timers are put at the call sites from this script (monkeypatched, restored after);
   each category gets exclusive time, i.e. a timed call's time minus that of the timed calls inside it. So storage
   reads a sampler makes for its history count as storage.
3. The straightforward approach: an Optuna study (TPE, in-memory storage, ``n_jobs=1``, one process, one core)
   whose objective runs backtesting.py on the same train bars with an SMA cross written the usual backtesting.py
   way (``self.I(SMA, ...)``, ``crossover``, ``buy``/``sell`` with ``sl``/``tp``), over the same ranges as
   ``ma_cross`` and the common TP/SL ranges, and returns (Return [%], Max. Drawdown [%]); a fixed small number of
   completed trials. Ours uses two cores, so the ratio is also given per core (ours / 2 over theirs / 1).

4. One strategy per run: a random-sampler run (journal, two workers) of each strategy alone, the five searched by
   default and ``scalping`` (searched when named), so trials per second compare strategy by strategy; target:
   scalping's steady rate within 3x of the slowest of the five's.

Targets are printed next to the figures, never asserted. ``--quick`` takes smaller budgets and fewer
backtesting.py trials.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import pandas as pd

from _common import build_demo, cpu_model, versions

VERSIONED = ("numpy", "numba", "optuna", "sqlalchemy", "backtesting")  # printed with their versions

WORKERS = 2
SAMPLERS = ("random", "tpe", "nsga2", "qmc")
BUDGET = {"full": 200, "quick": 20}  # completed trials per strategy, five strategies
# The throughput target is judged on a longer random run, so that the fixed start-up (interpreters, imports, loading
# the candles: about two seconds) does not dominate a run of a few seconds.
THROUGHPUT_BUDGET = {"full": 1000, "quick": 100}
PEER_TRIALS = {"full": 10, "quick": 3}  # completed backtesting.py trials
FEE_BPS = 4.5  # the engine's default taker fee, given to backtesting.py too

PER_STRATEGY_BUDGET = {"full": 600, "quick": 60}  # completed trials of one strategy's own run
SCALPING_TARGET = 3.0  # scalping's trials/s at most this many times below the slowest of the five

TARGET_VS_PEER = 100.0
TARGET_RATE = 200.0


# the market -------------------------------------------------------------------------------------------------------


def request(sampler: str, budget: int, label: str, strategies: tuple[str, ...] | None = None) -> Any:
    from stratlab.optimize.context import RunRequest

    chosen = {} if strategies is None else {"strategies": strategies}
    return RunRequest.parse(
        source="demo", symbol="BTC", timeframe="5m", max_trials=budget, sampler=sampler, seed=0, label=label, **chosen
    )


def sqlite_url(run_path: Path) -> str:
    return f"sqlite:///{run_path.resolve()}/optuna.db"


@contextlib.contextmanager
def no_report() -> Iterator[None]:
    """``start_run`` without its final report (it imports ``write_report`` when called, so the module's is used)."""
    import stratlab.optimize.report as report_module

    original = report_module.write_report
    report_module.write_report = lambda *args, **kwargs: None
    try:
        yield
    finally:
        report_module.write_report = original


# 1. whole runs ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFigures:
    sampler: str
    storage: str
    budget: int
    completed: int
    wall_s: float  # run_started .. last worker_finished
    startup_s: float  # run_started .. first worker_started
    steady_rate: float  # summed over workers: first worker_progress line .. worker_finished
    state: str
    failed: int
    pruned: int

    @property
    def name(self) -> str:
        return f"{self.sampler}, {self.storage}"

    @property
    def rate(self) -> float:
        return self.completed / self.wall_s


def whole_run(
    sampler: str,
    storage: str,
    budget: int,
    data_root: Path,
    runs_root: Path,
    strategies: tuple[str, ...] | None = None,
) -> RunFigures:
    from stratlab.optimize.runner import create_run, start_run

    label = f"{sampler}-{storage}" if strategies is None else f"{sampler}-{'-'.join(strategies)}"
    run_dir = create_run(request(sampler, budget, label, strategies), data_root=data_root, runs_root=runs_root)
    url = sqlite_url(run_dir.path) if storage == "sqlite" else None  # None: the run's default, the journal
    with no_report():
        final = start_run(run_dir, workers=WORKERS, live=False, storage_url=url)
    events = run_dir.read_progress()
    started = next(e["time"] for e in events if e["event"] == "run_started")
    first_worker = min(e["time"] for e in events if e["event"] == "worker_started")
    last_finish = max(e["time"] for e in events if e["event"] == "worker_finished")
    return RunFigures(
        sampler=sampler,
        storage=storage,
        budget=budget,
        completed=int(final["completed"]),
        wall_s=last_finish - started,
        startup_s=first_worker - started,
        steady_rate=steady_rate(events),
        state=str(final["state"]),
        failed=sum(int(s["failed"]) for s in final["strategies"]),
        pruned=sum(int(s["pruned"]) for s in final["strategies"]),
    )


def steady_rate(events: list[dict[str, Any]]) -> float:
    """Trials per second summed over workers, each from its first progress line (or its start) to its end."""
    total = 0.0
    for end in (e for e in events if e["event"] == "worker_finished"):
        mine = [e for e in events if e.get("worker") == end["worker"]]
        first = next((e for e in mine if e["event"] == "worker_progress"), None)
        since, done = (first["time"], sum(first["trials"].values())) if first else (mine[0]["time"], 0)
        if end["time"] > since:
            total += (sum(end["trials"].values()) - done) / (end["time"] - since)
    return total


# 2. where a trial's time goes -------------------------------------------------------------------------------------

CATEGORIES = ("sampler", "storage", "optuna", "indicators", "signals", "backtest", "kpis")
LABELS = {
    "sampler": "sampler (infer space, sample_*, before/after trial)",
    "storage": "storage (optuna storages + our journal file)",
    "optuna": "optuna ask/tell/suggest, minus the two above",
    "indicators": "indicators (stratlab.indicators, cache included)",
    "signals": "signals (strategy code minus indicators)",
    "backtest": "backtest (config_for + run_backtest)",
    "kpis": "KPIs (stratlab.metrics)",
    "other": "other (worker loop, budget checks, progress)",
}
SAMPLER_METHODS = (
    "infer_relative_search_space", "sample_relative", "sample_independent", "before_trial", "after_trial",
    "select_parent",
)  # fmt: skip


class Attribution:
    """Exclusive seconds per category: a timed call is charged its time minus that of timed calls inside it."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self._stack: list[list[Any]] = []  # [category, since]
        self._patched: list[tuple[Any, str, Any]] = []
        self.loop_started: list[float] = []  # when the worker's trial loop began

    def reset(self) -> None:
        self.seconds.clear()
        now = time.perf_counter()
        for frame in self._stack:
            frame[1] = now

    def timed(self, category: str, function: Callable[..., Any]) -> Callable[..., Any]:
        stack, seconds, clock = self._stack, self.seconds, time.perf_counter

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            now = clock()
            if stack:
                outer = stack[-1]
                seconds[outer[0]] += now - outer[1]
            frame = [category, now]
            stack.append(frame)
            try:
                return function(*args, **kwargs)
            finally:
                end = clock()
                stack.pop()
                seconds[frame[0]] += end - frame[1]
                if stack:
                    stack[-1][1] = end

        return wrapper

    def patch(self, owner: Any, name: str, category: str) -> None:
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        self._patched.append((owner, name, original))
        setattr(owner, name, self.timed(category, original))

    def patch_methods(self, cls: type, category: str, names: tuple[str, ...] | None = None) -> None:
        """The plain functions defined on ``cls`` itself: ``names``, or every public one."""
        for name, value in list(vars(cls).items()):
            wanted = name in names if names is not None else not name.startswith("_")
            if wanted and isinstance(value, FunctionType):
                self.patch(cls, name, category)

    def restore(self) -> None:
        for owner, name, original in reversed(self._patched):
            setattr(owner, name, original)
        self._patched.clear()


def subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += [c for c in subclasses(sub) if c not in found]
    return found


def stratlab_modules(*prefixes: str) -> list[ModuleType]:
    return [m for name, m in list(sys.modules.items()) if name.startswith(prefixes) and isinstance(m, ModuleType)]


@contextlib.contextmanager
def instrumented() -> Iterator[Attribution]:
    """Timers at the call sites a worker goes through; the loop's start resets them (setup is not a trial)."""
    import optuna
    from optuna.storages import BaseStorage

    import stratlab.engine.result as result_module
    import stratlab.optimize.evaluate as evaluate_module
    import stratlab.optimize.worker as worker_module
    from stratlab import indicators, metrics
    from stratlab.optimize.journal import FastJournalFile
    from stratlab.strategies import Strategy

    attribution = Attribution()
    for cls in subclasses(optuna.samplers.BaseSampler):
        attribution.patch_methods(cls, "sampler", SAMPLER_METHODS)
    for cls in subclasses(BaseStorage):
        attribution.patch_methods(cls, "storage")
    attribution.patch_methods(FastJournalFile, "storage", ("read_logs", "append_logs"))
    attribution.patch_methods(optuna.Study, "optuna", ("ask", "tell", "get_trials"))
    attribution.patch_methods(
        optuna.Trial, "optuna", ("suggest_float", "suggest_int", "suggest_categorical", "set_user_attr")
    )
    # Strategies bind the indicators by name (some under another name): patch every module-level reference.
    functions = {id(getattr(indicators, name)) for name in indicators.__all__ if callable(getattr(indicators, name))}
    for module in stratlab_modules("stratlab.strategies", "stratlab.indicators", "stratlab.engine"):
        if module.__name__ == "stratlab.indicators.cache":
            continue
        for name, value in list(vars(module).items()):
            if id(value) in functions and not isinstance(value, type) and name != "indicator_cache":
                attribution.patch(module, name, "indicators")
    attribution.patch_methods(Strategy, "signals", ("signals", "stops"))
    attribution.patch(evaluate_module, "run_backtest", "backtest")
    attribution.patch(evaluate_module, "config_for", "backtest")
    attribution.patch(result_module, "compute_kpis", "kpis")
    for name in metrics.__all__:
        if isinstance(getattr(metrics, name), FunctionType):
            attribution.patch(metrics, name, "kpis")

    original_cache = worker_module.indicator_cache

    @contextlib.contextmanager
    def loop_cache(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with original_cache(*args, **kwargs) as store:
            attribution.reset()
            attribution.loop_started.append(time.perf_counter())
            yield store

    worker_module.indicator_cache = loop_cache
    try:
        yield attribution
    finally:
        worker_module.indicator_cache = original_cache
        attribution.restore()


@dataclass
class Profile:
    sampler: str
    storage: str
    budget: int
    trials: int = 0
    setup_s: float = 0.0
    loop_s: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.sampler}, {self.storage}"

    def ms(self, category: str) -> float:
        if category == "other":
            return (self.loop_s - sum(self.seconds.get(c, 0.0) for c in CATEGORIES)) / self.trials * 1000.0
        if category == "total":
            return self.loop_s / self.trials * 1000.0
        return self.seconds.get(category, 0.0) / self.trials * 1000.0


def in_process_run(sampler: str, storage: str, budget: int, data_root: Path, runs_root: Path) -> tuple[Any, Any]:
    from stratlab.optimize.runner import create_run
    from stratlab.optimize.worker import run_worker

    run_dir = create_run(request(sampler, budget, f"p-{sampler}-{storage}"), data_root=data_root, runs_root=runs_root)
    url = sqlite_url(run_dir.path) if storage == "sqlite" else None
    return run_dir, functools.partial(run_worker, run_dir.path, storage_url=url)


def profile_worker(sampler: str, storage: str, budget: int, data_root: Path, runs_root: Path) -> Profile:
    # Untimed warm-up: the compiled kernels load from their cache and the sampler's imports happen here.
    _, warm_up = in_process_run(sampler, storage, 2, data_root, runs_root)
    warm_up()
    _, work = in_process_run(sampler, storage, budget, data_root, runs_root)
    profile = Profile(sampler, storage, budget)
    with instrumented() as attribution:
        started = time.perf_counter()
        summary = work()
        ended = time.perf_counter()
        loop_started = attribution.loop_started[0]
        profile.seconds = dict(attribution.seconds)
    profile.trials = sum(summary.trials.values())
    profile.setup_s = loop_started - started
    profile.loop_s = ended - loop_started
    return profile


# 3. the straightforward approach ----------------------------------------------------------------------------------


def SMA(values: Any, n: int) -> pd.Series:  # noqa: N802 - the name every backtesting.py example uses
    """Simple moving average, the usual backtesting.py helper."""
    return pd.Series(values).rolling(n).mean()


@dataclass(frozen=True)
class PeerFigures:
    completed: int
    pruned: int
    wall_s: float
    train_bars: int
    best_return_pct: float
    trades: list[int]

    @property
    def rate(self) -> float:
        return self.completed / self.wall_s


def straightforward(data_root: Path, trials: int) -> PeerFigures:
    import optuna
    from backtesting import Backtest, Strategy
    from backtesting import backtesting as backtesting_module
    from backtesting.lib import crossover
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    from stratlab.data.loader import load_ohlcv
    from stratlab.optimize.context import split_parts

    # Its tqdm progress bar would interleave with the output.
    backtesting_module._tqdm = lambda iterable, **_: iterable
    candles = load_ohlcv("demo", "BTC", "5m", data_root=data_root)
    train = split_parts(candles, (0.75, 0.25), 0)[0]
    window = slice(train.start, train.end)
    data = pd.DataFrame(
        {
            "Open": candles.open[window],
            "High": candles.high[window],
            "Low": candles.low[window],
            "Close": candles.close[window],
            "Volume": candles.volume[window],
        },
        index=pd.to_datetime(candles.timestamp_ms[window], unit="ms"),
    )

    class SmaCross(Strategy):  # type: ignore[misc]
        fast = 20
        slow = 100
        tp_pct = 2.0
        sl_pct = 1.0

        def init(self) -> None:
            close = self.data.Close
            self.sma_fast = self.I(SMA, close, self.fast)
            self.sma_slow = self.I(SMA, close, self.slow)

        def next(self) -> None:
            price = self.data.Close[-1]
            tp, sl = self.tp_pct / 100.0, self.sl_pct / 100.0
            if crossover(self.sma_fast, self.sma_slow):
                self.position.close()
                self.buy(sl=price * (1.0 - sl), tp=price * (1.0 + tp))
            elif crossover(self.sma_slow, self.sma_fast):
                self.position.close()
                self.sell(sl=price * (1.0 + sl), tp=price * (1.0 - tp))

    # It trades whole units: with BTC near 100,000 a large cash keeps that rounding negligible.
    backtest = Backtest(data, SmaCross, cash=1e9, commission=FEE_BPS / 10_000.0, finalize_trades=True)
    trades: list[int] = []

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        fast = trial.suggest_int("fast", 5, 100, log=True)
        slow = trial.suggest_int("slow", 20, 400, log=True)
        if fast >= slow:
            raise optuna.TrialPruned()
        tp_pct = trial.suggest_float("tp_pct", 0.5, 8.0, log=True)
        sl_pct = trial.suggest_float("sl_pct", 0.3, 5.0, log=True)
        stats = backtest.run(fast=fast, slow=slow, tp_pct=tp_pct, sl_pct=sl_pct)
        trades.append(int(stats["# Trades"]))
        return float(stats["Return [%]"]), -float(stats["Max. Drawdown [%]"])  # drawdown as a positive %, minimised

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.TPESampler(seed=0))
    started = time.perf_counter()
    study.optimize(objective, n_jobs=1, callbacks=[MaxTrialsCallback(trials, states=(TrialState.COMPLETE,))])
    wall = time.perf_counter() - started
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return PeerFigures(
        completed=len(done),
        pruned=len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))),
        wall_s=wall,
        train_bars=train.end - train.start,
        best_return_pct=max(t.values[0] for t in done),
        trades=trades,
    )


# the report -------------------------------------------------------------------------------------------------------


SPIN = "x = 0\nfor i in range(3_000_000):\n    x += i\n"


def spin_wall(processes: int) -> float:
    """Wall seconds for ``processes`` interpreters each running the same pure-Python loop at once."""
    started = time.perf_counter()
    children = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(processes)]
    for child in children:
        child.wait()
    return time.perf_counter() - started


def parallel_scaling(processes: int) -> float:
    """How many times one process's throughput ``processes`` CPU-bound processes get (ideal: ``processes``)."""
    one = min(spin_wall(1) for _ in range(2))
    many = min(spin_wall(processes) for _ in range(2))
    return processes * one / many


def verdict(value: float, target: float) -> str:
    return "met" if math.isfinite(value) and value >= target else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller budgets, fewer backtesting.py trials")
    opts = parser.parse_args()
    mode = "quick" if opts.quick else "full"
    budget, peer_trials = BUDGET[mode], PEER_TRIALS[mode]
    os.environ["NUMBA_NUM_THREADS"] = "1"  # as start_run gives its workers; before numba loads here

    began = time.perf_counter()
    scaling = parallel_scaling(WORKERS)
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs ({WORKERS} CPU-bound processes at once get "
        f"{scaling:.2f}x the throughput of one); runs: {WORKERS} worker processes + the supervisor (this process), "
        f"NUMBA_NUM_THREADS=1"
    )
    print(f"python {platform.python_version()}, {versions(*VERSIONED)}")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # QMCSampler's experimental warning, the peers' chatter
        data_root, runs_root = Path(tmp) / "data", Path(tmp) / "runs"
        build_s = build_demo(data_root)
        from stratlab.data.loader import load_ohlcv
        from stratlab.strategies import default_strategy_names, strategy_names

        n_bars = len(load_ohlcv("demo", "BTC", "5m", data_root=data_root))
        names = default_strategy_names()
        print(
            f"data: demo BTC 5m, {n_bars:,} bars (12 months, built in {build_s:.1f} s); train = first 75 %; "
            f"{len(names)} strategies ({', '.join(names)}), default space (TP/SL searched, mode none)"
        )

        configs = [(sampler, "journal") for sampler in SAMPLERS] + [("random", "sqlite")]
        runs = [whole_run(sampler, storage, budget, data_root, runs_root) for sampler, storage in configs]
        long_run = whole_run("random", "journal", THROUGHPUT_BUDGET[mode], data_root, runs_root)
        profiles = [profile_worker(sampler, storage, budget // 2, data_root, runs_root) for sampler, storage in configs]
        every = strategy_names()  # the default five and those searched only when named (scalping)
        per_strategy = {
            name: whole_run("random", "journal", PER_STRATEGY_BUDGET[mode], data_root, runs_root, (name,))
            for name in every
        }
        peer = straightforward(data_root, peer_trials)

    # 1.
    print()
    print(
        f"1. whole runs, start_run with {WORKERS} workers, {budget} completed trials per strategy "
        f"({budget * len(names)} in all; the last row {long_run.budget}); wall = run_started .. last worker_finished "
        f"(report skipped);"
    )
    print("   trials/s = trials / wall; steady = summed over workers, from each one's first progress line to its end")
    width = max(len(r.name) for r in runs) + 2
    print(
        f"{'sampler, storage':<{width}}{'trials':>8}{'wall s':>9}{'start-up s':>12}{'trials/s':>10}"
        f"{'steady':>9}   notes"
    )
    for r in (*runs, long_run):
        notes = [f"state {r.state}"] + [f"{r.pruned} pruned"] * bool(r.pruned) + [f"{r.failed} failed"] * bool(r.failed)
        print(
            f"{r.name:<{width}}{r.completed:>8,}{r.wall_s:>9.1f}{r.startup_s:>12.1f}{r.rate:>10.1f}"
            f"{r.steady_rate:>9.1f}   {', '.join(notes)}"
        )

    # 2.
    print()
    print(
        f"2. milliseconds per completed trial, one worker in this process (run_worker, {budget // 2} trials per "
        f"strategy, after a warm-up run); exclusive time per category"
    )
    label_width = max(len(label) for label in LABELS.values()) + 2
    column = max(len(p.name) for p in profiles) + 3
    print(f"{'':<{label_width}}" + "".join(f"{p.name:>{column}}" for p in profiles))
    for category in (*CATEGORIES, "other"):
        print(f"{LABELS[category]:<{label_width}}" + "".join(f"{p.ms(category):>{column}.2f}" for p in profiles))
    print(f"{'total':<{label_width}}" + "".join(f"{p.ms('total'):>{column}.2f}" for p in profiles))
    print(
        f"{'= trials/s, one worker':<{label_width}}" + "".join(f"{1000 / p.ms('total'):>{column}.1f}" for p in profiles)
    )
    print(f"{'setup before the loop, s':<{label_width}}" + "".join(f"{p.setup_s:>{column}.2f}" for p in profiles))
    print(
        f"   (one process alone; with {WORKERS} workers at once every row grows about {WORKERS / scaling:.1f}x on this "
        f"machine, by the scaling on the machine line)"
    )

    # 3.
    mean_trades = sum(peer.trades) / max(len(peer.trades), 1)
    print()
    print(
        f"3. straightforward: Optuna TPE, in-memory storage, n_jobs=1, one process (one core), objective = "
        f"backtesting.py SMA cross with sl/tp on the same {peer.train_bars:,} train bars"
    )
    print(
        f"   {peer.completed} completed trials ({peer.pruned} pruned: fast >= slow) in {peer.wall_s:.1f} s = "
        f"{peer.rate:.2f} trials/s ({peer.wall_s / peer.completed:.2f} s per trial; {mean_trades:,.0f} trades per "
        f"run on average, best return {peer.best_return_pct:+.1f} %)"
    )
    print(f"   ratios, ours ({WORKERS} workers, wall trials/s) over it; per core = (ours / {WORKERS}) / (theirs / 1)")
    by_name = {r.name: r for r in runs}
    for label, run in (
        (f"random, {budget}", by_name["random, journal"]),
        (f"random, {long_run.budget}", long_run),
        (f"tpe, {budget}", by_name["tpe, journal"]),
    ):
        over = run.rate / peer.rate
        print(
            f"   {label + ' per strategy':<22}{run.rate:>8.1f} trials/s   {over:>7,.0f}x   per core "
            f"{over / WORKERS:>6,.0f}x   target >= {TARGET_VS_PEER:,.0f}x: {verdict(over, TARGET_VS_PEER)}"
        )

    # 4.
    cheapest = max((r for r in runs if r.storage == "journal"), key=lambda r: r.rate)
    journal, sqlite = by_name["random, journal"], by_name["random, sqlite"]
    faster = "journal" if journal.rate >= sqlite.rate else "sqlite"
    print()
    print(
        f"target: >= {TARGET_RATE:,.0f} trials/s in all on {WORKERS} cores with the cheapest sampler "
        f"(the fastest at {budget} per strategy: {cheapest.sampler}, {cheapest.rate:.1f}/s); on the "
        f"{long_run.budget}-per-strategy random run {long_run.rate:.1f}/s (steady {long_run.steady_rate:.1f}/s): "
        f"{verdict(long_run.rate, TARGET_RATE)}"
    )
    print(
        f"storage: random on journal {journal.rate:.1f}/s vs sqlite {sqlite.rate:.1f}/s: {faster} measured faster "
        f"({max(journal.rate, sqlite.rate) / min(journal.rate, sqlite.rate):.1f}x); the default is journal"
        f"{'' if faster == 'journal' else ' (NOT the faster one here)'}"
    )
    # 4.
    print()
    print(
        f"4. one strategy per run: random sampler, journal, {WORKERS} workers, {PER_STRATEGY_BUDGET[mode]} completed "
        f"trials (strategies searched by default and scalping, searched when named)"
    )
    print(f"{'strategy':<22}{'trials/s':>10}{'steady':>9}")
    for name, run in per_strategy.items():
        print(f"{name:<22}{run.rate:>10.1f}{run.steady_rate:>9.1f}")
    # Judged on the steady rate: a run of one strategy is short, and its fixed start-up would hide the trial cost.
    five = {name: run for name, run in per_strategy.items() if name in names}
    slowest = min(five, key=lambda name: five[name].steady_rate)
    scalping = per_strategy["scalping"]
    # A run too short to measure a steady rate (0/s) is slower than any target, not a division by zero.
    times = five[slowest].steady_rate / scalping.steady_rate if scalping.steady_rate > 0 else math.inf
    print(
        f"target: scalping's steady trials/s within {SCALPING_TARGET:g}x of the slowest of the five ({slowest}, "
        f"{five[slowest].steady_rate:.1f}/s): scalping {scalping.steady_rate:.1f}/s, {times:.2f}x slower: "
        f"{verdict(SCALPING_TARGET, times)}"  # met when times <= the target
    )
    print(f"(whole script {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
