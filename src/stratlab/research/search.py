"""A worker's share of one iteration: propose parameter sets for one cell (a strategy on a market), backtest each on
train, and tell the sampler before proposing the next, as an optimiser worker does.

The loop's process keeps each cell's finished trials and sends them with the task; the worker builds an in-memory
study from them with the configured sampler (seeded by the loop), so proposals are computed where the backtests run,
spread over every worker, instead of one after the other in the loop's process (TPE's sampling costs several times
a backtest). Two tasks of the same cell in one iteration run side by side without seeing each other's proposals,
like two optimiser workers between storage reads; their seeds differ. The same history and seed give the same
proposals, so an iteration's results do not depend on which worker ran which task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from stratlab.engine import BacktestConfig
from stratlab.indicators.cache import indicator_cache
from stratlab.metrics import Kpis
from stratlab.optimize._optuna import tell_without_copy
from stratlab.optimize.backtest_space import CommonSpace
from stratlab.optimize.evaluate import missing_constraint
from stratlab.optimize.sampling import make_sampler
from stratlab.optimize.space import config_for, suggest
from stratlab.report.manifest import ManifestDataset
from stratlab.report.split import PartName
from stratlab.research.execute import WARM, Job, Outcome, run_job
from stratlab.strategies import StrategySource, use_source

# Tries per wanted parameter set before a task gives up on a space mostly outside the strategy's constraints.
TRIES_PER_SET = 10


def objective_value(kpis: Kpis | Any, objective: str) -> float | None:
    """The train figure a study is told (a KPI record or a row of KPIs); None (a failed trial) when the backtest
    could not compute it."""
    value = getattr(kpis, objective)
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class SearchTask:
    """Propose and backtest ``count`` parameter sets of one cell, after its ``history``."""

    market: ManifestDataset
    strategy: str
    sampler: str
    seed: int
    direction: StudyDirection
    history: tuple[FrozenTrial, ...]
    count: int
    objective: str
    common: CommonSpace
    fixed: dict[str, Any]
    keep_trades: bool
    log_steps: tuple[bool, ...]  # per parameter set, drawn by the loop (its rate, its seed)
    source: StrategySource | None = None  # a user strategy's file as the experiment recorded it


@dataclass
class Searched:
    """One proposal of a task: its finished trial, and for a backtested one its job and outcome (None: pruned)."""

    trial: FrozenTrial
    job: Job | None
    outcome: Outcome | None


def _study(task: SearchTask) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=task.direction, sampler=make_sampler(task.sampler, task.seed))
    study.add_trials(task.history)
    return study


def run_search(task: SearchTask, data_root: str) -> list[Searched]:
    """Ask, backtest on train and tell, ``task.count`` times (constraint breakers pruned and replaced)."""
    study = _study(task)
    strategy = use_source(task.strategy, task.source, used_by="research")
    made: list[tuple[Job | None, Outcome | None]] = []
    backtested = 0
    for _ in range(TRIES_PER_SET * task.count):
        if backtested >= task.count:
            break
        trial = study.ask()
        params, searched = suggest(trial, strategy, task.common)
        broken = missing_constraint(strategy, params)
        if broken is not None:
            trial.set_user_attr("pruned_because", f"breaks {broken}")
            tell_without_copy(study, trial, None, TrialState.PRUNED)
            made.append((None, None))
            continue
        config: BacktestConfig = config_for(strategy, task.fixed, searched)
        job = Job(market=task.market, strategy=task.strategy, params=params, config=config, parts=(PartName.TRAIN,),
                  keep_trades=task.keep_trades, log_steps=task.log_steps[backtested], source=task.source)  # fmt: skip
        outcome = run_job(job, data_root)
        value = objective_value(outcome.kpis[PartName.TRAIN], task.objective)
        state = TrialState.COMPLETE if value is not None else TrialState.FAIL
        tell_without_copy(study, trial, None if value is None else [value], state)
        made.append((job, outcome))
        backtested += 1
    trials = study.get_trials(deepcopy=False)[len(task.history) :]
    return [Searched(trial, job, outcome) for trial, (job, outcome) in zip(trials, made, strict=True)]


def search_chunk(tasks: Sequence[SearchTask], data_root: str) -> list[Searched]:
    """Every task of a chunk, in this (warm) worker."""
    with indicator_cache(store=WARM.cache) as store:
        WARM.cache = store
        return [found for task in tasks for found in run_search(task, data_root)]


__all__ = ["TRIES_PER_SET", "SearchTask", "Searched", "objective_value", "run_search", "search_chunk"]
