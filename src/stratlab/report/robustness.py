"""Robustness of a champion: does its result survive small changes of what it was fitted to?

A champion is a strategy, its parameters and its backtest config on candles bars ``[start, end)`` (signals computed
on the candles cut at ``end``, as the optimiser does). Four checks, one function each, and
:func:`robustness_report` composing them into the JSON-ready ``robustness.json``:

1. Parameter neighbourhood (:func:`neighbourhood`). Every numeric parameter (``IntParam``/``FloatParam``) is moved
   one step down and one step up, the others held. A step is the parameter's declared step (1 for an ``IntParam``
   without one); a ``FloatParam`` without a step moves by :data:`FLOAT_STEP_FRACTION` of its range. A neighbour
   outside the bounds, off the grid or breaking a constraint of the space is not run; its ``skipped`` says why.

   - Importance of a parameter: the mean absolute change of ``return_pct`` (percentage points) over its valid
     ±1-step neighbours; ``None`` when it has none.
   - Heat-map grid: the two most important parameters (ties keep declaration order) at -2..+2 steps each, 5×5
     cells, ``None`` where a value is out of bounds or a pair breaks a constraint.
   - ``plateau_share``: the share of all valid ±1-step neighbours whose return is at least
     :data:`PLATEAU_RETURN_FRACTION` (half) of the champion's. The label is ``"plateau"`` when that share is at
     least :data:`PLATEAU_MIN_SHARE` (half the neighbours hold half the return), else ``"spike"``. A champion
     without a positive return has nothing to keep: share and label are ``None``, with the reason.

2. Cost stress (:func:`cost_stress`): ``fee_bps`` and ``slippage_bps`` of the config ×1, ×2, ×3.

3. Monte Carlo, each from its own seeded random stream:

   - Trade reshuffle (:func:`reshuffle_trades`): each trade's compounded return, its PnL over the realised equity
     before it (``pnl / (initial + PnL of the earlier trades)``; a trade's PnL is exactly the change of cash across
     it), permuted N times. The final return is the product of the trade returns, so every order gives the same one;
     only the drawdown depends on the order. Drawdowns are those of the equity at trade exits (the observed one is
     given on the same footing: it is shallower than the per-bar drawdown of the backtest).
   - Block bootstrap (:func:`block_bootstrap`): the stationary bootstrap (Politis & Romano, 1994) of the daily returns
     of the backtest (``stratlab.metrics.daily.daily_series``): blocks of geometric length with mean
     ``mean_block_days``, starting anywhere and wrapping around the end (circular), so short-run dependence
     (volatility clusters, streaks) survives the resampling. Drawdowns are on daily equity. The fan is the 5th, 50th
     and 95th percentile of the bootstrapped equity on each day, beside the observed daily equity.

4. Other symbols (:func:`other_symbols`): the same strategy, parameters and config on every other symbol of the
   candles' source and timeframe in the store, over the same dates: loaded from the day of the champion's first
   candle (the same warm-up) to the day of its last traded bar, traded from the first bar at or after the champion's
   first traded bar to its last one. A symbol without bars there, or whose data cannot be read, is listed with the
   reason instead of a result.

Percentiles are numpy's linear interpolation. Nothing here writes a file: the run report writes the dictionary.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from stratlab.data.candles import Candles
from stratlab.data.dates import format_day
from stratlab.data.loader import load_ohlcv
from stratlab.data.store import MarketStore
from stratlab.engine import BacktestConfig, BacktestResult, run_backtest
from stratlab.engine.config import validated_config
from stratlab.errors import ConfigError, DataError
from stratlab.indicators import indicator_cache
from stratlab.metrics.daily import daily_series
from stratlab.strategies import FloatParam, IntParam, Strategy, get_strategy
from stratlab.strategies.base import Int8Array, StopDistances

FloatArray: TypeAlias = npt.NDArray[np.float64]
AnyFloatArray: TypeAlias = npt.NDArray[np.floating[Any]]
IntArray: TypeAlias = npt.NDArray[np.int64]
Number: TypeAlias = int | float
NumericParam: TypeAlias = IntParam | FloatParam

SCHEMA_VERSION = 1
FLOAT_STEP_FRACTION = 0.05
PLATEAU_RETURN_FRACTION = 0.5
PLATEAU_MIN_SHARE = 0.5
GRID_STEPS: tuple[int, ...] = (-2, -1, 0, 1, 2)
COST_MULTIPLIERS: tuple[float, ...] = (1.0, 2.0, 3.0)
DEFAULT_SIMULATIONS = 1000
DEFAULT_MEAN_BLOCK_DAYS = 5.0
DEFAULT_SEED = 0
PERCENTILES: tuple[float, float, float] = (5.0, 50.0, 95.0)
# Independent random streams (SeedSequence spawn keys), so changing one simulation's size leaves the other's draws.
_STREAM_RESHUFFLE = 1
_STREAM_BOOTSTRAP = 2
# Rows of simulated paths handled at once: bounds memory at about 8 bytes × this × path length per array.
_PATH_CHUNK = 256
# Stepped values are rounded to 12 significant digits, so 0.1 steps give 2.3 rather than 2.3000000000000003.
_SIGNIFICANT_DIGITS = 12


# the champion and its backtests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiRow:
    """The figures every check reports: return and max drawdown in percent, daily Sharpe (None when undefined)."""

    return_pct: float
    max_drawdown_pct: float
    sharpe: float | None
    n_trades: int


def kpi_row(result: BacktestResult) -> KpiRow:
    kpis = result.kpis
    return KpiRow(kpis.return_pct, kpis.max_drawdown_pct, kpis.sharpe, kpis.n_trades)


def _params_key(params: Mapping[str, object]) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(params.items()))


@dataclass(frozen=True, eq=False)
class Champion:
    """What is judged: ``strategy`` with validated ``params`` and ``config`` on ``candles`` bars ``[start, end)``.

    Build it with :func:`make_champion`. Backtests of other parameters or configs are memoised, so a neighbour that
    is also a grid cell, or the ×1 cost row, is run once.
    """

    candles: Candles
    strategy: Strategy
    params: dict[str, object]
    config: BacktestConfig
    start: int
    end: int
    _signals: dict[tuple[tuple[str, object], ...], tuple[Int8Array, StopDistances | None]] = field(
        default_factory=dict, init=False, repr=False
    )
    _results: dict[tuple[tuple[tuple[str, object], ...], BacktestConfig], BacktestResult] = field(
        default_factory=dict, init=False, repr=False
    )

    @cached_property
    def candles_to_end(self) -> Candles:
        # Strategies are causal: signals need only the bars up to the end. One cut, so the indicator cache sees the
        # same arrays every time.
        return self.candles.slice(0, self.end)

    def backtest(
        self, params: Mapping[str, object] | None = None, config: BacktestConfig | None = None
    ) -> BacktestResult:
        """The backtest of ``params`` (default: the champion's) under ``config`` (default: the champion's)."""
        chosen = self.strategy.space.validate(self.params if params is None else params)
        cfg = self.config if config is None else config
        key = _params_key(chosen)
        found = self._results.get((key, cfg))
        if found is not None:
            return found
        if key not in self._signals:
            candles = self.candles_to_end
            self._signals[key] = (self.strategy.signals(candles, chosen), self.strategy.stops(candles, chosen))
        signals, stops = self._signals[key]
        result = run_backtest(self.candles_to_end, signals, cfg, stops=stops, start=self.start, end=self.end)
        self._results[(key, cfg)] = result
        return result

    @cached_property
    def result(self) -> BacktestResult:
        return self.backtest()


def make_champion(
    candles: Candles,
    strategy: Strategy | str,
    params: Mapping[str, object] | None,
    config: BacktestConfig | Mapping[str, Any] | None,
    start: int,
    end: int,
) -> Champion:
    """A checked :class:`Champion`; a one-line ``ConfigError`` for an unknown strategy or parameter, a bad value,
    a bad config field or a window that is not ``0 <= start < end <= len(candles)``."""
    chosen = get_strategy(strategy) if isinstance(strategy, str) else strategy
    values = chosen.space.validate(params)
    cfg = validated_config(config)
    n = len(candles)
    if not (_is_int(start) and _is_int(end) and 0 <= start < end <= n):
        raise ConfigError(f"start/end: need 0 <= start < end <= {n} bars, got start={start!r}, end={end!r}")
    return Champion(candles, chosen, values, cfg, int(start), int(end))


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


# 1. parameter neighbourhood ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamStep:
    """A numeric parameter, the champion's value, how far one step moves it and why, and its importance."""

    name: str
    value: Number
    step: Number
    step_rule: str
    importance: float | None


