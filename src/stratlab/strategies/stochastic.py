"""``stochastic``: %K crossing %D inside the oversold or overbought zone."""

from __future__ import annotations

from collections.abc import Mapping

from stratlab.data.candles import Candles
from stratlab.indicators import stochastic as stochastic_oscillator
from stratlab.strategies._crossing import above_level, below_level, cross_above, cross_below, to_events
from stratlab.strategies.base import DIRECTION, Constraint, Int8Array, IntParam, ParamSpace, Strategy, get_int
from stratlab.strategies.registry import register


@register
class StochasticCross(Strategy):
    """Stochastic oscillator crossover in the extreme zones.

    ``k, d = Stochastic(high, low, close, k_period, d_period, smooth_k)``: the raw %K over ``k_period`` bars,
    smoothed by an SMA of ``smooth_k`` bars, and %D its SMA over ``d_period`` bars. On bar i: +1 when
    ``k[i-1] <= d[i-1]`` and ``k[i] > d[i]`` (%K crosses above %D) and ``k[i] < oversold``; -1 when
    ``k[i-1] >= d[i-1]`` and ``k[i] < d[i]`` (%K crosses below %D) and ``k[i] > overbought``. %K and %D must be
    defined on bars i-1 and i. Differences within 1e-7 (1e-9 of the 0..100 scale) count as ties, so the rounding
    residue of a %K and %D pinned at 100 is not a cross, and a %K at a level up to rounding is on neither side.
    """

    name = "stochastic"
    summary = "%K crosses above %D below the oversold level -> long, below %D above the overbought level -> short"
    space = ParamSpace(
        params=(
            IntParam(name="k_period", low=5, high=100, log=True, default=14, description="%K look-back, bars"),
            IntParam(name="d_period", low=2, high=10, default=3, description="%D smoothing of %K, bars"),
            IntParam(name="smooth_k", low=1, high=10, default=3, description="smoothing of the raw %K, bars"),
            IntParam(name="oversold", low=5, high=40, default=20, description="long crosses must happen below this"),
            IntParam(
                name="overbought", low=60, high=95, default=80, description="short crosses must happen above this"
            ),
            DIRECTION,
        ),
        constraints=(Constraint("oversold", "<", "overbought"),),
    )

    def events(self, candles: Candles, params: Mapping[str, object]) -> Int8Array:
        k, d = stochastic_oscillator(
            candles.high,
            candles.low,
            candles.close,
            k_period=get_int(params, "k_period"),
            d_period=get_int(params, "d_period"),
            smooth_k=get_int(params, "smooth_k"),
        )
        long = cross_above(k, d, scale=100.0) & below_level(k, get_int(params, "oversold"), scale=100.0)
        short = cross_below(k, d, scale=100.0) & above_level(k, get_int(params, "overbought"), scale=100.0)
        return to_events(long, short)

    def warmup(self, params: Mapping[str, object]) -> int:
        # Each stage is an SMA over the previous one's output: raw %K first defined on bar k_period-1, smoothed %K
        # smooth_k-1 bars later, %D d_period-1 bars after that; the cross needs the bar before as well.
        return get_int(params, "k_period") + get_int(params, "smooth_k") + get_int(params, "d_period") - 2
