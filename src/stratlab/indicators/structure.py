"""Market structure: swing highs and lows (fractals) and the support and resistance levels they leave.

A swing is only known once the ``k`` bars after it have closed, so every output here sits on the bar that
confirms it (``p + k`` for a swing at ``p``), never on the swing's own bar: reading bar ``i`` is always causal.
Conventions (NaN warm-up, gaps restart, ``ConfigError`` naming the argument) as in ``core``.
"""

from __future__ import annotations

import numpy.typing as npt

from stratlab.indicators import _kernels as nb
from stratlab.indicators.cache import memoized
from stratlab.indicators.core import FloatArray, _period, _series


def swing_warmup(k: int) -> int:
    """First bar that can hold a confirmed swing on a series without gaps: ``2 k`` (``k`` bars before the
    earliest possible swing at bar ``k``, ``k`` after it)."""
    return 2 * _period(k, "k")


@memoized
def confirmed_swings(high: npt.ArrayLike, low: npt.ArrayLike, k: int) -> tuple[FloatArray, FloatArray]:
    """``(last_swing_high, last_swing_low)``: per bar, the price of the latest swing high / low confirmed at or
    before it, NaN before the first.

    A swing high at bar ``p``: ``high[p]`` strictly above each of the ``k`` highs before it and at least each of the
    ``k`` highs after it (on a flat top of equal highs, the first bar is the swing); confirmed on bar ``p + k``.
    Swing lows mirror it with lows (strictly below the ``k`` before, at most the ``k`` after). Warm-up:
    ``swing_warmup(k)`` bars at least.
    """
    kk = _period(k, "k")
    h, lo = _series(high=high, low=low)
    return nb.last_swings_nb(h, lo, kk)


@memoized
def support_resistance(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, k: int, memory: int
) -> tuple[FloatArray, FloatArray]:
    """``(support, resistance)``: per bar ``i``, among the last ``memory`` swing levels confirmed at or before ``i``
    (swing highs and swing lows alike, as :func:`confirmed_swings` defines them), support is the highest level
    strictly below ``close[i]`` and resistance the lowest strictly above it; NaN when there is none. A level equal
    to the close is neither. Swings confirmed on the same bar enter high first. O(n ``memory``).
    """
    kk = _period(k, "k")
    m = _period(memory, "memory")
    h, lo, c = _series(high=high, low=low, close=close)
    return nb.support_resistance_nb(h, lo, c, kk, m)


__all__ = ["confirmed_swings", "support_resistance", "swing_warmup"]