@dataclass(frozen=True)
class Neighbour:
    """The champion with one parameter moved ``steps`` steps: its KPIs, or why it was not run."""

    param: str
    steps: int
    value: Number
    kpis: KpiRow | None
    skipped: str | None


@dataclass(frozen=True)
class Plateau:
    """``plateau_share`` and its label (``None`` when undefined), the return a neighbour must keep, and a sentence."""

    plateau_share: float | None
    threshold_return_pct: float | None
    label: Literal["plateau", "spike"] | None
    reason: str


@dataclass(frozen=True)
class HeatGrid:
    """KPIs of the two most important parameters at ``steps`` × ``steps``: ``cells[i][j]`` is ``y_values[i]`` with
    ``x_values[j]`` (rows y, columns x, as a heat map draws them); ``None`` values and cells were not valid."""

    x_param: str
    y_param: str
    steps: tuple[int, ...]
    x_values: tuple[Number | None, ...]
    y_values: tuple[Number | None, ...]
    cells: tuple[tuple[KpiRow | None, ...], ...]


@dataclass(frozen=True)
class Neighbourhood:
    params: tuple[ParamStep, ...]
    neighbours: tuple[Neighbour, ...]
    plateau: Plateau
    grid: HeatGrid | None
    grid_reason: str | None


