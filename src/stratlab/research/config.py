"""What a research loop is asked to do, read from a TOML file: the markets and strategies it searches, how it splits
the candles, when it stops, the SOFT / HARD / validation thresholds, how they adapt, and how pool members are scored.

One model, ``ResearchConfig``, read by the loop, the CLI and the Research page; ``load_config`` turns a TOML file
into it, and any bad key or value is one ``ConfigError`` line naming the file and the field. Every default is
written out in ``examples/research.toml``.

The split has three parts, always: the loop searches **train**, confirms pool candidates on **validation**, and never
looks at **holdout**, which stays out-of-sample for whoever picks a pool member afterwards.

Thresholds: ``[soft]``, ``[hard]`` and ``[validation]`` change the default bounds KPI by KPI (``sharpe = {min = 1.2}``,
``ulcer_index_pct = "off"`` to drop one); an ``[[adaptive]]`` rule makes one bound of SOFT or HARD follow the
backtests seen, and replaces that KPI's fixed bound.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field, field_validator, model_validator

from stratlab.engine.config import BacktestConfig
from stratlab.errors import ConfigError
from stratlab.optimize.backtest_space import CommonSpace
from stratlab.optimize.context import SamplerName, known_strategies, safe_name
from stratlab.research.scoring import KPI_BETTER, Objective, ScoreWeights
from stratlab.research.thresholds import (
    DEFAULT_HARD,
    DEFAULT_SOFT,
    DEFAULT_VALIDATION,
    AdaptiveRule,
    AdaptiveThresholds,
    KpiBound,
    OneLineModel,
    ThresholdSet,
    check_numeric_kpi,
)
from stratlab.settings import get_settings
from stratlab.strategies import default_strategy_names

PoolName = Literal["GOOD", "BEST"]
GOOD: PoolName = "GOOD"
BEST: PoolName = "BEST"
Tier = Literal["soft", "hard"]  # the threshold set of a pool: SOFT admits to GOOD, HARD to BEST
TIERS: tuple[Tier, ...] = ("soft", "hard")
TIER_OF_POOL: dict[PoolName, Tier] = {GOOD: "soft", BEST: "hard"}

# SOFT's Sharpe follows the best fifth of what is found, HARD's the best twentieth, each within sane bounds.
DEFAULT_ADAPTIVE: tuple[dict[str, Any], ...] = (
    {"pool": "soft", "kpi": "sharpe", "direction": "min", "percentile": 80, "floor": 1.0, "ceiling": 3.0},
    {"pool": "hard", "kpi": "sharpe", "direction": "min", "percentile": 95, "floor": 1.5, "ceiling": 4.0},
)


DEFAULT_PARETO: dict[str, Objective] = {"sharpe": "max", "max_drawdown_pct": "min"}


THRESHOLD_MOVE = "threshold"  # the kind of an adaptive_decisions row that moved a bound


def threshold_name(tier: Tier, kpi: str) -> str:
    """How the results database names an adaptive bound: ``soft.sharpe``."""
    return f"{tier}.{kpi}"


def bounds_after_moves(decisions: pd.DataFrame) -> dict[Tier, dict[str, float]]:
    """Each tier's adaptive bounds as the last logged moves left them (a bound never moved is absent: it stands at
    its rule's start)."""
    current: dict[Tier, dict[str, float]] = {tier: {} for tier in TIERS}
    moves = decisions[decisions["kind"] == THRESHOLD_MOVE]
    for name, value in zip(moves["name"], moves["new_value"], strict=True):
        tier, _, kpi = str(name).partition(".")
        if tier in current:
            current[tier][kpi] = float(value)
    return current


class MarketChoice(OneLineModel):
    """One instrument and period the loop searches."""

    source: str
    symbol: str
    timeframe: str = "5m"
    start: str | None = None
    end: str | None = None

    @property
    def label(self) -> str:
        period = f" {self.start or '…'}..{self.end or '…'}" if self.start or self.end else ""
        return f"{self.source}:{self.symbol} {self.timeframe}{period}"


