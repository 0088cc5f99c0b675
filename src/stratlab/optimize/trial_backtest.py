"""Any trial of a run backtested again, as the report backtests its candidates: over the whole period in one
backtest (a continuous equity curve across the split), on each part of the split (the figures the report records),
and written as a manifest on demand.

A trial's parameters come from the run's ``trials.csv`` when the report wrote one, else from the Optuna storage (a
run still going); ``split_trial_params`` and ``config_for`` turn them into the strategy's parameters and the backtest
config exactly as the report does. A walk-forward run's trial is named by its study, ``<strategy>@w<k>``: its period
is that window's parts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from optuna.trial import TrialState

from stratlab.data.candles import Candles
from stratlab.engine import BacktestConfig, BacktestResult
from stratlab.errors import DataError
from stratlab.optimize.context import PartName, RunContext, Search
from stratlab.optimize.evaluate import Evaluator, load_run_candles
from stratlab.optimize.report import TRIALS_FILE, WINDOW_CANDIDATES_FILE, candidates_file, manifest_dataset
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.space import config_for, split_trial_params
from stratlab.optimize.storage import open_storage
from stratlab.optimize.worker import read_studies
from stratlab.report.manifest import Manifest, ManifestSelection, ManifestVerdict
from stratlab.report.split import PartRole, SplitKind, SplitPart
from stratlab.selection.gates import VerdictName

HAND_PICKED = (
    "picked by hand in Analyze, not by the run's rule: these figures were looked at after the search, so none of "
    "them is out-of-sample for this choice"
)


@dataclass(frozen=True)
class StoredTrial:
    """A completed trial as the run stored it: its study and flat parameters (searched backtest settings ``bt.``)."""

    search: Search
    trial: int
    params: dict[str, Any]


@dataclass(frozen=True)
class TrialBacktest:
    """One trial backtested: over the whole period (one backtest, the equity continuous across the parts' bounds) and
    on each part alone (the report's figures); ``candidate`` is its row of the candidates table when it was a Pareto
    candidate, ``candidates_file`` that table's name."""

    context: RunContext
    stored: StoredTrial
    strategy_params: dict[str, Any]
    config: BacktestConfig
    whole: BacktestResult
    by_part: dict[PartName, BacktestResult]
    candidate: dict[str, Any] | None
    candidates_file: str
    champion: tuple[str, int] | None

    @property
    def study(self) -> str:
        return self.stored.search.study

    @property
    def strategy(self) -> str:
        return self.stored.search.strategy

    @property
    def trial(self) -> int:
        return self.stored.trial

    @property
    def parts(self) -> tuple[SplitPart, ...]:
        """The split parts of the trial's period (a walk-forward trial: its window's)."""
        return self.stored.search.parts

    @property
    def split_kind(self) -> SplitKind:
        """The split of the trial's period: the run's, or its window's (train, validation, holdout)."""
        return SplitKind.of(len(self.parts))

    @property
    def boundaries(self) -> list[tuple[str, int, int]]:
        """(part name, first bar time, last bar time), UTC epoch ms, in time order."""
        return [(str(p.name), p.first_bar_ms, p.last_bar_ms) for p in self.parts]

    @property
    def roles(self) -> dict[PartName, PartRole]:
        """What each part's figures are worth for this trial. The champion's are the split's (its holdout was looked
        at once, after the rule chose it). A trial picked by hand was picked with every part's figures in view, so
        beyond train each part is a selection figure: its holdout is not out-of-sample for that choice."""
        if self.is_champion:
            return self.split_kind.roles
        return {p.name: PartRole.SEARCHED if p.name == PartName.TRAIN else PartRole.SELECTION for p in self.parts}

    @property
    def is_champion(self) -> bool:
        return self.champion == (self.strategy, self.trial) and self.stored.search.window in (None, _last_window(self))


def _last_window(backtest: TrialBacktest) -> int | None:
    windows = backtest.context.windows
    return len(windows) - 1 if windows else None


def whole_period(parts: tuple[SplitPart, ...]) -> SplitPart:
    """The bars from the first part's first to the last part's last, as one range (named after the first part:
    Evaluator reads only its bounds)."""
    first, last = parts[0], parts[-1]
    return first.model_copy(update={"end": last.end, "last_bar_ms": last.last_bar_ms})


class TrialBacktester:
    """One run's trials backtested on demand; the run's candles are loaded once (checked by fingerprint), on first
    use."""

    def __init__(self, run_dir: RunDir | Path | str, data_root: Path | str | None = None) -> None:
        self.run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        self.context = self.run_dir.load_context()
        self.data_root = data_root

    @cached_property
    def candles(self) -> Candles:
        return load_run_candles(self.context, self.data_root)

    @cached_property
    def evaluator(self) -> Evaluator:
        return Evaluator(self.context, self.candles)

    def search_of(self, study: str) -> Search:
        """The study named ``study`` (a strategy, or ``<strategy>@w<k>`` in a walk-forward run)."""
        for search in self.context.searches:
            if search.study == study:
                return search
        known = ", ".join(self.context.study_names)
        raise DataError(f"run {self.context.run_id}: no study {study!r} (it has {known})")

    def stored_trial(self, study: str, trial: int) -> StoredTrial:
        """The completed trial ``trial`` of ``study``: from trials.csv when the report wrote it, else the storage."""
        search = self.search_of(study)
        path = self.run_dir.path / TRIALS_FILE
        row = _row_in_trials_csv(path, search, trial) if path.exists() else self._row_in_storage(search, trial)
        if row is None:
            raise DataError(f"run {self.context.run_id}: {study} has no trial #{trial}")
        state, params = row
        if state != TrialState.COMPLETE.name:
            raise DataError(f"{study} #{trial} is {state}: only completed trials have all their parameters")
        return StoredTrial(search, trial, params)

    def _row_in_storage(self, search: Search, trial: int) -> tuple[str, dict[str, Any]] | None:
        self.run_dir.check_storage_kept(self.context)  # opening a missing journal would create an empty one
        studies = read_studies(self.context, open_storage(self.run_dir.storage_url(self.context)))
        study = studies.get(search.study)
        if study is None:
            return None
        for frozen in study.get_trials(deepcopy=False):
            if frozen.number == trial:
                return frozen.state.name, dict(frozen.params)
        return None

    def backtest(self, study: str, trial: int) -> TrialBacktest:
        """Trial ``trial`` of ``study`` over its whole period and on each of its parts."""
        stored = self.stored_trial(study, trial)
        params, searched = split_trial_params(stored.params, self.context.request.common)
        strategy = stored.search.strategy
        whole = self.evaluator.evaluate(strategy, params, searched, whole_period(stored.search.parts))
        by_part = {p.name: self.evaluator.evaluate(strategy, params, searched, p) for p in stored.search.parts}
        candidates_file, candidate = self._candidate(stored)
        return TrialBacktest(
            context=self.context, stored=stored, strategy_params=params,
            config=config_for(strategy, self.context.request.backtest, searched), whole=whole, by_part=by_part,
            candidate=candidate, candidates_file=candidates_file, champion=self._champion(),
        )  # fmt: skip

    def _candidate(self, stored: StoredTrial) -> tuple[str, dict[str, Any] | None]:
        """The trial's row of the candidates table (every window's in a walk-forward run), if it was a candidate."""
        name = WINDOW_CANDIDATES_FILE if self.context.windows else candidates_file(self.context.selection_part)
        path = self.run_dir.path / name
        if not path.exists():
            return name, None
        try:
            table = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            return name, None  # a run without a single candidate
        except (OSError, ValueError) as exc:
            raise DataError(f"{name}: unreadable ({str(exc).strip().splitlines()[0]})") from None
        if not {"strategy", "trial"} <= set(table.columns):
            raise DataError(f"{name}: no strategy or trial column, not a table this stratlab wrote")
        same = (table["strategy"] == stored.search.strategy) & (table["trial"] == stored.trial)
        if stored.search.window is not None and "window" in table.columns:
            same &= table["window"] == stored.search.window
        rows = table[same]
        if rows.empty:
            return name, None
        return name, {str(k): _plain(v) for k, v in rows.iloc[0].items()}

    def _champion(self) -> tuple[str, int] | None:
        if not self.run_dir.report_path.exists():
            return None
        try:
            champion = self.run_dir.read_report().get("champion")
        except DataError:
            return None
        return None if not champion else (str(champion["strategy"]), int(champion["trial"]))


def _plain(value: Any) -> Any:
    """A table cell as JSON carries it: numpy numbers as Python ones, a blank (NaN) as None."""
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def _row_in_trials_csv(path: Path, search: Search, trial: int) -> tuple[str, dict[str, Any]] | None:
    try:
        table = pd.read_csv(path, usecols=lambda c: c in {"window", "strategy", "trial", "state", "params"})
    except (OSError, ValueError) as exc:
        raise DataError(f"{path.name}: unreadable ({str(exc).strip().splitlines()[0]})") from None
    if not {"strategy", "trial", "state", "params"} <= set(table.columns):
        raise DataError(f"{path.name}: no strategy, trial, state or params column, not a table this stratlab wrote")
    same = (table["strategy"] == search.strategy) & (table["trial"] == trial)
    if search.window is not None:
        if "window" not in table.columns:
            raise DataError(f"{path.name}: no window column in a walk-forward run's trials")
        same &= table["window"] == search.window
    rows = table[same]
    if rows.empty:
        return None
    row = rows.iloc[0]
    try:
        params = json.loads(row["params"])
    except (TypeError, json.JSONDecodeError):
        raise DataError(f"{path.name}: {search.study} #{trial}: params is not JSON") from None
    return str(row["state"]), params


def backtest_trial(
    run_dir: RunDir | Path | str, strategy: str, trial: int, data_root: Path | str | None = None
) -> TrialBacktest:
    """Trial ``trial`` of ``strategy`` (its study: ``<strategy>@w<k>`` in a walk-forward run) backtested over the
    whole period and on each part; an unknown study or trial is a one-line DataError naming it."""
    return TrialBacktester(run_dir, data_root).backtest(strategy, trial)


def candidate_verdict(backtest: TrialBacktest) -> ManifestVerdict | None:
    """The verdict the run's report gave this trial as a Pareto candidate (its row of the candidates table), or None
    when it was not one: a hand-picked trial is judged by nobody."""
    row = backtest.candidate
    if row is None or row.get("verdict") not in {v.value for v in VerdictName}:
        return None
    failed = [reason for reason in str(row.get("failed_gates") or "").split("; ") if reason]
    verdict = VerdictName(row["verdict"])
    said = f"{verdict}: {'; '.join(failed)}" if failed else str(verdict)
    return ManifestVerdict(
        verdict=verdict,
        summary=f"{said} (as the run's report judged this Pareto candidate in {backtest.candidates_file})",
        gates=[{"reason": reason, "passed": False} for reason in failed],
        statistics={"dsr": row.get("dsr")},
    )


def trial_manifest(backtest: TrialBacktest) -> Manifest:
    """The paper manifest of a hand-picked trial: built as the report builds the champion's, with the KPIs of every
    part of its period, a selection reason that says it was picked by hand, and the report's verdict only when the
    trial was a judged Pareto candidate."""
    context = backtest.context
    request = context.request
    dataset = manifest_dataset(context)
    if context.windows:
        # A window's trial is replayed on its window's parts, so the manifest carries those.
        dataset = dataset.model_copy(update={"parts": backtest.parts})
    also = f" (it is also the run's champion: {backtest.strategy} #{backtest.trial})" if backtest.is_champion else ""
    return Manifest.now(
        run_id=context.run_id, dataset=dataset, strategy=backtest.strategy, trial=backtest.trial,
        params=backtest.strategy_params, backtest=backtest.config,
        kpis={part: result.kpis for part, result in backtest.by_part.items()},
        selection=ManifestSelection(
            dd_threshold_pct=request.dd_threshold_pct, reason=f"{backtest.study} #{backtest.trial} {HAND_PICKED}{also}",
            selection_part=backtest.split_kind.selection_part, part_roles=backtest.roles,
        ),
        verdict=candidate_verdict(backtest),
        strategy_source=context.strategy_sources.get(backtest.strategy),
    )  # fmt: skip


__all__ = [
    "HAND_PICKED",
    "StoredTrial",
    "TrialBacktest",
    "TrialBacktester",
    "backtest_trial",
    "candidate_verdict",
    "trial_manifest",
    "whole_period",
]
