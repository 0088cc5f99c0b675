"""The research loop: propose, backtest, write, adapt, admit; until enough BEST, enough backtests or enough time.

Each iteration:

1. **Propose.** Every cell (one strategy on one market) asks its Optuna study for ``batch_size`` parameter sets
   (the configured sampler; TPE's constant liar keeps a batch's proposals apart). A set that breaks the strategy's
   constraints is pruned, not backtested.
2. **Backtest on train** on the executor (in-process, a local pool of warm workers, or a Dask cluster).
3. **Adapt.** SOFT and HARD bounds with an adaptive rule move to their percentile of every valid train row seen,
   within floor and ceiling, with hysteresis; each move is logged with its reason.
4. **Confirm candidates.** A backtest whose train figures pass SOFT or HARD (as they stand after step 3) is run
   again on train and validation, keeping its trades and daily returns; it joins GOOD when train passes SOFT and
   validation passes the validation bounds, BEST when train passes HARD and validation passes them. Its score is the
   weighted percentile rank among the valid train rows seen; a BEST member gets its PSR and DSR (the search's
   number of backtests as N). Holdout is never looked at.
5. **Tell and write.** Each study is told its trials' train objective; the batch, its KPI records, the members'
   trades, the admissions and the threshold moves are written in **one transaction**.

Nothing is kept outside the database: a second ``start`` reads the experiment back (the studies replayed from the
stored backtests, the bounds from the last logged moves, the pools from their table) and goes on with the next
iteration. A kill loses the batch being computed and nothing else.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from stratlab.atomic_io import write_text_atomic
from stratlab.errors import ConfigError, DataError
from stratlab.metrics import Kpis
from stratlab.optimize._optuna import tell_without_copy
from stratlab.optimize.context import SamplerName
from stratlab.optimize.gp_sampler import CHANCE_SPEARMAN, study_quality
from stratlab.optimize.luck import candidate_statistics
from stratlab.optimize.sampling import UniformSampler
from stratlab.optimize.space import BACKTEST_PREFIX, searched_settings, suggest
from stratlab.optimize.worker import worker_seed
from stratlab.report.manifest import ManifestDataset
from stratlab.report.split import PartName
from stratlab.research.config import (
    BEST,
    GOOD,
    THRESHOLD_MOVE,
    TIER_OF_POOL,
    TIERS,
    PoolName,
    ResearchConfig,
    Tier,
    bounds_after_moves,
    threshold_name,
)
from stratlab.research.db import Admission, BacktestRow, Dataset, Decision, ResultsDb, kpi_values
from stratlab.research.execute import Executor, Outcome, Pending, run_jobs, sampled
from stratlab.research.markets import MarketKey, market_key, market_label, resolve_market
from stratlab.research.scoring import score
from stratlab.research.search import Searched, SearchTask, objective_value, search_chunk
from stratlab.research.thresholds import AdaptiveThresholds
from stratlab.strategies import Strategy, StrategySource, use_source
from stratlab.strategies.check_records import trusted_sources

log = logging.getLogger(__name__)

STOP_FILE = "STOP"
STATUS_FILE = "status.json"
LOCK_FILE = "loop.lock"
MODEL_QUALITY = "model_quality"  # the kind of an adaptive_decisions row that judges the sampler's model
# Parameter sets a worker proposes and backtests in one task: enough that sending the cell's history is a small part
# of it, few enough that a batch spreads over the workers (64 per cell and five cells: 20 tasks).
SETS_PER_TASK = 16
# The config fields that decide what a backtest of the experiment means: a resumed start must not change them.
FIXED_FIELDS = ("markets", "strategies", "split", "objective", "backtest", "common", "sampler")


@dataclass
class Cell:
    """One strategy searched on one market: its finished trials, which every search task of it starts from."""

    index: int
    market: ManifestDataset
    strategy: Strategy
    trials: list[FrozenTrial] = field(default_factory=list)

    @property
    def key(self) -> tuple[MarketKey, str]:
        return market_key(self.market), self.strategy.name

    @property
    def label(self) -> str:
        return f"{self.strategy.name} on {market_label(market_key(self.market))}"


@dataclass
class Batch:
    """An iteration's search tasks sent to the workers (in cell order), waiting for their results."""

    tasks: list[SearchTask]
    pending: Pending


