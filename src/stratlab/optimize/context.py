"""What a run is: the dataset, the split, the strategies, the search space, the budget and the selection rule.

``RunRequest`` is what a user asks for (CLI flags, UI form), validated where it enters; ``RunContext`` is the request
resolved against the data (bars, split indices, a fingerprint of the candles), written once to ``context.json``
and read by every worker and report.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stratlab.data.candles import Candles
from stratlab.data.dates import day_end_exclusive_ms, day_start_ms
from stratlab.engine.config import BacktestConfig, describe_validation_error
from stratlab.errors import ConfigError
from stratlab.optimize.backtest_space import CommonSpace
from stratlab.report.split import PartName, SplitKind, SplitPart
from stratlab.selection.gates import Gates
from stratlab.selection.overfitting import DEFAULT_CSCV_BLOCKS
from stratlab.strategies import StrategySource, default_strategy_names, get_strategy, recall_sources

SCHEMA_VERSION = 1
REPRODUCIBILITY = (
    "With one worker, the same request and --seed give the same trials in the same order and the same champion. "
    "With several workers each worker's sampler is seeded from --seed and its index, but which worker takes which "
    "trial, and so what each sampler has seen when it proposes, depends on timing: the trials and the champion can "
    "differ between two runs. A resumed run seeds its workers from the trials already stored, so it never repeats "
    "the proposals of the first start."
)


class SamplerName(enum.StrEnum):
    """The samplers a run can use (``stratlab.optimize.sampling.make_sampler`` builds each)."""

    TPE = "tpe"
    NSGA2 = "nsga2"
    RANDOM = "random"
    QMC = "qmc"
    GP_TR = "gp-tr"


# The optimiser's default: of the five, NSGA-II gave the best holdout figures per minute of search on the two-objective
# problem of a run (benchmarks/samplers.py; the README's "Which sampler" has the table and the rule).
DEFAULT_SAMPLER = SamplerName.NSGA2


class WalkForward(BaseModel):
    """Walk-forward: K windows, each searched and chosen on its in-sample bars and traded on the next bars.

    Each window is cut like a three-way split: train (searched), validation (chooses the champion by the run's rule),
    holdout (the window's out-of-sample part, traded by that champion). A two-way ``split`` a,b gives in-sample :
    out-of-sample = a : b and cuts the in-sample into train : validation = a : b; a three-way split gives the window's
    three fractions. Rolling windows keep their length and move by one out-of-sample length; anchored windows all
    start at the first bar and grow. ``embargo_bars`` bars are skipped between each window's validation and its
    out-of-sample part, so that no trade or indicator look-back decided in-sample reaches into it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    windows: int = Field(ge=2, le=50, description="K, the number of windows.")
    anchored: bool = False
    embargo_bars: int = Field(default=0, ge=0)


def known_strategies(value: tuple[str, ...]) -> tuple[str, ...]:
    """Registered strategy names, each once in the order given; none, or an unknown one, is an error naming it."""
    if not value:
        raise ValueError("choose at least one strategy")
    for name in value:
        get_strategy(name)  # raises ConfigError naming the unknown one
    return tuple(dict.fromkeys(value))


def safe_name(value: str, longest: int) -> str:
    """A name that can become a folder name: letters, digits, - and _ only, at most ``longest`` of them."""
    if not value or not all(c.isalnum() or c in "-_" for c in value) or len(value) > longest:
        raise ValueError(f"letters, digits, - and _ only (at most {longest}), got {value!r}")
    return value


class RunRequest(BaseModel):
    """A user's request for an optimisation run; every field is checked before anything is written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    symbol: str
    timeframe: str = "5m"
    start: str | None = None
    end: str | None = None
    strategies: tuple[str, ...] = Field(default_factory=default_strategy_names)
    max_trials: int = Field(default=200, ge=1, description="Completed trials per strategy (0 would be no search).")
    time_budget_s: float = Field(default=0.0, ge=0, description="Wall-clock limit of the whole run; 0 = none.")
    dd_threshold_pct: float = Field(default=20.0, ge=0, le=100, allow_inf_nan=False)
    min_train_trades: int = Field(
        default=5, ge=0, description="Trials with fewer trades on train are never candidates (a flat line is no edge)."
    )
    split: tuple[float, ...] = (0.75, 0.25)
    sampler: SamplerName = DEFAULT_SAMPLER
    seed: int = Field(default=0, ge=0)
    storage: str | None = None
    label: str = "run"
    backtest: dict[str, Any] = Field(default_factory=dict, description="Fixed BacktestConfig fields.")
    common: CommonSpace = Field(default_factory=CommonSpace)
    gates: Gates = Field(default_factory=Gates, description="What the champion must pass to be called good.")
    walk_forward: WalkForward | None = None
    cscv_blocks: int = Field(
        default=DEFAULT_CSCV_BLOCKS, ge=2, le=24, multiple_of=2, description="S, the blocks of days PBO's CSCV cuts."
    )
    skip_check: bool = Field(
        default=False, description="Search user strategies that never passed `stratlab strategy check` (recorded)."
    )

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return known_strategies(value)

    @field_validator("split")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) not in (2, 3) or any(not (0 < f < 1) for f in value) or abs(sum(value) - 1.0) > 1e-9:
            raise ValueError(f"two or three fractions in (0, 1) that sum to 1, got {list(value)}")
        return value

    @field_validator("label")
    @classmethod
    def _safe_label(cls, value: str) -> str:
        return safe_name(value, 40)

    @field_validator("backtest")
    @classmethod
    def _valid_backtest(cls, value: dict[str, Any]) -> dict[str, Any]:
        BacktestConfig.from_mapping(value)  # one-line ConfigError naming the bad field
        return value

    @model_validator(mode="after")
    def _stops_for_risk_sizing(self) -> RunRequest:
        # Risk-based sizing needs a stop on every trial: fixed, searched (the SL range) or the strategy's own.
        fixed = BacktestConfig.from_mapping(self.backtest)
        if fixed.risk_pct is None or fixed.sets_stop_loss or self.common.sl_pct is not None:
            return self
        for name in self.strategies:
            if not get_strategy(name).sets_stops:
                raise ValueError(f"risk_pct needs a stop loss: give sl_pct or sl_atr ({name} sets no stops itself)")
        return self

    @model_validator(mode="after")
    def _period(self) -> RunRequest:
        if self.start is not None and self.end is not None:
            if day_end_exclusive_ms(self.end, "end") <= day_start_ms(self.start, "start"):
                raise ValueError(f"end {self.end} is before start {self.start}")
        elif self.start is not None:
            day_start_ms(self.start, "start")
        elif self.end is not None:
            day_end_exclusive_ms(self.end, "end")
        return self

    @classmethod
    def parse(cls, **values: Any) -> RunRequest:
        """Build and validate; a bad field is a one-line ``ConfigError``."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc).replace("backtest config", "run")) from None

    @property
    def split_kind(self) -> SplitKind:
        return SplitKind.of(len(self.split))


class RunContext(BaseModel):
    """A run as its workers and reports see it: the request plus what was resolved from the data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    run_id: str
    created_at: str
    request: RunRequest
    data_root: str
    n_bars: int
    first_bar_ms: int
    last_bar_ms: int
    fingerprint: str
    parts: tuple[SplitPart, ...]
    storage_url: str | None = Field(
        default=None, description="None: the run's own journal file, optuna.journal inside the run directory."
    )
    windows: tuple[tuple[SplitPart, ...], ...] = Field(
        default=(), description="Walk-forward windows, each train, validation, holdout; empty for a plain run."
    )
    package_version: str
    strategy_sources: dict[str, StrategySource] = Field(
        default_factory=dict, description="Each user strategy's file, content hash and check state; built-ins none."
    )
    reproducibility: str = Field(
        default=REPRODUCIBILITY, description="What the same command with the same --seed gives again."
    )

    @model_validator(mode="before")
    @classmethod
    def _recall_user_strategies(cls, raw: Any) -> Any:
        # The request names them; their files must be known before it is validated, wherever this process runs.
        if isinstance(raw, dict):
            recall_sources(raw.get("strategy_sources"))
        return raw

    def part(self, name: str) -> SplitPart:
        for part in self.parts:
            if part.name == name:
                return part
        raise ConfigError(f"run {self.run_id}: no split part named {name!r}")

    @property
    def split_kind(self) -> SplitKind:
        return SplitKind.of(len(self.parts))

    @property
    def selection_part(self) -> PartName:
        """Where candidates are compared: test (two parts) or validation (three parts)."""
        return self.split_kind.selection_part

    @property
    def searches(self) -> tuple[Search, ...]:
        """One study per strategy, or per window and strategy in a walk-forward run, in a fixed order."""
        if not self.windows:
            return tuple(Search(name, name, None, self.parts) for name in self.request.strategies)
        return tuple(
            Search(f"{name}@w{k}", name, k, parts)
            for k, parts in enumerate(self.windows)
            for name in self.request.strategies
        )

    @property
    def study_names(self) -> tuple[str, ...]:
        return tuple(search.study for search in self.searches)


@dataclass(frozen=True)
class Search:
    """One study of a run: the strategy it searches, its walk-forward window (None in a plain run) and that window's
    parts (train first: what the study optimises on)."""

    study: str
    strategy: str
    window: int | None
    parts: tuple[SplitPart, ...]

    @property
    def train(self) -> SplitPart:
        return self.parts[0]


def max_warmup_bars(strategies: Iterable[str]) -> int:
    """The longest warm-up any sampled parameter set of ``strategies`` can need (their spaces' maxima)."""
    longest = 0
    for name in strategies:
        strategy = get_strategy(name)
        widest = {}
        for spec in strategy.space.params:
            high = getattr(spec, "high", None)
            widest[spec.name] = high if high is not None else spec.default
        try:
            longest = max(longest, strategy.warmup_bars({**strategy.space.defaults(), **_numeric(widest)}))
        except Exception:
            longest = max(longest, strategy.warmup_bars(strategy.space.defaults()))
    return longest


def _numeric(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def split_parts(candles: Candles, fractions: tuple[float, ...], warmup_bars: int) -> tuple[SplitPart, ...]:
    """Chronological parts by fraction of bars; every part must have more bars than the warm-up needs."""
    names = SplitKind.of(len(fractions)).parts
    n = len(candles)
    bounds = [0]
    acc = 0.0
    for fraction in fractions[:-1]:
        acc += fraction
        bounds.append(round(n * acc))
    bounds.append(n)
    parts = []
    for name, start, end in zip(names, bounds[:-1], bounds[1:], strict=True):
        # The first part warms up on its own first bars; later parts warm up on the bars before them.
        needed = warmup_bars + 2 if name == PartName.TRAIN else 2
        if end - start < needed:
            raise ConfigError(
                f"split: the {name} part has {end - start} bars; it needs at least {needed} "
                f"(warm-up {warmup_bars} bars): choose a longer period or other fractions"
            )
        parts.append(
            SplitPart(
                name=name,
                start=start,
                end=end,
                first_bar_ms=int(candles.timestamp_ms[start]),
                last_bar_ms=int(candles.timestamp_ms[end - 1]),
            )
        )
    return tuple(parts)


def _part(candles: Candles, name: PartName, start: int, end: int, needed: int) -> SplitPart:
    if end - start < needed:
        raise ConfigError(
            f"walk-forward: the {name} part of a window has {end - start} bars; it needs at least {needed}: choose "
            "fewer windows, a smaller embargo or a longer period"
        )
    return SplitPart(
        name=name, start=start, end=end, first_bar_ms=int(candles.timestamp_ms[start]),
        last_bar_ms=int(candles.timestamp_ms[end - 1]),
    )  # fmt: skip


def walk_forward_windows(
    candles: Candles, fractions: tuple[float, ...], spec: WalkForward, warmup_bars: int
) -> tuple[tuple[SplitPart, ...], ...]:
    """The windows of ``spec`` over ``candles`` (see ``WalkForward``): each (train, validation, holdout)."""
    if len(fractions) == 2:
        train_share = fractions[0]
        in_sample, out_sample = fractions[0], fractions[1]
    else:
        train_share = fractions[0] / (fractions[0] + fractions[1])
        in_sample, out_sample = fractions[0] + fractions[1], fractions[2]
    ratio = in_sample / out_sample
    n = len(candles)
    oos_bars = int((n - spec.embargo_bars) / (spec.windows + ratio))
    is_bars = round(ratio * oos_bars)
    windows = []
    for k in range(spec.windows):
        is_end = is_bars + k * oos_bars
        is_start = 0 if spec.anchored else k * oos_bars
        cut = is_start + round(train_share * (is_end - is_start))
        oos_start = is_end + spec.embargo_bars
        windows.append(
            (
                _part(candles, PartName.TRAIN, is_start, cut, warmup_bars + 2 if is_start == 0 else 2),
                _part(candles, PartName.VALIDATION, cut, is_end, 2),
                _part(candles, PartName.HOLDOUT, oos_start, min(oos_start + oos_bars, n), 2),
            )
        )
    return tuple(windows)


def run_dir_name(run_id: str, label: str) -> str:
    return f"{run_id}_{label}"


def resolve_path_inside(root: Path, name: str) -> Path:
    """``root / name`` if that stays inside ``root`` (no traversal through a run name), else a ``ConfigError``."""
    candidate = (root / name).resolve()
    if root.resolve() not in candidate.parents and candidate != root.resolve():
        raise ConfigError(f"run directory {name!r} is outside {root}")
    return candidate


__all__ = [
    "SCHEMA_VERSION",
    "CommonSpace",
    "PartName",
    "RunContext",
    "RunRequest",
    "SamplerName",
    "Search",
    "SplitKind",
    "SplitPart",
    "WalkForward",
    "known_strategies",
    "max_warmup_bars",
    "resolve_path_inside",
    "run_dir_name",
    "safe_name",
    "split_parts",
    "walk_forward_windows",
]
