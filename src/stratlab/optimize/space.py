"""The search space of one study: a strategy's declared parameters plus the common backtest settings.

Strategy parameters keep their names; searched backtest settings are prefixed ``bt.`` so the two never collide and a
trial's parameters split cleanly into ``(strategy params, backtest config)`` for reports and the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from stratlab.engine.config import BacktestConfig, PositionMode
from stratlab.optimize.context import CommonSpace
from stratlab.strategies import CategoricalParam, FloatParam, IntParam, ParamSpec, Strategy

BACKTEST_PREFIX = "bt."


def _suggest_spec(trial: optuna.Trial, spec: ParamSpec) -> Any:
    if isinstance(spec, IntParam):
        return trial.suggest_int(spec.name, spec.low, spec.high, step=spec.step, log=spec.log)
    if isinstance(spec, FloatParam):
        return trial.suggest_float(spec.name, spec.low, spec.high, step=spec.step, log=spec.log)
    if isinstance(spec, CategoricalParam):
        return trial.suggest_categorical(spec.name, list(spec.choices))
    raise TypeError(f"unknown parameter spec {spec!r}")


def suggest_common(trial: optuna.Trial, common: CommonSpace) -> dict[str, Any]:
    """The searched backtest settings of one trial (names without the prefix)."""
    p = BACKTEST_PREFIX
    out: dict[str, Any] = {}
    if common.tp_pct is not None:
        out["tp_pct"] = trial.suggest_float(f"{p}tp_pct", *common.tp_pct, log=True)
    if common.sl_pct is not None:
        out["sl_pct"] = trial.suggest_float(f"{p}sl_pct", *common.sl_pct, log=True)
    mode: PositionMode = common.position_modes[0]
    if len(common.position_modes) > 1:
        mode = PositionMode(trial.suggest_categorical(f"{p}position_mode", list(common.position_modes)))
    out["position_mode"] = mode
    # Mode parameters only exist for their mode: the sampler sees a conditional space, as it should.
    if mode == PositionMode.GRID:
        out["grid_step_pct"] = trial.suggest_float(f"{p}grid_step_pct", *common.grid_step_pct, log=True)
        out["grid_max_adds"] = trial.suggest_int(f"{p}grid_max_adds", *common.grid_max_adds)
        out["grid_size_mult"] = trial.suggest_float(f"{p}grid_size_mult", *common.grid_size_mult)
    elif mode == PositionMode.MARTINGALE:
        out["martingale_mult"] = trial.suggest_float(f"{p}martingale_mult", *common.martingale_mult)
        out["martingale_max_steps"] = trial.suggest_int(f"{p}martingale_max_steps", *common.martingale_max_steps)
    return out


def suggest(trial: optuna.Trial, strategy: Strategy, common: CommonSpace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sample (strategy params, searched backtest settings) for ``trial``."""
    params = {spec.name: _suggest_spec(trial, spec) for spec in strategy.space.params}
    return params, suggest_common(trial, common)


def split_trial_params(params: Mapping[str, Any], common: CommonSpace) -> tuple[dict[str, Any], dict[str, Any]]:
    """A stored trial's flat parameters as (strategy params, searched backtest settings)."""
    strategy_params = {k: v for k, v in params.items() if not k.startswith(BACKTEST_PREFIX)}
    backtest = {k.removeprefix(BACKTEST_PREFIX): v for k, v in params.items() if k.startswith(BACKTEST_PREFIX)}
    backtest.setdefault("position_mode", common.position_modes[0])  # a single mode is fixed, not sampled
    return strategy_params, backtest


def config_for(fixed: Mapping[str, Any], searched: Mapping[str, Any]) -> BacktestConfig:
    """The backtest config of a trial: the run's fixed settings overlaid with the searched ones."""
    return BacktestConfig.from_mapping({**fixed, **searched})


__all__ = ["BACKTEST_PREFIX", "config_for", "split_trial_params", "suggest", "suggest_common"]
