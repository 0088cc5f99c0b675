"""What a strategy must pass before its results are trusted, checked on real candles over random parameter draws:

* **contract**: parameter sets sample and validate, ``events`` gives int8 -1/0/+1 of the candles' length and nothing
  before the declared warm-up, stops are positive or NaN of the same length, equal inputs give equal outputs and the
  candles are left as they were;
* **look-ahead**: signals and stops on the series cut at several points (the bars after the cut replaced by another
  path, or dropped) equal the full series' values on every bar up to the cut;
* **history**: values at a bar do not change when the series starts later, once the strategy's declared memory
  (:meth:`Strategy.memory_bars`, its warm-up unless it uses recursive averages) has passed; the needed memory is
  measured: the last bar after a later start that still differs;
* **speed**: signal calls per second at 100,000 bars next to the slowest built-in (a note, never a failure).

Every check answers a :class:`CheckResult`; an exception raised by the strategy's own code fails the check that
called it, with the error and the line it came from.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from stratlab.data.candles import Candles
from stratlab.data.dates import format_ms
from stratlab.data.demo import DEFAULT_SYMBOLS, DemoSpec, generate_demo_market
from stratlab.errors import ConfigError
from stratlab.strategies.base import StopDistances, Strategy

Status = Literal["pass", "warn", "fail"]
T = TypeVar("T")
FloatArray = npt.NDArray[np.float64]

# A strategy this many times slower than the slowest built-in is flagged (a search runs thousands of signal calls).
SLOW_RATIO = 3.0


@dataclass(frozen=True)
class CheckPlan:
    """How hard to look: random parameter sets beside the defaults, where to cut, how much later to start, the bars of
    the speed measure and how close two stop distances must be to count as equal after a later start."""

    draws: int = 6
    cuts: tuple[float, ...] = (0.2, 0.45, 0.7, 0.95)
    later_starts: tuple[float, ...] = (0.1, 0.3, 0.5)
    seed: int = 0
    speed_bars: int = 100_000
    speed_repeats: int = 3
    # Recursive smoothing (an ATR, an EMA) never forgets its first bar exactly; a millionth of a stop is no difference.
    stop_rtol: float = 1e-6


@dataclass(frozen=True)
class CheckResult:
    check: str
    status: Status
    detail: str


@dataclass(frozen=True)
class StrategyCheck:
    """A strategy's results, in the order they ran, and the candles they ran on."""

    strategy: str
    candles: str
    results: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(result.status != "fail" for result in self.results)


class StrategyCodeError(Exception):
    """The strategy's own code raised: the message says what it was doing, the error, and where."""


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" ({last.filename}:{last.lineno})"


def _run(doing: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except Exception as exc:
        raise StrategyCodeError(f"{doing} raised {type(exc).__name__}: {exc}{_where(exc)}") from exc


def _show(params: Mapping[str, object]) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in params.items()) + "}"


def _bar(candles: Candles, i: int) -> str:
    return f"bar #{i:,} ({format_ms(int(candles.timestamp_ms[i]))})"


def parameter_sets(strategy: Strategy, plan: CheckPlan) -> list[dict[str, object]]:
    """The defaults and ``plan.draws`` random sets from the spec (a ConfigError when the constraints cannot be met)."""
    rng = np.random.default_rng(plan.seed)
    return [strategy.space.validate()] + [strategy.space.sample(rng) for _ in range(plan.draws)]


# the contract ----------------------------------------------------------------------------------------------


def _events_problem(events: object, n: int) -> str | None:
    if not isinstance(events, np.ndarray):
        return f"events() returned {type(events).__name__}, not a numpy array"
    if events.dtype != np.int8:
        return f"events() returned {events.dtype} values, not int8: end with .astype(np.int8) on -1/0/+1 values"
    if events.shape != (n,):
        return f"events() returned shape {events.shape} for {n:,} bars"
    stray = ~np.isin(events, (-1, 0, 1))
    if stray.any():
        return f"events() returned {events[int(np.argmax(stray))]} at bar #{int(np.argmax(stray)):,}: only -1, 0, +1"
    return None


def _stops_problem(stops: object, n: int) -> str | None:
    if stops is None:
        return None
    if not isinstance(stops, StopDistances):
        return f"stop_distances() returned {type(stops).__name__}, not StopDistances or None"
    if len(stops) != n:
        return f"stop_distances() returned {len(stops):,} values for {n:,} bars"
    return None


