"""The search space of one study: a strategy's declared parameters plus the searched backtest settings, as Optuna
suggestions.

Both halves are parameter specs (``stratlab.strategies``: the strategy's ``ParamSpace``, and the backtest settings of
``stratlab.optimize.backtest_space`` narrowed to the run's ranges), mapped to Optuna here in one place. Strategy
parameters keep their names; searched backtest settings are prefixed ``bt.`` so the two never collide and a trial's
parameters split cleanly into ``(strategy params, backtest config)`` for reports and the manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import optuna

from stratlab.engine.config import BacktestConfig, PositionMode, for_strategy
from stratlab.optimize.backtest_space import EVERY_MODE, MODE_SETTINGS, CommonSpace, is_fixed
from stratlab.strategies import CategoricalParam, FloatParam, IntParam, ParamSpec, Strategy, get_strategy

BACKTEST_PREFIX = "bt."


def _suggest_spec(trial: optuna.Trial, spec: ParamSpec, name: str | None = None) -> Any:
    """One Optuna suggestion for ``spec`` (stored under ``name``, by default the spec's own)."""
    key = spec.name if name is None else name
    if isinstance(spec, IntParam):
        return trial.suggest_int(key, spec.low, spec.high, step=spec.step, log=spec.log)
    if isinstance(spec, FloatParam):
        return trial.suggest_float(key, spec.low, spec.high, step=spec.step, log=spec.log)
    if isinstance(spec, CategoricalParam):
        return trial.suggest_categorical(key, list(spec.choices))
    raise TypeError(f"unknown parameter spec {spec!r}")


def _searched_settings(common: CommonSpace, value_of: Callable[[ParamSpec], Any]) -> dict[str, Any]:
    """Each searched backtest setting of a trial, in sampling order: TP, SL (unless off), the position mode, then
    the settings of that mode only (the sampler sees a conditional space, as it should)."""
    out: dict[str, Any] = {}
    for name in EVERY_MODE:
        spec = common.spec(name)
        if spec is not None:
            out[name] = value_of(spec)
    for name in MODE_SETTINGS[PositionMode(out["position_mode"])]:
        spec = common.spec(name)
        assert spec is not None  # only TP and SL may be off
        out[name] = value_of(spec)
    return out


def _fixed_value(spec: ParamSpec) -> Any:
    assert isinstance(spec, CategoricalParam) and is_fixed(spec)
    return spec.choices[0]


def suggest_common(trial: optuna.Trial, common: CommonSpace) -> dict[str, Any]:
    """The searched backtest settings of one trial (names without the prefix); a fixed one is set, not sampled."""

    def suggest(spec: ParamSpec) -> Any:
        return _fixed_value(spec) if is_fixed(spec) else _suggest_spec(trial, spec, BACKTEST_PREFIX + spec.name)

    return _searched_settings(common, suggest)


def suggest(trial: optuna.Trial, strategy: Strategy, common: CommonSpace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sample (strategy params, searched backtest settings) for ``trial``."""
    params = {spec.name: _suggest_spec(trial, spec) for spec in strategy.space.params}
    return params, suggest_common(trial, common)


def split_trial_params(params: Mapping[str, Any], common: CommonSpace) -> tuple[dict[str, Any], dict[str, Any]]:
    """A stored trial's flat parameters as (strategy params, searched backtest settings); the fixed settings, which
    a trial does not store, are filled in as ``suggest_common`` set them."""
    strategy_params = {k: v for k, v in params.items() if not k.startswith(BACKTEST_PREFIX)}
    stored = {k.removeprefix(BACKTEST_PREFIX): v for k, v in params.items() if k.startswith(BACKTEST_PREFIX)}

    def stored_or_fixed(spec: ParamSpec) -> Any:
        # A completed trial stores every setting it sampled, so what it does not store was fixed.
        return stored[spec.name] if spec.name in stored else _fixed_value(spec)

    return strategy_params, {**_searched_settings(common, stored_or_fixed), **stored}


def searched_settings(config: Mapping[str, Any], common: CommonSpace) -> dict[str, Any]:
    """The backtest settings the run searched (or fixed through its ranges) for a trial, read from the trial's
    backtest config ``config``: TP, SL (unless off), the position mode and that mode's settings."""
    return _searched_settings(common, lambda spec: config[spec.name])


def config_for(strategy: Strategy | str, fixed: Mapping[str, Any], searched: Mapping[str, Any]) -> BacktestConfig:
    """The backtest config of a trial of ``strategy``: the run's fixed settings overlaid with the searched ones, and
    the strategy's own defaults (``Strategy.backtest_defaults``) for the fields neither gives."""
    chosen = get_strategy(strategy) if isinstance(strategy, str) else strategy
    return for_strategy(
        {**fixed, **searched}, chosen.backtest_defaults, strategy_sets_stop_loss=chosen.sets_stops, strategy=chosen.name
    )


__all__ = ["BACKTEST_PREFIX", "config_for", "searched_settings", "split_trial_params", "suggest", "suggest_common"]
