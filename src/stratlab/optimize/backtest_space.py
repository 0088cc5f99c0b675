"""The backtest settings a run searches next to each strategy's parameters, declared once.

``SEARCHED_BACKTEST`` declares them with the strategies' own parameter specs: each spec's bounds are the range searched
by default (what ``run new``/``optimize`` and the Launch page offer), its ``log`` flag how the optimiser samples it and
its type (int or float) what a range must hold. A run keeps the ranges it was given in ``CommonSpace`` (stored in
``context.json``); ``CommonSpace.spec`` is the declared spec narrowed to them, which ``stratlab.optimize.space`` hands
to Optuna. Which settings exist depends on the position mode: the grid settings only in grid mode, the martingale
settings only in martingale mode (a conditional space).

One range syntax for the CLI and the UI: ``LOW:HIGH``, or ``off`` where a setting may be off (TP and SL: no such
level). A range of one value (``2:2``), like a single position mode, fixes the setting instead of searching it. A bad
range is one line naming the CLI option that sets it, in the CLI and on the Launch page alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from stratlab.engine.config import BacktestConfig, PositionMode
from stratlab.errors import ConfigError
from stratlab.strategies import CategoricalParam, FloatParam, IntParam, ParamSpace, ParamSpec


def _config_default(name: str) -> Any:
    """What a backtest uses when the setting is neither searched nor given."""
    return BacktestConfig.model_fields[name].default


SEARCHED_BACKTEST = ParamSpace(
    params=(
        # TP and SL have no backtest default (no level): their declared default is only a typical value.
        FloatParam(name="tp_pct", low=0.5, high=8.0, default=2.0, log=True, description="take profit, % from entry"),
        FloatParam(name="sl_pct", low=0.3, high=5.0, default=1.0, log=True, description="stop loss, % from entry"),
        # Plain names as choices: what Optuna stores and what messages show.
        CategoricalParam(
            name="position_mode", choices=tuple(mode.value for mode in PositionMode),
            default=str(_config_default("position_mode")), description="how a position grows",
        ),
        FloatParam(
            name="grid_step_pct", low=0.3, high=3.0, default=_config_default("grid_step_pct"), log=True,
            description="grid: adverse move from the last fill that adds",
        ),
        IntParam(
            name="grid_max_adds", low=1, high=5, default=_config_default("grid_max_adds"),
            description="grid: adds per position at most",
        ),
        FloatParam(
            name="grid_size_mult", low=1.0, high=2.0, default=_config_default("grid_size_mult"),
            description="grid: each add's notional × the previous fill's",
        ),
        FloatParam(
            name="martingale_mult", low=1.2, high=3.0, default=_config_default("martingale_mult"),
            description="martingale: base size × this after each loss",
        ),
        IntParam(
            name="martingale_max_steps", low=1, high=5, default=_config_default("martingale_max_steps"),
            description="martingale: losses in a row that grow the size",
        ),
    ),
    owner="backtest",
)  # fmt: skip

# Sampled for every trial, in this order; then the settings of the trial's position mode.
EVERY_MODE: tuple[str, ...] = ("tp_pct", "sl_pct", "position_mode")
MODE_SETTINGS: Mapping[PositionMode, tuple[str, ...]] = {
    PositionMode.NONE: (),
    PositionMode.GRID: ("grid_step_pct", "grid_max_adds", "grid_size_mult"),
    PositionMode.MARTINGALE: ("martingale_mult", "martingale_max_steps"),
}
MAY_BE_OFF = frozenset({"tp_pct", "sl_pct"})
OFF_WORDS = frozenset({"off", "none", ""})
# The CLI option that sets each one: messages name it, in the CLI and on the Launch page.
OPTIONS: Mapping[str, str] = {
    "tp_pct": "--tp-range",
    "sl_pct": "--sl-range",
    "position_mode": "--modes",
    "grid_step_pct": "--grid-step-range",
    "grid_max_adds": "--grid-max-adds-range",
    "grid_size_mult": "--grid-size-mult-range",
    "martingale_mult": "--martingale-mult-range",
    "martingale_max_steps": "--martingale-max-steps-range",
}
RANGED: tuple[str, ...] = tuple(name for name in SEARCHED_BACKTEST.names if name != "position_mode")


def ranged_spec(name: str) -> IntParam | FloatParam:
    """The declared spec of a searched setting that takes a range."""
    spec = SEARCHED_BACKTEST[name]
    if not isinstance(spec, IntParam | FloatParam):
        raise KeyError(f"{name} is not searched over a range")
    return spec


def format_range(low: float, high: float) -> str:
    return f"{low:g}:{high:g}"


def declared_text(name: str) -> str:
    """The declared default as the CLI and the Launch page show it: ``0.5:8`` for a range, ``none`` for the modes."""
    if name == "position_mode":
        return str(modes_spec().default)
    spec = ranged_spec(name)
    return format_range(spec.low, spec.high)


def modes_spec() -> CategoricalParam:
    """The declared position modes."""
    spec = SEARCHED_BACKTEST["position_mode"]
    assert isinstance(spec, CategoricalParam)
    return spec


def _declared_range(name: str) -> Any:
    spec = ranged_spec(name)
    return (spec.low, spec.high)


class CommonSpace(BaseModel):
    """The ranges a run searches of the backtest settings (None: not searched); defaults: the declaration's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tp_pct: tuple[float, float] | None = _declared_range("tp_pct")
    sl_pct: tuple[float, float] | None = _declared_range("sl_pct")
    position_modes: tuple[PositionMode, ...] = (PositionMode(str(modes_spec().default)),)
    grid_step_pct: tuple[float, float] = _declared_range("grid_step_pct")
    grid_max_adds: tuple[int, int] = _declared_range("grid_max_adds")
    grid_size_mult: tuple[float, float] = _declared_range("grid_size_mult")
    martingale_mult: tuple[float, float] = _declared_range("martingale_mult")
    martingale_max_steps: tuple[int, int] = _declared_range("martingale_max_steps")

    @field_validator(*RANGED)
    @classmethod
    def _a_range_a_backtest_accepts(
        cls, value: tuple[float, float] | None, info: ValidationInfo
    ) -> tuple[float, float] | None:
        if value is None:
            return None
        low, high = value
        if not (0 < low <= high and math.isfinite(high)):
            raise ValueError(f"expected 0 < LOW <= HIGH, got {format_range(low, high)}")
        for bound in (low, high):
            try:
                BacktestConfig.from_mapping({str(info.field_name): bound})
            except ConfigError as exc:
                problem = str(exc).removeprefix("backtest config: ")
                raise ValueError(f"{format_range(low, high)} is outside what a backtest accepts: {problem}") from None
        return value

    @field_validator("position_modes")
    @classmethod
    def _some_mode(cls, value: tuple[PositionMode, ...]) -> tuple[PositionMode, ...]:
        if not value:
            raise ValueError("at least one position mode")
        return tuple(dict.fromkeys(value))

    def spec(self, name: str) -> ParamSpec | None:
        """The declared spec of ``name`` narrowed to this run's choice: None when off; a range or a set of modes
        of one value is a one-choice ``CategoricalParam`` (fixed, not sampled)."""
        if name == "position_mode":
            modes = tuple(mode.value for mode in self.position_modes)
            return replace(modes_spec(), choices=modes, default=modes[0])
        chosen = getattr(self, name)
        if chosen is None:
            return None
        low, high = chosen
        if low == high:
            return CategoricalParam(name=name, choices=(low,), default=low)
        declared_spec = ranged_spec(name)
        default = min(max(declared_spec.default, low), high)
        return replace(declared_spec, low=low, high=high, default=default)


