"""Rebuilding a run's report from its storage, at the end of a run or at any time (also mid-run).

Per strategy: every trial (``trials.csv``); the Pareto front of the COMPLETE trials on train (``pareto.csv``); each
front member backtested on the selection part, test or validation (``candidates_<part>.csv``); across strategies the
champion (``stratlab.selection.choose_champion``), reported once on the untouched holdout when the run has one;
``champion.json`` (the paper manifest) and ``report.json`` (the summary). Every file is written atomically, so a
reader never sees half a report; a run without a qualifying candidate gets no champion.json, and report.json says why.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from stratlab.atomic_io import write_text_atomic
from stratlab.engine import BacktestConfig, BacktestResult
from stratlab.errors import DataError
from stratlab.optimize.context import PartName, RunContext, Search
from stratlab.optimize.evaluate import Evaluator, load_run_candles
from stratlab.optimize.luck import (
    candidate_statistics,
    luck_block,
    overfitting_statistics,
    search_record,
    verdict_of,
)
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.space import config_for, split_trial_params
from stratlab.optimize.storage import open_storage
from stratlab.optimize.trial_returns import (
    MATRIX_FILE,
    daily_returns,
    read_batches,
    trial_key,
    with_trials,
    write_matrix,
    write_parquet_atomic,
)
from stratlab.optimize.walk_forward import walk_forward_block
from stratlab.optimize.worker import WORKER_ATTR, read_studies
from stratlab.report.manifest import Manifest, ManifestDataset, ManifestSelection, ManifestVerdict
from stratlab.report.robustness import robustness_report
from stratlab.report.split import SplitPart
from stratlab.selection import Candidate, ChampionChoice, choose_champion, pareto_front
from stratlab.selection.gates import Gates

REPORT_SCHEMA_VERSION = 1
TRIAL_COLUMNS = (
    "strategy", "trial", "state", "train_return_pct", "train_max_drawdown_pct", "n_trades", "duration_s", "worker",
    "params",
)  # fmt: skip
KPI_COLUMNS = ("return_pct", "max_drawdown_pct", "sharpe", "sortino", "profit_factor", "win_rate_pct", "n_trades")


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _csv(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def trial_row(search: Search, trial: FrozenTrial) -> dict[str, Any]:
    """One line of trials.csv (and of every trials frame: the live view reads the storage with it too)."""
    values = trial.values if trial.state == TrialState.COMPLETE and trial.values else [None, None]
    duration = trial.duration.total_seconds() if trial.duration else None
    window_column = {} if search.window is None else {"window": search.window}
    return {
        **window_column,
        "strategy": search.strategy,
        "trial": trial.number,
        "state": trial.state.name,
        "train_return_pct": values[0],
        "train_max_drawdown_pct": values[1],
        "n_trades": trial.user_attrs.get("n_trades"),
        "duration_s": duration,
        "worker": trial.user_attrs.get(WORKER_ATTR),
        "params": json.dumps(trial.params, sort_keys=True),
    }


def trial_rows(searches: Iterable[Search], studies: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every trial of ``searches``, study by study in their order; a study no worker reached yet has none."""
    rows: list[dict[str, Any]] = []
    for search in searches:
        study = studies.get(search.study)
        trials = study.get_trials(deepcopy=False) if study is not None else []
        rows.extend(trial_row(search, t) for t in trials)
    return rows


