"""One backtest of the results database backtested again: over the whole period (train start to holdout end, one
continuous equity curve) and on each part of its split, and written as a paper manifest on demand.

What ran is read back from the database: the strategy, its parameters, the backtest config and the market as the
experiment resolved it (``ManifestDataset``: the candles are checked against its fingerprint). The manifest says
honestly how the backtest was chosen: admitted to a pool by the loop's thresholds (holdout never looked at by the
loop, so out-of-sample), or picked by hand from the database (every part was in view: none is out-of-sample).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from stratlab.engine import BacktestConfig, BacktestResult
from stratlab.errors import DataError
from stratlab.optimize.evaluate import PartBacktester
from stratlab.optimize.trial_backtest import whole_period
from stratlab.report.manifest import Manifest, ManifestDataset, ManifestSelection
from stratlab.report.split import PartName, PartRole, SplitKind
from stratlab.research.config import BEST, GOOD, TIER_OF_POOL, ResearchConfig
from stratlab.research.db import ResultsDb
from stratlab.research.markets import load_market, market_key
from stratlab.research.thresholds import FLAG_KPIS, KpiBound, ThresholdSet, format_value
from stratlab.strategies.check_records import trusted_sources

HAND_PICKED = (
    "picked by hand from the results database, not admitted by the loop's thresholds: every part's figures were "
    "in view when it was chosen, so none of them is out-of-sample for this choice"
)
HOLDOUT_SEEN = (
    "holdout was never looked at by the loop, but its figures were in view when this member was exported, so it is "
    "not out-of-sample for this choice"
)
# The drawdown bound a manifest names when neither the admitting thresholds nor the config bound one.
NO_DRAWDOWN_BOUND_PCT = 100.0


@dataclass(frozen=True)
class PoolAdmission:
    """A backtest's admission to GOOD or BEST: when, among how many backtests, by which thresholds, its score and
    (BEST) its luck statistics."""

    pool: str
    iteration: int
    backtests_seen: int
    train: ThresholdSet
    validation: ThresholdSet
    score: float | None
    luck: Mapping[str, Any] | None


@dataclass(frozen=True)
class BacktestDetail:
    """A stored backtest run again: over the whole period and on each part, with what the database says of it."""

    backtest_id: int
    experiment: str
    experiment_id: int
    config: ResearchConfig
    strategy: str
    params: dict[str, Any]
    backtest_config: BacktestConfig
    market: ManifestDataset
    whole: BacktestResult
    before_holdout: BacktestResult  # train and validation in one backtest: the view that leaves holdout unseen
    by_part: dict[PartName, BacktestResult]
    stored_kpis: dict[str, dict[str, Any]]
    admissions: tuple[PoolAdmission, ...]

    @property
    def chosen_by(self) -> PoolAdmission | None:
        """The admission that speaks for the backtest: BEST's when it is in BEST, else GOOD's, else none."""
        by_pool = {admission.pool: admission for admission in self.admissions}
        return by_pool.get(BEST) or by_pool.get(GOOD)

    def roles(self, holdout_seen: bool = False) -> dict[PartName, PartRole]:
        """A pool member was chosen on train and validation only: its holdout is out-of-sample, unless whoever
        exports it looked at holdout first. A hand pick was made with every part in view: beyond train each part is
        a selection figure."""
        if self.chosen_by is not None and not holdout_seen:
            return SplitKind.THREE_WAY.roles
        parts = self.market.parts
        return {p.name: PartRole.SEARCHED if p.name == PartName.TRAIN else PartRole.SELECTION for p in parts}


def _experiment_name(db: ResultsDb, experiment_id: int) -> str:
    experiments = db.experiments()
    names = experiments.loc[experiments["id"] == experiment_id, "name"]
    if names.empty:
        raise DataError(f"the results database has no experiment {experiment_id}")
    return str(names.iloc[0])


def _stored_market(record: Mapping[str, Any], row: Mapping[str, Any]) -> ManifestDataset:
    """The experiment's resolved market the backtest ran on (same source, symbol, timeframe and fingerprint)."""
    key = (row["source"], row["symbol"], row["timeframe"])
    for raw in record.get("markets", []):
        market = ManifestDataset.model_validate(raw)
        if market_key(market) == key:
            if market.fingerprint != row["dataset_fingerprint"]:
                raise DataError(
                    f"backtest {row['id']}: its candles' fingerprint is not the one its experiment resolved for "
                    f"{key[0]}:{key[1]} {key[2]}"
                )
            return market
    raise DataError(f"backtest {row['id']}: its experiment has no market {key[0]}:{key[1]} {key[2]}")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _admissions(db: ResultsDb, experiment_id: int, backtest_id: int) -> tuple[PoolAdmission, ...]:
    members = db.pool_members(experiment_id)
    mine = members[members["backtest_id"] == backtest_id]
    if mine.empty:
        return ()
    iterations = db.backtests_frame(experiment_id)["iteration"]
    admissions = []
    for row in mine.itertuples():
        thresholds = _json(row.thresholds_json) or {}
        luck = _json(row.luck_json)
        admissions.append(
            PoolAdmission(
                pool=str(row.pool), iteration=int(row.admitted_iteration),  # type: ignore[arg-type]
                backtests_seen=int((iterations <= row.admitted_iteration).sum()),
                train=ThresholdSet.model_validate(thresholds.get("train", {})),
                validation=ThresholdSet.model_validate(thresholds.get("validation", {})),
                score=None if pd.isna(row.score) else float(row.score),  # type: ignore[arg-type]
                luck=luck if isinstance(luck, dict) else None,
            )
        )  # fmt: skip
    return tuple(admissions)