def numeric_params(strategy: Strategy) -> tuple[NumericParam, ...]:
    """The strategy's ``IntParam`` and ``FloatParam`` specs, in declaration order."""
    return tuple(spec for spec in strategy.space.params if isinstance(spec, IntParam | FloatParam))


def param_step(spec: NumericParam) -> tuple[Number, str]:
    """One step of ``spec`` and the rule that gave it."""
    if isinstance(spec, IntParam):
        return spec.step, "declared step"
    if spec.step is not None:
        return spec.step, "declared step"
    return _rounded(FLOAT_STEP_FRACTION * (spec.high - spec.low)), f"{FLOAT_STEP_FRACTION:.0%} of the range (no step)"


def _rounded(value: float) -> float:
    return float(f"{value:.{_SIGNIFICANT_DIGITS}g}")


def stepped_value(spec: NumericParam, value: Number, steps: int) -> Number:
    """``value`` moved ``steps`` steps (an int for an ``IntParam``); not checked against the bounds."""
    step, _ = param_step(spec)
    if isinstance(spec, IntParam):
        return int(value) + steps * int(step)
    return _rounded(float(value) + steps * float(step))


def value_reason(strategy: Strategy, name: str, value: Number) -> str | None:
    """Why ``value`` is not a valid value of the numeric parameter ``name`` (bounds, step grid), or None."""
    spec = numeric_spec(strategy, name)
    if not spec.low <= value <= spec.high:
        return f"{name}={value:g} is outside {spec.low:g} .. {spec.high:g}"
    try:
        spec.check(value, strategy.name)
    except ConfigError as exc:
        return str(exc)
    return None


def invalid_reason(strategy: Strategy, params: Mapping[str, object], name: str) -> str | None:
    """Why ``params`` (with ``name`` just moved) is not a point of the space (its value, then the constraints)."""
    value = params[name]
    if not isinstance(value, int | float):
        raise TypeError(f"parameter {name!r} is not a number: {value!r}")
    reason = value_reason(strategy, name, value)
    if reason is None:
        broken = strategy.space.violations(params)
        if broken:
            reason = f"breaks the constraint {broken[0]}"
    return reason


def numeric_spec(strategy: Strategy, name: str) -> NumericParam:
    spec = strategy.space[name]
    if not isinstance(spec, IntParam | FloatParam):
        raise ConfigError(f"{strategy.name}: parameter {name!r} is not numeric")
    return spec


def numeric_value(champion: Champion, name: str) -> Number:
    value = champion.params[name]
    if not isinstance(value, int | float):
        raise TypeError(f"parameter {name!r} is not a number: {value!r}")
    return value


def neighbours(champion: Champion) -> tuple[Neighbour, ...]:
    """Every numeric parameter at -1 and +1 step, the others held (run when valid, else the reason)."""
    found = []
    for spec in numeric_params(champion.strategy):
        value = numeric_value(champion, spec.name)
        for steps in (-1, 1):
            moved = stepped_value(spec, value, steps)
            params = {**champion.params, spec.name: moved}
            reason = invalid_reason(champion.strategy, params, spec.name)
            kpis = None if reason else kpi_row(champion.backtest(params))
            found.append(Neighbour(spec.name, steps, moved, kpis, reason))
    return tuple(found)


