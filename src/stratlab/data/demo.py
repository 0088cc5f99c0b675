"""The demo market: a deterministic synthetic BTC/ETH market with regimes, volatility clusters and jumps.

``stratlab data demo`` writes it into the store as source ``demo`` so that every part of stratlab can be tried
without a download. It is built to be *plausible and structured*: prices, ranges and volumes have the scale of
real BTC/ETH perpetuals, and the series carry effects a strategy can find (trends, mean-reverting ranges,
volatility clustering, intraday seasonality) and effects it can overfit (fat-tailed jumps, noise).

The bars depend only on the seed and the :class:`DemoSpec` (the start date is fixed, not "today"), so the same
command gives the same candles on every run. Each model component draws from its own random stream
(``numpy.random.SeedSequence(seed, spawn_key=...)``; per-symbol streams are keyed by the symbol name), so
adding a symbol does not change the others.

Generating model
----------------
Bars ``t = 0 .. n-1`` open on the timeframe grid from ``start`` 00:00 UTC for ``months`` calendar months;
``Δ`` is the bar length (5 minutes by default) and ``B = 1 day / Δ`` (288). Each symbol ``s`` has a start
price ``P0`` (BTC 95,000, ETH 3,300), an annual volatility ``σ_s`` (BTC 0.50, ETH 0.65), a loading ``ρ_s`` on
the market factor (0.9 for both, a return correlation near 0.8) and a mean daily volume ``V_s`` in coins
(BTC 20,000, ETH 300,000). ``x_t = ln(close_t / P0)``, ``x_{-1} = 0``; per-bar scale ``σ̄_s = σ_s·√(Δ / 365 d)``.

1. Regimes, shared by all symbols: a semi-Markov chain over ``RANGE``, ``TREND_UP``, ``TREND_DOWN``.
   A segment lasts ``D ~ Gamma(shape 2, mean m)`` days, clipped to [1, 40], with ``m`` = 12 (range),
   9 (up), 7 (down). The first segment is a range with probability 1/3. After a trend comes a range with
   probability 0.6, else another trend; after a range comes a trend. A trend goes up with probability
   ``1 / (1 + exp(C / 6))``, ``C`` the signed sum of strength × days of all earlier trends: the chain leans
   against its own accumulated drift, which keeps prices at a realistic scale over a year. A trend's
   strength ``g ~ U(0.25, 0.60)`` is in daily standard deviations per day (BTC: +0.7 % to +1.6 % a day).
2. Volatility: ``σ_t = σ̄_s · S_t · R_k · L_t · √h_t``.
   ``S_t`` (intraday and weekly seasonality) ``= (1 + 0.3 cos(2π (τ - 15 h) / 24 h)) · w / c``, ``τ`` the UTC
   time of day at the middle of the bar, ``w`` = 0.8 on Saturday and Sunday and 1 otherwise,
   ``c = √((1 + 0.3²/2)(5 + 2·0.8²) / 7)`` so that ``S²`` averages 1 over a week (peak 15:00, trough 03:00 UTC).
   ``R_k`` by regime: range 0.8, up 0.95, down 1.25.
   ``L_t`` (slow market volatility, common to all symbols) ``= exp(ℓ_t - 0.35²)``, ``ℓ`` a stationary AR(1)
   with half-life 3 days and standard deviation 0.35 (so ``E[L²] = 1``).
   ``h_t`` (fast clustering, per symbol) is GARCH(1,1):
   ``h_{t+1} = (1 - α - β) + α · min(e_t², 36 h_t) + β · h_t``, ``h_0 = 1``, with
   ``e_t = u_t / (σ̄_s S_t R_k L_t)`` the bar's shock in units of its non-GARCH scale, ``α = 0.06``,
   ``β = 0.93`` for 5-minute bars (other bar lengths raise ``α + β`` to the power ``Δ / 5 min`` and keep
   ``α / (α + β)``, so the half-life of about 5.7 hours holds). The cap at 6 "sigmas" stops one jump from
   blowing the variance up.
3. Shocks: ``u_t = σ_t z_t + J_t`` with ``z_t = ρ_s m_t + √(1 - ρ_s²) ε_{s,t}``; ``m`` (market) and ``ε``
   (idiosyncratic) are i.i.d. N(0, 1). Jumps ``J``: common jumps hit all symbols in the same bar with the same
   draw (rate 0.4 a day), idiosyncratic jumps hit one symbol (rate 0.2 a day); both rates × 1.5 in
   ``TREND_DOWN`` and × 0.7 in ``RANGE``. A bar has a jump with probability ``1 - exp(-λΔ)``; its size is
   ``3 · σ̄_s L_t · T``, ``T ~ Student-t(3)`` clipped to [-10, 10] (no seasonality: news keeps no trading
   hours). For BTC a typical jump is 0.5 %, the largest of a year several percent.
4. Drift: ``x_t = x_{t-1} + μ_t + u_t``; in a trend ``μ_t = ±g · σ_s / √365 / B``; in a range
   ``μ_t = -κ (x_{t-1} - A)`` (Ornstein-Uhlenbeck), ``A`` the log price when the range began, ``κ`` from a
   half-life of 8 hours.
5. Bars: ``open_t = close_{t-1}`` (no gaps; the first open is ``P0``), ``close_t = P0 · e^{x_t}``.
   The path inside a bar is ``K = Δ / 1 min`` sub-steps (at most 60) of a Brownian bridge from 0 to
   ``x_t - x_{t-1} - J_t`` with variance ``σ_t²``; a jump lands on one of the sub-step boundaries 1..K
   (uniform). High and low are the extremes of the exact bridge maximum and minimum drawn in each sub-step,
   ``(p + q ± √((q - p)² - 2 v ln U)) / 2`` for a sub-step from ``p`` to ``q`` with variance ``v``,
   ``U ~ U(0, 1)`` (each side drawn on its own). So the range widens with volatility and with jumps, not by a
   fixed factor.
6. Volume in coins: ``v_t = V_s · Δ / 1 d · W_t / mean(W)`` with
   ``W_t = (σ_t / σ̄_s) · (0.6 + 0.4 · min(|u_t| / σ_t, 8) / √(2/π)) · exp(0.35 ξ_t)``, ``ξ`` i.i.d. N(0, 1):
   volume follows the seasonality, the volatility state and the size of the bar's move (jumps draw volume).
7. Prices are rounded to a tick of 5 significant figures of ``P0`` (BTC 1, ETH 0.1), volumes to 0.0001 coin;
   low >= one tick, so prices stay strictly positive.
"""