def backtest_detail(db: ResultsDb, backtest_id: int, data_root: Path | str) -> BacktestDetail:
    """Stored backtest ``backtest_id`` run again on its experiment's market (candles from ``data_root``, checked by
    fingerprint): over the whole period and on each part. A missing id or market is one ``DataError`` line."""
    row = db.backtest(backtest_id)
    experiment_id = int(row["experiment_id"])
    name = _experiment_name(db, experiment_id)
    found = db.experiment_config(name)
    assert found is not None  # the name was just read from the same table
    record = found[1]
    market = _stored_market(record, row)
    config = ResearchConfig.model_validate(record["config"])
    strategy = str(row["strategy"])
    params = dict(_json(row["params_json"]))
    backtest_config = BacktestConfig.from_mapping(_json(row["config_json"]))
    backtester = PartBacktester(load_market(market, data_root))
    whole = backtester.backtest(strategy, params, backtest_config, whole_period(market.parts))
    before_holdout = backtester.backtest(strategy, params, backtest_config, whole_period(market.parts[:-1]))
    by_part = {p.name: backtester.backtest(strategy, params, backtest_config, p) for p in market.parts}
    return BacktestDetail(
        backtest_id=backtest_id, experiment=name, experiment_id=experiment_id, config=config, strategy=strategy,
        params=params, backtest_config=backtest_config, market=market, whole=whole, before_holdout=before_holdout,
        by_part=by_part,
        stored_kpis=db.kpis_of(backtest_id), admissions=_admissions(db, experiment_id, backtest_id),
    )  # fmt: skip


def bounds_text(bounds: ThresholdSet) -> str:
    """A threshold set as people read it: ``sharpe >= 1.50, max_drawdown_pct <= 20``."""
    return ", ".join(_bound_text(bound) for bound in bounds.bounds) or "no bound"


def _bound_text(bound: KpiBound) -> str:
    if bound.kpi in FLAG_KPIS:  # a flag's bound is 1 (must be true) or 0 (must be false)
        if (bound.direction, bound.value) == ("min", 1.0):
            return bound.kpi
        if (bound.direction, bound.value) == ("max", 0.0):
            return f"not {bound.kpi}"
        return f"{bound.kpi} true or false"
    return f"{bound.kpi} {'>=' if bound.direction == 'min' else '<='} {format_value(bound.value)}"


def _luck_text(luck: Mapping[str, Any] | None) -> str:
    if not luck or luck.get("dsr") is None:
        return ""
    trials = luck.get("n_trials")
    among = f" with {int(trials):,} backtests as the number of trials" if trials is not None else ""
    return f"; deflated Sharpe ratio {float(luck['dsr']):.3f} on validation{among}"


def selection_reason(detail: BacktestDetail, holdout_seen: bool = False) -> str:
    """How the backtest was chosen, in the manifest's words."""
    admission = detail.chosen_by
    head = f"backtest {detail.backtest_id} of experiment {detail.experiment}"
    if admission is None:
        return f"{head} {HAND_PICKED}"
    seen = HOLDOUT_SEEN if holdout_seen else "holdout never looked at by the loop"
    tier = TIER_OF_POOL[BEST if admission.pool == BEST else GOOD].upper()
    return (
        f"{head}: admitted to {admission.pool} at iteration {admission.iteration} among "
        f"{admission.backtests_seen:,} backtests: train passed {tier} ({bounds_text(admission.train)}), validation "
        f"passed ({bounds_text(admission.validation)}){_luck_text(admission.luck)}; {seen}"
    )


def _drawdown_bound(detail: BacktestDetail) -> float:
    """The drawdown bound on the selection part (validation): the admitting one, else the experiment's."""
    admission = detail.chosen_by
    bounds = admission.validation if admission is not None else detail.config.validation_set()
    for bound in bounds.bounds:
        if bound.kpi == "max_drawdown_pct" and bound.direction == "max":
            return bound.value
    return NO_DRAWDOWN_BOUND_PCT


def detail_manifest(detail: BacktestDetail, holdout_seen: bool = False) -> Manifest:
    """The paper manifest of a stored backtest: its market as the experiment resolved it, its KPIs per part as run
    again, how it was chosen and what each part's figures are worth (``holdout_seen``: whoever exports it looked at
    holdout first). No verdict: the loop judges no gates."""
    return Manifest.now(
        run_id=f"research:{detail.experiment}", dataset=detail.market, strategy=detail.strategy,
        trial=detail.backtest_id, params=detail.params, backtest=detail.backtest_config,
        kpis={part: result.kpis for part, result in detail.by_part.items()},
        selection=ManifestSelection(
            dd_threshold_pct=_drawdown_bound(detail), reason=selection_reason(detail, holdout_seen),
            selection_part=SplitKind.THREE_WAY.selection_part, part_roles=detail.roles(holdout_seen),
        ),
        verdict=None,
        # A user strategy's file as it is now: the KPIs above were just run again with it.
        strategy_source=trusted_sources([detail.strategy], skip_check=True).get(detail.strategy),
    )  # fmt: skip


__all__ = [
    "HAND_PICKED",
    "HOLDOUT_SEEN",
    "BacktestDetail",
    "PoolAdmission",
    "backtest_detail",
    "bounds_text",
    "detail_manifest",
    "selection_reason",
]
