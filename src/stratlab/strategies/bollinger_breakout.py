"""``bollinger_breakout``: the close leaving its Bollinger bands."""

from __future__ import annotations

from collections.abc import Mapping

from stratlab.data.candles import Candles
from stratlab.indicators import bollinger
from stratlab.strategies._crossing import cross_above, cross_below, to_events
from stratlab.strategies.base import (
    DIRECTION,
    FloatParam,
    Int8Array,
    IntParam,
    ParamSpace,
    Strategy,
    get_float,
    get_int,
)
from stratlab.strategies.registry import register


@register
class BollingerBreakout(Strategy):
    """Volatility breakout on Bollinger bands.

    ``middle, upper, lower = Bollinger(close, period, num_std)`` (SMA ± num_std standard deviations). On bar i: +1
    when ``close[i-1] <= upper[i-1]`` and ``close[i] > upper[i]`` (close crosses above the upper band), -1 when
    ``close[i-1] >= lower[i-1]`` and ``close[i] < lower[i]`` (close crosses below the lower band). The bands must be
    defined on bars i-1 and i. Differences within 1e-9 of the price count as ties (rounding residue is not a cross).
    """

    name = "bollinger_breakout"
    summary = "close crosses above the upper Bollinger band -> long, below the lower band -> short"
    space = ParamSpace(
        params=(
            IntParam(name="period", low=10, high=200, log=True, default=20, description="band period, bars"),
            FloatParam(
                name="num_std", low=1.0, high=4.0, step=0.1, default=2.0, description="band width, standard deviations"
            ),
            DIRECTION,
        ),
    )

    def events(self, candles: Candles, params: Mapping[str, object]) -> Int8Array:
        close = candles.close
        _, upper, lower = bollinger(close, get_int(params, "period"), get_float(params, "num_std"))
        return to_events(cross_above(close, upper), cross_below(close, lower))

    def warmup(self, params: Mapping[str, object]) -> int:
        # The bands are first defined on bar period-1; a cross also needs the bar before it.
        return get_int(params, "period")
