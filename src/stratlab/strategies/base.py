"""What a strategy is: typed parameter specs that double as the search space, and the ``Strategy`` base class.

A strategy declares its parameters once, as frozen specs (:class:`IntParam`, :class:`FloatParam`,
:class:`CategoricalParam`) collected in a :class:`ParamSpace` with :class:`Constraint` s between them. The same
declaration validates user input (``ParamSpace.validate``), draws random parameter sets (``ParamSpace.sample``) and
tells the optimiser what to search: each spec carries its bounds, step, log flag and default, which is all an
Optuna distribution needs. This module does not import Optuna; the optimiser does that mapping.

Signals are entry events: +1 or -1 only on the bar where the strategy's condition starts to hold,
decided at that bar's close with data up to that bar only, 0 on every other bar.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import ClassVar, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from stratlab.data.candles import Candles
from stratlab.errors import ConfigError

Int8Array: TypeAlias = npt.NDArray[np.int8]
FloatArray: TypeAlias = npt.NDArray[np.float64]
Choice: TypeAlias = str | int | float | bool
ConstraintOp: TypeAlias = Literal["<", "<=", ">", ">="]

LONG: int = 1
SHORT: int = -1

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# A float on a step grid is accepted this close to a grid point (in steps): decimal steps such as 0.1 are not
# exact in binary, so 0.3 is 2.9999999999999996 steps of 0.1 from 0.
_GRID_TOLERANCE = 1e-9
_SIGNIFICANT_DIGITS = 12
_OPS: tuple[str, ...] = ("<", "<=", ">", ">=")


def _fmt(value: float) -> str:
    return f"{value:g}"


def _snap(value: float) -> float:
    """``value`` rounded to 12 significant digits: grid points come out as 0.3, not 0.30000000000000004."""
    return float(f"{value:.{_SIGNIFICANT_DIGITS}g}")


def _exact_int(value: object) -> int | None:
    """``value`` if it is an integer (Python or numpy, never a bool), else None."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        return None
    return int(value)