from __future__ import annotations

import logging
import math
import zlib
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from stratlab.data._demo_kernels import ar1_nb, price_path_nb
from stratlab.data.candles import OHLCV_COLUMNS
from stratlab.data.dates import day_start_ms, format_day
from stratlab.data.store import MarketStore, check_name
from stratlab.data.timeframes import DAY_MS, HOUR_MS, MINUTE_MS, Timeframe, parse_timeframe
from stratlab.errors import ConfigError

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Int64Array = npt.NDArray[np.int64]
RegimeArray = npt.NDArray[np.int8]

DEMO_SOURCE = "demo"
DEMO_ORIGIN = "demo generator"
DEFAULT_SEED = 7
_DAYS_PER_YEAR = 365.0
_MAX_MONTHS = 120


class Regime(IntEnum):
    """The hidden market state of a bar (int8 codes in :attr:`DemoPaths.regime`)."""

    RANGE = 0
    TREND_UP = 1
    TREND_DOWN = 2


# Model parameters (the module docstring is their documentation; keep both in step).
_MEAN_DAYS = {Regime.RANGE: 12.0, Regime.TREND_UP: 9.0, Regime.TREND_DOWN: 7.0}
_MIN_DAYS, _MAX_DAYS = 1.0, 40.0
_DURATION_SHAPE = 2.0
_RANGE_AFTER_TREND = 0.6
_DIRECTION_LEAN = 6.0
_TREND_STRENGTH = (0.25, 0.60)
_REGIME_VOL = {Regime.RANGE: 0.8, Regime.TREND_UP: 0.95, Regime.TREND_DOWN: 1.25}
_REGIME_JUMP_RATE = {Regime.RANGE: 0.7, Regime.TREND_UP: 1.0, Regime.TREND_DOWN: 1.5}
_RANGE_HALF_LIFE_DAYS = 8.0 / 24.0
_SEASON_AMPLITUDE = 0.3
_SEASON_PEAK_HOUR = 15.0
_WEEKEND_VOL = 0.8
_SLOW_VOL_HALF_LIFE_DAYS = 3.0
_SLOW_VOL_SD = 0.35
_GARCH_ALPHA_5M = 0.06
_GARCH_BETA_5M = 0.93
_GARCH_SHOCK_CAP = 6.0
_COMMON_JUMPS_PER_DAY = 0.4
_OWN_JUMPS_PER_DAY = 0.2
_JUMP_SCALE = 3.0
_JUMP_TAIL_DOF = 3.0
_JUMP_TAIL_CAP = 10.0
_VOLUME_MOVE_WEIGHT = 0.4
_VOLUME_MOVE_CAP = 8.0
_VOLUME_NOISE_SD = 0.35
_VOLUME_DECIMALS = 4
_PRICE_SIGNIFICANT_DIGITS = 5
_MAX_SUBSTEPS = 60

