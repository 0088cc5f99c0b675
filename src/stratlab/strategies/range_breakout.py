"""``range_breakout``: the close breaking out of the previous bars' high-low range, with ATR stops."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from stratlab.data.candles import Candles
from stratlab.indicators import atr, donchian, wilder_memory
from stratlab.strategies._crossing import cross_above, cross_below, previous_bar, to_events
from stratlab.strategies.base import (
    DIRECTION,
    FloatArray,
    FloatParam,
    Int8Array,
    IntParam,
    ParamSpace,
    StopDistances,
    Strategy,
    get_float,
    get_int,
)
from stratlab.strategies.registry import register


@register
class RangeBreakout(Strategy):
    """Donchian channel breakout with stop distances in ATR multiples.

    ``hh[i]`` = highest high and ``ll[i]`` = lowest low of the ``lookback`` bars before bar i (bar i excluded: the
    Donchian channel shifted by one bar). On bar i: +1 when ``close[i-1] <= hh[i-1]`` and ``close[i] > hh[i]``
    (the first close above the range), -1 when ``close[i-1] >= ll[i-1]`` and ``close[i] < ll[i]`` (the first close
    below it). ``hh`` and ``ll`` must be defined on bars i-1 and i; while a stop side is enabled, ATR must be defined
    on bar i too, so that every event carries its stop distances. Differences within 1e-9 of the price count as ties.

    Stops: take-profit distance ``target_atr × ATR(atr_period)[i]`` and stop-loss distance
    ``stop_atr × ATR(atr_period)[i]``; a multiple of 0 disables that side (NaN).
    """

    name = "range_breakout"
    summary = "close breaks above the previous bars' highest high -> long, below their lowest low -> short; ATR stops"
    space = ParamSpace(
        params=(
            IntParam(name="lookback", low=10, high=500, log=True, default=50, description="range length, bars"),
            IntParam(name="atr_period", low=5, high=100, default=14, description="ATR period for the stops, bars"),
            FloatParam(
                name="stop_atr", low=0.0, high=10.0, step=0.25, default=2.0, description="stop-loss, ATRs (0: none)"
            ),
            FloatParam(
                name="target_atr", low=0.0, high=20.0, step=0.25, default=4.0, description="take-profit, ATRs (0: none)"
            ),
            DIRECTION,
        ),
    )

    def events(self, candles: Candles, params: Mapping[str, object]) -> Int8Array:
        upper, lower, _ = donchian(candles.high, candles.low, get_int(params, "lookback"))
        highest, lowest = previous_bar(upper), previous_bar(lower)
        close = candles.close
        long = cross_above(close, highest)
        short = cross_below(close, lowest)
        if self._has_stops(params):
            ready = ~np.isnan(atr(candles.high, candles.low, close, get_int(params, "atr_period")))
            long &= ready
            short &= ready
        return to_events(long, short)

    def warmup(self, params: Mapping[str, object]) -> int:
        # The shifted channel is first defined on bar `lookback`, and the break needs the bar before it.
        bars = get_int(params, "lookback") + 1
        if self._has_stops(params):
            # ATR is first defined on bar atr_period (its first true range needs a previous close).
            bars = max(bars, get_int(params, "atr_period"))
        return bars

    def memory(self, params: Mapping[str, object]) -> int:
        # The channel forgets after its window; the stops' ATR is Wilder's average, which remembers longer.
        if self._has_stops(params):
            return max(self.warmup(params), wilder_memory(get_int(params, "atr_period")) + 1)
        return self.warmup(params)

    def stop_distances(self, candles: Candles, params: Mapping[str, object]) -> StopDistances:
        average_range = atr(candles.high, candles.low, candles.close, get_int(params, "atr_period"))
        # A zero ATR (a flat stretch) is no distance: it would put the level on the entry price.
        average_range = np.where(average_range > 0.0, average_range, np.nan)
        return StopDistances(
            take_profit=_distance(average_range, get_float(params, "target_atr")),
            stop_loss=_distance(average_range, get_float(params, "stop_atr")),
        )

    @staticmethod
    def _has_stops(params: Mapping[str, object]) -> bool:
        return get_float(params, "stop_atr") > 0.0 or get_float(params, "target_atr") > 0.0


def _distance(average_range: FloatArray, multiple: float) -> FloatArray:
    if multiple <= 0.0:
        return np.full(average_range.shape, np.nan)
    return np.asarray(multiple * average_range, dtype=np.float64)