def _as_int(value: object) -> int | None:
    """``value`` as an int when it is an integer or an integral float (5.0), else None."""
    exact = _exact_int(value)
    if exact is not None:
        return exact
    if isinstance(value, float | np.floating) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def _as_float(value: object) -> float | None:
    """``value`` as a float when it is a real number (Python or numpy, never a bool), else None."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    return float(value)


def check_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{what}: name must be lower snake_case, got {name!r}")


# parameter specs --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IntParam:
    """An integer in ``[low, high]`` on the grid ``low, low + step, ...``; ``log`` samples log-uniformly.

    ``log`` needs ``low >= 1`` and ``step == 1`` (as Optuna's ``IntDistribution``).
    """

    name: str
    low: int
    high: int
    default: int
    step: int = 1
    log: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "IntParam")
        where = f"IntParam {self.name!r}"
        for attr in ("low", "high", "default", "step"):
            number = _exact_int(getattr(self, attr))
            if number is None:
                raise ConfigError(f"{where}: {attr} must be an integer, got {getattr(self, attr)!r}")
            object.__setattr__(self, attr, number)
        if self.low >= self.high:
            raise ConfigError(f"{where}: low ({self.low}) must be below high ({self.high})")
        if self.step < 1:
            raise ConfigError(f"{where}: step must be at least 1, got {self.step}")
        if (self.high - self.low) % self.step:
            raise ConfigError(f"{where}: step {self.step} must divide the range {self.low}..{self.high}")
        if self.log and (self.low < 1 or self.step != 1):
            raise ConfigError(f"{where}: log needs low >= 1 and step 1, got low {self.low}, step {self.step}")
        if not self._allowed(self.default):
            raise ConfigError(f"{where}: default {self.default} must be {self._rule()}")

    def _rule(self) -> str:
        grid = f" in steps of {self.step} from {self.low}" if self.step != 1 else ""
        return f"an integer in [{self.low}, {self.high}]{grid}"

    def _allowed(self, value: int) -> bool:
        return self.low <= value <= self.high and (value - self.low) % self.step == 0

    def check(self, value: object, owner: str) -> int:
        """``value`` as an ``int`` (a float only if integral; never a bool), or a ``ConfigError`` naming it."""
        number = _as_int(value)
        if number is None or not self._allowed(number):
            raise ConfigError(f"{_prefix(owner)}parameter {self.name!r} must be {self._rule()}, got {value!r}")
        return number

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            # P(k) ∝ ln((k + 1) / k): the integer analogue of a log-uniform draw over [low, high + 1).
            draw = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return min(max(math.floor(draw), self.low), self.high)
        return self.low + self.step * int(rng.integers(0, self.grid_size))

    @property
    def grid_size(self) -> int:
        """How many values the parameter can take."""
        return (self.high - self.low) // self.step + 1

    def describe(self) -> tuple[str, str, str]:
        """(type, range, default) as the docs table shows them."""
        extra = f", step {self.step}" if self.step != 1 else ""
        extra += ", log" if self.log else ""
        return "int", f"{self.low} .. {self.high}{extra}", str(self.default)


@dataclass(frozen=True, kw_only=True)
class FloatParam:
    """A number in ``[low, high]``, continuous or on the grid ``low, low + step, ...``; ``log`` samples log-uniformly.

    ``log`` needs ``low > 0`` and no ``step`` (as Optuna's ``FloatDistribution``).
    """

    name: str
    low: float
    high: float
    default: float
    step: float | None = None
    log: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "FloatParam")
        where = f"FloatParam {self.name!r}"
        for attr in ("low", "high", "default", "step"):
            value = getattr(self, attr)
            if value is None and attr == "step":
                continue
            number = _as_float(value)
            if number is None or not math.isfinite(number):
                raise ConfigError(f"{where}: {attr} must be a finite number, got {value!r}")
            object.__setattr__(self, attr, number)
        if self.low >= self.high:
            raise ConfigError(f"{where}: low ({_fmt(self.low)}) must be below high ({_fmt(self.high)})")
        if self.step is not None:
            if self.step <= 0:
                raise ConfigError(f"{where}: step must be positive, got {_fmt(self.step)}")
            steps = (self.high - self.low) / self.step
            if abs(steps - round(steps)) > _GRID_TOLERANCE:
                raise ConfigError(
                    f"{where}: step {_fmt(self.step)} must divide the range {_fmt(self.low)}..{_fmt(self.high)}"
                )
        if self.log and (self.low <= 0 or self.step is not None):
            raise ConfigError(f"{where}: log needs low > 0 and no step, got low {_fmt(self.low)}, step {self.step}")
        if not self._allowed(self.default):
            raise ConfigError(f"{where}: default {_fmt(self.default)} must be {self._rule()}")

    def _rule(self) -> str:
        grid = f" in steps of {_fmt(self.step)} from {_fmt(self.low)}" if self.step is not None else ""
        return f"a number in [{_fmt(self.low)}, {_fmt(self.high)}]{grid}"

    def _allowed(self, value: float) -> bool:
        if not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        steps = (value - self.low) / self.step
        return abs(steps - round(steps)) <= _GRID_TOLERANCE

    def check(self, value: object, owner: str) -> float:
        """``value`` as a ``float`` (ints accepted; never a bool), or a ``ConfigError`` naming it."""
        number = _as_float(value)
        if number is None or not math.isfinite(number) or not self._allowed(number):
            raise ConfigError(f"{_prefix(owner)}parameter {self.name!r} must be {self._rule()}, got {value!r}")
        return number

    def sample(self, rng: np.random.Generator) -> float:
        if self.step is not None:
            value = _snap(self.low + self.step * int(rng.integers(0, self.grid_size)))
            # Snapping can step past a bound that is itself unrounded (68 * 0.01 = 0.6799999999999999).
            return min(max(value, self.low), self.high)
        if self.log:
            draw = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            draw = float(rng.uniform(self.low, self.high))
        return min(max(draw, self.low), self.high)

    @property
    def grid_size(self) -> int:
        """How many values a stepped parameter can take (0 when continuous)."""
        if self.step is None:
            return 0
        return round((self.high - self.low) / self.step) + 1

    def describe(self) -> tuple[str, str, str]:
        """(type, range, default) as the docs table shows them."""
        extra = f", step {_fmt(self.step)}" if self.step is not None else ""
        extra += ", log" if self.log else ""
        return "float", f"{_fmt(self.low)} .. {_fmt(self.high)}{extra}", _fmt(self.default)


@dataclass(frozen=True, kw_only=True)
class CategoricalParam:
    """One of a fixed tuple of choices (str, int, float or bool: what Optuna's ``CategoricalDistribution`` takes)."""

    name: str
    choices: tuple[Choice, ...]
    default: Choice
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "CategoricalParam")
        where = f"CategoricalParam {self.name!r}"
        valid = isinstance(self.choices, Sequence) and not isinstance(self.choices, str)
        choices = tuple(self.choices) if valid else ()
        if not choices:
            raise ConfigError(f"{where}: choices must be a non-empty tuple, got {self.choices!r}")
        for choice in choices:
            if not isinstance(choice, str | int | float | bool):
                raise ConfigError(f"{where}: choice {choice!r} must be a str, int, float or bool")
        if len({_choice_key(c) for c in choices}) != len(choices):
            raise ConfigError(f"{where}: choices must be unique, got {choices!r}")
        object.__setattr__(self, "choices", choices)
        if self._find(self.default) is None:
            raise ConfigError(f"{where}: default {self.default!r} must be {self._rule()}")

    def _rule(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def _find(self, value: object) -> Choice | None:
        key = _choice_key(value)
        return next((c for c in self.choices if _choice_key(c) == key), None)

    def check(self, value: object, owner: str) -> Choice:
        """The matching choice (``True`` never matches ``1``), or a ``ConfigError`` naming the parameter."""
        found = self._find(value)
        if found is None:
            raise ConfigError(f"{_prefix(owner)}parameter {self.name!r} must be {self._rule()}, got {value!r}")
        return found

    def sample(self, rng: np.random.Generator) -> Choice:
        return self.choices[int(rng.integers(0, len(self.choices)))]

    @property
    def grid_size(self) -> int:
        return len(self.choices)

    def describe(self) -> tuple[str, str, str]:
        """(type, range, default) as the docs table shows them."""
        return "choice", " \\| ".join(str(c) for c in self.choices), str(self.default)


def _choice_key(value: object) -> tuple[str, object]:
    # Keyed by kind so that True, 1 and 1.0 stay different choices; numpy scalars count as their Python kind.
    if isinstance(value, bool | np.bool_):
        return ("bool", bool(value))
    number = _as_float(value)
    if number is not None:
        return ("number", number)
    if isinstance(value, str):
        return ("str", value)
    return ("other", id(value))


ParamSpec: TypeAlias = IntParam | FloatParam | CategoricalParam


# constraints and the space -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    """``left op right`` between two numeric parameters, e.g. ``Constraint("fast", "<", "slow")``."""

    left: str
    op: ConstraintOp
    right: str

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ConfigError(f"Constraint {self.left} ? {self.right}: op must be one of {', '.join(_OPS)}")
        if self.left == self.right:
            raise ConfigError(f"Constraint {self}: needs two different parameters")

    def holds(self, params: Mapping[str, object]) -> bool:
        a, b = _as_float(params[self.left]), _as_float(params[self.right])
        if a is None or b is None:
            return False
        if self.op == "<":
            return a < b
        if self.op == "<=":
            return a <= b
        if self.op == ">":
            return a > b
        return a >= b

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


def _prefix(owner: str) -> str:
    return f"{owner}: " if owner else ""


@dataclass(frozen=True)
class ParamSpace:
    """The parameters of one strategy, in declaration order, and the constraints between them.

    ``owner`` (the strategy name) prefixes every error message; a ``Strategy`` subclass sets it to its ``name``.
    """

    params: tuple[ParamSpec, ...]
    constraints: tuple[Constraint, ...] = ()
    owner: str = ""
    max_tries: ClassVar[int] = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))
        object.__setattr__(self, "constraints", tuple(self.constraints))
        where = self.owner or "ParamSpace"
        for spec in self.params:
            if not isinstance(spec, IntParam | FloatParam | CategoricalParam):
                raise ConfigError(f"{where}: {spec!r} is not a parameter spec")
        names = [spec.name for spec in self.params]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"{where}: parameter {duplicates[0]!r} is declared twice")
        by_name = {spec.name: spec for spec in self.params}
        for constraint in self.constraints:
            for side in (constraint.left, constraint.right):
                found = by_name.get(side)
                if found is None:
                    raise ConfigError(f"{where}: constraint {constraint} names unknown parameter {side!r}")
                if isinstance(found, CategoricalParam):
                    raise ConfigError(f"{where}: constraint {constraint} needs numeric parameters, {side!r} is not")
        broken = self.violations(self.defaults())
        if broken:
            raise ConfigError(f"{where}: the defaults break the constraint {broken[0]}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.params)

    def __getitem__(self, name: str) -> ParamSpec:
        for spec in self.params:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def defaults(self) -> dict[str, object]:
        return {spec.name: spec.default for spec in self.params}

    def violations(self, params: Mapping[str, object]) -> tuple[Constraint, ...]:
        """The constraints that a complete parameter set breaks (empty when it satisfies all)."""
        return tuple(c for c in self.constraints if not c.holds(params))

    def validate(self, params: Mapping[str, object] | None = None) -> dict[str, object]:
        """A complete, normalised parameter set: missing keys take their defaults.

        Raises ``ConfigError`` (one line naming the strategy and the parameter) for an unknown key, a value of the
        wrong type, outside its bounds, off its step grid or not among the choices, and for a broken constraint.
        """
        given: Mapping[str, object] = {} if params is None else params
        if not isinstance(given, Mapping):
            raise ConfigError(f"{_prefix(self.owner)}parameters must be a mapping of name to value, got {given!r}")
        names = self.names
        for key in given:
            if key not in names:
                raise ConfigError(f"{_prefix(self.owner)}unknown parameter {key!r} (known: {', '.join(names)})")
        values: dict[str, object] = {
            spec.name: spec.check(given[spec.name], self.owner) if spec.name in given else spec.default
            for spec in self.params
        }
        broken = self.violations(values)
        if broken:
            c = broken[0]
            raise ConfigError(
                f"{_prefix(self.owner)}parameter {c.left!r} must satisfy {c}, "
                f"got {c.left}={values[c.left]!r}, {c.right}={values[c.right]!r}"
            )
        return values

    def sample(self, rng: np.random.Generator) -> dict[str, object]:
        """One parameter set drawn uniformly on each grid (log-uniformly where ``log``), satisfying the constraints.

        Constraints are met by rejection: whole sets are redrawn, at most ``max_tries`` times.
        """
        for _ in range(self.max_tries):
            values: dict[str, object] = {spec.name: spec.sample(rng) for spec in self.params}
            if not self.violations(values):
                return values
        raise ConfigError(
            f"{_prefix(self.owner)}no parameter set satisfying {', '.join(map(str, self.constraints))} "
            f"in {self.max_tries} draws"
        )


# stop distances ------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StopDistances:
    """Per-bar take-profit and stop-loss price distances (float64[n]); NaN means no level from the strategy.

    The engine reads the values on the signal bar ``i`` and places the levels at the average entry price plus or
    minus the distance (above for a long's take-profit, below for its stop-loss; mirrored for a short).
    A distance is positive; zero is not a level (it would close the trade at its own entry price).
    """

    take_profit: FloatArray
    stop_loss: FloatArray

    def __post_init__(self) -> None:
        arrays = {}
        for attr in ("take_profit", "stop_loss"):
            array = np.array(getattr(self, attr), dtype=np.float64)
            if array.ndim != 1:
                raise ValueError(f"StopDistances.{attr} must be one-dimensional, got shape {array.shape}")
            bad = ~(np.isnan(array) | (np.isfinite(array) & (array > 0.0)))
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"StopDistances.{attr}[{i}] must be positive or NaN, got {array[i]!r}")
            array.flags.writeable = False
            arrays[attr] = array
        if arrays["take_profit"].size != arrays["stop_loss"].size:
            raise ValueError(
                f"StopDistances: take_profit has {arrays['take_profit'].size} values, "
                f"stop_loss {arrays['stop_loss'].size}"
            )
        for attr, array in arrays.items():
            object.__setattr__(self, attr, array)

    def __len__(self) -> int:
        return int(self.take_profit.size)