def param_importance(champion_return_pct: float, around: Sequence[Neighbour], name: str) -> float | None:
    """Mean absolute change of ``return_pct`` over ``name``'s valid neighbours (None without any)."""
    changes = [abs(n.kpis.return_pct - champion_return_pct) for n in around if n.param == name and n.kpis is not None]
    return float(np.mean(changes)) if changes else None


def param_steps(champion: Champion, around: Sequence[Neighbour]) -> tuple[ParamStep, ...]:
    champion_return = champion.result.return_pct
    rows = []
    for spec in numeric_params(champion.strategy):
        step, rule = param_step(spec)
        value = numeric_value(champion, spec.name)
        rows.append(ParamStep(spec.name, value, step, rule, param_importance(champion_return, around, spec.name)))
    return tuple(rows)


def most_important(steps: Sequence[ParamStep], count: int = 2) -> tuple[str, ...]:
    """The ``count`` parameters of largest importance (ties keep declaration order); undefined ones never count."""
    ranked = sorted((s for s in steps if s.importance is not None), key=lambda s: -(s.importance or 0.0))
    return tuple(s.name for s in ranked[:count])


def plateau(champion_return_pct: float, around: Sequence[Neighbour]) -> Plateau:
    """``plateau_share``: the share of valid neighbours whose return is at least ``PLATEAU_RETURN_FRACTION`` of the
    champion's; ``"plateau"`` when it reaches ``PLATEAU_MIN_SHARE``, else ``"spike"``."""
    valid = [n.kpis.return_pct for n in around if n.kpis is not None]
    if champion_return_pct <= 0:
        return Plateau(None, None, None, f"the champion's return ({champion_return_pct:.2f} %) is not positive")
    threshold = PLATEAU_RETURN_FRACTION * champion_return_pct
    if not valid:
        return Plateau(None, threshold, None, "no valid neighbour to compare with")
    kept = sum(r >= threshold for r in valid)
    share = kept / len(valid)
    label: Literal["plateau", "spike"] = "plateau" if share >= PLATEAU_MIN_SHARE else "spike"
    reason = (
        f"{kept} of {len(valid)} neighbours keep at least {PLATEAU_RETURN_FRACTION:.0%} of the champion's return "
        f"({threshold:.2f} %): {label}"
    )
    return Plateau(share, threshold, label, reason)


def heat_grid(champion: Champion, x_param: str, y_param: str, steps: Sequence[int] = GRID_STEPS) -> HeatGrid:
    """KPIs of ``x_param`` × ``y_param`` each moved by every one of ``steps`` (the other parameters held)."""
    space = champion.strategy.space

    def axis(name: str) -> tuple[Number | None, ...]:
        spec, value = numeric_spec(champion.strategy, name), numeric_value(champion, name)
        moved = [stepped_value(spec, value, k) for k in steps]
        return tuple(v if value_reason(champion.strategy, name, v) is None else None for v in moved)

    x_values, y_values = axis(x_param), axis(y_param)
    rows = []
    for y in y_values:
        row: list[KpiRow | None] = []
        for x in x_values:
            params = {**champion.params, x_param: x, y_param: y}
            valid = x is not None and y is not None and not space.violations(params)
            row.append(kpi_row(champion.backtest(params)) if valid else None)
        rows.append(tuple(row))
    return HeatGrid(x_param, y_param, tuple(steps), x_values, y_values, tuple(rows))


def neighbourhood(champion: Champion) -> Neighbourhood:
    """±1-step neighbours, importance, plateau and the heat-map grid of the two most important parameters."""
    around = neighbours(champion)
    steps = param_steps(champion, around)
    top = most_important(steps)
    grid = heat_grid(champion, top[0], top[1]) if len(top) == 2 else None
    grid_reason = None
    if grid is None:
        grid_reason = f"needs two numeric parameters with a valid neighbour, found {len(top)}"
    return Neighbourhood(steps, around, plateau(champion.result.return_pct, around), grid, grid_reason)


# 2. cost stress ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostRow:
    """The champion with fees and slippage × ``multiplier``: the rates used and its KPIs (or why not run)."""

    multiplier: float
    fee_bps: float
    slippage_bps: float
    kpis: KpiRow | None
    skipped: str | None


