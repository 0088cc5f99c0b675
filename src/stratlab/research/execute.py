"""Where the loop's backtests run: in the loop's own process, on a local process pool, or on a Dask cluster.

A batch is cut into chunks of jobs; a chunk is one task for a worker, which answers with one outcome per job. Workers
stay warm between batches: each process keeps the candles of every market it has loaded (checked by fingerprint
once) and one indicator cache (``stratlab.indicators``), so the second batch of a strategy reuses the moving averages
the first one computed. The same function, ``run_chunk``, runs in all three places.

Dask distributed was chosen over Ray for clusters by measurement (see ``docs/architecture.md``): it is a light pure
Python install, starts a scheduler and two workers in about a second, and keeps a process pool's throughput on
chunks of backtests; Ray's wheel and its raylet/GCS processes buy nothing this workload needs.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from stratlab.engine import BacktestConfig
from stratlab.engine.schema import RecordArray
from stratlab.errors import ConfigError
from stratlab.indicators.cache import indicator_cache
from stratlab.metrics import Kpis
from stratlab.optimize.evaluate import PartBacktester
from stratlab.optimize.trial_returns import daily_returns
from stratlab.report.manifest import ManifestDataset
from stratlab.report.robustness import make_champion, neighbours, plateau
from stratlab.report.split import PartName, SplitPart
from stratlab.research.steps import StepRow, step_rows
from stratlab.strategies import StrategySource, use_source

FloatArray = npt.NDArray[np.float64]
# Chunks per worker and batch: enough that a slow chunk does not leave the other workers idle at the batch's end,
# few enough that sending a chunk costs little next to its backtests.
CHUNKS_PER_WORKER = 4


@dataclass(frozen=True)
class Job:
    """One parameter set to backtest on some parts of one market."""

    market: ManifestDataset
    strategy: str
    params: dict[str, Any]
    config: BacktestConfig
    parts: tuple[PartName, ...]
    keep_trades: bool = False
    keep_daily_returns: bool = False
    log_steps: bool = False
    neighbourhood: bool = False  # judge the train result's parameter neighbourhood (a BEST candidate)
    source: StrategySource | None = None  # a user strategy's file as the experiment recorded it


@dataclass
class Outcome:
    """What a job's backtests leave: each part's KPI record, and on request its trades, daily returns and steps."""

    kpis: dict[str, Kpis]
    trades: dict[str, RecordArray] = field(default_factory=dict)
    daily_returns: dict[str, FloatArray] = field(default_factory=dict)
    steps: list[StepRow] = field(default_factory=list)
    plateau: dict[str, Any] | None = None


class WarmWorker:
    """What a worker process keeps between chunks: one backtester per market, one indicator cache."""

    def __init__(self) -> None:
        self.backtesters: dict[str, PartBacktester] = {}
        self.cache: Any = None

    def backtester(self, market: ManifestDataset, data_root: str) -> PartBacktester:
        found = self.backtesters.get(market.fingerprint)
        if found is None:
            from stratlab.research.markets import load_market

            found = self.backtesters[market.fingerprint] = PartBacktester(load_market(market, data_root))
        return found


WARM = WarmWorker()


def warm_markets() -> list[str]:
    """The fingerprints of the markets this worker process holds (asked of cluster workers with ``Client.run``)."""
    return sorted(WARM.backtesters)


def _part(market: ManifestDataset, name: PartName) -> SplitPart:
    return next(part for part in market.parts if part.name == name)


def run_job(job: Job, data_root: str) -> Outcome:
    backtester = WARM.backtester(job.market, data_root)
    outcome = Outcome(kpis={})
    for name in job.parts:
        part = _part(job.market, name)
        result = backtester.backtest(job.strategy, job.params, job.config, part)
        outcome.kpis[name] = result.kpis
        if job.keep_trades:
            outcome.trades[name] = result.trade_rows
        if job.keep_daily_returns:
            outcome.daily_returns[name] = daily_returns(result)[1].astype(np.float64)
        if job.log_steps and name == PartName.TRAIN:
            outcome.steps = step_rows(backtester, job.strategy, job.params, part, result)
        if job.neighbourhood and name == PartName.TRAIN:
            outcome.plateau = train_plateau(backtester, job, part)
    return outcome


def train_plateau(backtester: PartBacktester, job: Job, part: SplitPart) -> dict[str, Any]:
    """Whether the train result sits on a plateau of its parameters (the ±1-step neighbours of every numeric
    parameter keep at least half its return) or on a spike, as the run report's robustness check judges it."""
    champion = make_champion(backtester.candles, job.strategy, job.params, job.config, part.start, part.end)
    around = neighbours(champion)
    found = plateau(champion.result.return_pct, around)
    return {
        "plateau_share": found.plateau_share, "plateau": found.label, "plateau_reason": found.reason,
        "neighbours": sum(1 for n in around if n.kpis is not None),
    }  # fmt: skip


def run_chunk(jobs: Sequence[Job], data_root: str) -> list[Outcome]:
    """Backtest every job of a chunk, in this process (kept warm for the next chunk)."""
    # A user strategy's recorded file, imported (once per process) and checked unchanged once per chunk, not per job.
    for strategy, source in {(job.strategy, job.source) for job in jobs}:
        use_source(strategy, source, used_by="research")
    with indicator_cache(store=WARM.cache) as store:
        WARM.cache = store
        return [run_job(job, data_root) for job in jobs]