# the direction filter ------------------------------------------------------------------------------------

DIRECTION = CategoricalParam(
    name="direction",
    choices=("long", "short", "both"),
    default="both",
    description="which side's events to keep",
)


def apply_direction(events: Int8Array, direction: str) -> Int8Array:
    """``events`` with the side that ``direction`` excludes set to 0 (a new array)."""
    if direction == "long":
        return np.where(events == LONG, events, 0).astype(np.int8)
    if direction == "short":
        return np.where(events == SHORT, events, 0).astype(np.int8)
    if direction == "both":
        return np.array(events, dtype=np.int8)
    raise ConfigError(f"parameter 'direction' must be one of 'long', 'short', 'both', got {direction!r}")


# typed access to validated parameters --------------------------------------------------------------------


def get_int(params: Mapping[str, object], name: str) -> int:
    value = params[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"parameter {name!r} is not an int: {value!r}")
    return value


def get_float(params: Mapping[str, object], name: str) -> float:
    value = params[name]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"parameter {name!r} is not a number: {value!r}")
    return float(value)


def get_str(params: Mapping[str, object], name: str) -> str:
    value = params[name]
    if not isinstance(value, str):
        raise TypeError(f"parameter {name!r} is not a str: {value!r}")
    return value


# the strategy interface ----------------------------------------------------------------------------------