def cost_stress(champion: Champion, multipliers: Sequence[float] = COST_MULTIPLIERS) -> tuple[CostRow, ...]:
    """The champion with ``fee_bps`` and ``slippage_bps`` both × each multiplier (a rate the config refuses, such as
    a fee of 100 % or more, is skipped with the config's message)."""
    rows = []
    base = champion.config
    for multiplier in multipliers:
        fee, slippage = base.fee_bps * multiplier, base.slippage_bps * multiplier
        try:
            config = base.replace(fee_bps=fee, slippage_bps=slippage)
        except ConfigError as exc:
            rows.append(CostRow(float(multiplier), fee, slippage, None, str(exc)))
            continue
        rows.append(CostRow(float(multiplier), fee, slippage, kpi_row(champion.backtest(config=config)), None))
    return tuple(rows)


# 3. Monte Carlo ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Percentiles:
    p5: float
    p50: float
    p95: float


def percentiles(values: FloatArray) -> Percentiles:
    p5, p50, p95 = np.percentile(values, PERCENTILES)
    return Percentiles(float(p5), float(p50), float(p95))


def path_max_drawdowns(paths: AnyFloatArray, initial: float) -> FloatArray:
    """Max drawdown (a fraction) of each row of equity ``paths``, against a running peak that starts at
    ``initial``; a non-positive peak counts as a full loss."""
    peak = np.maximum.accumulate(np.maximum(paths, initial), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, 1.0 - paths / np.where(peak > 0, peak, 1.0), 1.0)
    result: FloatArray = drawdown.max(axis=1) if paths.shape[1] else np.zeros(paths.shape[0])
    return result


def random_stream(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))


@dataclass(frozen=True)
class TradeReshuffle:
    """Percentiles over ``n_simulations`` orders of the trades (None with a ``reason`` when there is nothing to
    reshuffle); drawdowns on equity at trade exits, the observed order's beside them."""

    n_simulations: int
    n_trades: int
    final_return_pct: Percentiles | None
    max_drawdown_pct: Percentiles | None
    observed_final_return_pct: float | None
    observed_max_drawdown_pct: float | None
    reason: str | None