class StopRule(OneLineModel):
    """When the loop stops: enough BEST members, enough backtests, or enough time (whichever comes first)."""

    best: int = Field(default=10, ge=1, description="Stop once this many backtests are in BEST.")
    max_backtests: int = Field(default=5_000, ge=1, description="Stop after this many backtests in the database.")
    max_minutes: float = Field(default=0.0, ge=0, description="Stop a start after this long; 0 = no limit.")


class AdaptiveSpec(AdaptiveRule):
    """An adaptive rule and the threshold set (``soft`` or ``hard``) whose bound it moves."""

    pool: Tier


def _bound_overrides(value: Any, where: str) -> dict[str, dict[str, float] | str]:
    if not isinstance(value, Mapping):
        raise ValueError(f'[{where}] must be a table of KPI = {{min = x}} / {{max = x}} / "off"')
    for kpi, bound in value.items():
        check_numeric_kpi(str(kpi))
        if bound == "off":
            continue
        if not (isinstance(bound, Mapping) and len(bound) == 1 and next(iter(bound)) in ("min", "max")):
            raise ValueError(f'[{where}] {kpi}: expected {{min = x}}, {{max = x}} or "off", got {bound!r}')
        number = next(iter(bound.values()))
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"[{where}] {kpi}: the bound must be a number, got {number!r}")
    return dict(value)


def apply_overrides(defaults: ThresholdSet, overrides: Mapping[str, dict[str, float] | str]) -> ThresholdSet:
    """``defaults`` with each overridden KPI's bound replaced (or dropped when "off"), new KPIs appended."""
    replaced: dict[str, KpiBound | None] = {}
    for kpi, bound in overrides.items():
        if bound == "off":
            replaced[kpi] = None
        else:
            assert isinstance(bound, Mapping)
            ((direction, value),) = bound.items()
            replaced[kpi] = KpiBound.model_validate({"kpi": kpi, "direction": direction, "value": float(value)})
    kept = [replaced.pop(b.kpi) if b.kpi in replaced else b for b in defaults.bounds]
    return ThresholdSet(bounds=tuple(b for b in [*kept, *replaced.values()] if b is not None))