class Strategy(ABC):
    """A rule that turns candles into entry events (and optionally per-bar stop distances).

    A concrete strategy sets the class attributes ``name`` (lower snake_case, its registry key), ``space`` (its
    :class:`ParamSpace`, which must include :data:`DIRECTION`) and ``summary`` (one line), and implements
    :meth:`events` and :meth:`warmup`; it may implement :meth:`stop_distances`. Callers use :meth:`signals`,
    :meth:`stops` and :meth:`warmup_bars`, which validate the parameters first. Strategies hold no state: one
    instance serves every call.
    """

    name: ClassVar[str]
    space: ClassVar[ParamSpace]
    summary: ClassVar[str]
    # Backtest config fields this strategy trades with unless the user, the run or the trial gives them (a sizing
    # rule given replaces a default one). Plain values by field name: strategies know no engine.
    backtest_defaults: ClassVar[Mapping[str, object]] = MappingProxyType({})
    # Whether a search that names no strategies includes this one.
    in_default_search: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            return  # an intermediate base, not a strategy
        if not isinstance(cls.name, str) or not _NAME.match(cls.name):
            raise TypeError(f"strategy {cls.__qualname__}: name must be lower snake_case, got {cls.name!r}")
        space = cls.__dict__.get("space")
        if not isinstance(space, ParamSpace):
            raise TypeError(f"strategy {cls.name!r}: space must be a ParamSpace")
        if "direction" not in space or space["direction"] != DIRECTION:
            raise TypeError(f"strategy {cls.name!r}: its space must include base.DIRECTION")
        if not isinstance(cls.__dict__.get("summary"), str) or not cls.summary.strip():
            raise TypeError(f"strategy {cls.name!r}: summary must be a non-empty line")
        cls.space = replace(space, owner=cls.name)

    # called by users of a strategy (engine, optimiser, CLI) ------------------------------------------------

    def signals(self, candles: Candles, params: Mapping[str, object] | None = None) -> Int8Array:
        """int8[n]: +1 / -1 on the bar where the long / short condition starts to hold, else 0.

        Validates ``params`` (missing ones take defaults), computes the events and applies ``direction``.
        """
        values = self.space.validate(params)
        events = np.asarray(self.events(candles, values))
        if events.shape != (len(candles),):
            raise ValueError(f"{self.name}: events() returned shape {events.shape} for {len(candles)} bars")
        if events.dtype.kind not in "iu":
            # A cast would turn 0.5 into 0 unnoticed: events are whole numbers by contract.
            raise ValueError(f"{self.name}: events() returned {events.dtype} values, not int8 -1/0/+1")
        if (np.abs(events) > 1).any():
            raise ValueError(f"{self.name}: events() returned values other than -1, 0, +1")
        return apply_direction(events.astype(np.int8), get_str(values, "direction"))

    def stops(self, candles: Candles, params: Mapping[str, object] | None = None) -> StopDistances | None:
        """Per-bar take-profit / stop-loss distances, or ``None`` when the strategy sets no levels itself."""
        values = self.space.validate(params)
        stops = self.stop_distances(candles, values)
        if stops is not None and len(stops) != len(candles):
            raise ValueError(f"{self.name}: stop_distances() returned {len(stops)} values for {len(candles)} bars")
        return stops

    def warmup_bars(self, params: Mapping[str, object] | None = None) -> int:
        """How many leading bars can never carry a signal (the indicators are not yet defined there).

        The optimiser uses it to refuse a train or test split too short to trade.
        """
        return self.warmup(self.space.validate(params))

    def memory_bars(self, params: Mapping[str, object] | None = None) -> int:
        """How many bars after the series' first the values still depend on where it started: from then on, signals
        and stops equal those of any longer history. ``stratlab strategy check`` measures it against this."""
        values = self.space.validate(params)
        return max(self.memory(values), self.warmup(values))

    def notes(self, candles: Candles, params: Mapping[str, object] | None = None) -> tuple[str, ...]:
        """Lines a backtest's output states about the inputs this strategy used on ``candles`` (none by default)."""
        return ()

    @property
    def sets_stops(self) -> bool:
        """Whether the strategy places its own TP/SL levels (it implements :meth:`stop_distances`)."""
        return type(self).stop_distances is not Strategy.stop_distances

    # implemented by each strategy, called with validated parameters -----------------------------------------

    @abstractmethod
    def events(self, candles: Candles, params: Mapping[str, object]) -> Int8Array:
        """int8[n] of both sides' events, before the direction filter. Called by :meth:`signals`.

        Must be vectorised (numpy on indicator arrays), causal (bar i uses bars 0..i only) and give 0 wherever an
        input is still NaN.
        """

    @abstractmethod
    def warmup(self, params: Mapping[str, object]) -> int:
        """The number of leading bars on which :meth:`events` is always 0. Called by :meth:`warmup_bars`."""

    def memory(self, params: Mapping[str, object]) -> int:
        """Bars until the values forget the series' start (called by :meth:`memory_bars`). Windows of finite length
        forget it after the warm-up, the default; recursive averages (EMA, Wilder's) remember longer: declare
        ``indicators.ema_memory`` / ``wilder_memory`` of their periods."""
        return self.warmup(params)

    def stop_distances(self, candles: Candles, params: Mapping[str, object]) -> StopDistances | None:
        """Per-bar stop distances, or ``None`` (the default: the backtest config decides TP/SL). Called by
        :meth:`stops`."""
        return None


__all__ = [
    "DIRECTION",
    "LONG",
    "SHORT",
    "CategoricalParam",
    "Choice",
    "Constraint",
    "FloatArray",
    "FloatParam",
    "Int8Array",
    "IntParam",
    "ParamSpace",
    "ParamSpec",
    "StopDistances",
    "Strategy",
    "apply_direction",
    "check_name",
    "get_float",
    "get_int",
    "get_str",
]
