"""Is the best of many configurations better than a benchmark, once the search over all of them is accounted for?

Hansen's test of Superior Predictive Ability (SPA, 2005) and White's Reality Check (2000), both from
``arch.bootstrap.SPA`` with a stationary bootstrap (Politis & Romano 1994). Inputs are per-period returns (e.g. daily)
of every configuration tried, one column each, and the benchmark's returns on the same periods; a return is a negative
loss. The null hypothesis is "no configuration beats the benchmark"; a small p-value says the best one does, even
after the search. ``arch`` reports three p-values: "consistent" is Hansen's SPA, "upper" (every configuration
re-centred, the least favourable case) is White's Reality Check.

Configurations whose returns differ from the benchmark by a constant (e.g. trials that never traded, against a
zero benchmark) carry no information and would divide by a zero variance in the studentised statistic: they are left
out, as are exact duplicate columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stratlab.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
DEFAULT_REPS = 1000
MIN_PERIODS = 10
SAME_RETURN_TOLERANCE = 1e-12  # per-period returns closer than this differ by arithmetic round-off, not information


@dataclass(frozen=True)
class RealityCheckResult:
    """The p-values of the best configuration against one benchmark, and how many configurations were tested."""

    spa_pvalue: float  # Hansen's consistent p-value
    reality_check_pvalue: float  # White's (the "upper" p-value)
    n_models: int  # configurations with information (see the module notes)
    n_periods: int
    block_size: int


def default_block_size(n_periods: int) -> int:
    """The mean block length of the stationary bootstrap: √T (arch's own default), at least 1."""
    return max(1, round(math.sqrt(n_periods)))


def informative_columns(differences: FloatArray) -> npt.NDArray[np.intp]:
    """Indices of the columns of loss differences that vary, without exact duplicates (first one kept)."""
    varies = np.flatnonzero(np.ptp(differences, axis=0) > SAME_RETURN_TOLERANCE)
    if varies.size == 0:
        return varies
    _, first = np.unique(differences[:, varies].T, axis=0, return_index=True)
    return np.asarray(varies[np.sort(first)], dtype=np.intp)


def superior_predictive_ability(
    returns: npt.ArrayLike,
    benchmark: npt.ArrayLike,
    *,
    reps: int = DEFAULT_REPS,
    block_size: int | None = None,
    seed: int = 0,
) -> RealityCheckResult | None:
    """SPA and Reality Check p-values of the best column of ``returns`` (T×N) against ``benchmark`` (T); None when
    no column varies against the benchmark (nothing to test). Fewer than ``MIN_PERIODS`` rows is a ``ConfigError``."""
    matrix = np.asarray(returns, dtype=np.float64)
    base = np.asarray(benchmark, dtype=np.float64)
    if matrix.ndim != 2 or base.ndim != 1 or matrix.shape[0] != base.size:
        raise ConfigError(f"reality check: returns must be T×N and the benchmark T long, got {matrix.shape} and "
                          f"{base.shape}")  # fmt: skip
    if matrix.shape[0] < MIN_PERIODS:
        raise ConfigError(f"reality check: needs at least {MIN_PERIODS} periods, got {matrix.shape[0]}")
    if not (np.isfinite(matrix).all() and np.isfinite(base).all()):
        raise ConfigError("reality check: returns and benchmark must be finite")
    keep = informative_columns(matrix - base[:, None])
    if keep.size == 0:
        return None
    block = block_size or default_block_size(matrix.shape[0])
    # Imported here: arch pulls in scipy.stats and matplotlib (1.7 s), which every reader of a run (the UI, the CLI's
    # other commands) would otherwise pay for a test only the report runs.
    from arch.bootstrap import SPA

    test = SPA(-base, -matrix[:, keep], block_size=block, reps=reps, bootstrap="stationary", seed=seed)
    test.compute()
    pvalues = test.pvalues
    return RealityCheckResult(
        spa_pvalue=float(pvalues["consistent"]),
        reality_check_pvalue=float(pvalues["upper"]),
        n_models=int(keep.size),
        n_periods=int(matrix.shape[0]),
        block_size=block,
    )


__all__ = ["RealityCheckResult", "default_block_size", "informative_columns", "superior_predictive_ability"]