def _contract_for(strategy: Strategy, candles: Candles, params: dict[str, object]) -> str | None:
    n = len(candles)
    events = _run("events()", lambda: strategy.events(candles, params))
    problem = _events_problem(events, n)
    if problem is not None:
        return problem
    declared = {"warmup": _run("warmup()", lambda: strategy.warmup(params))}
    declared["memory"] = _run("memory()", lambda: strategy.memory(params))
    for method, bars in declared.items():
        if not isinstance(bars, int | np.integer) or isinstance(bars, bool) or bars < 0:
            return f"{method}() returned {bars!r}, not a whole number of bars >= 0"
    warmup = declared["warmup"]
    early = np.flatnonzero(np.asarray(events)[: int(warmup)])
    if early.size:
        return f"an event at bar #{int(early[0]):,}, inside the declared warm-up of {int(warmup):,} bars"
    stops = _run("stop_distances()", lambda: strategy.stop_distances(candles, params))
    problem = _stops_problem(stops, n)
    if problem is not None:
        return problem
    # The candles cannot be changed (their arrays are read-only: a write raises, and fails above as the strategy's
    # error); what can differ between two calls is state the strategy keeps.
    again = Outputs(
        _run("events()", lambda: strategy.events(candles, params)),
        _run("stop_distances()", lambda: strategy.stop_distances(candles, params)),
    )
    differs = last_difference(again, Outputs(events, stops), rtol=0.0)
    if differs is not None:
        return f"two calls on the same candles differ (last at bar #{differs:,}): the result must not depend on state"
    for length in (0, 1):
        problem = _events_problem(_short_events(strategy, candles.slice(0, length), params), length)
        if problem is not None:
            return f"on {length} bar(s): {problem}"
    return None


def _short_events(strategy: Strategy, short: Candles, params: dict[str, object]) -> object:
    return _run(f"events() on {len(short)} bars", lambda: strategy.events(short, params))


def check_contract(strategy: Strategy, candles: Candles, sets: Sequence[dict[str, object]]) -> CheckResult:
    for params in sets:
        problem = _contract_for(strategy, candles, params)
        if problem is not None:
            return CheckResult("contract", "fail", f"{problem}; params {_show(params)}")
    return CheckResult(
        "contract", "pass", f"{len(sets)} parameter sets: int8 events, valid stops, deterministic, warm-up respected"
    )


# look-ahead ----------------------------------------------------------------------------------------------


def other_future(candles: Candles, last: int, seed: int) -> Candles:
    """``candles`` with every bar after ``last`` replaced by a different, wilder random walk from the same close."""
    rng = np.random.default_rng(seed)
    m = len(candles) - last - 1
    close = candles.close[last] * np.exp(np.cumsum(rng.normal(0.0, 0.01, m)))
    open_ = np.concatenate([[candles.close[last]], close[:-1]])
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.004, m))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.004, m))

    def join(head: FloatArray, tail: FloatArray) -> FloatArray:
        return np.concatenate([head[: last + 1], tail])

    return Candles(
        source=candles.source,
        symbol=candles.symbol,
        timeframe=candles.timeframe,
        timestamp_ms=candles.timestamp_ms,
        open=join(candles.open, open_),
        high=join(candles.high, high),
        low=join(candles.low, low),
        close=join(candles.close, close),
        volume=join(candles.volume, rng.uniform(1.0, 50.0, m)),
    )


def _same_floats(a: FloatArray, b: FloatArray, rtol: float) -> npt.NDArray[np.bool_]:
    both_nan = np.isnan(a) & np.isnan(b)
    return both_nan | np.isclose(a, b, rtol=rtol, atol=0.0)


_SIGNAL, _TAKE_PROFIT, _STOP_LOSS, _STOPS_ON_ONE_SIDE = 0, 1, 2, 3


@dataclass(frozen=True)
class Outputs:
    """What a strategy computed on some candles: its signals and stop distances (None: it sets no stops)."""

    signals: npt.NDArray[np.int8]
    stops: StopDistances | None

    def bars(self, start: int, stop: int | None = None) -> Outputs:
        """The values of bars ``start`` up to ``stop`` (the end when None)."""
        cut = slice(start, stop)
        if self.stops is None:
            return Outputs(self.signals[cut], None)
        return Outputs(self.signals[cut], StopDistances(self.stops.take_profit[cut], self.stops.stop_loss[cut]))


