"""Thresholds on the KPI record: which backtests are GOOD (pass the SOFT set) and BEST (pass the HARD set).

A ``KpiBound`` names one field of ``stratlab.metrics.Kpis`` (numbers and flags only; a flag counts as 1 when true)
and a bound it must meet: ``direction="min"`` means the value must be >= the bound, ``"max"`` that it must be <=.
A missing, ``None`` or NaN value never meets a bound: a figure that could not be computed proves nothing.

``AdaptiveThresholds`` moves bounds with what the loop finds: each ``AdaptiveRule`` puts its bound at a percentile of
the values seen so far, clamped to a floor and a ceiling, and only once enough backtests were seen; a new value
replaces the current one only if it moves beyond a relative band (hysteresis), so pools do not flicker.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)

from stratlab.errors import ConfigError, DataError
from stratlab.metrics import Kpis

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

BoundDirection = Literal["min", "max"]  # "min": the value must be >= the bound; "max": <= the bound

_KPI_TYPES = typing.get_type_hints(Kpis)
# Numbers and flags: the fields a bound or a rank can read. Reasons, the stop message and notes are text.
NUMERIC_KPIS: tuple[str, ...] = tuple(
    name for name, hint in _KPI_TYPES.items() if hint in (int, float, bool, float | None, int | None)
)
FLAG_KPIS: frozenset[str] = frozenset(name for name, hint in _KPI_TYPES.items() if hint is bool)


def check_numeric_kpi(name: str) -> str:
    """``name`` if it is a numeric or flag field of ``Kpis``; otherwise a one-line ``ConfigError`` with close names."""
    if name in NUMERIC_KPIS:
        return name
    if name in _KPI_TYPES:
        raise ConfigError(f"KPI {name!r} is not a number or a flag; numeric KPIs: {', '.join(NUMERIC_KPIS)}")
    close = difflib.get_close_matches(name, NUMERIC_KPIS, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else f"KPIs: {', '.join(NUMERIC_KPIS)}"
    raise ConfigError(f"unknown KPI {name!r}; {hint}")


class OneLineModel(BaseModel):
    """A pydantic model whose invalid input is one ``ConfigError`` line naming the model, field and value.

    Validators of a whole model (``mode="after"``) run outside this wrapper: they raise ``ConfigError`` themselves.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="wrap")
    @classmethod
    def _one_line_errors(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            return handler(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                raise ConfigError(f"{cls.__name__}: unknown field {where!r}") from None
            if not where:  # a rule across fields: its message names them
                raise ConfigError(f"{cls.__name__}: {message}") from None
            raise ConfigError(f"{cls.__name__}: {where}: {message} (got {first.get('input')!r})") from None


def format_value(value: float) -> str:
    """How reasons show a number: whole numbers from 10 up without decimals (trades, days), others with two."""
    if float(value).is_integer() and abs(value) >= 10:
        return f"{value:,.0f}"
    if value != 0 and abs(value) < 0.01:
        return f"{value:.3g}"
    return f"{value:,.2f}"


def kpi_column(frame: pd.DataFrame, kpi: str) -> FloatArray:
    """One KPI column as floats: flags as 0/1, ``None`` and anything not a number as NaN."""
    if kpi not in frame.columns:
        raise DataError(f"the KPI table has no column {kpi!r}")
    column = frame[kpi]
    if column.dtype == object:
        column = column.map(lambda value: value if isinstance(value, int | float | np.number | np.bool_) else None)
    return np.asarray(pd.to_numeric(column, errors="coerce"), dtype=np.float64)


def _row_value(row: Kpis | Mapping[str, Any] | pd.Series, kpi: str) -> float:
    value = row[kpi] if isinstance(row, Kpis) else row.get(kpi)
    return float(value) if isinstance(value, int | float | np.number | np.bool_) else math.nan


class KpiBound(OneLineModel):
    """One KPI held to one bound; a flag KPI's bound is 1 (``min``: must be true) or 0 (``max``: must be false)."""

    kpi: str
    direction: BoundDirection
    value: float = Field(allow_inf_nan=False)

    @field_validator("kpi")
    @classmethod
    def _known_kpi(cls, name: str) -> str:
        return check_numeric_kpi(name)

    @model_validator(mode="after")
    def _flags_are_zero_or_one(self) -> Self:
        if self.kpi in FLAG_KPIS and self.value not in (0.0, 1.0):
            raise ConfigError(f"KpiBound: {self.kpi} is a flag: its bound is 1 (true) or 0 (false), not {self.value!r}")
        return self

    def holds(self, values: FloatArray | float) -> BoolArray:
        """Where ``values`` meet the bound; NaN never does."""
        array = np.asarray(values, dtype=np.float64)
        result: BoolArray = array >= self.value if self.direction == "min" else array <= self.value
        return result

    def failure_reason(self, row: Kpis | Mapping[str, Any] | pd.Series) -> str | None:
        """Why ``row`` misses this bound, as one short phrase (``"sharpe 0.84 < 1.00"``); None if it meets it."""
        value = _row_value(row, self.kpi)
        if bool(self.holds(value)):
            return None
        op = ">=" if self.direction == "min" else "<="
        if math.isnan(value):
            why = _note(row, self.kpi)
            return f"{self.kpi} undefined{f': {why}' if why else ''} (needs {op} {format_value(self.value)})"
        if self.kpi in FLAG_KPIS:
            return f"{self.kpi} is {'true' if value else 'false'}{_invalid_reasons_suffix(row, self.kpi)}"
        shown_op = "<" if self.direction == "min" else ">"
        return f"{self.kpi} {format_value(value)} {shown_op} {format_value(self.value)}"


def _note(row: Kpis | Mapping[str, Any] | pd.Series, kpi: str) -> str:
    """The record's own note on why ``kpi`` is undefined, where the row carries its notes."""
    notes = row.notes if isinstance(row, Kpis) else row.get("notes")
    return str(notes.get(kpi, "")) if isinstance(notes, Mapping) else ""


def _invalid_reasons_suffix(row: Kpis | Mapping[str, Any] | pd.Series, kpi: str) -> str:
    if kpi != "is_valid":
        return ""
    reasons = row.invalid_reasons if isinstance(row, Kpis) else row.get("invalid_reasons")
    if isinstance(reasons, list | tuple | np.ndarray) and len(reasons):
        return f" ({'; '.join(str(reason) for reason in reasons)})"
    return f" ({reasons})" if isinstance(reasons, str) and reasons else ""


class ThresholdSet(OneLineModel):
    """Bounds a backtest must all meet; an empty set passes everything."""

    bounds: tuple[KpiBound, ...] = ()

    def passes(self, kpis_row: Kpis | Mapping[str, Any] | pd.Series) -> tuple[bool, list[str]]:
        """Whether one backtest meets every bound, and the reasons of those it misses (in the set's order)."""
        reasons = [reason for bound in self.bounds if (reason := bound.failure_reason(kpis_row)) is not None]
        return not reasons, reasons

    def passing_mask(self, frame: pd.DataFrame) -> BoolArray:
        """Row by row of a KPI table (one column per KPI), whether every bound is met; the same rule as ``passes``."""
        mask = np.ones(len(frame), dtype=np.bool_)
        for bound in self.bounds:
            mask &= bound.holds(kpi_column(frame, bound.kpi))
        return mask


# Defaults for 5m crypto research, annualised over 365 days. SOFT marks a backtest worth a second look (GOOD);
# HARD one worth paper trading (BEST).
DEFAULT_SOFT = ThresholdSet(
    bounds=(
        # A Sharpe under 1 rarely survives fees, slippage and the decay from in-sample to live.
        KpiBound(kpi="sharpe", direction="min", value=1.0),
        # Deeper than 30 % and most traders switch the strategy off before it recovers.
        KpiBound(kpi="max_drawdown_pct", direction="max", value=30.0),
        # At least half the active days green: the PnL does not hang on a few big wins.
        KpiBound(kpi="green_days_pct", direction="min", value=50.0),
        # Ulcer index (RMS of the percent drawdown) 10: drawdowns that are rare or shallow, not just a mild maximum.
        KpiBound(kpi="ulcer_index_pct", direction="max", value=10.0),
        # The best few days (KpiSettings.top_k_days) making over 60 % of the profit is luck more than edge.
        KpiBound(kpi="top_days_pnl_share_pct", direction="max", value=60.0),
        # 30 trades: the least for a mean and a win rate to mean anything (validity itself asks only 10).
        KpiBound(kpi="n_trades", direction="min", value=30.0),
        # Trading on 20 days at least: one busy week is not a strategy.
        KpiBound(kpi="active_days", direction="min", value=20.0),
        # The record's own validity rule (enough trades and active days, non-flat returns).
        KpiBound(kpi="is_valid", direction="min", value=1.0),
    )
)
DEFAULT_HARD = ThresholdSet(
    bounds=(
        # 1.5 leaves room for the Sharpe to halve out of sample and still pay for the risk.
        KpiBound(kpi="sharpe", direction="min", value=1.5),
        # 20 %: a drawdown one can sit through with real money.
        KpiBound(kpi="max_drawdown_pct", direction="max", value=20.0),
        # Clearly more green than red days.
        KpiBound(kpi="green_days_pct", direction="min", value=55.0),
        KpiBound(kpi="ulcer_index_pct", direction="max", value=5.0),
        # The profit spread over many days: the best few make at most 40 % of it.
        KpiBound(kpi="top_days_pnl_share_pct", direction="max", value=40.0),
        # 100 trades: a win rate known to about ±10 points.
        KpiBound(kpi="n_trades", direction="min", value=100.0),
        # Two months of active days: several market regimes.
        KpiBound(kpi="active_days", direction="min", value=60.0),
        KpiBound(kpi="is_valid", direction="min", value=1.0),
        # A Sharpe above the record's cap is too good to be true until someone has looked at it: never BEST on its own.
        KpiBound(kpi="sharpe_outlier", direction="max", value=0.0),
    )
)


# Validation is a fifth of the data: it confirms that a candidate still earns and does not break down, not that it
# repeats its train figures (fewer days, fewer trades, a noisier Sharpe).
DEFAULT_VALIDATION = ThresholdSet(
    bounds=(
        KpiBound(kpi="sharpe", direction="min", value=0.5),
        KpiBound(kpi="return_pct", direction="min", value=0.0),
        KpiBound(kpi="max_drawdown_pct", direction="max", value=30.0),
        KpiBound(kpi="n_trades", direction="min", value=10.0),
    )
)


class AdaptiveRule(OneLineModel):
    """How one bound follows the backtests seen.

    ``percentile`` says how good a backtest must be among those seen: 80 puts the bar where 80 % are worse, i.e. the
    80th percentile of a ``min`` KPI (Sharpe) and the 20th of a ``max`` KPI (max drawdown). The bound stays within
    ``floor``..``ceiling``; it moves only when the new value is more than ``hysteresis`` (relative, 0.05 = 5 %) away
    from the current one, and never before ``min_samples`` finite values were seen. It starts at ``initial``, or at
    its loosest end (``floor`` for ``min``, ``ceiling`` for ``max``).
    """

    kpi: str
    direction: BoundDirection
    percentile: float = Field(gt=0, lt=100)
    floor: float = Field(allow_inf_nan=False)
    ceiling: float = Field(allow_inf_nan=False)
    hysteresis: float = Field(default=0.05, ge=0, lt=1)
    min_samples: int = Field(default=100, ge=1)
    initial: float | None = Field(default=None, allow_inf_nan=False)

    @field_validator("kpi")
    @classmethod
    def _known_kpi(cls, name: str) -> str:
        return check_numeric_kpi(name)

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> Self:
        if self.floor > self.ceiling:
            raise ConfigError(f"AdaptiveRule: {self.kpi}: floor {self.floor} is above ceiling {self.ceiling}")
        if self.initial is not None and not self.floor <= self.initial <= self.ceiling:
            where = f"{self.floor}..{self.ceiling}"
            raise ConfigError(f"AdaptiveRule: {self.kpi}: initial {self.initial} is outside {where}")
        return self

    @property
    def tail_percentile(self) -> float:
        """The percentile of the values seen that sets the bound: the lower tail for a ``max`` KPI."""
        return self.percentile if self.direction == "min" else 100.0 - self.percentile

    @property
    def start(self) -> float:
        if self.initial is not None:
            return self.initial
        return self.floor if self.direction == "min" else self.ceiling


@dataclass(frozen=True)
class ThresholdChange:
    """One bound that moved, and why in one line."""

    iteration: int
    kpi: str
    old: float
    new: float
    percentile_value: float  # the percentile of the values seen, before the floor/ceiling clamp
    n_seen: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _ordinal(value: float) -> str:
    if not float(value).is_integer():
        return f"{value:g}th"
    number = int(value)
    suffix = "th" if number % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


class AdaptiveThresholds:
    """Bounds that follow the backtests seen (one ``AdaptiveRule`` per KPI) on top of ``fixed`` bounds that do not.

    Pass ``update`` the rows that should set the bar (typically the valid backtests so far): invalid runs with a
    Sharpe of 0 would otherwise pull every percentile down. Deterministic: the same rows give the same bounds.
    """

    def __init__(
        self,
        rules: Sequence[AdaptiveRule],
        fixed: ThresholdSet | None = None,
        current: Mapping[str, float] | None = None,
    ) -> None:
        self.rules: tuple[AdaptiveRule, ...] = tuple(rules)
        self.fixed = fixed if fixed is not None else ThresholdSet()
        kpis = [rule.kpi for rule in self.rules]
        if len(set(kpis)) != len(kpis):
            repeated = sorted({kpi for kpi in kpis if kpis.count(kpi) > 1})
            raise ConfigError(f"adaptive thresholds: one rule per KPI (repeated: {', '.join(repeated)})")
        both = sorted(set(kpis) & {bound.kpi for bound in self.fixed.bounds})
        if both:
            raise ConfigError(f"adaptive thresholds: {', '.join(both)} both fixed and adaptive; keep one")
        self._current = {rule.kpi: rule.start for rule in self.rules}
        for kpi, value in (current or {}).items():
            self._set_current(kpi, value)

    def _set_current(self, kpi: str, value: float) -> None:
        rule = next((rule for rule in self.rules if rule.kpi == kpi), None)
        if rule is None:
            raise ConfigError(f"adaptive thresholds: a current value for {kpi!r}, which has no rule")
        if not isinstance(value, int | float) or not rule.floor <= value <= rule.ceiling:
            raise ConfigError(
                f"adaptive thresholds: current {kpi} {value!r} is outside {rule.floor}..{rule.ceiling} (floor..ceiling)"
            )
        self._current[kpi] = float(value)

    def value_of(self, kpi: str) -> float:
        """The current bound of the rule on ``kpi``."""
        return self._current[kpi]

    def update(self, values_seen: pd.DataFrame, iteration: int) -> list[ThresholdChange]:
        """Move each bound to its percentile of ``values_seen`` (NaN and inf ignored) where the rule allows it.

        Only real changes are returned: a rule short of ``min_samples`` or a value within the hysteresis band keeps
        the bound and reports nothing.
        """
        changes = []
        for rule in self.rules:
            values = kpi_column(values_seen, rule.kpi)
            change = self._apply_rule(rule, values[np.isfinite(values)], iteration)
            if change is not None:
                self._current[rule.kpi] = change.new
                changes.append(change)
        return changes

    def _apply_rule(self, rule: AdaptiveRule, finite: FloatArray, iteration: int) -> ThresholdChange | None:
        if finite.size < rule.min_samples:
            return None
        seen = float(np.percentile(finite, rule.tail_percentile))
        new = min(max(seen, rule.floor), rule.ceiling)
        old = self._current[rule.kpi]
        if abs(new - old) <= rule.hysteresis * abs(old):
            return None
        clamp = ""
        if new != seen:
            clamp = f", held at the {'floor' if new == rule.floor else 'ceiling'} {format_value(new)}"
        reason = (
            f"{_ordinal(rule.tail_percentile)} percentile of {finite.size:,} backtests is {format_value(seen)}{clamp} "
            f"(was {format_value(old)}): {'raised' if new > old else 'lowered'}"
        )
        return ThresholdChange(iteration, rule.kpi, old, new, seen, int(finite.size), reason)

    def current(self) -> ThresholdSet:
        """The fixed bounds followed by every rule's bound at its current value."""
        adaptive = tuple(
            KpiBound(kpi=rule.kpi, direction=rule.direction, value=self._current[rule.kpi]) for rule in self.rules
        )
        return ThresholdSet(bounds=self.fixed.bounds + adaptive)

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-ready values: rules, fixed bounds and current values."""
        return {
            "rules": [rule.model_dump() for rule in self.rules],
            "fixed": [bound.model_dump() for bound in self.fixed.bounds],
            "current": dict(self._current),
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> AdaptiveThresholds:
        """The thresholds ``to_dict`` saved, to resume a loop where it stopped; a malformed state is a ConfigError."""
        missing = [key for key in ("rules", "fixed", "current") if key not in state]
        if missing:
            raise ConfigError(f"adaptive thresholds state: missing {', '.join(missing)}")
        if not isinstance(state["current"], Mapping):
            raise ConfigError("adaptive thresholds state: 'current' is not a mapping of KPI to bound")
        rules = [AdaptiveRule.model_validate(rule) for rule in state["rules"]]
        fixed = ThresholdSet.model_validate({"bounds": state["fixed"]})
        return cls(rules, fixed, current=state["current"])


__all__ = [
    "DEFAULT_HARD",
    "DEFAULT_SOFT",
    "DEFAULT_VALIDATION",
    "FLAG_KPIS",
    "NUMERIC_KPIS",
    "AdaptiveRule",
    "AdaptiveThresholds",
    "BoundDirection",
    "KpiBound",
    "OneLineModel",
    "ThresholdChange",
    "ThresholdSet",
    "check_numeric_kpi",
    "format_value",
    "kpi_column",
]