def is_fixed(spec: ParamSpec) -> bool:
    """A setting with one possible value is set, not sampled."""
    return isinstance(spec, CategoricalParam) and len(spec.choices) == 1


def parse_range(text: str | None, name: str) -> tuple[float, float] | None:
    """``LOW:HIGH`` (or ``off`` where the setting may be off) as numbers; anything else is one line naming the
    option. Whether the numbers make a range is the model's check (``CommonSpace``)."""
    option = OPTIONS[name]
    cleaned = (text or "").strip()
    example = f"LOW:HIGH (e.g. {declared_text(name)})" + (" or off" if name in MAY_BE_OFF else "")
    if cleaned.lower() in OFF_WORDS:
        if name in MAY_BE_OFF:
            return None
        raise ConfigError(f"{option}: this range cannot be off; expected {example}")
    low, separator, high = cleaned.partition(":")
    try:
        if not separator:
            raise ValueError(cleaned)
        return float(low), float(high)
    except ValueError:
        raise ConfigError(f"{option}: expected {example}, got {text!r}") from None


def parse_modes(text: str) -> tuple[PositionMode, ...]:
    """Comma-separated position modes, each checked against the declared choices."""
    declared = modes_spec()
    modes = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        try:
            modes.append(PositionMode(str(declared.check(name, owner=""))))
        except ConfigError as exc:
            raise ConfigError(f"{OPTIONS['position_mode']}: {exc}") from None
    return tuple(modes)


def common_space_from_text(ranges: Mapping[str, str | None], modes: str) -> CommonSpace:
    """The searched settings as typed in the CLI or on the Launch page (ranges by setting name; settings left out
    keep the declared range); a bad one is one line naming its option."""
    values: dict[str, Any] = {name: parse_range(text, name) for name, text in ranges.items()}
    values["position_modes"] = parse_modes(modes)
    try:
        return CommonSpace.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        option = OPTIONS.get("position_mode" if field == "position_modes" else field, field)
        raise ConfigError(f"{option}: {first['msg'].removeprefix('Value error, ')}") from None


__all__ = [
    "EVERY_MODE",
    "MODE_SETTINGS",
    "OPTIONS",
    "RANGED",
    "SEARCHED_BACKTEST",
    "CommonSpace",
    "common_space_from_text",
    "declared_text",
    "format_range",
    "is_fixed",
    "modes_spec",
    "parse_modes",
    "parse_range",
    "ranged_spec",
]