def _differences(got: Outputs, want: Outputs, rtol: float) -> npt.NDArray[np.int64]:
    """Per bar, what differs between two computations over the same bars: -1 nothing, else the first of the signal,
    the take-profit and the stop-loss distance that does (or that only one of them sets stops at all)."""
    if (got.stops is None) != (want.stops is None):
        return np.full(got.signals.size, _STOPS_ON_ONE_SIDE, dtype=np.int64)
    what = np.where(got.signals != want.signals, _SIGNAL, -1)
    if got.stops is not None and want.stops is not None:
        for code, mine, theirs in (
            (_TAKE_PROFIT, got.stops.take_profit, want.stops.take_profit),
            (_STOP_LOSS, got.stops.stop_loss, want.stops.stop_loss),
        ):
            what = np.where((what < 0) & ~_same_floats(mine, theirs, rtol), code, what)
    return what.astype(np.int64)


def first_difference(got: Outputs, want: Outputs, rtol: float) -> tuple[int, str] | None:
    """The first bar where two computations over the same bars differ (``want`` on the full series), and how."""
    what = _differences(got, want, rtol)
    differing = np.flatnonzero(what >= 0)
    if not differing.size:
        return None
    i = int(differing[0])
    if what[i] == _STOPS_ON_ONE_SIDE:
        return i, "stops are set on one series and not on the other"
    if what[i] == _SIGNAL:
        return i, f"signal {int(want.signals[i]):+d} on the full series, {int(got.signals[i]):+d} here"
    assert got.stops is not None and want.stops is not None  # a stop code needs stops on both sides
    label, mine, theirs = (
        ("take profit", got.stops.take_profit, want.stops.take_profit)
        if what[i] == _TAKE_PROFIT
        else ("stop loss", got.stops.stop_loss, want.stops.stop_loss)
    )
    return i, f"{label} {theirs[i]:.6g} on the full series, {mine[i]:.6g} here"


def last_difference(got: Outputs, want: Outputs, rtol: float) -> int | None:
    """The last bar where two computations over the same bars differ."""
    differing = np.flatnonzero(_differences(got, want, rtol) >= 0)
    return int(differing[-1]) if differing.size else None


def _outputs(strategy: Strategy, candles: Candles, params: Mapping[str, object], doing: str) -> Outputs:
    return _run(doing, lambda: Outputs(strategy.signals(candles, params), strategy.stops(candles, params)))


def check_look_ahead(
    strategy: Strategy, candles: Candles, sets: Sequence[dict[str, object]], plan: CheckPlan
) -> CheckResult:
    n = len(candles)
    for k, params in enumerate(sets):
        full = _outputs(strategy, candles, params, "signals on the full series")
        for cut in plan.cuts:
            last = int(cut * (n - 1))
            variants = (
                (f"the bars after #{last:,} are replaced by another path", other_future(candles, last, plan.seed + k)),
                (f"the series ends at #{last:,}", candles.slice(0, last + 1)),
            )
            for how, changed in variants:
                got = _outputs(strategy, changed, params, f"signals when {how}")
                found = first_difference(got.bars(0, last + 1), full.bars(0, last + 1), rtol=1e-9)
                if found is not None:
                    i, difference = found
                    return CheckResult(
                        "look-ahead", "fail",
                        f"{_bar(candles, i)} changes when {how}: {difference}; params {_show(params)}",
                    )  # fmt: skip
    checked = len(sets) * len(plan.cuts) * 2
    how = f"{len(sets)} parameter sets × {len(plan.cuts)} cuts × future replaced or dropped"
    return CheckResult("look-ahead", "pass", f"{checked} cut series ({how}) equal the full series up to the cut")


# history dependence ----------------------------------------------------------------------------------------


def check_history(
    strategy: Strategy, candles: Candles, sets: Sequence[dict[str, object]], plan: CheckPlan
) -> CheckResult:
    """Start the series later and compare, bar by bar, once the declared memory has passed; the needed memory is
    the furthest bar after a later start that still differs."""
    n = len(candles)
    needed = 0
    compared = 0
    declared_most = 0
    for params in sets:
        declared = int(_run("memory()", lambda p=params: strategy.memory_bars(p)))  # type: ignore[misc]
        declared_most = max(declared_most, declared)
        full = _outputs(strategy, candles, params, "signals on the full series")
        for fraction in plan.later_starts:
            start = int(fraction * n)
            if start + declared >= n:
                continue
            compared += 1
            got = _outputs(strategy, candles.slice(start, n), params, f"signals starting at #{start:,}")
            want = full.bars(start)
            last_differing = last_difference(got, want, plan.stop_rtol)
            if last_differing is None:
                continue
            needed = max(needed, last_differing + 1)
            found = first_difference(got.bars(declared), want.bars(declared), rtol=plan.stop_rtol)
            if found is not None:
                j, difference = found
                return CheckResult(
                    "history", "fail",
                    f"{_bar(candles, start + declared + j)} changes when the series starts {start:,} bars later "
                    f"({declared + j:,} bars after that start, past its declared memory of {declared:,}): "
                    f"{difference}; it still differs {last_differing + 1:,} bars after the start; "
                    f"params {_show(params)}",
                )  # fmt: skip
    tried = len(sets) * len(plan.later_starts)
    if not compared:
        return CheckResult(
            "history", "warn",
            f"not measured: {n:,} bars leave no room after a later start for the declared memory of up to "
            f"{declared_most:,} bars (check on more bars)",
        )  # fmt: skip
    return CheckResult(
        "history", "pass",
        f"measured memory {needed:,} bars, declared up to {declared_most:,} ({compared} of {tried} later starts "
        f"left room to compare)",
    )  # fmt: skip


