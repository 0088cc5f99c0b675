"""``ma_cross``: a fast moving average crossing a slow one."""

from __future__ import annotations

from collections.abc import Mapping

from stratlab.data.candles import Candles
from stratlab.indicators import ema, ema_memory, sma
from stratlab.strategies._crossing import cross_above, cross_below, to_events
from stratlab.strategies.base import (
    DIRECTION,
    CategoricalParam,
    Constraint,
    Int8Array,
    IntParam,
    ParamSpace,
    Strategy,
    get_int,
    get_str,
)
from stratlab.strategies.registry import register


@register
class MaCross(Strategy):
    """Moving-average crossover.

    ``fast = MA(close, fast)`` and ``slow = MA(close, slow)``, MA the simple or exponential average (``ma_type``).
    On bar i: +1 when ``fast[i-1] <= slow[i-1]`` and ``fast[i] > slow[i]`` (fast crosses above slow), -1 when
    ``fast[i-1] >= slow[i-1]`` and ``fast[i] < slow[i]`` (fast crosses below slow). Both averages must be defined on
    bars i-1 and i. Differences within 1e-9 of the price count as ties (rounding residue is not a cross).
    """

    name = "ma_cross"
    summary = "fast moving average crosses the slow one: above -> long, below -> short"
    space = ParamSpace(
        params=(
            IntParam(name="fast", low=5, high=100, log=True, default=20, description="fast average period, bars"),
            IntParam(name="slow", low=20, high=400, log=True, default=100, description="slow average period, bars"),
            CategoricalParam(name="ma_type", choices=("sma", "ema"), default="ema", description="kind of average"),
            DIRECTION,
        ),
        constraints=(Constraint("fast", "<", "slow"),),
    )

    def events(self, candles: Candles, params: Mapping[str, object]) -> Int8Array:
        average = sma if get_str(params, "ma_type") == "sma" else ema
        fast = average(candles.close, get_int(params, "fast"))
        slow = average(candles.close, get_int(params, "slow"))
        return to_events(cross_above(fast, slow), cross_below(fast, slow))

    def warmup(self, params: Mapping[str, object]) -> int:
        # The slow average is first defined on bar slow-1; a cross also needs the bar before it.
        return get_int(params, "slow")

    def memory(self, params: Mapping[str, object]) -> int:
        # An EMA remembers its seed; an SMA forgets it after its window (the warm-up).
        if get_str(params, "ma_type") == "ema":
            return ema_memory(get_int(params, "slow")) + 1
        return self.warmup(params)