@dataclass
class LoopStatus:
    """Where a loop stands, after each iteration (``status.json``, the CLI's progress, the Research page)."""

    experiment: str
    experiment_id: int
    iteration: int = 0
    backtests: int = 0
    good: int = 0
    best: int = 0
    thresholds: dict[str, float] = field(default_factory=dict)
    started_backtests: int = 0
    elapsed_s: float = 0.0
    backtests_per_s: float = 0.0
    max_backtests: int = 0
    best_target: int = 0
    where: str = ""
    state: str = "running"
    stopped_by: str = ""

    def to_json(self) -> str:
        import json

        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    def line(self) -> str:
        rate = f", {self.backtests_per_s:,.1f} backtests/s" if self.backtests_per_s else ""
        return (
            f"iteration {self.iteration}: {self.backtests:,} backtests, GOOD {self.good:,}, "
            f"BEST {self.best:,}/{self.best_target:,}{rate}"
        )


def kpi_frame(records: Sequence[Kpis]) -> pd.DataFrame:
    return pd.DataFrame([kpi_values(record) for record in records])


def experiment_record(
    config: ResearchConfig, markets: Sequence[ManifestDataset], sources: Mapping[str, StrategySource]
) -> dict[str, Any]:
    """What the experiments table keeps: the config as given, each market as resolved (fingerprint, parts) and each
    user strategy's file, content hash and check state."""
    return {
        "config": config.model_dump(mode="json"),
        "markets": [m.model_dump(mode="json") for m in markets],
        "strategy_sources": {name: source.model_dump(mode="json") for name, source in sources.items()},
    }


def _changed_fields(stored: Mapping[str, Any], config: ResearchConfig) -> list[str]:
    now = config.model_dump(mode="json")
    return [name for name in FIXED_FIELDS if stored.get(name) != now.get(name)]


