"""The gates a champion must pass before it is called good, and the verdict they give.

Each gate compares one statistic of the run with a threshold. Defaults, and why:

- Deflated Sharpe ratio >= 0.95: the champion's Sharpe ratio beats, with 95 % confidence, the best Sharpe ratio that
  the run's number of trials would show by luck alone (Bailey & López de Prado 2014).
- PBO <= 0.5: the configuration best in-sample lands in the upper half out-of-sample more often than not
  (Bailey et al. 2015); above 0.5 the search picks worse than a coin.
- SPA p-value <= 0.05: Hansen's test rejects "no configuration beats cash" after the whole search.
- Walk-forward efficiency >= 0.5, where walk-forward ran: out-of-sample keeps at least half the in-sample annual
  return.
- At least 10 trades on the part that chose the champion (the KPI validity rule's own minimum).

A gate whose statistic could not be computed (too few days, no walk-forward) is skipped and says so; a skipped gate
never makes a verdict pass on its own: at least the Deflated Sharpe ratio must have been judged.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stratlab.errors import ConfigError
from stratlab.metrics.settings import KpiSettings


class VerdictName(enum.StrEnum):
    """What a run says of its champion."""

    PASS = "pass"  # every gate that could be judged passed, the Deflated Sharpe ratio among them
    FLAGGED = "flagged"  # a gate failed, or the Deflated Sharpe ratio could not be judged: likely luck


class Gates(BaseModel):
    """The thresholds of the gates (see the module notes for the defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_dsr: float = Field(default=0.95, ge=0, le=1, description="Deflated Sharpe ratio at least this.")
    max_pbo: float = Field(default=0.5, ge=0, le=1, description="Probability of backtest overfitting at most this.")
    max_spa_pvalue: float = Field(default=0.05, ge=0, le=1, description="SPA p-value (against cash) at most this.")
    min_wfe: float = Field(
        default=0.5, allow_inf_nan=False, description="Walk-forward efficiency at least this, where walk-forward ran."
    )
    min_trades: int = Field(
        default=KpiSettings().min_trades, ge=0, description="Trades on the part that chose the champion, at least."
    )

    def thresholds(self) -> dict[str, float]:
        """Each gate's threshold by gate name (the names ``judge`` and ``--gates`` use)."""
        return {name: float(getattr(self, field)) for name, field in GATE_FIELDS.items()}

    @classmethod
    def from_text(cls, text: str) -> Gates:
        """``dsr=0.9,pbo=0.4`` -> those thresholds, the others at their defaults; a bad item is a ``ConfigError``."""
        values: dict[str, Any] = {}
        for item in (part.strip() for part in text.split(",") if part.strip()):
            name, _, number = item.partition("=")
            if name.strip() not in GATE_FIELDS:
                raise ConfigError(
                    f"--gates: unknown gate {name.strip()!r} in {item!r}; gates: {', '.join(GATE_FIELDS)}"
                )
            try:
                values[GATE_FIELDS[name.strip()]] = float(number)
            except ValueError:
                raise ConfigError(f"--gates: {item!r} is not NAME=NUMBER") from None
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0])
            name = next(gate for gate, owner in GATE_FIELDS.items() if owner == field)
            raise ConfigError(f"--gates: {name}: {first['msg']} (got {first.get('input')!r})") from None


# gate name -> the Gates field holding its threshold
GATE_FIELDS: dict[str, str] = {
    "dsr": "min_dsr", "pbo": "max_pbo", "spa": "max_spa_pvalue", "wfe": "min_wfe", "trades": "min_trades",
}  # fmt: skip


@dataclass(frozen=True)
class Gate:
    """One gate's outcome; ``value`` None means the statistic could not be computed and the gate was skipped."""

    name: str
    label: str
    value: float | None
    threshold: float
    op: str  # ">=" or "<="
    passed: bool | None  # None: skipped
    reason: str

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name, "label": self.label, "value": self.value, "threshold": self.threshold, "op": self.op,
            "passed": self.passed, "reason": self.reason,
        }  # fmt: skip


# name -> (label, short name in reasons, op, what a failure means)
_GATES: dict[str, tuple[str, str, str, str]] = {
    "dsr": ("Deflated Sharpe ratio", "DSR", ">=", "likely luck"),
    "pbo": ("Probability of backtest overfitting", "PBO", "<=", "the search overfits"),
    "spa": ("SPA p-value against cash", "SPA p", "<=", "no better than cash after the search"),
    "wfe": ("Walk-forward efficiency", "WFE", ">=", "does not hold out of sample"),
    "trades": ("Trades on the selection part", "trades", ">=", "too few to judge"),
}


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 10 else f"{value:.2f}"


def _shown(name: str, value: float, threshold: float) -> tuple[str, str]:
    """The value and threshold as a reason prints them: a count of trades whole, and a value that differs from its
    threshold never printed equal to it ("DSR 0.95 < 0.95" would contradict itself)."""
    if name == "trades":
        return f"{value:,.0f}", f"{threshold:,.0f}"
    value_text, threshold_text = _fmt(value), _fmt(threshold)
    if value_text == threshold_text and value != threshold:
        value_text = f"{value:.6g}"
    return value_text, threshold_text


def judge_gate(name: str, value: float | None, threshold: float, *, why_missing: str = "not computed") -> Gate:
    """One gate: ``value`` against ``threshold`` in the gate's direction."""
    label, short, op, meaning = _GATES[name]
    if value is None or not math.isfinite(value):
        return Gate(name, label, None, threshold, op, None, f"{short}: skipped ({why_missing})")
    passed = value >= threshold if op == ">=" else value <= threshold
    value_text, threshold_text = _shown(name, value, threshold)
    if passed:
        reason = f"{short} {value_text} {op} {threshold_text}"
    else:
        opposite = "<" if op == ">=" else ">"
        reason = f"{short} {value_text} {opposite} {threshold_text} — {meaning}"
    return Gate(name, label, float(value), threshold, op, passed, reason)


@dataclass(frozen=True)
class Verdict:
    """The gates in order and the verdict they give; ``summary`` is the line a CLI prints next to the champion."""

    verdict: VerdictName
    gates: tuple[Gate, ...]

    @property
    def failed(self) -> tuple[Gate, ...]:
        return tuple(gate for gate in self.gates if gate.passed is False)

    @property
    def summary(self) -> str:
        if self.verdict == VerdictName.PASS:
            judged = "; ".join(gate.reason for gate in self.gates if gate.passed)
            return f"pass: {judged}"
        reasons = [gate.reason for gate in self.failed] or [
            gate.reason for gate in self.gates if gate.name == "dsr"
        ]  # no failed gate: the Deflated Sharpe ratio could not be judged
        return "flagged: " + "; ".join(reasons)


def judge(
    statistics: Mapping[str, float | None], gates: Gates, *, why_missing: Mapping[str, str] | None = None
) -> Verdict:
    """The verdict on ``statistics`` (keys "dsr", "pbo", "spa", "wfe", "trades"; a missing key or None is a
    skipped gate, explained by ``why_missing`` when given)."""
    missing = dict(why_missing or {})
    judged = tuple(
        judge_gate(name, statistics.get(name), threshold, why_missing=missing.get(name, "not computed"))
        for name, threshold in gates.thresholds().items()
    )
    dsr_judged = judged[0].passed is not None
    verdict = VerdictName.PASS if dsr_judged and all(g.passed is not False for g in judged) else VerdictName.FLAGGED
    return Verdict(verdict, judged)


__all__ = ["GATE_FIELDS", "Gate", "Gates", "Verdict", "VerdictName", "judge", "judge_gate"]
