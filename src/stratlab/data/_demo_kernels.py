"""Compiled sequential recursions of the demo market generator (see ``stratlab.data.demo`` for the model)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@njit(cache=True)
def ar1_nb(innovations: FloatArray, phi: float, stationary_sd: float) -> FloatArray:
    """Stationary Gaussian AR(1), ``y_t = φ y_{t-1} + √(1-φ²) sd ε_t``, started from its stationary law."""
    out = np.empty_like(innovations)
    if innovations.size == 0:
        return out
    scale = math.sqrt(1.0 - phi * phi) * stationary_sd
    out[0] = stationary_sd * innovations[0]
    for t in range(1, innovations.size):
        out[t] = phi * out[t - 1] + scale * innovations[t]
    return out


@njit(cache=True)
def price_path_nb(
    shocks: FloatArray,
    jumps: FloatArray,
    base_sigma: FloatArray,
    trend_drift: FloatArray,
    in_range: BoolArray,
    range_starts: BoolArray,
    kappa: float,
    alpha: float,
    beta: float,
    shock_cap: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Log price, conditional sigma and shock per (symbol, bar): GARCH(1,1) (Bollerslev 1986) on the shock in
    units of the non-GARCH scale, with the squared shock capped at ``shock_cap² h``; drift is the trend's, or an
    Ornstein-Uhlenbeck pull towards the log price where the current range began."""
    count, n = shocks.shape
    log_price = np.empty((count, n))
    sigma = np.empty((count, n))
    shock = np.empty((count, n))
    omega = 1.0 - alpha - beta
    cap2 = shock_cap * shock_cap
    for s in range(count):
        h = 1.0
        x = 0.0
        anchor = 0.0
        for t in range(n):
            if range_starts[t]:
                anchor = x
            sig = base_sigma[s, t] * math.sqrt(h)
            u = sig * shocks[s, t] + jumps[s, t]
            drift = trend_drift[s, t]
            if in_range[t]:
                drift -= kappa * (x - anchor)
            x += drift + u
            log_price[s, t] = x
            sigma[s, t] = sig
            shock[s, t] = u
            e = u / base_sigma[s, t]
            h = omega + alpha * min(e * e, cap2 * h) + beta * h
    return log_price, sigma, shock


__all__ = ["ar1_nb", "price_path_nb"]