def trials_frame(context: RunContext, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The trials frame: trials.csv's columns in their order (``window`` first in a walk-forward run)."""
    return pd.DataFrame(rows, columns=_trial_columns(context))


def _kpi_columns(prefix: str, result: BacktestResult) -> dict[str, Any]:
    kpis = result.kpis
    return {f"{prefix}_{name}": _finite(kpis[name]) for name in KPI_COLUMNS}


@dataclass
class WindowSelection:
    """The run's rule applied to one set of studies that share their parts (the whole run, or one walk-forward
    window): the Pareto front on train, each front member on the selection part, the luck statistics of the search,
    and the champion."""

    parts: tuple[SplitPart, ...]
    search: dict[str, Any]
    trial_rows: list[dict[str, Any]] = field(default_factory=list)
    pareto_rows: list[dict[str, Any]] = field(default_factory=list)
    candidate_rows: list[dict[str, Any]] = field(default_factory=list)
    candidate_returns: dict[str, pd.Series] = field(default_factory=dict)
    statistics: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)
    results: dict[tuple[str, int], dict[PartName, BacktestResult]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    choice: ChampionChoice | None = None

    @property
    def selection_part(self) -> PartName:
        return self.parts[1].name

    @property
    def champion_statistics(self) -> dict[str, Any] | None:
        champ = self.choice.champion if self.choice else None
        return None if champ is None else self.statistics[(champ.strategy, champ.trial)]


def _select(
    context: RunContext,
    searches: list[Search],
    studies: dict[str, Any],
    evaluator: Evaluator,
    matrix: pd.DataFrame,
) -> WindowSelection:
    """Apply the run's rule to ``searches`` (studies over the same parts)."""
    request = context.request
    parts = searches[0].parts
    train_part, selection_part = parts[0], parts[1]
    columns = [key for key in matrix.columns if key.split("#")[0] in {s.study for s in searches}]
    search = overfitting_statistics(
        search_record(matrix[columns], evaluator.candles, train_part.start, train_part.end), request.cscv_blocks,
        seed=request.seed,
    )  # fmt: skip
    out = WindowSelection(parts=parts, search=search)
    selection = selection_part.name
    window_column = {} if searches[0].window is None else {"window": searches[0].window}
    for item in searches:
        name = item.strategy
        study = studies.get(item.study)  # a study no worker reached yet does not exist: no trials
        trials = study.get_trials(deepcopy=False) if study is not None else []
        out.trial_rows.extend(trial_row(item, t) for t in trials)
        complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
        # A trial that barely traded on train has a "drawdown" of nearly nothing and sits on the front for free.
        complete = [t for t in complete if int(t.user_attrs.get("n_trades", 0)) >= request.min_train_trades]
        out.counts[item.study] = {
            state.name.lower(): sum(1 for t in trials if t.state == state)
            for state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.FAIL, TrialState.PRUNED)
        }
        if not complete:
            continue
        front = pareto_front([t.values[0] for t in complete], [t.values[1] for t in complete])
        for index in front:
            trial = complete[int(index)]
            params, searched = split_trial_params(trial.params, request.common)
            train = evaluator.evaluate(name, params, searched, train_part)
            chosen = evaluator.evaluate(name, params, searched, selection_part)
            out.results[(name, trial.number)] = {PartName.TRAIN: train, selection: chosen}
            shared = {
                **window_column, "strategy": name, "trial": trial.number,
                "params": json.dumps(trial.params, sort_keys=True),
            }  # fmt: skip
            out.pareto_rows.append(
                {**shared, "train_return_pct": trial.values[0], "train_max_drawdown_pct": trial.values[1]}
            )
            days, returns = daily_returns(chosen)
            out.candidate_returns[trial_key(name, trial.number)] = pd.Series(returns, index=days)
            stats = candidate_statistics(np.concatenate([daily_returns(train)[1], returns]), chosen.n_trades, search)
            out.statistics[(name, trial.number)] = stats
            verdict = verdict_of(stats, search, request.gates)
            out.candidate_rows.append(
                {
                    **shared, **_kpi_columns(PartName.TRAIN, train), **_kpi_columns(selection, chosen),
                    f"{selection}_is_valid": chosen.kpis["is_valid"], "dsr": _finite(stats["dsr"]),
                    "verdict": str(verdict.verdict), "failed_gates": "; ".join(g.reason for g in verdict.failed),
                }
            )  # fmt: skip
            out.candidates.append(
                Candidate(
                    strategy=name,
                    trial=trial.number,
                    params=dict(trial.params),
                    train_return_pct=train.return_pct,
                    train_drawdown_pct=train.max_drawdown_pct,
                    selection_return_pct=chosen.return_pct,
                    selection_drawdown_pct=chosen.max_drawdown_pct,
                    selection_invalid_reasons=tuple(chosen.kpis["invalid_reasons"]),
                )
            )
    out.choice = choose_champion(out.candidates, request.dd_threshold_pct, selection_split=selection)
    return out


def _selections(
    context: RunContext, studies: dict[str, Any], evaluator: Evaluator, matrix: pd.DataFrame
) -> list[WindowSelection]:
    """One selection for a plain run; one per window, in time order, for a walk-forward run."""
    by_window: dict[int | None, list[Search]] = {}
    for search in context.searches:
        by_window.setdefault(search.window, []).append(search)
    return [_select(context, group, studies, evaluator, matrix) for group in by_window.values()]


