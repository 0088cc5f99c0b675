"""``BacktestConfig``: every knob of one backtest, typed and validated where it enters.

Percent fields carry ``_pct`` (``1.5`` means 1.5 %), basis-point fields ``_bps`` (``4.5`` means 0.045 %). A bad
value raises ``ConfigError`` with one line naming the field.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationError, model_validator

from stratlab.errors import ConfigError


class PositionMode(enum.StrEnum):
    """How a position grows: not at all, by grid adds on adverse moves, or by martingale sizing after losses."""

    NONE = "none"
    GRID = "grid"
    MARTINGALE = "martingale"


class OppositePolicy(enum.StrEnum):
    """What an opposite signal does to an open position: close and reverse, close only, or nothing."""

    REVERSE = "reverse"
    CLOSE = "close"
    IGNORE = "ignore"


# Dumps (manifests, JSON, ``replace``) carry the plain string, exactly as when these fields were string literals.
_AS_PLAIN_STRING = PlainSerializer(str, return_type=str)
_PositionModeField = Annotated[PositionMode, _AS_PLAIN_STRING]
_OppositePolicyField = Annotated[OppositePolicy, _AS_PLAIN_STRING]


class BacktestConfig(BaseModel):
    """How one backtest trades: costs, exits, position mode, sizing, leverage, early stop, funding."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    initial_equity: float = Field(default=10_000.0, gt=0, allow_inf_nan=False, description="Starting equity (quote).")
    fee_bps: float = Field(default=4.5, ge=0, lt=10_000, allow_inf_nan=False, description="Taker fee per fill.")
    slippage_bps: float = Field(
        default=0.0, ge=0, lt=10_000, allow_inf_nan=False, description="Against the trader on every fill."
    )

    tp_pct: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="Take profit, % from entry.")
    sl_pct: float | None = Field(
        default=None, gt=0, lt=100, allow_inf_nan=False, description="Stop loss, % from entry."
    )
    tp_atr: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="Take profit, ATR multiples.")
    sl_atr: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="Stop loss, ATR multiples.")
    atr_period: int = Field(default=14, ge=1, description="ATR period (Wilder) for the *_atr levels.")

    position_mode: _PositionModeField = PositionMode.NONE
    grid_step_pct: float = Field(
        default=1.0, gt=0, lt=100, allow_inf_nan=False, description="Adverse move from the last fill that adds."
    )
    grid_max_adds: int = Field(default=3, ge=0, le=100, description="Adds per position at most.")
    grid_size_mult: float = Field(
        default=1.0, gt=0, le=100, allow_inf_nan=False, description="Each add's notional × the previous fill's."
    )
    martingale_mult: float = Field(
        default=2.0, ge=1, le=100, allow_inf_nan=False, description="Base size × this after each loss."
    )
    martingale_max_steps: int = Field(
        default=3, ge=0, le=30, description="Losses in a row that grow the size, at most."
    )

    size_pct: float = Field(
        default=100.0, gt=0, le=100, allow_inf_nan=False, description="Margin per entry, % of equity."
    )
    risk_pct: float | None = Field(
        default=None, gt=0, le=100, allow_inf_nan=False, description="Instead of size_pct: % of equity lost at the SL."
    )
    size_units: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="Instead of size_pct: a fixed quantity per entry."
    )
    leverage: float = Field(default=1.0, ge=1, le=200, allow_inf_nan=False)
    maintenance_margin_pct: float = Field(
        default=0.5,
        ge=0,
        lt=100,
        allow_inf_nan=False,
        description="Of notional; a loss reaching margin minus it liquidates.",
    )

    max_drawdown_stop_pct: float | None = Field(default=None, gt=0, le=100, allow_inf_nan=False)
    max_consecutive_losses: int | None = Field(default=None, ge=1)
    max_idle_bars: int | None = Field(default=None, ge=1)
    max_holding_bars: int | None = Field(
        default=None, ge=1, description="Close a position at the open after this many bars held (time-out)."
    )
    min_target_cost_multiple: float | None = Field(
        default=None,
        gt=0,
        le=100,
        allow_inf_nan=False,
        description="Skip an entry whose take-profit move is below this multiple of its round-trip costs.",
    )

    on_opposite: _OppositePolicyField = OppositePolicy.REVERSE
    funding_bps_per_8h: float = Field(
        default=0.0, gt=-10_000, lt=10_000, allow_inf_nan=False, description="Longs pay, shorts receive (if > 0)."
    )

    def __init__(self, **values: Any) -> None:
        # Construction is the edge: turn pydantic's multi-line report into our one-line error.
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc)) from None

    @model_validator(mode="after")
    def _consistent(self) -> BacktestConfig:
        if self.tp_pct is not None and self.tp_atr is not None:
            raise ValueError("tp_pct and tp_atr: give one take profit, not both")
        if self.sl_pct is not None and self.sl_atr is not None:
            raise ValueError("sl_pct and sl_atr: give one stop loss, not both")
        if self.risk_pct is not None and self.size_units is not None:
            raise ValueError("risk_pct and size_units: give one sizing rule, not both")
        # risk_pct without sl_pct or sl_atr is valid here: the strategy may set the stops (checked where both meet,
        # in ``for_strategy`` and ``run_backtest``).
        return self

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> BacktestConfig:
        """Build from a mapping (JSON, CLI flags); any invalid field is a one-line ``ConfigError``."""
        return cls(**{str(key): value for key, value in values.items()})

    def replace(self, **changes: Any) -> BacktestConfig:
        """A copy with ``changes`` applied, validated like a new config."""
        return BacktestConfig.from_mapping({**self.model_dump(), **changes})

    @property
    def sets_stop_loss(self) -> bool:
        return self.sl_pct is not None or self.sl_atr is not None

    @property
    def uses_atr(self) -> bool:
        return self.tp_atr is not None or self.sl_atr is not None


