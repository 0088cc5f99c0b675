"""``rsi_reversion``: RSI leaving an oversold or overbought zone."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from stratlab.data.candles import Candles
from stratlab.indicators import rsi, wilder_memory
from stratlab.strategies._crossing import to_events
from stratlab.strategies.base import DIRECTION, Constraint, Int8Array, IntParam, ParamSpace, Strategy, get_int
from stratlab.strategies.registry import register


@register
class RsiReversion(Strategy):
    """Mean reversion on the RSI.

    ``r = RSI(close, period)``. On bar i: +1 when ``r[i-1] < lower <= r[i]`` (RSI climbs back out of the oversold
    zone), -1 when ``r[i-1] > upper >= r[i]`` (RSI falls back out of the overbought zone). RSI must be defined on
    bars i-1 and i.
    """

    name = "rsi_reversion"
    summary = "RSI climbs back above the oversold level -> long, falls back below the overbought level -> short"
    space = ParamSpace(
        params=(
            IntParam(name="period", low=2, high=50, default=14, description="RSI period, bars"),
            IntParam(name="lower", low=5, high=45, default=30, description="oversold level"),
            IntParam(name="upper", low=55, high=95, default=70, description="overbought level"),
            DIRECTION,
        ),
        constraints=(Constraint("lower", "<", "upper"),),
    )

    def events(self, candles: Candles, params: Mapping[str, object]) -> Int8Array:
        r = rsi(candles.close, get_int(params, "period"))
        lower, upper = get_int(params, "lower"), get_int(params, "upper")
        long = np.zeros(r.shape, dtype=np.bool_)
        short = np.zeros(r.shape, dtype=np.bool_)
        long[1:] = (r[:-1] < lower) & (r[1:] >= lower)
        short[1:] = (r[:-1] > upper) & (r[1:] <= upper)
        return to_events(long, short)

    def warmup(self, params: Mapping[str, object]) -> int:
        # RSI needs `period` price changes, so it is first defined on bar `period`; the event needs the bar before.
        return get_int(params, "period") + 1

    def memory(self, params: Mapping[str, object]) -> int:
        # RSI averages gains and losses with Wilder's smoothing, which remembers its start.
        return wilder_memory(get_int(params, "period")) + 1
