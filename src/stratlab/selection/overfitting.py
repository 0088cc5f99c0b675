"""How much of a champion is luck: the Probabilistic and Deflated Sharpe Ratio and the Probability of Backtest
Overfitting by combinatorially symmetric cross-validation.

Conventions (every function here works on per-period returns, e.g. daily, never annualised):

- Sharpe ratio: mean / sample standard deviation (ddof 1) of the returns, per period. A series with no variance has
  no Sharpe ratio (``None``).
- Skewness and kurtosis: the moment estimators (population, ``bias=True`` in scipy's terms), kurtosis *not* excess
  (3 for a normal law), as in Bailey & López de Prado's formula.
- PSR (Bailey & López de Prado, "The Sharpe ratio efficient frontier", 2012): the probability that the true Sharpe
  ratio exceeds a benchmark ``SR*`` given the estimate, the sample length and the shape of the returns:
  ``Φ((SR − SR*)·√(T − 1) / √(1 − γ3·SR + (γ4 − 1)/4·SR²))``.
- DSR (Bailey & López de Prado, "The deflated Sharpe ratio", 2014): the PSR against the Sharpe ratio the best of N
  trials would show by luck alone, ``SR* = √V·((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)))``, with V the variance of
  the trials' Sharpe ratios and γ the Euler-Mascheroni constant. N is the number of trials actually run (no
  clustering into "effective" trials: correlated trials make this conservative).
- PBO (Bailey, Borwein, López de Prado, Zhu, "The probability of backtest overfitting", 2015): the T×N matrix of
  trial returns is cut into S row blocks; for every choice of S/2 blocks as in-sample (the rest out-of-sample) the
  best in-sample trial's out-of-sample rank ω gives a logit λ = ln(ω/(1 − ω)); PBO is the share of λ ≤ 0 (the
  in-sample winner below the out-of-sample median).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from stratlab.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
EULER_GAMMA = 0.5772156649015329
DEFAULT_CSCV_BLOCKS = 16
# The standard normal law from the standard library: scipy.stats would add a second to every process that imports a
# run's settings (the CLI, each worker), for two functions.
_NORMAL = NormalDist()


def _moment(values: FloatArray, order: int) -> float:
    """The central moment of ``order`` (population: divided by n, scipy's ``bias=True``)."""
    return float(np.mean((values - values.mean()) ** order))


def sharpe_ratio(returns: npt.ArrayLike) -> float | None:
    """Per-period Sharpe ratio (mean / sample std); None without at least two returns or without variance."""
    values = np.asarray(returns, dtype=np.float64)
    if values.size < 2:
        return None
    std = float(values.std(ddof=1))
    return float(values.mean()) / std if std > 0 else None


@dataclass(frozen=True)
class SharpeShape:
    """What the PSR needs of a return series: its Sharpe ratio, length, skewness and (non-excess) kurtosis."""

    sharpe: float
    n_obs: int
    skewness: float
    kurtosis: float

    @classmethod
    def of(cls, returns: npt.ArrayLike) -> SharpeShape | None:
        values = np.asarray(returns, dtype=np.float64)
        sharpe = sharpe_ratio(values)
        if sharpe is None:
            return None
        return cls(
            sharpe=sharpe,
            n_obs=int(values.size),
            skewness=_moment(values, 3) / _moment(values, 2) ** 1.5,
            kurtosis=_moment(values, 4) / _moment(values, 2) ** 2,
        )


def probabilistic_sharpe_ratio(shape: SharpeShape, benchmark_sharpe: float = 0.0) -> float:
    """P(true Sharpe > ``benchmark_sharpe``) given the estimate's shape; both Sharpe ratios per period."""
    if shape.n_obs < 2:
        raise ConfigError(f"PSR: needs at least 2 returns, got {shape.n_obs}")
    variance = 1.0 - shape.skewness * shape.sharpe + (shape.kurtosis - 1.0) / 4.0 * shape.sharpe**2
    if variance <= 0:
        # The formula's denominator is an approximation that fails for extreme shapes: say so rather than guess.
        raise ConfigError(
            f"PSR: the returns' shape (Sharpe {shape.sharpe:.4g}, skewness {shape.skewness:.4g}, kurtosis "
            f"{shape.kurtosis:.4g}) leaves no variance for the estimate"
        )
    z = (shape.sharpe - benchmark_sharpe) * math.sqrt(shape.n_obs - 1) / math.sqrt(variance)
    return _NORMAL.cdf(z)


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """The Sharpe ratio the best of ``n_trials`` independent trials with no skill is expected to show."""
    if n_trials < 2:
        raise ConfigError(f"DSR: needs at least 2 trials to deflate, got {n_trials}")
    if sharpe_variance < 0:
        raise ConfigError(f"DSR: the variance of the trials' Sharpe ratios cannot be negative, got {sharpe_variance}")
    spread = (1.0 - EULER_GAMMA) * _NORMAL.inv_cdf(1.0 - 1.0 / n_trials) + EULER_GAMMA * _NORMAL.inv_cdf(
        1.0 - 1.0 / (n_trials * math.e)
    )
    return math.sqrt(sharpe_variance) * float(spread)


def deflated_sharpe_ratio(shape: SharpeShape, n_trials: int, sharpe_variance: float) -> float:
    """The PSR of the chosen trial against the best Sharpe ratio luck alone would give among ``n_trials``."""
    return probabilistic_sharpe_ratio(shape, expected_max_sharpe(n_trials, sharpe_variance))


@dataclass(frozen=True)
class CscvResult:
    """PBO by CSCV: the share of splits where the in-sample winner falls to or below the out-of-sample median, the
    logits behind it, the slope of out-of-sample on in-sample performance of the winners (degradation), and the share
    of splits where the winner loses out of sample."""

    pbo: float
    logits: FloatArray
    degradation_slope: float
    probability_of_loss: float
    n_splits: int


@dataclass(frozen=True)
class _BlockSums:
    """Per row block: its row count, and the sum and sum of squares of every column, so that the Sharpe ratios of
    any union of blocks cost O(blocks × trials) instead of a pass over the rows (12,870 unions for S = 16)."""

    rows: FloatArray
    sums: FloatArray
    squares: FloatArray

    @classmethod
    def of(cls, matrix: FloatArray, blocks: int) -> _BlockSums:
        parts = np.array_split(np.arange(matrix.shape[0]), blocks)
        return cls(
            rows=np.array([len(p) for p in parts], dtype=np.float64),
            sums=np.stack([matrix[p].sum(axis=0) for p in parts]),
            squares=np.stack([(matrix[p] ** 2).sum(axis=0) for p in parts]),
        )

    def sharpes(self, chosen: FloatArray) -> FloatArray:
        """Per-period Sharpe ratio of every column over each row of ``chosen`` (splits × blocks, 1 where a block is
        taken): splits × trials; a column without variance ranks -inf."""
        n = (chosen @ self.rows)[:, None]
        mean = (chosen @ self.sums) / n
        variance = ((chosen @ self.squares) - n * mean**2) / (n - 1.0)
        positive = variance > 1e-300
        return np.where(positive, mean / np.sqrt(np.where(positive, variance, 1.0)), -np.inf)


# Splits evaluated together: their Sharpe ratios are two splits × trials arrays (about 40 MB for 5,000 trials).
_SPLITS_PER_CHUNK = 512


def _winners_out_of_sample(sums: _BlockSums, chosen: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """For each split (a row of ``chosen``): the in-sample winner's relative out-of-sample rank ω in (0, 1), its
    in-sample and its out-of-sample Sharpe ratio. The winner is the first trial with the best in-sample Sharpe
    ratio; ties out of sample share their average rank (scipy's ``rankdata`` "average", for the winner alone)."""
    sharpe_in = sums.sharpes(chosen)
    sharpe_out = sums.sharpes(1.0 - chosen)
    rows = np.arange(chosen.shape[0])
    winner = np.argmax(sharpe_in, axis=1)
    value = sharpe_out[rows, winner][:, None]
    rank = np.count_nonzero(sharpe_out < value, axis=1) + (np.count_nonzero(sharpe_out == value, axis=1) + 1.0) / 2
    omega = rank / (sharpe_in.shape[1] + 1)
    return omega, sharpe_in[rows, winner], value[:, 0]


def probability_of_backtest_overfitting(returns: npt.ArrayLike, blocks: int = DEFAULT_CSCV_BLOCKS) -> CscvResult:
    """PBO of choosing the best column of ``returns`` (T rows of per-period returns × N trials) by Sharpe ratio."""
    matrix = np.asarray(returns, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise ConfigError(f"PBO: needs a matrix of returns with at least 2 trials, got shape {matrix.shape}")
    if blocks < 2 or blocks % 2:
        raise ConfigError(f"PBO: the number of blocks S must be even and at least 2, got {blocks}")
    if matrix.shape[0] < 2 * blocks:
        raise ConfigError(f"PBO: {matrix.shape[0]} rows cannot make {blocks} blocks of at least 2 returns")
    if not np.isfinite(matrix).all():
        raise ConfigError("PBO: the matrix of returns holds NaN or inf")
    sums = _BlockSums.of(matrix, blocks)
    splits = np.zeros((math.comb(blocks, blocks // 2), blocks))
    for index, chosen in enumerate(itertools.combinations(range(blocks), blocks // 2)):
        splits[index, list(chosen)] = 1.0
    outcomes = [
        _winners_out_of_sample(sums, splits[first : first + _SPLITS_PER_CHUNK])
        for first in range(0, splits.shape[0], _SPLITS_PER_CHUNK)
    ]
    omega = np.concatenate([o[0] for o in outcomes])
    inside_best = np.concatenate([o[1] for o in outcomes])
    outside_best = np.concatenate([o[2] for o in outcomes])
    logit_array = np.log(omega / (1.0 - omega))
    finite = np.isfinite(inside_best) & np.isfinite(outside_best)
    slope = float(np.polyfit(inside_best[finite], outside_best[finite], 1)[0]) if finite.sum() >= 2 else math.nan
    return CscvResult(
        pbo=float(np.mean(logit_array <= 0.0)),
        logits=logit_array,
        degradation_slope=slope,
        probability_of_loss=float(np.mean(outside_best < 0.0)),
        n_splits=int(logit_array.size),
    )


__all__ = [
    "DEFAULT_CSCV_BLOCKS",
    "CscvResult",
    "SharpeShape",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "sharpe_ratio",
]