# speed ---------------------------------------------------------------------------------------------------


def speed_candles(bars: int) -> Candles:
    """``bars`` 5-minute bars of the demo market (a year gives 105,120): the same input for every strategy timed."""
    months = max(1, -(-bars // 8_640))
    frame = generate_demo_market(DemoSpec(months=months, symbols=DEFAULT_SYMBOLS[:1]))["BTC"]
    candles = Candles.from_frame(frame, source="demo", symbol="BTC", timeframe="5m")
    return candles.slice(0, min(bars, len(candles)))


def calls_per_second(strategy: Strategy, candles: Candles, repeats: int) -> float:
    """Signal (and stop) calls per second with the default parameters, the best of ``repeats`` after one warm call
    (which compiles any numba kernel)."""
    params = strategy.space.validate()
    _outputs(strategy, candles, params, "signals at full length")
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        strategy.signals(candles, params)
        strategy.stops(candles, params)
        best = min(best, time.perf_counter() - began)
    return 1.0 / max(best, 1e-9)


def check_speed(strategy: Strategy, built_ins: Sequence[Strategy], plan: CheckPlan) -> CheckResult:
    candles = speed_candles(plan.speed_bars)
    n = len(candles)
    own = calls_per_second(strategy, candles, plan.speed_repeats)
    others = {other.name: calls_per_second(other, candles, plan.speed_repeats) for other in built_ins}
    slowest = min(others, key=lambda name: others[name])
    ratio = others[slowest] / own
    detail = (
        f"{own:,.1f} calls/s at {n:,} bars ({own * n / 1e6:,.1f} M bars/s); slowest built-in {slowest} "
        f"{others[slowest]:,.1f} calls/s"
    )
    if ratio > SLOW_RATIO:
        return CheckResult("speed", "warn", f"{detail}: {ratio:.1f}× slower (vectorise or @njit the loop)")
    return CheckResult("speed", "pass", detail)


# all of them -----------------------------------------------------------------------------------------------


def check_strategy(
    strategy: Strategy,
    candles: Candles,
    built_ins: Sequence[Strategy],
    plan: CheckPlan | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> StrategyCheck:
    """Every check, in order; a failing contract stops the rest (their inputs would not mean anything)."""
    chosen = plan or CheckPlan()
    results: list[CheckResult] = []

    def add(result: CheckResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    try:
        sets = parameter_sets(strategy, chosen)
    except ConfigError as exc:
        add(CheckResult("contract", "fail", f"parameter sets cannot be drawn: {exc}"))
        return StrategyCheck(strategy.name, candles.label, tuple(results))
    steps: tuple[tuple[str, Callable[[], CheckResult]], ...] = (
        ("contract", lambda: check_contract(strategy, candles, sets)),
        ("look-ahead", lambda: check_look_ahead(strategy, candles, sets, chosen)),
        ("history", lambda: check_history(strategy, candles, sets, chosen)),
        ("speed", lambda: check_speed(strategy, built_ins, chosen)),
    )
    for name, step in steps:
        try:
            result = step()
        except (StrategyCodeError, ConfigError, ValueError) as exc:
            result = CheckResult(name, "fail", str(exc))
        add(result)
        if name == "contract" and result.status == "fail":
            break
    return StrategyCheck(strategy.name, candles.label, tuple(results))


__all__ = [
    "SLOW_RATIO",
    "CheckPlan",
    "CheckResult",
    "Outputs",
    "StrategyCheck",
    "StrategyCodeError",
    "calls_per_second",
    "check_contract",
    "check_history",
    "check_look_ahead",
    "check_speed",
    "check_strategy",
    "first_difference",
    "last_difference",
    "other_future",
    "parameter_sets",
    "speed_candles",
]