def write_report(
    run_dir: RunDir, *, storage_url: str | None = None, data_root: str | Path | None = None
) -> dict[str, Any]:
    """Rebuild every report file of ``run_dir`` from its storage; returns report.json's content."""
    context = run_dir.load_context()
    request = context.request
    run_dir.check_storage_kept(context, storage_url)
    studies = read_studies(context, open_storage(run_dir.storage_url(context, storage_url)))
    _refuse_shrinking(run_dir, studies)
    candles = load_run_candles(context, data_root)
    evaluator = Evaluator(context, candles)
    matrix = _trial_returns(run_dir, context, studies, evaluator)
    selections = _selections(context, studies, evaluator, matrix)
    walk_forward = walk_forward_block(context, selections, evaluator) if context.windows else None
    # The run's champion is its last selection's: in a walk-forward run, the last window's (the one a runner would
    # trade next), judged with the whole walk-forward's efficiency.
    final = selections[-1]
    choice = final.choice
    assert choice is not None
    selection = final.selection_part
    luck = luck_block(final.champion_statistics, final.search, request.gates, walk_forward=walk_forward)
    if walk_forward is not None:
        _judge_with_efficiency(final, request.gates, walk_forward.get("efficiency"))
    champion_summary: dict[str, Any] | None = None
    if choice.champion is not None:
        champ = choice.champion
        params, searched = split_trial_params(champ.params, request.common)
        by_part = dict(final.results[(champ.strategy, champ.trial)])
        holdout = context.split_kind.holdout_part
        if holdout is not None:
            # The holdout is looked at once, for the champion only: it played no part in any choice.
            by_part[holdout] = evaluator.evaluate(champ.strategy, params, searched, context.part(holdout))
        config = config_for(champ.strategy, request.backtest, searched)
        _write_robustness(run_dir, context, evaluator, champ.strategy, params, config)
        Manifest.now(
            run_id=context.run_id, dataset=manifest_dataset(context), strategy=champ.strategy, trial=champ.trial,
            params=params, backtest=config, kpis={part: result.kpis for part, result in by_part.items()},
            selection=ManifestSelection(
                dd_threshold_pct=request.dd_threshold_pct, reason=choice.reason, selection_part=selection,
                part_roles=context.split_kind.roles,
            ),
            verdict=ManifestVerdict(
                verdict=luck["verdict"], summary=luck["summary"], gates=luck["gates"],
                statistics=_jsonable(luck["statistics"]),
            ),
            strategy_source=context.strategy_sources.get(champ.strategy),
        ).write(run_dir.champion_path)  # fmt: skip
        champion_summary = {
            "strategy": champ.strategy,
            "trial": champ.trial,
            "params": params,
            "backtest": config.model_dump(),
            "verdict": luck["verdict"],
            "verdict_summary": luck["summary"],
            **{f"{part}_{k}": _finite(r.kpis[k]) for part, r in by_part.items() for k in KPI_COLUMNS},
        }
    elif run_dir.champion_path.exists():
        # Kept under another name, never deleted: the report now says there is no champion, and why.
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        run_dir.champion_path.rename(run_dir.path / f"champion.superseded-{stamp}.json")

    every_trial = trials_frame(context, [row for s in selections for row in s.trial_rows])
    write_text_atomic(run_dir.path / TRIALS_FILE, _csv(every_trial))
    write_text_atomic(run_dir.path / "pareto.csv", _csv(pd.DataFrame([r for s in selections for r in s.pareto_rows])))
    # The candidates a portfolio or a runner can take are the final selection's (a walk-forward run's last window);
    # every window's are kept apart, with their window.
    write_text_atomic(run_dir.path / candidates_file(selection), _csv(pd.DataFrame(final.candidate_rows)))
    write_candidate_returns(run_dir.path, final.candidate_returns)
    if context.windows:
        every_window = pd.DataFrame([r for s in selections for r in s.candidate_rows])
        write_text_atomic(run_dir.path / WINDOW_CANDIDATES_FILE, _csv(every_window))
    report = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "run_id": context.run_id,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "dataset": manifest_dataset(context).model_dump(mode="json"),
        "strategies": {study: counts for s in selections for study, counts in s.counts.items()},
        "max_trials": request.max_trials,
        "dd_threshold_pct": request.dd_threshold_pct,
        "selection_part": selection,
        "part_roles": {str(part): str(role) for part, role in context.split_kind.roles.items()},
        "luck": _jsonable(luck),
        "n_candidates": choice.n_candidates,
        "n_eligible": choice.n_eligible,
        "champion": champion_summary,
        "champion_reason": choice.reason,
        "files": [TRIALS_FILE, "pareto.csv", candidates_file(selection), MATRIX_FILE, CANDIDATE_RETURNS_FILE]
        + ([WINDOW_CANDIDATES_FILE] if context.windows else [])
        + (["champion.json", ROBUSTNESS_FILE] if champion_summary else []),
    }
    write_text_atomic(run_dir.report_path, json.dumps(report, indent=2, default=_finite) + "\n")
    run_dir.append_progress("report_written", champion=bool(champion_summary), candidates=choice.n_candidates)
    return report