# Random stream keys: one per shared component; a symbol's stream is (_STREAM_SYMBOL, crc32 of its name).
_STREAM_REGIMES = 1
_STREAM_MARKET = 2
_STREAM_SLOW_VOL = 3
_STREAM_COMMON_JUMPS = 4
_STREAM_SYMBOL = 5


def _require_number(
    field_name: str,
    value: float,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
) -> None:
    """A ``ConfigError`` naming ``field_name`` unless ``value`` is a finite number within the given bounds."""
    bounds: list[str] = []
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if above is not None:
        bounds.append(f"> {above:g}")
        ok = ok and value > above
    if at_least is not None:
        bounds.append(f">= {at_least:g}")
        ok = ok and value >= at_least
    if below is not None:
        bounds.append(f"< {below:g}")
        ok = ok and value < below
    if at_most is not None:
        bounds.append(f"<= {at_most:g}")
        ok = ok and value <= at_most
    if not ok:
        raise ConfigError(f"{field_name}: expected a finite number {' and '.join(bounds)}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class DemoSymbol:
    """One synthetic symbol: its start price and the scale of its moves and volume."""

    name: str
    start_price: float
    annual_vol: float
    market_loading: float
    daily_volume: float

    def __post_init__(self) -> None:
        check_name(self.name, "symbol")
        _require_number(f"start_price of {self.name}", self.start_price, above=0.0)
        _require_number(f"annual_vol of {self.name}", self.annual_vol, above=0.0, at_most=5.0)
        _require_number(f"market_loading of {self.name}", self.market_loading, at_least=0.0, below=1.0)
        _require_number(f"daily_volume of {self.name}", self.daily_volume, above=0.0)

    @property
    def tick(self) -> float:
        """Price step: 5 significant figures of the start price, as exchanges quote (BTC 1, ETH 0.1)."""
        return float(10.0 ** (math.floor(math.log10(self.start_price)) - (_PRICE_SIGNIFICANT_DIGITS - 1)))


DEFAULT_SYMBOLS: tuple[DemoSymbol, ...] = (
    DemoSymbol(name="BTC", start_price=95_000.0, annual_vol=0.50, market_loading=0.9, daily_volume=20_000.0),
    DemoSymbol(name="ETH", start_price=3_300.0, annual_vol=0.65, market_loading=0.9, daily_volume=300_000.0),
)


@dataclass(frozen=True, kw_only=True)
class DemoSpec:
    """What to generate. Defaults: seed 7, 12 months of 5m bars from 2025-01-01, BTC and ETH."""

    seed: int = DEFAULT_SEED
    start: str = "2025-01-01"
    months: int = 12
    timeframe: str = "5m"
    symbols: tuple[DemoSymbol, ...] = field(default=DEFAULT_SYMBOLS)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed: expected a non-negative integer, got {self.seed!r}")
        day_start_ms(self.start, "start")
        if isinstance(self.months, bool) or not isinstance(self.months, int) or not 1 <= self.months <= _MAX_MONTHS:
            raise ConfigError(f"months: expected an integer from 1 to {_MAX_MONTHS}, got {self.months!r}")
        tf = parse_timeframe(self.timeframe)
        if tf.fixed_ms is None or tf.fixed_ms >= DAY_MS:
            raise ConfigError(f"timeframe: {tf.name} has no intraday pattern to simulate; use a bar shorter than a day")
        if not isinstance(self.symbols, tuple) or not self.symbols:
            raise ConfigError("symbols: expected a non-empty tuple of DemoSymbol")
        for item in self.symbols:
            if not isinstance(item, DemoSymbol):
                raise ConfigError(f"symbols: {item!r} is not a DemoSymbol")
        names = [s.name for s in self.symbols]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"symbols: duplicate name(s) {', '.join(duplicates)}")

    @property
    def bar(self) -> Timeframe:
        return parse_timeframe(self.timeframe)

    @property
    def start_ms(self) -> int:
        return day_start_ms(self.start, "start")

    @property
    def end_ms(self) -> int:
        """Exclusive end: ``start`` plus ``months`` calendar months, 00:00 UTC."""
        end = pd.Timestamp(self.start, tz="UTC") + pd.DateOffset(months=self.months)
        return int(end.value // 1_000_000)

    def timestamps_ms(self) -> Int64Array:
        return self.bar.grid(self.start_ms, self.end_ms)


@dataclass(frozen=True, eq=False)
class DemoPaths:
    """The generated bars per symbol and the hidden regime of every bar (shared by all symbols)."""

    frames: dict[str, pd.DataFrame]
    timestamp_ms: Int64Array
    regime: RegimeArray


@dataclass(frozen=True)
class DemoSummary:
    """What ``write_demo_market`` wrote; ``str()`` is the one line the CLI prints."""

    root: Path
    symbols: tuple[str, ...]
    timeframe: str
    first_ms: int
    last_ms: int
    bars: int
    files: tuple[Path, ...]
    size_bytes: int

    def __str__(self) -> str:
        return (
            f"demo market: {', '.join(self.symbols)} · {self.timeframe} · {format_day(self.first_ms)} .. "
            f"{format_day(self.last_ms)} · {self.bars:,} bars · {_format_size(self.size_bytes)} in {self.root}"
        )


# public API ----------------------------------------------------------------------------------------------


def generate_demo_paths(spec: DemoSpec | None = None) -> DemoPaths:
    """Generate every symbol of ``spec`` (default: :class:`DemoSpec()`), with the hidden regime labels."""
    spec = spec if spec is not None else DemoSpec()
    bar_ms = spec.bar.approx_ms
    timestamps = spec.timestamps_ms()
    n = int(timestamps.size)
    bars_per_day = DAY_MS / bar_ms
    dt_years = bar_ms / DAY_MS / _DAYS_PER_YEAR

    regime, trend_strength, range_starts = _regime_chain(_rng(spec.seed, _STREAM_REGIMES), n, bars_per_day)
    regime_codes = regime.astype(np.intp)
    regime_vol = np.array([_REGIME_VOL[r] for r in Regime])[regime_codes]
    jump_rate = np.array([_REGIME_JUMP_RATE[r] for r in Regime])[regime_codes]
    slow_vol = _slow_vol(spec.seed, n, bars_per_day)
    market_scale = _seasonality(timestamps, bar_ms) * regime_vol * slow_vol

    market_shock = _rng(spec.seed, _STREAM_MARKET).standard_normal(n)
    common_jump_draw = _jump_draws(
        _rng(spec.seed, _STREAM_COMMON_JUMPS), n, _COMMON_JUMPS_PER_DAY * jump_rate, bars_per_day
    )

    count = len(spec.symbols)
    shocks = np.empty((count, n))
    jumps = np.empty((count, n))
    base_sigma = np.empty((count, n))
    trend_drift = np.empty((count, n))
    symbol_rngs = [_rng(spec.seed, _STREAM_SYMBOL, zlib.crc32(s.name.encode())) for s in spec.symbols]
    for i, (symbol, rng) in enumerate(zip(spec.symbols, symbol_rngs, strict=True)):
        own = rng.standard_normal(n)
        loading = symbol.market_loading
        shocks[i] = loading * market_shock + math.sqrt(1.0 - loading**2) * own
        base_sigma[i] = symbol.annual_vol * math.sqrt(dt_years) * market_scale
        own_jump_draw = _jump_draws(rng, n, _OWN_JUMPS_PER_DAY * jump_rate, bars_per_day)
        # Jumps follow the slow volatility level but not the time of day: news does not keep trading hours.
        jump_unit = _JUMP_SCALE * symbol.annual_vol * math.sqrt(dt_years) * slow_vol
        jumps[i] = jump_unit * (common_jump_draw + own_jump_draw)
        daily_sigma = symbol.annual_vol / math.sqrt(_DAYS_PER_YEAR)
        trend_drift[i] = trend_strength * daily_sigma / bars_per_day

    alpha, beta = _garch_params(bar_ms)
    kappa = math.log(2.0) / (_RANGE_HALF_LIFE_DAYS * bars_per_day)
    log_price, sigma, shock = price_path_nb(
        shocks,
        jumps,
        base_sigma,
        trend_drift,
        regime == Regime.RANGE,
        range_starts,
        kappa,
        alpha,
        beta,
        _GARCH_SHOCK_CAP,
    )

    substeps = int(min(max(bar_ms // MINUTE_MS, 1), _MAX_SUBSTEPS))
    frames: dict[str, pd.DataFrame] = {}
    for i, (symbol, rng) in enumerate(zip(spec.symbols, symbol_rngs, strict=True)):
        frames[symbol.name] = _bars(
            symbol, rng, timestamps, log_price[i], sigma[i], shock[i], jumps[i], substeps, bar_ms
        )
    return DemoPaths(frames=frames, timestamp_ms=timestamps, regime=regime)


def generate_demo_market(spec: DemoSpec | None = None) -> dict[str, pd.DataFrame]:
    """The bars of every symbol of ``spec``: columns ``timestamp_ms, open, high, low, close, volume``."""
    return generate_demo_paths(spec).frames


def write_demo_market(store: MarketStore, seed: int = DEFAULT_SEED) -> DemoSummary:
    """Generate the default demo market with ``seed`` and write it as source ``demo``.

    The store merges with "incoming wins", so writing again with the same seed rewrites identical files.
    """
    spec = DemoSpec(seed=seed)
    paths = generate_demo_paths(spec)
    written: list[Path] = []
    for name, frame in paths.frames.items():
        result = store.write_candles(DEMO_SOURCE, name, spec.timeframe, frame, origin=DEMO_ORIGIN)
        written.extend(result.files)
        log.info(
            "demo %s %s: %s bars %s .. %s, open %s, last close %s, %d month files",
            name,
            spec.timeframe,
            f"{len(frame):,}",
            format_day(int(frame["timestamp_ms"].iloc[0])),
            format_day(int(frame["timestamp_ms"].iloc[-1])),
            f"{frame['open'].iloc[0]:,.2f}",
            f"{frame['close'].iloc[-1]:,.2f}",
            len(result.files),
        )
    files = tuple(dict.fromkeys(written))
    return DemoSummary(
        root=store.root,
        symbols=tuple(paths.frames),
        timeframe=spec.timeframe,
        first_ms=int(paths.timestamp_ms[0]),
        last_ms=int(paths.timestamp_ms[-1]),
        bars=sum(len(f) for f in paths.frames.values()),
        files=files,
        size_bytes=sum(p.stat().st_size for p in files),
    )


# model components (vectorised) ---------------------------------------------------------------------------


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=stream))


def _regime_chain(rng: np.random.Generator, n: int, bars_per_day: float) -> tuple[RegimeArray, FloatArray, BoolArray]:
    """Per bar: the regime, the signed trend strength (0 in a range) and whether a range segment starts there."""
    regime = np.empty(n, dtype=np.int8)
    strength = np.zeros(n)
    range_starts = np.zeros(n, dtype=bool)
    leaning = 0.0  # signed strength x days of every trend so far
    state = Regime.RANGE if rng.random() < 1.0 / len(Regime) else _trend_direction(rng, leaning)
    start = 0
    while start < n:
        mean_days = _MEAN_DAYS[state]
        days = float(np.clip(rng.gamma(_DURATION_SHAPE, mean_days / _DURATION_SHAPE), _MIN_DAYS, _MAX_DAYS))
        stop = min(n, start + max(1, round(days * bars_per_day)))
        regime[start:stop] = state
        if state == Regime.RANGE:
            range_starts[start] = True
            state = _trend_direction(rng, leaning)
        else:
            sign = 1.0 if state == Regime.TREND_UP else -1.0
            trend = sign * rng.uniform(*_TREND_STRENGTH)
            strength[start:stop] = trend
            leaning += trend * (stop - start) / bars_per_day
            state = Regime.RANGE if rng.random() < _RANGE_AFTER_TREND else _trend_direction(rng, leaning)
        start = stop
    return regime, strength, range_starts


def _trend_direction(rng: np.random.Generator, leaning: float) -> Regime:
    p_up = 1.0 / (1.0 + math.exp(leaning / _DIRECTION_LEAN))
    return Regime.TREND_UP if rng.random() < p_up else Regime.TREND_DOWN


def _seasonality(timestamps_ms: Int64Array, bar_ms: int) -> FloatArray:
    """Volatility multiplier by UTC time of day and weekday, normalised so its square averages 1 over a week."""
    middle = timestamps_ms + bar_ms // 2
    hour = (middle % DAY_MS) / HOUR_MS
    weekday = (middle // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    daily = 1.0 + _SEASON_AMPLITUDE * np.cos(2.0 * np.pi * (hour - _SEASON_PEAK_HOUR) / 24.0)
    weekly = np.where(weekday >= 5, _WEEKEND_VOL, 1.0)
    norm = math.sqrt((1.0 + _SEASON_AMPLITUDE**2 / 2.0) * (5.0 + 2.0 * _WEEKEND_VOL**2) / 7.0)
    return np.asarray(daily * weekly / norm, dtype=np.float64)


def _slow_vol(seed: int, n: int, bars_per_day: float) -> FloatArray:
    phi = 0.5 ** (1.0 / (_SLOW_VOL_HALF_LIFE_DAYS * bars_per_day))
    level = ar1_nb(_rng(seed, _STREAM_SLOW_VOL).standard_normal(n), phi, _SLOW_VOL_SD)
    return np.asarray(np.exp(level - _SLOW_VOL_SD**2), dtype=np.float64)


def _jump_draws(rng: np.random.Generator, n: int, rate_per_day: FloatArray, bars_per_day: float) -> FloatArray:
    """Student-t jump sizes on the bars that have a jump, 0 elsewhere (all draws made, so streams stay aligned)."""
    happens = rng.random(n) < -np.expm1(-rate_per_day / bars_per_day)
    # Capped: an uncapped t(3) now and then draws a move no 5-minute bar of a large market has seen.
    size = np.clip(rng.standard_t(_JUMP_TAIL_DOF, n), -_JUMP_TAIL_CAP, _JUMP_TAIL_CAP)
    return np.where(happens, size, 0.0)


def _garch_params(bar_ms: int) -> tuple[float, float]:
    """Per-bar GARCH (a, b): the 5-minute values with the persistence rescaled to keep its half-life in hours."""
    persistence_5m = _GARCH_ALPHA_5M + _GARCH_BETA_5M
    persistence = persistence_5m ** (bar_ms / (5 * MINUTE_MS))
    alpha = _GARCH_ALPHA_5M * persistence / persistence_5m
    return alpha, persistence - alpha


def _bars(
    symbol: DemoSymbol,
    rng: np.random.Generator,
    timestamps: Int64Array,
    log_price: FloatArray,
    sigma: FloatArray,
    shock: FloatArray,
    jump: FloatArray,
    substeps: int,
    bar_ms: int,
) -> pd.DataFrame:
    """OHLCV of one symbol from its log-price path: intrabar Brownian bridges for high/low, volume from activity."""
    n = log_price.size
    previous = np.concatenate([[0.0], log_price[:-1]])
    move = log_price - previous
    diffusive_end = move - jump

    # Brownian bridge from 0 to the bar's diffusive move, sampled at the sub-step boundaries.
    steps = rng.standard_normal((n, substeps)) * (sigma / math.sqrt(substeps))[:, None]
    walk = np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1)
    fraction = np.arange(substeps + 1) / substeps
    bridge = walk + fraction[None, :] * (diffusive_end - walk[:, -1])[:, None]
    # The jump lands on boundary j in 1..K: sub-steps that start at or after j carry it.
    landing = rng.integers(1, substeps + 1, n)
    after_jump = np.arange(substeps)[None, :] >= landing[:, None]
    shift = np.where(after_jump, jump[:, None], 0.0)
    seg_start = bridge[:, :-1] + shift
    seg_end = bridge[:, 1:] + shift
    # Exact law of the maximum (minimum) of a Brownian bridge between two points with variance v.
    variance = (sigma**2 / substeps)[:, None]
    spread_up = np.sqrt((seg_end - seg_start) ** 2 - 2.0 * variance * np.log1p(-rng.random((n, substeps))))
    spread_down = np.sqrt((seg_end - seg_start) ** 2 - 2.0 * variance * np.log1p(-rng.random((n, substeps))))
    high_rel = np.maximum(((seg_start + seg_end + spread_up) / 2.0).max(axis=1), np.maximum(move, 0.0))
    low_rel = np.minimum(((seg_start + seg_end - spread_down) / 2.0).min(axis=1), np.minimum(move, 0.0))

    tick = symbol.tick
    close = np.maximum(np.round(symbol.start_price * np.exp(log_price) / tick) * tick, tick)
    open_ = np.concatenate([[max(round(symbol.start_price / tick) * tick, tick)], close[:-1]])
    high = np.round(symbol.start_price * np.exp(previous + high_rel) / tick) * tick
    low = np.round(symbol.start_price * np.exp(previous + low_rel) / tick) * tick
    high = np.maximum(high, np.maximum(open_, close))
    low = np.maximum(np.minimum(low, np.minimum(open_, close)), tick)

    activity = sigma / (symbol.annual_vol * math.sqrt(bar_ms / DAY_MS / _DAYS_PER_YEAR))
    move_size = np.minimum(np.abs(shock) / sigma, _VOLUME_MOVE_CAP) / math.sqrt(2.0 / math.pi)
    weight = (
        activity
        * (1.0 - _VOLUME_MOVE_WEIGHT + _VOLUME_MOVE_WEIGHT * move_size)
        * np.exp(_VOLUME_NOISE_SD * rng.standard_normal(n))
    )
    mean_volume = symbol.daily_volume * bar_ms / DAY_MS
    volume = np.round(mean_volume * weight / weight.mean(), _VOLUME_DECIMALS)

    frame = pd.DataFrame(
        {
            "timestamp_ms": timestamps.astype(np.int64),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        }
    )
    return frame[list(OHLCV_COLUMNS)]


def _format_size(size_bytes: int) -> str:
    if size_bytes >= 1_000_000:
        return f"{size_bytes / 1_000_000:.1f} MB"
    return f"{size_bytes / 1_000:.1f} kB"


__all__ = [
    "DEFAULT_SYMBOLS",
    "DEMO_SOURCE",
    "DemoPaths",
    "DemoSpec",
    "DemoSummary",
    "DemoSymbol",
    "Regime",
    "generate_demo_market",
    "generate_demo_paths",
    "write_demo_market",
]
