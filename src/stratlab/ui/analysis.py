"""What the Analyze page computes from a run: the champion's backtests (replayed from its manifest) and how much
each parameter mattered for the train return of the completed trials.

Importance is Optuna's mean-decrease-in-impurity evaluator: a random forest fitted on (parameters -> train return),
each parameter scored by how much its splits reduce the variance. fANOVA decomposes the variance of the same kind of
forest more finely, but took over three minutes on a 1,000-trial study where this takes under half a second.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState

from stratlab.errors import ConfigError, DataError
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.storage import open_storage
from stratlab.report.manifest import Replay, replay_manifest

MIN_TRIALS_FOR_IMPORTANCE = 8


def champion_replays(run_dir: RunDir, data_root: Path | None = None) -> list[Replay]:
    """The champion's backtest on every part its manifest records (also proves the manifest still replays)."""
    return replay_manifest(run_dir.champion_path, data_root=data_root)


def parameter_importance(run_dir: RunDir, strategy: str) -> dict[str, float]:
    """Random-forest importance of each searched parameter for the train return, most important first.

    Raises DataError when there is too little to say (fewer than ``MIN_TRIALS_FOR_IMPORTANCE`` completed trials,
    or a single parameter)."""
    context = run_dir.load_context()
    run_dir.check_storage_kept(context)  # opening a missing journal would create an empty one
    try:
        storage = open_storage(run_dir.storage_url(context))
        study = optuna.load_study(study_name=strategy, storage=storage)
    except (ConfigError, KeyError) as exc:
        raise DataError(f"{strategy}: its study cannot be read ({exc})") from None
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        raise DataError(
            f"{strategy}: {len(complete)} completed trials; importance needs at least {MIN_TRIALS_FOR_IMPORTANCE}"
        )
    evaluator = optuna.importance.MeanDecreaseImpurityImportanceEvaluator(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # conditional parameters (grid/martingale) are simply left out
        try:
            importances = optuna.importance.get_param_importances(
                study, evaluator=evaluator, target=lambda t: t.values[0], normalize=True
            )
        except (ValueError, RuntimeError) as exc:
            raise DataError(f"{strategy}: importance could not be computed ({exc})") from None
    return {name: float(value) for name, value in importances.items()}


__all__ = ["MIN_TRIALS_FOR_IMPORTANCE", "champion_replays", "parameter_importance"]