def _judge_with_efficiency(selected: WindowSelection, gates: Gates, efficiency: float | None) -> None:
    """A walk-forward run's final candidates judged again with the run's walk-forward efficiency."""
    for row in selected.candidate_rows:
        verdict = verdict_of(selected.statistics[(row["strategy"], row["trial"])], selected.search, gates, efficiency)
        row["verdict"] = str(verdict.verdict)
        row["failed_gates"] = "; ".join(g.reason for g in verdict.failed)


def _trial_columns(context: RunContext) -> list[str]:
    return (["window"] if context.windows else []) + list(TRIAL_COLUMNS)


def _jsonable(value: Any) -> Any:
    """``value`` with NaN and inf as None, numpy numbers as Python ones: what JSON can carry."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    return _finite(value)


def _trial_returns(run_dir: RunDir, context: RunContext, studies: dict[str, Any], evaluator: Evaluator) -> pd.DataFrame:
    """The daily train returns of every completed trial (``trial_returns.parquet``, rewritten): the workers' batches,
    and a backtest again for each trial whose batch was lost with its worker."""
    matrix = read_batches(run_dir.path)
    keys: list[str] = []
    lost: dict[str, BacktestResult] = {}
    for search in context.searches:
        study = studies.get(search.study)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if study else []:
            key = trial_key(search.study, trial.number)
            keys.append(key)
            if key not in matrix.columns:
                params, searched = split_trial_params(trial.params, context.request.common)
                lost[key] = evaluator.evaluate(search.strategy, params, searched, search.train)
    return write_matrix(run_dir.path, with_trials(matrix, lost), keys)


CANDIDATE_RETURNS_FILE = "candidate_returns.parquet"
TRIALS_FILE = "trials.csv"
WINDOW_CANDIDATES_FILE = "candidates_windows.csv"


def candidates_file(selection_part: str) -> str:
    """The table of the Pareto candidates on the part that selects the champion: ``candidates_<part>.csv``."""
    return f"candidates_{selection_part}.csv"


ROBUSTNESS_FILE = "robustness.json"


def _write_robustness(
    run_dir: RunDir,
    context: RunContext,
    evaluator: Evaluator,
    strategy: str,
    params: dict[str, Any],
    config: BacktestConfig,
) -> None:
    """``robustness.json``: the champion's neighbourhood, cost stress, Monte Carlo and other symbols, on the part
    that chose it (the figures a user would otherwise take at face value)."""
    window = context.part(context.selection_part)
    robustness = robustness_report(
        evaluator.candles, strategy, params, config, window.start, window.end, data_root=context.data_root,
        seed=context.request.seed,
    )  # fmt: skip
    robustness["part"] = str(context.selection_part)
    write_text_atomic(run_dir.path / ROBUSTNESS_FILE, json.dumps(robustness, indent=1, allow_nan=False) + "\n")


def write_candidate_returns(run_path: Path, returns: dict[str, pd.Series]) -> None:
    """The daily returns of every candidate on the selection part (``candidate_returns.parquet``: column ``day``,
    then one float32 column per candidate, ``<strategy>#<trial>``)."""
    frame = pd.DataFrame(returns).sort_index().astype(np.float32) if returns else pd.DataFrame()
    frame.index.name = "day"
    write_parquet_atomic(frame.reset_index(), run_path / CANDIDATE_RETURNS_FILE)


def _completed_in_report(run_dir: RunDir) -> int | None:
    """Completed trials the existing report.json was built from; None without a readable one."""
    if not run_dir.report_path.exists():
        return None
    try:
        report = run_dir.read_report()
    except DataError:
        return None
    return sum(int(counts.get("complete", 0)) for counts in report["strategies"].values())


def _refuse_shrinking(run_dir: RunDir, studies: dict[str, Any]) -> None:
    """A report built from fewer completed trials than the one already written would replace results with less
    (a journal restored from an old copy, or cut by ``run repair``): refuse until the run has caught up."""
    before = _completed_in_report(run_dir)
    if before is None:
        return
    now = sum(len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) for study in studies.values())
    if now < before:
        raise DataError(
            f"{run_dir.report_path}: built from {before:,} completed trials, the storage now holds {now:,}: "
            f"refusing to replace it with less; `stratlab run start --run-dir {run_dir.path}` runs the missing trials"
        )


def manifest_dataset(context: RunContext) -> ManifestDataset:
    request = context.request
    return ManifestDataset(
        source=request.source, symbol=request.symbol, timeframe=request.timeframe, start=request.start,
        end=request.end, n_bars=context.n_bars, first_bar_ms=context.first_bar_ms, last_bar_ms=context.last_bar_ms,
        fingerprint=context.fingerprint, parts=context.parts,
    )  # fmt: skip


__all__ = [
    "TRIALS_FILE",
    "candidates_file",
    "manifest_dataset",
    "trial_row",
    "trial_rows",
    "trials_frame",
    "write_report",
]