class ResearchConfig(OneLineModel):
    """A research loop's whole request (see the module)."""

    name: str = Field(description="The experiment's name in the results database; a second start resumes it.")
    db: str | None = Field(default=None, description="Results database (path or URL); default: research_root.")
    markets: tuple[MarketChoice, ...] = Field(min_length=1)
    strategies: tuple[str, ...] = Field(default_factory=default_strategy_names)
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    # TPE, not the optimiser's default: the loop searches one objective per cell, where the samplers were not compared.
    sampler: SamplerName = SamplerName.TPE
    seed: int = Field(default=0, ge=0)
    batch_size: int = Field(default=64, ge=1, le=10_000, description="Parameter sets per strategy and market.")
    objective: str = Field(default="sharpe", description="The train KPI each strategy's sampler maximises.")
    backtest: dict[str, Any] = Field(default_factory=dict, description="Fixed BacktestConfig fields.")
    common: CommonSpace = Field(default_factory=CommonSpace)
    stop: StopRule = Field(default_factory=StopRule)
    soft: dict[str, Any] = Field(default_factory=dict)
    hard: dict[str, Any] = Field(default_factory=dict)
    validation: dict[str, Any] = Field(default_factory=dict)
    adaptive: tuple[AdaptiveSpec, ...] = Field(
        default_factory=lambda: tuple(map(AdaptiveSpec.model_validate, DEFAULT_ADAPTIVE))
    )
    score: ScoreWeights = Field(default_factory=ScoreWeights)
    pareto: dict[str, Objective] = Field(default_factory=lambda: dict(DEFAULT_PARETO))
    keep_trades: Literal["pools", "all"] = "pools"
    step_logs: float = Field(default=0.0, ge=0, le=1, description="Share of backtests whose bars are logged.")
    skip_check: bool = Field(
        default=False, description="Search user strategies that never passed `stratlab strategy check` (recorded)."
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return safe_name(value, 60)

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return known_strategies(value)

    @field_validator("split")
    @classmethod
    def _fractions(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(not (0 < f < 1) for f in value) or abs(sum(value) - 1.0) > 1e-9:
            raise ValueError(f"three fractions (train, validation, holdout) in (0, 1) that sum to 1, got {list(value)}")
        return value

    @field_validator("objective")
    @classmethod
    def _rankable_objective(cls, value: str) -> str:
        check_numeric_kpi(value)
        if value not in KPI_BETTER:
            raise ValueError(f"{value!r} has no better direction; choose one of {', '.join(KPI_BETTER)}")
        return value

    @field_validator("backtest")
    @classmethod
    def _valid_backtest(cls, value: dict[str, Any]) -> dict[str, Any]:
        BacktestConfig.from_mapping(value)
        return value

    @field_validator("soft", "hard", "validation")
    @classmethod
    def _bounds(cls, value: Any, info: Any) -> dict[str, Any]:
        return _bound_overrides(value, str(info.field_name))

    @field_validator("pareto")
    @classmethod
    def _pareto_kpis(cls, value: dict[str, Objective]) -> dict[str, Objective]:
        if not value:
            raise ValueError("name at least one KPI")
        for kpi in value:
            check_numeric_kpi(kpi)
        return value

    @model_validator(mode="after")
    def _one_rule_per_bound(self) -> ResearchConfig:
        seen = [(rule.pool, rule.kpi) for rule in self.adaptive]
        if len(set(seen)) != len(seen):
            raise ConfigError("research config: adaptive: one rule per pool and KPI")
        return self

    @property
    def markets_by_label(self) -> dict[str, MarketChoice]:
        return {market.label: market for market in self.markets}

    def threshold_set(self, tier: Tier) -> ThresholdSet:
        """The configured bounds of ``tier`` before adaptation (defaults with the file's overrides)."""
        return apply_overrides(
            DEFAULT_SOFT if tier == "soft" else DEFAULT_HARD, self.soft if tier == "soft" else self.hard
        )

    def validation_set(self) -> ThresholdSet:
        return apply_overrides(DEFAULT_VALIDATION, self.validation)

    def adaptive_thresholds(self, tier: Tier, current: Mapping[str, float] | None = None) -> AdaptiveThresholds:
        """``tier``'s thresholds: its adaptive rules over its other bounds (a rule replaces its KPI's fixed bound)."""
        rules = [
            AdaptiveRule.model_validate(rule.model_dump(exclude={"pool"}))
            for rule in self.adaptive
            if rule.pool == tier
        ]
        adaptive = {rule.kpi for rule in rules}
        fixed = ThresholdSet(bounds=tuple(b for b in self.threshold_set(tier).bounds if b.kpi not in adaptive))
        return AdaptiveThresholds(rules, fixed, current=current)

    def objective_direction(self) -> Objective:
        return "max" if KPI_BETTER[self.objective] == "higher" else "min"


DEFAULT_DB_NAME = "results.sqlite"


def research_dir(name: str) -> Path:
    """Where an experiment's loop keeps its lock, status, stop request, report and manifests:
    ``research_root/<experiment>``."""
    return get_settings().research_root / name


def default_database() -> Path:
    """``research_root/results.sqlite``: one database for every experiment, so they can be queried together."""
    return get_settings().research_root / DEFAULT_DB_NAME


def database_for(config: ResearchConfig, db: str | None) -> str:
    """The results database of a start: --db, else the config's ``db``, else the default one."""
    return db or config.db or str(default_database())


def load_config(path: Path | str) -> ResearchConfig:
    """The research config in the TOML file ``path``; a missing file, bad TOML or bad field is one line naming it."""
    source = Path(path)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such research config") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: unreadable ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    try:
        return ResearchConfig.model_validate(data)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


__all__ = [
    "BEST",
    "DEFAULT_ADAPTIVE",
    "DEFAULT_DB_NAME",
    "DEFAULT_VALIDATION",
    "GOOD",
    "THRESHOLD_MOVE",
    "TIERS",
    "TIER_OF_POOL",
    "AdaptiveSpec",
    "MarketChoice",
    "PoolName",
    "ResearchConfig",
    "StopRule",
    "Tier",
    "apply_overrides",
    "bounds_after_moves",
    "database_for",
    "default_database",
    "load_config",
    "research_dir",
    "threshold_name",
]