def chunks(jobs: Sequence[Job], workers: int) -> list[list[Job]]:
    """``jobs`` cut into about ``CHUNKS_PER_WORKER`` chunks per worker, in order."""
    count = max(1, min(len(jobs), workers * CHUNKS_PER_WORKER))
    size = math.ceil(len(jobs) / count) if jobs else 1
    return [list(jobs[i : i + size]) for i in range(0, len(jobs), size)]


class Pending(Protocol):
    """Chunks sent to the workers; ``result`` waits for them and answers their items in the chunks' order."""

    def result(self) -> list[Any]: ...


# What a worker runs: a module-level function of (chunk, data root) that answers a list (picklable by reference).
ChunkFunction = Callable[[Sequence[Any], str], list[Any]]


class Executor(Protocol):
    """Runs chunks of work: ``submit`` sends them and returns at once, so the loop can prepare the next batch while
    the workers compute."""

    workers: int
    where: str

    def submit(self, function: ChunkFunction, parts: Sequence[Sequence[Any]]) -> Pending: ...

    def close(self) -> None: ...


def run_jobs(executor: Executor, jobs: Sequence[Job]) -> list[Outcome]:
    """Backtest ``jobs`` on the executor's workers and wait for their outcomes."""
    return executor.submit(run_chunk, chunks(jobs, executor.workers)).result() if jobs else []


@dataclass
class _Later:
    """Chunks run in this process when their result is asked for."""

    function: ChunkFunction
    parts: Sequence[Sequence[Any]]
    data_root: str

    def result(self) -> list[Any]:
        return [item for part in self.parts for item in self.function(part, self.data_root)]


@dataclass
class _Futures:
    """Chunks on a pool or a cluster: ``gather`` turns their futures into their lists."""

    futures: list[Any]
    gather: Callable[[list[Any]], list[list[Any]]]

    def result(self) -> list[Any]:
        return [item for chunk in self.gather(self.futures) for item in chunk]


class InlineExecutor:
    """The loop's own process: one worker, no pickling (tests, and machines with one core)."""

    workers = 1
    where = "in this process"

    def __init__(self, data_root: Path | str) -> None:
        self.data_root = str(data_root)

    def submit(self, function: ChunkFunction, parts: Sequence[Sequence[Any]]) -> Pending:
        return _Later(function, parts, self.data_root)

    def close(self) -> None:
        return None


def _leave_with_the_loop(loop_pid: int) -> None:
    """In a pool worker: end this process once the loop that spawned it is gone (killed with -9, it cannot tell its
    workers), checked every second on a daemon thread; otherwise the workers would wait for tasks forever."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != loop_pid:
                os._exit(0)

    threading.Thread(target=watch, name="leave with the loop", daemon=True).start()


class ProcessPoolExecutorBackend:
    """A local pool of warm worker processes (spawned: no state of the loop's process leaks into them)."""

    def __init__(self, data_root: Path | str, workers: int) -> None:
        self.data_root = str(data_root)
        self.workers = workers
        self.where = f"{workers} local worker processes"
        self.pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_leave_with_the_loop, initargs=(os.getpid(),),
        )  # fmt: skip

    def submit(self, function: ChunkFunction, parts: Sequence[Sequence[Any]]) -> Pending:
        futures = [self.pool.submit(function, part, self.data_root) for part in parts]
        return _Futures(futures, lambda done: [future.result() for future in done])

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """The workers of a Dask distributed cluster (``--cluster tcp://host:port``); each needs the same store path."""

    def __init__(self, data_root: Path | str, address: str, timeout_s: float = 30.0) -> None:
        from distributed import Client

        self.data_root = str(data_root)
        try:
            self.client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"--cluster: no Dask scheduler answers at {address} ({exc})") from None
        self.workers = max(1, sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values()))
        self.where = f"the Dask cluster at {address} ({self.workers} worker threads)"

    def submit(self, function: ChunkFunction, parts: Sequence[Sequence[Any]]) -> Pending:
        # pure=False: the same chunk sent twice must run twice (no result caching by the scheduler).
        futures = self.client.map(function, list(parts), [self.data_root] * len(parts), pure=False)
        return _Futures(futures, self.client.gather)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()  # type: ignore[no-untyped-call]


def make_executor(data_root: Path | str, workers: int, cluster: str | None) -> Executor:
    """Where a loop's batches run: the cluster at ``cluster``, else ``workers`` local processes (1: in-process)."""
    if cluster:
        return DaskExecutor(data_root, cluster)
    if workers <= 1:
        return InlineExecutor(data_root)
    return ProcessPoolExecutorBackend(data_root, workers)


def sampled(rate: float, rng: random.Random) -> bool:
    """Whether one backtest is logged bar by bar, at ``rate`` (0: never, 1: always)."""
    return rate >= 1.0 or (rate > 0.0 and rng.random() < rate)


__all__ = [
    "WARM",
    "ChunkFunction",
    "DaskExecutor",
    "Executor",
    "InlineExecutor",
    "Job",
    "Outcome",
    "Pending",
    "ProcessPoolExecutorBackend",
    "WarmWorker",
    "chunks",
    "make_executor",
    "run_chunk",
    "run_job",
    "run_jobs",
    "sampled",
    "warm_markets",
]
