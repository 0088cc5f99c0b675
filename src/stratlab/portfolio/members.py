"""A member's strategy manifest, built as the run's report builds its champion's ``champion.json``: the trial's stored
parameters split into strategy params and searched backtest settings (``split_trial_params``), the run's fixed
settings overlaid (``config_for``), and a KPI record per part it is backtested on: train and the selection part. The
holdout of a three-way run is not looked at: it is kept for the run's one champion.
"""

from __future__ import annotations

from stratlab.optimize.evaluate import Evaluator
from stratlab.optimize.report import manifest_dataset
from stratlab.optimize.space import config_for, split_trial_params
from stratlab.portfolio.runs import PassingCandidate
from stratlab.report.manifest import Manifest, ManifestSelection
from stratlab.report.split import PartName


def candidate_manifest(evaluator: Evaluator, candidate: PassingCandidate, reason: str) -> Manifest:
    """The manifest of one candidate of the evaluator's run, with KPIs on train and on the selection part."""
    context = evaluator.context
    request = context.request
    params, searched = split_trial_params(candidate.params, request.common)
    parts = (PartName.TRAIN, context.selection_part)
    kpis = {part: evaluator.evaluate(candidate.strategy, params, searched, part).kpis for part in parts}
    return Manifest.now(
        run_id=context.run_id, dataset=manifest_dataset(context), strategy=candidate.strategy, trial=candidate.trial,
        params=params, backtest=config_for(candidate.strategy, request.backtest, searched), kpis=kpis,
        selection=ManifestSelection(
            dd_threshold_pct=request.dd_threshold_pct, reason=reason, selection_part=context.selection_part,
            part_roles=context.split_kind.roles,
        ),
    )  # fmt: skip


__all__ = ["candidate_manifest"]
