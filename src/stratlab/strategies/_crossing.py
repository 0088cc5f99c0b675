"""Event rules shared by the strategies: one series crossing another, and turning masks into int8 events.

A crossing is an event by construction: it needs the relation to be false on bar i-1 and true on bar i, so the
same crossing can never fire on two bars in a row. Comparisons with NaN are false, so a bar whose inputs (or whose
previous bar's inputs) are still in their warm-up never crosses.

Differences within ``TIE_TOLERANCE`` of the scale count as ties. Averages computed by running sums carry rounding
residue (around 1e-16 of their value): on a flat stretch of prices two averages, or a close and its zero-width
Bollinger band, "differ" by noise whose sign flips from bar to bar, and without a tolerance that noise would be
traded as a stream of crosses.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stratlab.strategies._kernels import cross_nb
from stratlab.strategies.base import LONG, SHORT, FloatArray, Int8Array

BoolArray = npt.NDArray[np.bool_]

TIE_TOLERANCE = 1e-9


def _as_float(values: FloatArray) -> FloatArray:
    return np.ascontiguousarray(values, dtype=np.float64)


def cross_above(a: FloatArray, b: FloatArray, scale: float | None = None) -> BoolArray:
    """True on bar i when ``a[i-1] <= b[i-1]`` and ``a[i] > b[i]`` (never on bar 0), ties within the tolerance.

    ``scale``: the magnitude the tolerance is relative to (100 for an oscillator in [0, 100]); by default the
    larger of ``|a|`` and ``|b|`` on each bar, which suits prices.
    """
    return cross_nb(_as_float(a), _as_float(b), _scale(scale), 1.0, TIE_TOLERANCE)


def cross_below(a: FloatArray, b: FloatArray, scale: float | None = None) -> BoolArray:
    """True on bar i when ``a[i-1] >= b[i-1]`` and ``a[i] < b[i]`` (never on bar 0), ties within the tolerance."""
    return cross_nb(_as_float(a), _as_float(b), _scale(scale), -1.0, TIE_TOLERANCE)


def below_level(values: FloatArray, level: float, scale: float) -> BoolArray:
    """True where ``values`` is below ``level`` by more than the tolerance: a value that is the level up to running-sum
    residue (a %K of exactly 16 computed as 16.0000000000004 or 15.9999999999999, depending on where the series
    started) is at the level, never on a side chosen by rounding."""
    return np.asarray(values < level - TIE_TOLERANCE * scale)


def above_level(values: FloatArray, level: float, scale: float) -> BoolArray:
    """True where ``values`` is above ``level`` by more than the tolerance (see :func:`below_level`)."""
    return np.asarray(values > level + TIE_TOLERANCE * scale)


def _scale(scale: float | None) -> float:
    if scale is not None and not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    return 0.0 if scale is None else float(scale)


def previous_bar(values: FloatArray) -> FloatArray:
    """``values`` shifted one bar later (NaN on bar 0): bar i sees what bar i-1 held."""
    out = np.full(values.shape, np.nan)
    out[1:] = values[:-1]
    return out


def to_events(long: BoolArray, short: BoolArray) -> Int8Array:
    """int8 events: +1 where only ``long`` holds, -1 where only ``short`` holds, else 0."""
    events = np.zeros(long.shape, dtype=np.int8)
    events[long & ~short] = LONG
    events[short & ~long] = SHORT
    return events