def trade_returns(result: BacktestResult) -> FloatArray:
    """Each trade's PnL over the realised equity before it (the initial equity plus the earlier trades' PnL), in
    exit order: the product of ``1 + r`` is the final over the initial equity."""
    pnl = np.asarray(result.trade_arrays["pnl"], dtype=np.float64)
    before = result.initial_equity + np.concatenate(([0.0], np.cumsum(pnl)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        returns: FloatArray = np.where(before > 0, pnl / np.where(before > 0, before, 1.0), np.nan)
    return returns


def reshuffle_trades(returns: FloatArray, n_simulations: int, rng: np.random.Generator) -> TradeReshuffle:
    """The trade returns permuted ``n_simulations`` times (each row its own permutation), compounded per row."""
    _check_simulations(n_simulations)
    n = int(returns.size)
    if n < 2:
        return TradeReshuffle(n_simulations, n, None, None, None, None, f"{n} trade(s): no order to reshuffle")
    if not np.isfinite(returns).all():
        reason = "the realised equity reached zero before a trade: its return is undefined"
        return TradeReshuffle(n_simulations, n, None, None, None, None, reason)
    observed = np.cumprod(1.0 + returns)[np.newaxis, :]
    finals = np.empty(n_simulations)
    drawdowns = np.empty(n_simulations)
    for first in range(0, n_simulations, _PATH_CHUNK):
        rows = min(_PATH_CHUNK, n_simulations - first)
        shuffled = rng.permuted(np.broadcast_to(returns, (rows, n)), axis=1)
        paths = np.cumprod(1.0 + shuffled, axis=1)
        finals[first : first + rows] = paths[:, -1]
        drawdowns[first : first + rows] = path_max_drawdowns(paths, 1.0)
    return TradeReshuffle(
        n_simulations,
        n,
        percentiles((finals - 1.0) * 100.0),
        percentiles(drawdowns * 100.0),
        float((observed[0, -1] - 1.0) * 100.0),
        float(path_max_drawdowns(observed, 1.0)[0] * 100.0),
        None,
    )


def stationary_bootstrap_indices(
    n_days: int, n_paths: int, mean_block_days: float, rng: np.random.Generator
) -> IntArray:
    """``(n_paths, n_days)`` indices into a series of ``n_days``: a new block starts with probability
    ``1 / mean_block_days`` on each day (always on the first) at a uniform random day, and runs on day by day,
    wrapping from the last day to the first."""
    days = np.arange(n_days)
    new_block = rng.random((n_paths, n_days)) < 1.0 / mean_block_days
    new_block[:, 0] = True
    block_began = np.maximum.accumulate(np.where(new_block, days, 0), axis=1)
    block_origin = np.take_along_axis(rng.integers(0, n_days, size=(n_paths, n_days)), block_began, axis=1)
    indices: IntArray = (block_origin + days - block_began) % n_days
    return indices


@dataclass(frozen=True)
class EquityFan:
    """Per day (UTC day start, ms): percentiles of the bootstrapped equity and the observed daily equity."""

    day_ms: IntArray
    p5: FloatArray
    p50: FloatArray
    p95: FloatArray
    observed: FloatArray


@dataclass(frozen=True)
class BlockBootstrap:
    """Percentiles over ``n_simulations`` stationary-bootstrap paths of the daily returns, the share of paths that
    lose money, the observed figures on the same daily footing, and the fan (None with a ``reason`` when there are
    too few days)."""

    n_simulations: int
    mean_block_days: float
    n_days: int
    final_return_pct: Percentiles | None
    max_drawdown_pct: Percentiles | None
    loss_probability: float | None
    observed_final_return_pct: float | None
    observed_max_drawdown_pct: float | None
    fan: EquityFan | None
    reason: str | None


def block_bootstrap(
    day_ms: IntArray,
    daily_returns: FloatArray,
    initial_equity: float,
    n_simulations: int = DEFAULT_SIMULATIONS,
    mean_block_days: float = DEFAULT_MEAN_BLOCK_DAYS,
    rng: np.random.Generator | None = None,
) -> BlockBootstrap:
    """Stationary bootstrap of ``daily_returns``: each path compounds ``initial_equity`` over resampled days."""
    _check_simulations(n_simulations)
    _check_mean_block(mean_block_days)
    n_days = int(daily_returns.size)
    if n_days < 2:
        return BlockBootstrap(
            n_simulations, mean_block_days, n_days, None, None, None, None, None, None, f"{n_days} day(s): too few"
        )
    generator = rng if rng is not None else random_stream(DEFAULT_SEED, _STREAM_BOOTSTRAP)
    observed = np.asarray(initial_equity * np.cumprod(1.0 + daily_returns), dtype=np.float64)
    finals = np.empty(n_simulations)
    drawdowns = np.empty(n_simulations)
    paths = np.empty((n_simulations, n_days))
    for first in range(0, n_simulations, _PATH_CHUNK):
        rows = min(_PATH_CHUNK, n_simulations - first)
        indices = stationary_bootstrap_indices(n_days, rows, mean_block_days, generator)
        chunk = initial_equity * np.cumprod(1.0 + daily_returns[indices], axis=1)
        paths[first : first + rows] = chunk
        finals[first : first + rows] = chunk[:, -1]
        drawdowns[first : first + rows] = path_max_drawdowns(chunk, initial_equity)
    p5, p50, p95 = np.percentile(paths, PERCENTILES, axis=0)
    fan = EquityFan(np.asarray(day_ms, dtype=np.int64), p5, p50, p95, observed)
    return BlockBootstrap(
        n_simulations,
        float(mean_block_days),
        n_days,
        percentiles((finals / initial_equity - 1.0) * 100.0),
        percentiles(drawdowns * 100.0),
        float(np.mean(finals < initial_equity)),
        float((observed[-1] / initial_equity - 1.0) * 100.0),
        float(path_max_drawdowns(observed[np.newaxis, :], initial_equity)[0] * 100.0),
        fan,
        None,
    )


def _check_mean_block(mean_block_days: float) -> None:
    if not isinstance(mean_block_days, int | float) or not (math.isfinite(mean_block_days) and mean_block_days >= 1):
        raise ConfigError(f"mean_block_days: must be a number of at least 1, got {mean_block_days!r}")


def _check_simulations(n_simulations: int) -> None:
    if not _is_int(n_simulations) or n_simulations < 1:
        raise ConfigError(f"n_simulations: must be a positive integer, got {n_simulations!r}")


@dataclass(frozen=True)
class MonteCarlo:
    trade_reshuffle: TradeReshuffle
    block_bootstrap: BlockBootstrap


def monte_carlo(
    champion: Champion,
    n_simulations: int = DEFAULT_SIMULATIONS,
    mean_block_days: float = DEFAULT_MEAN_BLOCK_DAYS,
    seed: int = DEFAULT_SEED,
) -> MonteCarlo:
    """Both simulations of the champion's backtest, each from its own stream of ``seed``."""
    result = champion.result
    daily = daily_series(result.timestamp_ms, result.equity, result.initial_equity)
    return MonteCarlo(
        reshuffle_trades(trade_returns(result), n_simulations, random_stream(seed, _STREAM_RESHUFFLE)),
        block_bootstrap(
            daily.day_ms,
            daily.returns,
            result.initial_equity,
            n_simulations,
            mean_block_days,
            random_stream(seed, _STREAM_BOOTSTRAP),
        ),
    )


# 4. other symbols -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SymbolRow:
    """The champion on another symbol: bars traded, KPIs and buy-and-hold over them, or why there are none."""

    symbol: str
    n_bars: int
    first_bar_ms: int | None
    last_bar_ms: int | None
    kpis: KpiRow | None
    buy_hold_return_pct: float | None
    reason: str | None


def other_symbol_names(champion: Champion, data_root: Path | str | None) -> tuple[str, ...]:
    """The symbols of the champion's source and timeframe in the store, its own excepted, sorted."""
    candles = champion.candles
    return tuple(
        key.symbol
        for key in MarketStore(data_root).list_series()
        if key.source == candles.source and key.timeframe == candles.timeframe.name and key.symbol != candles.symbol
    )


def symbol_run(champion: Champion, symbol: str, data_root: Path | str | None) -> SymbolRow:
    """The champion's strategy, params and config on ``symbol`` over the champion's dates (see the module doc)."""
    candles = champion.candles
    warmup_from = int(candles.timestamp_ms[0])
    trade_from, trade_to = int(candles.timestamp_ms[champion.start]), int(candles.timestamp_ms[champion.end - 1])
    try:
        other = load_ohlcv(
            candles.source,
            symbol,
            candles.timeframe.name,
            format_day(warmup_from),
            format_day(trade_to),
            data_root=data_root,
        )
    except DataError as exc:
        return SymbolRow(symbol, 0, None, None, None, None, str(exc))
    start = int(np.searchsorted(other.timestamp_ms, trade_from, side="left"))
    end = int(np.searchsorted(other.timestamp_ms, trade_to, side="right"))
    if start >= end:
        span = f"{format_day(trade_from)} .. {format_day(trade_to)}"
        return SymbolRow(symbol, 0, None, None, None, None, f"{other.label}: no bars in the champion's period {span}")
    other_champion = make_champion(other, champion.strategy, champion.params, champion.config, start, end)
    result = other_champion.result
    return SymbolRow(
        symbol,
        end - start,
        int(other.timestamp_ms[start]),
        int(other.timestamp_ms[end - 1]),
        kpi_row(result),
        result.kpis.buy_hold_return_pct,
        None,
    )


def other_symbols(champion: Champion, data_root: Path | str | None) -> tuple[SymbolRow, ...]:
    """:func:`symbol_run` on every other symbol of the champion's source and timeframe in the store."""
    return tuple(symbol_run(champion, symbol, data_root) for symbol in other_symbol_names(champion, data_root))


# the report -------------------------------------------------------------------------------------------------


def json_ready(value: Any) -> Any:
    """``value`` as JSON types only: dataclasses and mappings as dicts, sequences and arrays as lists, numpy
    scalars as Python numbers, enums as their values, NaN and ±inf as None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_ready(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [json_ready(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, enum.Enum):
        return json_ready(value.value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _grid_json(grid: HeatGrid | None) -> dict[str, Any] | None:
    """The grid as one matrix per KPI (rows y, columns x), the shape a heat map takes."""
    if grid is None:
        return None
    out: dict[str, Any] = {
        "x_param": grid.x_param,
        "y_param": grid.y_param,
        "steps": list(grid.steps),
        "x_values": json_ready(grid.x_values),
        "y_values": json_ready(grid.y_values),
    }
    for name in ("return_pct", "max_drawdown_pct", "sharpe", "n_trades"):
        out[name] = [[None if cell is None else json_ready(getattr(cell, name)) for cell in row] for row in grid.cells]
    return out


RULES: dict[str, str] = {
    "step": f"a parameter's declared step; {FLOAT_STEP_FRACTION:.0%} of the range for a float without one",
    "importance": "mean absolute change of return_pct (points) over the parameter's valid ±1-step neighbours",
    "grid": "the two most important parameters at -2..+2 steps, other parameters held; null cells are invalid",
    "plateau_share": (
        f"share of valid ±1-step neighbours whose return_pct is at least {PLATEAU_RETURN_FRACTION:.0%} of the "
        f"champion's; 'plateau' when the share is at least {PLATEAU_MIN_SHARE:.0%}, else 'spike'; undefined when "
        "the champion's return is not positive"
    ),
    "cost_stress": "fee_bps and slippage_bps of the config, both multiplied",
    "trade_reshuffle": (
        "trade returns = pnl / realised equity before the trade, permuted; drawdown on equity at trade exits"
    ),
    "block_bootstrap": "stationary bootstrap of daily returns (geometric blocks, circular); drawdown on daily equity",
    "other_symbols": (
        "same strategy, params and config on the other symbols of the source and timeframe, over the same dates"
    ),
}


def robustness_report(
    candles: Candles,
    strategy: Strategy | str,
    params: Mapping[str, object] | None,
    config: BacktestConfig | Mapping[str, Any] | None,
    start: int,
    end: int,
    *,
    data_root: Path | str | None = None,
    check_other_symbols: bool = True,
    n_simulations: int = DEFAULT_SIMULATIONS,
    mean_block_days: float = DEFAULT_MEAN_BLOCK_DAYS,
    seed: int = DEFAULT_SEED,
    cost_multipliers: Sequence[float] = COST_MULTIPLIERS,
) -> dict[str, Any]:
    """Every robustness check of the champion as one JSON-ready dictionary (``robustness.json``).

    ``data_root`` is the store the other symbols are read from (None: the configured one); with
    ``check_other_symbols=False`` that check is left out (``other_symbols`` is null).
    """
    champion = make_champion(candles, strategy, params, config, start, end)
    _check_simulations(n_simulations)
    _check_mean_block(mean_block_days)
    with indicator_cache():
        result = champion.result
        around = neighbourhood(champion)
        costs = cost_stress(champion, cost_multipliers)
        simulations = monte_carlo(champion, n_simulations, mean_block_days, seed)
        others = other_symbols(champion, data_root) if check_other_symbols else None
    return {
        "schema_version": SCHEMA_VERSION,
        "champion": {
            "strategy": champion.strategy.name,
            "params": json_ready(champion.params),
            "source": candles.source,
            "symbol": candles.symbol,
            "timeframe": candles.timeframe.name,
            "start_bar": champion.start,
            "end_bar": champion.end,
            "first_bar_ms": int(candles.timestamp_ms[champion.start]),
            "last_bar_ms": int(candles.timestamp_ms[champion.end - 1]),
            "kpis": json_ready(kpi_row(result)),
        },
        "settings": {
            "n_simulations": n_simulations,
            "mean_block_days": float(mean_block_days),
            "seed": seed,
            "cost_multipliers": json_ready(list(cost_multipliers)),
            "float_step_fraction": FLOAT_STEP_FRACTION,
            "percentiles": list(PERCENTILES),
        },
        "rules": dict(RULES),
        "neighbourhood": {
            "params": json_ready(around.params),
            "neighbours": json_ready(around.neighbours),
            "plateau": json_ready(around.plateau),
            "grid": _grid_json(around.grid),
            "grid_reason": around.grid_reason,
        },
        "cost_stress": json_ready(costs),
        "monte_carlo": json_ready(simulations),
        "other_symbols": None if others is None else json_ready(others),
    }


__all__ = [
    "COST_MULTIPLIERS",
    "FLOAT_STEP_FRACTION",
    "PLATEAU_MIN_SHARE",
    "PLATEAU_RETURN_FRACTION",
    "BlockBootstrap",
    "Champion",
    "CostRow",
    "EquityFan",
    "HeatGrid",
    "KpiRow",
    "MonteCarlo",
    "Neighbour",
    "Neighbourhood",
    "ParamStep",
    "Percentiles",
    "Plateau",
    "SymbolRow",
    "TradeReshuffle",
    "block_bootstrap",
    "cost_stress",
    "heat_grid",
    "json_ready",
    "kpi_row",
    "make_champion",
    "monte_carlo",
    "most_important",
    "neighbourhood",
    "neighbours",
    "numeric_params",
    "other_symbol_names",
    "other_symbols",
    "param_step",
    "plateau",
    "reshuffle_trades",
    "robustness_report",
    "stationary_bootstrap_indices",
    "stepped_value",
    "symbol_run",
    "trade_returns",
]
