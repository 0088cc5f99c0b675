"""What the Analyze page computes from a run: the champion's backtests (replayed from its manifest) and how much
each parameter mattered for each objective (train return, train max drawdown) of the completed trials.

Importance is Optuna's mean-decrease-in-impurity evaluator: a random forest fitted on (parameters -> train return),
each parameter scored by how much its splits reduce the variance. fANOVA decomposes the variance of the same kind of
forest more finely, but took over three minutes on a 1,000-trial study where this takes under half a second.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from stratlab.errors import DataError
from stratlab.optimize.rundir import RunDir
from stratlab.report.manifest import Replay, replay_manifest

MIN_TRIALS_FOR_IMPORTANCE = 8


def champion_replays(run_dir: RunDir, data_root: Path | None = None) -> list[Replay]:
    """The champion's backtest on every part its manifest records (also proves the manifest still replays)."""
    return replay_manifest(run_dir.champion_path, data_root=data_root)


@dataclass(frozen=True)
class Objective:
    """One of a study's two objectives (``stratlab.optimize.worker.DIRECTIONS``), named for people with its unit."""

    index: int  # position in a trial's values
    label: str
    column: str  # the trials frame's column holding it

    def of(self, trial: FrozenTrial) -> float:
        return float(trial.values[self.index])


TRAIN_RETURN = Objective(0, "train return %", "train_return_pct")
TRAIN_DRAWDOWN = Objective(1, "train max drawdown %", "train_max_drawdown_pct")
OBJECTIVES = (TRAIN_RETURN, TRAIN_DRAWDOWN)


def completed_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The trials with both objective values (a completed trial always has them; a damaged one may not)."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]


def objective_importance(study: optuna.Study, objective: Objective = TRAIN_RETURN) -> dict[str, float]:
    """Random-forest importance of each searched parameter for ``objective``, most important first, summing to 1.

    Raises DataError when there is too little to say (fewer than ``MIN_TRIALS_FOR_IMPORTANCE`` completed trials,
    or a single parameter)."""
    complete = completed_trials(study)
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        raise DataError(
            f"{study.study_name}: {len(complete)} completed trials; importance needs at least "
            f"{MIN_TRIALS_FOR_IMPORTANCE}"
        )
    evaluator = optuna.importance.MeanDecreaseImpurityImportanceEvaluator(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # conditional parameters (grid/martingale) are simply left out
        try:
            importances = optuna.importance.get_param_importances(
                study, evaluator=evaluator, target=objective.of, normalize=True
            )
        except (ValueError, RuntimeError) as exc:
            raise DataError(f"{study.study_name}: importance could not be computed ({exc})") from None
    return {name: float(value) for name, value in importances.items()}


__all__ = [
    "MIN_TRIALS_FOR_IMPORTANCE",
    "OBJECTIVES",
    "TRAIN_DRAWDOWN",
    "TRAIN_RETURN",
    "Objective",
    "champion_replays",
    "completed_trials",
    "objective_importance",
]