class ResearchLoop:
    """One experiment's loop over an open results database (see the module)."""

    def __init__(
        self,
        config: ResearchConfig,
        db: ResultsDb,
        *,
        data_root: Path | str,
        work_dir: Path,
        executor: Executor,
        on_progress: Callable[[LoopStatus], None] | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.data_root = Path(data_root)
        self.work_dir = work_dir
        self.executor = executor
        self.on_progress = on_progress
        self.rng = random.Random(config.seed)
        self.experiment_id, self.markets, self.sources = self._open_experiment()
        self.thresholds: dict[Tier, AdaptiveThresholds] = {}
        self.seen = pd.DataFrame()
        self.members: dict[PoolName, set[int]] = {GOOD: set(), BEST: set()}
        self.iteration = 0
        self.in_flight = 0
        self.launched_ahead = 0  # batches launched and not yet written
        self.cells: list[Cell] = []
        self._resume()
        self.status = LoopStatus(
            experiment=config.name, experiment_id=self.experiment_id, iteration=self.iteration,
            backtests=len(self.seen), started_backtests=len(self.seen), good=len(self.members[GOOD]),
            best=len(self.members[BEST]), thresholds=self._threshold_values(), max_backtests=config.stop.max_backtests,
            best_target=config.stop.best, where=executor.where,
        )  # fmt: skip

    # opening and resuming -----------------------------------------------------------------------------------------

    def _open_experiment(self) -> tuple[int, list[ManifestDataset], dict[str, StrategySource]]:
        found = self.db.experiment_config(self.config.name)
        if found is not None:
            experiment_id, stored = found
            changed = _changed_fields(stored.get("config", {}), self.config)
            if changed:
                raise ConfigError(
                    f"experiment {self.config.name!r} was started with other {', '.join(changed)}: its backtests "
                    "would not be comparable; give this config a new name"
                )
            markets = [ManifestDataset.model_validate(m) for m in stored.get("markets", [])]
            sources = {
                name: StrategySource.model_validate(raw) for name, raw in stored.get("strategy_sources", {}).items()
            }
            return experiment_id, markets, sources
        sources = trusted_sources(self.config.strategies, skip_check=self.config.skip_check)
        keys = [market_key(m) for m in self.config.markets]
        if len(set(keys)) != len(keys):
            raise ConfigError("research config: markets: each source, symbol and timeframe once")
        markets = [
            resolve_market(choice, self.config.strategies, self.config.split, self.data_root)
            for choice in self.config.markets
        ]
        record = experiment_record(self.config, markets, sources)
        return self.db.experiment(self.config.name, record), markets, sources

    def _resume(self) -> None:
        stored = self.db.backtests_frame(self.experiment_id)
        current = bounds_after_moves(self.db.decisions(self.experiment_id))
        self.thresholds = {tier: self.config.adaptive_thresholds(tier, current[tier]) for tier in TIERS}
        members = self.db.pool_members(self.experiment_id)
        for pool in (GOOD, BEST):
            self.members[pool] = set(members.loc[members["pool"] == pool, "backtest_id"].astype(int))
        self.seen = stored.drop(columns=["params_json", "config_json"])
        self.iteration = int(stored["iteration"].max()) + 1 if len(stored) else 0
        self.cells = self._open_cells(stored)

    @property
    def samples_from_history(self) -> bool:
        """Whether the sampler's proposals depend on the trials before them (TPE, NSGA-II); the random and QMC
        samplers draw without looking, so their tasks are sent no history."""
        return self.config.sampler in (SamplerName.TPE, SamplerName.NSGA2, SamplerName.GP_TR)

    @property
    def direction(self) -> StudyDirection:
        return StudyDirection.MAXIMIZE if self.config.objective_direction() == "max" else StudyDirection.MINIMIZE

    def _open_cells(self, stored: pd.DataFrame) -> list[Cell]:
        cells = []
        for index, (market, name) in enumerate((m, s) for m in self.markets for s in self.config.strategies):
            cell = Cell(
                index, market, use_source(name, self.sources.get(name), used_by=f"experiment {self.config.name!r}")
            )
            source, symbol, timeframe = market_key(market)
            mine = stored[
                (stored["strategy"] == name) & (stored["source"] == source) & (stored["symbol"] == symbol)
                & (stored["timeframe"] == timeframe)
            ]  # fmt: skip
            cell.trials = self._replayed_trials(cell, mine)
            cells.append(cell)
        return cells

    def _replayed_trials(self, cell: Cell, rows: pd.DataFrame) -> list[FrozenTrial]:
        """The stored backtests of a cell as finished trials, with the distributions a fresh suggestion records
        (replayed on a throwaway study with an uniform sampler, which proposes nothing it is not told)."""
        if rows.empty:
            return []
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        replay = optuna.create_study(direction=self.direction, sampler=UniformSampler(seed=0))
        for row in rows.itertuples():
            searched = searched_settings(row.config_json, self.config.common)  # type: ignore[arg-type]
            flat = {**row.params_json, **{BACKTEST_PREFIX + k: v for k, v in searched.items()}}  # type: ignore[dict-item]
            replay.enqueue_trial(flat, skip_if_exists=False)
            trial = replay.ask()
            suggest(trial, cell.strategy, self.config.common)
            value = objective_value(row, self.config.objective)
            state = TrialState.COMPLETE if value is not None else TrialState.FAIL
            tell_without_copy(replay, trial, None if value is None else [value], state)
        return replay.get_trials(deepcopy=False)

    # one iteration ------------------------------------------------------------------------------------------------

    def _threshold_values(self) -> dict[str, float]:
        return {
            threshold_name(tier, rule.kpi): thresholds.value_of(rule.kpi)
            for tier, thresholds in self.thresholds.items()
            for rule in thresholds.rules
        }

    def _room(self) -> int:
        """Backtests the maximum still allows, those in flight counted."""
        return self.config.stop.max_backtests - len(self.seen) - self.in_flight

    def _tasks_of(self, cell: Cell, count: int) -> list[SearchTask]:
        """A cell's share of an iteration, cut into tasks of ``SETS_PER_TASK`` parameter sets for the workers. The
        cut does not depend on the number of workers, so an experiment gives the same backtests wherever it runs."""
        pieces = max(1, math.ceil(count / SETS_PER_TASK))
        sizes = [count // pieces + (1 if k < count % pieces else 0) for k in range(pieces)]
        launch = self.iteration + self.launched_ahead
        return [
            SearchTask(
                market=cell.market, strategy=cell.strategy.name, sampler=self.config.sampler,
                seed=worker_seed(self.config.seed, cell.index * 1_009 + k, launch * 7_919 + len(cell.trials)),
                direction=self.direction, history=tuple(cell.trials) if self.samples_from_history else (),
                count=size, objective=self.config.objective,
                common=self.config.common, fixed=dict(self.config.backtest),
                keep_trades=self.config.keep_trades == "all",
                log_steps=tuple(sampled(self.config.step_logs, self.rng) for _ in range(size)),
                source=self.sources.get(cell.strategy.name),
            )
            for k, size in enumerate(sizes)
        ]  # fmt: skip

    def _launch(self) -> Batch | None:
        """Send an iteration's search tasks to the workers (None: no room left)."""
        room = self._room()
        if room <= 0:
            return None
        per_cell = max(1, min(self.config.batch_size, math.ceil(room / len(self.cells))))
        tasks: list[SearchTask] = []
        for cell in self.cells:
            count = min(per_cell, room - sum(task.count for task in tasks))
            if count > 0:
                tasks += self._tasks_of(cell, count)
        self.in_flight += sum(task.count for task in tasks)
        self.launched_ahead += 1
        return Batch(tasks, self.executor.submit(search_chunk, [[task] for task in tasks]))

    def _adapt(self, seen: pd.DataFrame) -> list[Decision]:
        valid = seen[seen["is_valid"].astype(bool)] if len(seen) else seen
        decisions = []
        for tier, thresholds in self.thresholds.items():
            for change in thresholds.update(valid, self.iteration):
                decisions.append(
                    Decision(THRESHOLD_MOVE, threshold_name(tier, change.kpi), change.old, change.new, change.reason)
                )
                log.info("%s threshold %s: %s", tier.upper(), change.kpi, change.reason)
        return decisions + self._model_quality()

    def _model_quality(self) -> list[Decision]:
        """With a model-based sampler, how well each cell's model predicts its next trials (walk-forward Spearman),
        logged every iteration; at or below ``CHANCE_SPEARMAN`` the sampler explores more."""
        if self.config.sampler != SamplerName.GP_TR:
            return []
        decisions = []
        for cell in self.cells:
            quality = study_quality(cell.trials, [self.direction], seed=self.config.seed)
            if quality is None:
                continue
            verdict = "better than chance" if quality > CHANCE_SPEARMAN else "no better than chance: more exploration"
            reason = (
                f"{cell.label}: walk-forward Spearman of the GP's predictions over {len(cell.trials):,} trials is "
                f"{quality:.2f} ({verdict})"
            )
            decisions.append(Decision(MODEL_QUALITY, f"model.{cell.label}", None, quality, reason))
        return decisions

    def _admissions(
        self, train: pd.DataFrame, candidates: list[int], confirmed: list[Outcome], seen: pd.DataFrame
    ) -> list[Admission]:
        sets = {tier: self.thresholds[tier].current() for tier in TIERS}
        validation = self.config.validation_set()
        valid = seen[seen["is_valid"].astype(bool)]
        scores = score(valid, self.config.score)
        first_new = len(seen) - len(train)
        admissions = []
        for row, outcome in zip(candidates, confirmed, strict=True):
            validation_kpis = outcome.kpis[PartName.VALIDATION]
            validation_ok, _ = validation.passes(validation_kpis)
            if not validation_ok:
                continue
            position = first_new + row
            row_score = float(scores.loc[position]) if position in scores.index else None
            for pool in (GOOD, BEST):
                tier = TIER_OF_POOL[pool]
                passes, _ = sets[tier].passes(train.iloc[row])
                if not passes:
                    continue
                thresholds = {"train": sets[tier].model_dump(), "validation": validation.model_dump(), "tier": tier}
                luck = self._luck(outcome, len(seen)) if pool == BEST else None
                admissions.append(Admission(row, pool, thresholds, row_score, luck))
        return admissions

    @staticmethod
    def _luck(outcome: Outcome, n_backtests: int) -> dict[str, Any]:
        """PSR and DSR of a BEST member on its train and validation days, N = the experiment's backtests so far."""
        days = np.concatenate([outcome.daily_returns[PartName.TRAIN], outcome.daily_returns[PartName.VALIDATION]])
        trades = outcome.kpis[PartName.VALIDATION].n_trades
        statistics = candidate_statistics(days, trades, {"n_trials": n_backtests})
        statistics["n_trials"] = n_backtests
        statistics["computed_on"] = "daily returns on train then validation; N = the experiment's backtests so far"
        statistics.update(outcome.plateau or {})
        return statistics

    def _rows(self, found: Sequence[Searched], confirmed: Mapping[int, Outcome]) -> list[BacktestRow]:
        rows = []
        split = ",".join(f"{f:g}" for f in self.config.split)
        for index, item in enumerate(found):
            assert item.job is not None and item.outcome is not None
            market = item.job.market
            again = confirmed.get(index)
            kpis = dict(item.outcome.kpis)
            trades = dict(item.outcome.trades)
            if again is not None:
                kpis[PartName.VALIDATION] = again.kpis[PartName.VALIDATION]
                trades = dict(again.trades)
            rows.append(
                BacktestRow(
                    strategy=item.job.strategy, params=item.job.params, config=item.job.config,
                    dataset=Dataset(market.source, market.symbol, market.timeframe, market.fingerprint), split=split,
                    kpis=kpis, trades=trades, steps=item.outcome.steps,
                )
            )  # fmt: skip
        return rows

    def _keep_trials(self, results: Sequence[Searched]) -> None:
        """Every backtested trial of a batch into its cell's history, in task order (so deterministic); a pruned
        proposal has no figure to learn from."""
        cells = {(market_key(c.market), c.strategy.name): c for c in self.cells}
        for item in results:
            if item.job is not None:
                cells[(market_key(item.job.market), item.job.strategy)].trials.append(item.trial)

    def _finish(self, batch: Batch) -> int:
        """Wait for a launched batch, adapt, confirm its candidates, write; returns the backtests written."""
        results: list[Searched] = batch.pending.result()
        self._keep_trials(results)
        found = [item for item in results if item.outcome is not None]
        jobs = [item.job for item in found if item.job is not None]
        train = kpi_frame([item.outcome.kpis[PartName.TRAIN] for item in found if item.outcome is not None])
        seen = pd.concat([self.seen, train[[c for c in train.columns if c != "notes"]]], ignore_index=True)
        decisions = self._adapt(seen)
        soft, hard = self.thresholds["soft"].current(), self.thresholds["hard"].current()
        candidates = [int(i) for i in np.flatnonzero(soft.passing_mask(train) | hard.passing_mask(train))]
        best_candidate = hard.passing_mask(train)
        again = [
            dataclasses.replace(jobs[i], parts=(PartName.TRAIN, PartName.VALIDATION), keep_trades=True,
                                keep_daily_returns=True, log_steps=False, neighbourhood=bool(best_candidate[i]))
            for i in candidates
        ]  # fmt: skip
        confirmed = run_jobs(self.executor, again)
        admissions = self._admissions(train, candidates, confirmed, seen)
        rows = self._rows(found, dict(zip(candidates, confirmed, strict=True)))
        ids = self.db.write_batch(self.experiment_id, self.iteration, rows, admissions, decisions)
        for admission in admissions:
            self.members[admission.pool].add(ids[admission.row])  # type: ignore[index]
        stored = seen.iloc[len(self.seen) :].copy()
        stored["backtest_id"] = ids
        self.seen = pd.concat([self.seen, stored], ignore_index=True) if len(self.seen) else stored
        self.in_flight -= sum(task.count for task in batch.tasks)
        self.launched_ahead -= 1
        self.iteration += 1
        return len(rows)

    def step(self) -> int:
        """Run one iteration from proposal to write; returns how many backtests it wrote (0: nothing to propose)."""
        batch = self._launch()
        return 0 if batch is None else self._finish(batch)

    # the loop -----------------------------------------------------------------------------------------------------

    def stop_reason(self, started: float) -> str | None:
        """Why the loop must not start another iteration, or None."""
        if (self.work_dir / STOP_FILE).exists():
            return "stop requested"
        if len(self.members[BEST]) >= self.config.stop.best:
            return f"{len(self.members[BEST]):,} backtests in BEST (target {self.config.stop.best:,})"
        if len(self.seen) >= self.config.stop.max_backtests:
            return f"{len(self.seen):,} backtests (maximum {self.config.stop.max_backtests:,})"
        limit = self.config.stop.max_minutes
        if limit and time.monotonic() - started >= limit * 60:
            return f"time limit of {limit:g} minutes"
        return None

    def _publish(self, started: float) -> None:
        status = self.status
        status.iteration, status.backtests = self.iteration, len(self.seen)
        status.good, status.best = len(self.members[GOOD]), len(self.members[BEST])
        status.thresholds = self._threshold_values()
        status.elapsed_s = round(time.monotonic() - started, 3)
        done = status.backtests - status.started_backtests
        status.backtests_per_s = round(done / status.elapsed_s, 3) if status.elapsed_s > 0 else 0.0
        write_text_atomic(self.work_dir / STATUS_FILE, status.to_json())
        if self.on_progress is not None:
            self.on_progress(status)

    def run(self) -> LoopStatus:
        """Iterate until a stop rule holds; a stop request is honoured between iterations."""
        started = time.monotonic()
        (self.work_dir / STOP_FILE).unlink(missing_ok=True)
        self._publish(started)
        try:
            # Pipelined: the next batch is proposed and sent before the current one is written, so the workers
            # compute while this process samples (TPE's constant liar counts the batch in flight as pending).
            reason = self.stop_reason(started)
            batch = None if reason else self._launch()
            while batch is not None:
                upcoming = self._launch() if self._room() > 0 else None
                self._finish(batch)
                self._publish(started)
                reason = self.stop_reason(started)
                if reason is not None:
                    break  # the batch in flight is dropped: none of it was written
                batch = upcoming if upcoming is not None else self._launch()
            reason = reason or "nothing left to propose"
        except BaseException:
            self.status.state, self.status.stopped_by = "interrupted", "interrupted (the unfinished batch is lost)"
            self._publish(started)
            raise
        self.status.state, self.status.stopped_by = "stopped", reason
        (self.work_dir / STOP_FILE).unlink(missing_ok=True)
        self._publish(started)
        return self.status


def request_stop(work_dir: Path) -> None:
    """Ask a running loop to stop after its current iteration."""
    work_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(work_dir / STOP_FILE, "stop\n")


def read_status(work_dir: Path) -> dict[str, Any] | None:
    """The last status a loop wrote in ``work_dir``, or None."""
    import json

    path = work_dir / STATUS_FILE
    if not path.exists():
        return None
    try:
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None
    return loaded


__all__ = [
    "LOCK_FILE",
    "STATUS_FILE",
    "STOP_FILE",
    "Cell",
    "LoopStatus",
    "ResearchLoop",
    "experiment_record",
    "read_status",
    "request_stop",
]