SIZING_FIELDS: tuple[str, ...] = ("size_pct", "risk_pct", "size_units")


def for_strategy(
    given: Mapping[str, Any], defaults: Mapping[str, Any], *, strategy_sets_stop_loss: bool, strategy: str
) -> BacktestConfig:
    """The config of a backtest of one strategy: the fields ``given`` (by the user, a run, a trial), and the
    strategy's ``defaults`` for the fields not given. A strategy's default sizing rule yields to any sizing field
    given (so ``size_pct`` given replaces a default ``risk_pct`` instead of clashing with it).

    Risk-based sizing needs a stop loss, from the config or from the strategy: a one-line ``ConfigError`` otherwise.
    """
    chosen_sizing = any(given.get(name) is not None for name in SIZING_FIELDS)
    kept = {k: v for k, v in defaults.items() if not (chosen_sizing and k in SIZING_FIELDS)}
    config = BacktestConfig.from_mapping({**kept, **given})
    if config.risk_pct is not None and not config.sets_stop_loss and not strategy_sets_stop_loss:
        raise ConfigError(
            f"backtest config: risk_pct needs a stop loss: give sl_pct or sl_atr ({strategy} sets no stops itself)"
        )
    return config


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem of a pydantic error as one line: ``backtest config: <field>: <message> (got <value>)``."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return f"backtest config: unknown field {field!r}"
    if not field:  # a rule across fields: its message names them
        return f"backtest config: {message}"
    return f"backtest config: {field}: {message} (got {first.get('input')!r})"


def validated_config(config: BacktestConfig | Mapping[str, Any] | None) -> BacktestConfig:
    """Accept a config, a mapping of its fields, or None for the defaults."""
    if config is None:
        return BacktestConfig()
    if isinstance(config, BacktestConfig):
        return config
    return BacktestConfig.from_mapping(config)


__all__ = [
    "SIZING_FIELDS",
    "BacktestConfig",
    "OppositePolicy",
    "PositionMode",
    "describe_validation_error",
    "for_strategy",
    "validated_config",
]
