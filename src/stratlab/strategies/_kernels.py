"""Compiled event rules (see ``stratlab.strategies._crossing`` for the Python API and the rules' meaning)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@njit(cache=True)
def cross_nb(a: FloatArray, b: FloatArray, scale: float, sign: float, tolerance: float) -> BoolArray:
    """With ``d = sign * (a - b)``: True on bar i when ``d[i-1] <= tol[i-1]`` and ``d[i] > tol[i]``, where
    ``tol = tolerance * scale`` or, for ``scale <= 0``, ``tolerance * max(|a|, |b|)`` per bar. ``sign`` +1 gives
    ``a`` crossing above ``b``, -1 crossing below. One pass without temporaries; a NaN fails every comparison."""
    n = a.size
    out = np.zeros(n, dtype=np.bool_)
    was_not_beyond = False
    for i in range(n):
        ai = a[i]
        bi = b[i]
        size = scale if scale > 0.0 else max(abs(ai), abs(bi))
        tol = tolerance * size
        d = sign * (ai - bi)
        out[i] = i > 0 and was_not_beyond and d > tol
        was_not_beyond = d <= tol
    return out
