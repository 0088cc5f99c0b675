"""GP-TR: a Gaussian-process sampler with a trust region (TuRBO, Eriksson et al. 2019), as an Optuna sampler.

The model. A Gaussian process (scikit-learn's ``GaussianProcessRegressor``: constant × Matern 5/2 with one length
scale per input (ARD) + white noise) on the parameters mapped to the unit cube: floats and integers linearly or in
log space as declared (integers over ``[low - 0.5, high + 0.5]``, as Optuna maps them), categoricals one-hot. The
objective values are rank-transformed to normal scores before fitting: a backtest's return has heavy tails and the
GP should learn the order of the trials, not be dragged by one outlier. Past ``MAX_FIT_POINTS`` observations the fit
uses the best quarter and a seeded random rest (the cost of a fit grows with the cube of the points).

The trust region. A box around the incumbent (the best trial of the current epoch), its side ``length`` × each input's
length scale over their geometric mean, clipped to the cube. ``length`` starts at ``LENGTH_INIT`` = 0.8; after
``SUCCESS_TOLERANCE`` = 3 improvements in a row it doubles (up to ``LENGTH_MAX`` = 1.6), after ``max(4, d)`` failures
in a row it halves; below ``LENGTH_MIN`` = 0.5⁷ the region has collapsed: a new epoch starts with a fresh scrambled
Sobol design of ``n_startup`` points and the length back at its start (the old trials stay in the model). The state
is **replayed from the study's trials every time** (not kept in the sampler), so every worker of a run, and every
search task of the research loop, agrees on it.

Categoricals use a Hamming trust region (CASMOPOLITAN, Wan et al. 2021): a candidate keeps each categorical of the
incumbent, or with probability ``1 - length / LENGTH_MAX`` draws it anew, so a small region also stays near the
incumbent's categories. Conditional parameters (the grid settings only when the position mode is grid) are outside
the intersection search space and are drawn uniformly by Optuna's define-by-run fallback.

Acquisition. Thompson sampling: one joint draw of the GP posterior at ``CANDIDATES`` Sobol points of the region (each
coordinate moved away from the incumbent with probability ``min(1, 20 / d)``, TuRBO's perturbation mask); the best
draw is proposed. Batches: a candidate closer than ``ANTI_CLUSTER`` × length (in the cube, per dimension on average)
to a running trial is dropped first, so parallel workers and a batch of asks do not pile onto one point.

Several objectives (return up, drawdown down): each trial is scalarised by a random augmented Chebyshev weighting
(ParEGO, Knowles 2006) of the objectives normalised to [0, 1], the weights drawn per block of ``PAREGO_BLOCK`` trial
numbers, so successive blocks aim at different parts of the Pareto front.

Cost. The model's matrices are small (at most ``MAX_FIT_POINTS`` rows, ``CANDIDATES`` points), so linear algebra runs on
one BLAS thread: with a thread per core it only contends with the other workers for the cores (a Cholesky factor of
128 points took 0.8 ms with two threads on two busy cores against 0.1 ms with one). The GP is refitted only when the
completed trials grew by ``REFIT_SHARE`` (5 %) since the last fit, or the epoch changed; between refits a proposal
costs one posterior draw. Model quality (``model_quality``): walk-forward cross-validation on the trials' time order,
the Spearman correlation of predicted and realised values; when it is no better than chance the sampler proposes a
growing share of uniform points (``exploration_share``: 20 %, then 10 points more per check in a row, up to 50 %).
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState
from scipy.stats import norm, qmc, rankdata, spearmanr
from threadpoolctl import ThreadpoolController

FloatArray = npt.NDArray[np.float64]

LENGTH_INIT = 0.8
LENGTH_MIN = 0.5**7
LENGTH_MAX = 1.6
SUCCESS_TOLERANCE = 3
IMPROVEMENT = 1e-3  # a success beats the incumbent by this share of the values' spread
CANDIDATES = 1024
THOMPSON_POOL = 128
MAX_FIT_POINTS = 200
REFIT_SHARE = 0.05
ANTI_CLUSTER = 0.05
PAREGO_BLOCK = 8
PAREGO_RHO = 0.05
QUALITY_FOLDS = 5
QUALITY_MIN_TRIALS = 20
CHANCE_SPEARMAN = 0.1  # at or below: the model is no better than chance
EXPLORATION_START = 0.2  # the uniform share after the first check that finds the model no better than chance
EXPLORATION_STEP = 0.1  # added by each further such check in a row
EXPLORATION_MAX = 0.5


@dataclass(frozen=True)
class Encoding:
    """How one search space maps to the unit cube: per parameter its columns and distribution."""

    names: tuple[str, ...]
    distributions: tuple[BaseDistribution, ...]
    columns: tuple[tuple[int, ...], ...]
    width: int

    @classmethod
    def of(cls, space: dict[str, BaseDistribution]) -> Encoding:
        names = tuple(sorted(space))
        columns: list[tuple[int, ...]] = []
        at = 0
        for name in names:
            distribution = space[name]
            size = len(distribution.choices) if isinstance(distribution, CategoricalDistribution) else 1
            columns.append(tuple(range(at, at + size)))
            at += size
        return cls(names, tuple(space[n] for n in names), tuple(columns), at)

    @property
    def numeric(self) -> list[int]:
        """The columns of numeric parameters."""
        return [cols[0] for d, cols in zip(self.distributions, self.columns, strict=True) if not _categorical(d)]

    def encode(self, params: dict[str, Any]) -> FloatArray:
        row = np.zeros(self.width)
        for name, distribution, cols in zip(self.names, self.distributions, self.columns, strict=True):
            value = params[name]
            if isinstance(distribution, CategoricalDistribution):
                row[cols[int(distribution.to_internal_repr(value))]] = 1.0
            else:
                row[cols[0]] = _to_unit(distribution, float(value))
        return row

    def decode(self, row: FloatArray) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, distribution, cols in zip(self.names, self.distributions, self.columns, strict=True):
            if isinstance(distribution, CategoricalDistribution):
                params[name] = distribution.choices[int(np.argmax(row[list(cols)]))]
            else:
                params[name] = _from_unit(distribution, float(row[cols[0]]))
        return params


def _categorical(distribution: BaseDistribution) -> bool:
    return isinstance(distribution, CategoricalDistribution)


def _bounds(distribution: IntDistribution | FloatDistribution) -> tuple[float, float]:
    pad = 0.5 if isinstance(distribution, IntDistribution) else 0.0
    low, high = distribution.low - pad, distribution.high + pad
    return (math.log(low), math.log(high)) if distribution.log else (low, high)


def _to_unit(distribution: BaseDistribution, value: float) -> float:
    assert isinstance(distribution, IntDistribution | FloatDistribution)
    low, high = _bounds(distribution)
    x = math.log(value) if distribution.log else value
    return 0.5 if high == low else min(max((x - low) / (high - low), 0.0), 1.0)


def _from_unit(distribution: BaseDistribution, unit: float) -> int | float:
    """A cube coordinate back to a value on the parameter's grid (integers and steps snapped, bounds kept)."""
    assert isinstance(distribution, IntDistribution | FloatDistribution)
    low, high = _bounds(distribution)
    x = low + min(max(unit, 0.0), 1.0) * (high - low)
    value = math.exp(x) if distribution.log else x
    step = distribution.step
    if isinstance(distribution, IntDistribution):
        grid = step or 1
        snapped = distribution.low + round((value - distribution.low) / grid) * grid
        return int(min(max(snapped, distribution.low), distribution.high))
    if step is not None:
        value = distribution.low + round((value - distribution.low) / step) * step
    return float(min(max(value, distribution.low), distribution.high))


def normal_scores(values: FloatArray) -> FloatArray:
    """Values (higher is better) as normal scores of their ranks: the GP learns the order, not the tails."""
    ranks = rankdata(values, method="average")
    scores: FloatArray = norm.ppf((ranks - 0.5) / len(values))
    return scores


def scalarised(values: FloatArray, directions: Sequence[StudyDirection], weights: FloatArray) -> FloatArray:
    """Trials × objectives as one value to maximise: each objective turned into a loss in [0, 1] (min-max over the
    trials), then ParEGO's augmented Chebyshev scalarisation with ``weights``, negated."""
    losses = np.column_stack(
        [values[:, k] if d == StudyDirection.MINIMIZE else -values[:, k] for k, d in enumerate(directions)]
    )
    low, high = losses.min(axis=0), losses.max(axis=0)
    spread = np.where(high > low, high - low, 1.0)
    normalised = (losses - low) / spread
    weighted = normalised * weights
    result: FloatArray = -(weighted.max(axis=1) + PAREGO_RHO * weighted.sum(axis=1))
    return result


@dataclass
class TrustRegion:
    """The trust region replayed over a sequence of values (higher is better): its length, its epoch's first trial,
    and the incumbent's position in the sequence."""

    length: float = LENGTH_INIT
    epoch_start: int = 0
    incumbent: int | None = None
    restarts: int = 0
    history: list[float] = field(default_factory=list)

    @classmethod
    def replay(cls, values: FloatArray, n_startup: int, dims: int) -> TrustRegion:
        """Walk the values in trial order: the first ``n_startup`` of an epoch are its design; then each value
        is a success (beats the epoch's best by ``IMPROVEMENT`` of the spread) or a failure."""
        region = cls()
        failure_tolerance = max(4, dims)
        spread = float(np.ptp(values)) if len(values) else 1.0
        successes = failures = 0
        best = -math.inf
        for position, value in enumerate(values):
            in_design = position - region.epoch_start < n_startup
            if in_design or region.incumbent is None:
                if value > best:
                    best, region.incumbent = float(value), position
                continue
            if value > best + IMPROVEMENT * max(spread, 1e-12):
                best, region.incumbent = float(value), position
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
            if successes >= SUCCESS_TOLERANCE:
                region.length, successes = min(2.0 * region.length, LENGTH_MAX), 0
            elif failures >= failure_tolerance:
                region.length, failures = region.length / 2.0, 0
            if region.length < LENGTH_MIN:  # collapsed: a new epoch, a new design, the old data kept
                region.length, region.epoch_start, region.incumbent = LENGTH_INIT, position + 1, None
                region.restarts += 1
                best, successes, failures = -math.inf, 0, 0
            region.history.append(region.length)
        return region

    def in_design(self, n_values: int, n_startup: int) -> bool:
        return n_values - self.epoch_start < n_startup


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The process's BLAS and OpenMP pools, looked up once (the lookup walks the loaded libraries)."""
    return ThreadpoolController()


@dataclass
class _Fit:
    """A fitted GP and what it was fitted on, reused between refits."""

    key: tuple[Any, ...]
    model: Any
    length_scales: FloatArray
    n_complete: int


class GPTrustRegionSampler(optuna.samplers.BaseSampler):
    """TuRBO-style GP sampler (see the module notes); ``n_startup``: the design of each epoch (default max(10, 2d))."""

    def __init__(self, seed: int | None = None, n_startup: int | None = None) -> None:
        self.seed = seed
        self.n_startup = n_startup
        self.draws = np.random.default_rng(seed)
        self._fallback = optuna.samplers.RandomSampler(seed=seed)
        self._space = IntersectionSearchSpace(include_pruned=False)
        self._fits: dict[str, _Fit] = {}
        self._chance_checks: dict[str, int] = {}  # per study: the checks in a row that found the model no better
        self.last_quality: float | None = None

    def reseed_rng(self) -> None:
        self.draws = np.random.default_rng()
        self._fallback.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {name: d for name, d in self._space.calculate(study).items() if not d.single()}

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)

    # the relative proposal -----------------------------------------------------------------------------------------

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        with _thread_pools().limit(limits=1, user_api="blas"):
            return self._propose(study, trial, search_space)

    def _propose(self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        encoding = Encoding.of(search_space)
        complete = [
            t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if all(name in t.params for name in encoding.names)
        ]  # fmt: skip
        n_startup = self.n_startup or max(10, 2 * encoding.width)
        values = self._values_of(study, complete, trial.number)
        region = TrustRegion.replay(values, n_startup, encoding.width)
        if region.in_design(len(complete), n_startup) or len(complete) < 2:
            return encoding.decode(self._design_point(encoding, trial.number, region.restarts))
        inputs = np.array([encoding.encode(t.params) for t in complete])
        fit = self._fit(study.study_name, encoding, inputs, values, region)
        if self.draws.random() < self.exploration_share(study.study_name, inputs, values, fit.model.kernel_):
            return encoding.decode(self.draws.random(encoding.width))
        assert region.incumbent is not None
        center = inputs[region.incumbent]
        running = [
            encoding.encode(t.params) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.number != trial.number and all(name in t.params for name in encoding.names)
        ]  # fmt: skip
        candidates = self._candidates(encoding, center, fit.length_scales, region.length)
        candidates = self._away_from(candidates, running, region.length)
        return encoding.decode(thompson_choice(fit.model, candidates, self.draws))

    def _values_of(self, study: Study, complete: list[FrozenTrial], number: int) -> FloatArray:
        """One value per completed trial, higher is better: the value (sign by direction), or ParEGO's scalarisation
        with weights drawn for the block of trial numbers ``number`` falls in."""
        if not complete:
            return np.zeros(0)
        matrix = np.array([t.values for t in complete], dtype=np.float64)
        directions = study.directions
        if len(directions) == 1:
            sign = 1.0 if directions[0] == StudyDirection.MAXIMIZE else -1.0
            result: FloatArray = sign * matrix[:, 0]
            return result
        block_rng = np.random.default_rng([self.seed or 0, number // PAREGO_BLOCK])
        weights = block_rng.dirichlet(np.ones(len(directions)))
        return scalarised(matrix, directions, weights)

    def _design_point(self, encoding: Encoding, number: int, epoch: int) -> FloatArray:
        """Point ``number`` of a scrambled Sobol sequence, seeded by the sampler and the epoch."""
        sobol = qmc.Sobol(d=encoding.width, scramble=True, seed=np.random.default_rng([self.seed or 0, epoch]))
        if number:
            sobol.fast_forward(number)
        point: FloatArray = sobol.random(1)[0]
        return point

    def _fit(
        self, study_name: str, encoding: Encoding, inputs: FloatArray, values: FloatArray, region: TrustRegion
    ) -> _Fit:
        key = (encoding.names, region.epoch_start, region.restarts)
        cached = self._fits.get(study_name)
        if cached is not None and cached.key == key and len(values) < cached.n_complete * (1 + REFIT_SHARE) + 1:
            return cached
        chosen = fit_points(values, MAX_FIT_POINTS, self.draws)
        # A fresh likelihood search each refit: starting from the previous kernel was faster but stuck in its
        # local optimum (Hartmann-6, 60 trials, 5 seeds: mean best -2.99 against -3.18 fresh).
        model = fit_gp(inputs[chosen], normal_scores(values[chosen]), seed=int(self.draws.integers(2**31)))
        scales = np.asarray(model.kernel_.k1.k2.length_scale, dtype=np.float64).reshape(-1)
        if scales.size != encoding.width:
            scales = np.full(encoding.width, float(scales[0]))
        fit = _Fit(key, model, scales, len(values))
        self._fits[study_name] = fit
        return fit

    def _candidates(self, encoding: Encoding, center: FloatArray, scales: FloatArray, length: float) -> FloatArray:
        """Sobol points in the region around ``center`` (TuRBO's perturbation mask), categoricals Hamming-local."""
        width = encoding.width
        weights = scales / np.exp(np.mean(np.log(np.maximum(scales, 1e-12))))
        half = np.clip(weights * length / 2.0, 0.0, 0.5)
        low, high = np.clip(center - half, 0.0, 1.0), np.clip(center + half, 0.0, 1.0)
        sobol = qmc.Sobol(d=width, scramble=True, seed=self.draws)
        points = low + (high - low) * sobol.random(CANDIDATES)
        moved = self.draws.random((CANDIDATES, width)) < min(1.0, 20.0 / width)
        moved[np.arange(CANDIDATES), self.draws.integers(0, width, CANDIDATES)] = True
        candidates = np.where(moved, points, center)
        redraw = 1.0 - length / LENGTH_MAX
        for distribution, cols in zip(encoding.distributions, encoding.columns, strict=True):
            if not _categorical(distribution):
                continue
            keep = self.draws.random(CANDIDATES) >= redraw
            chosen = np.where(keep, int(np.argmax(center[list(cols)])), self.draws.integers(0, len(cols), CANDIDATES))
            block = np.zeros((CANDIDATES, len(cols)))
            block[np.arange(CANDIDATES), chosen] = 1.0
            candidates[:, list(cols)] = block
        return candidates

    @staticmethod
    def _away_from(candidates: FloatArray, running: list[FloatArray], length: float) -> FloatArray:
        """Candidates farther than ``ANTI_CLUSTER`` × length (root-mean-square per dimension) from every running
        trial; all of them when none is."""
        if not running:
            return candidates
        others = np.array(running)
        distance = np.sqrt(((candidates[:, None, :] - others[None, :, :]) ** 2).mean(axis=2)).min(axis=1)
        far = candidates[distance > ANTI_CLUSTER * length]
        return far if len(far) else candidates

    # model quality ------------------------------------------------------------------------------------------------

    def exploration_share(self, study_name: str, inputs: FloatArray, values: FloatArray, kernel: Any) -> float:
        """The share of uniform proposals: none while the model predicts better than chance; from the first check
        that finds it no better, ``EXPLORATION_START``, growing by ``EXPLORATION_STEP`` with each further such check
        up to ``EXPLORATION_MAX`` (checked every 20 trials, on the latest ``MAX_FIT_POINTS`` trials with the fitted
        kernel); back to none at the first check that finds it better again."""
        if len(values) < QUALITY_MIN_TRIALS:
            return 0.0
        key = ("quality", len(values) // 20)
        cached = self._fits.get(f"{study_name}/quality")
        if cached is None or cached.key != key:
            recent = slice(max(0, len(values) - MAX_FIT_POINTS), len(values))
            quality = model_quality(inputs[recent], values[recent], seed=self.seed or 0, kernel=kernel)
            chance = quality is None or quality <= CHANCE_SPEARMAN
            self._chance_checks[study_name] = self._chance_checks.get(study_name, 0) + 1 if chance else 0
            cached = _Fit(key, quality, np.zeros(0), len(values))
            self._fits[f"{study_name}/quality"] = cached
        self.last_quality = cached.model
        checks = self._chance_checks.get(study_name, 0)
        if not checks:
            return 0.0
        return min(EXPLORATION_START + EXPLORATION_STEP * (checks - 1), EXPLORATION_MAX)


def thompson_choice(model: Any, candidates: FloatArray, rng: np.random.Generator) -> FloatArray:
    """One joint posterior draw over the ``THOMPSON_POOL`` candidates with the highest upper confidence bound (the
    others could only win on a draw several deviations high), and the candidate where the draw is highest. A joint
    draw over all candidates would cost a decomposition of their full covariance (1,024² entries) per proposal."""
    mean, std = model.predict(candidates, return_std=True)
    pool = np.argsort(-(mean + 2.0 * std))[:THOMPSON_POOL]
    chosen = candidates[pool]
    centre, covariance = model.predict(chosen, return_cov=True)
    jitter = 1e-9 * max(float(np.trace(covariance)) / len(pool), 1e-12)
    factor = np.linalg.cholesky(covariance + jitter * np.eye(len(pool)) + 1e-10 * np.eye(len(pool)))
    draw = centre + factor @ rng.standard_normal(len(pool))
    best: FloatArray = chosen[int(np.argmax(draw))]
    return best


def study_quality(trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection], seed: int = 0) -> float | None:
    """``model_quality`` of a study's completed trials (their intersection search space, their first objective
    oriented to higher-is-better, or ParEGO's equal weights for several), None when there is nothing to judge."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    if len(complete) < QUALITY_MIN_TRIALS:
        return None
    shared = {
        name: d for name, d in complete[0].distributions.items()
        if not d.single() and all(name in t.params for t in complete)
    }  # fmt: skip
    if not shared:
        return None
    encoding = Encoding.of(shared)
    inputs = np.array([encoding.encode(t.params) for t in complete])
    matrix = np.array([t.values for t in complete], dtype=np.float64)
    if len(directions) == 1:
        values = matrix[:, 0] * (1.0 if directions[0] == StudyDirection.MAXIMIZE else -1.0)
    else:
        values = scalarised(matrix, directions, np.full(len(directions), 1.0 / len(directions)))
    return model_quality(inputs, values, seed=seed)


def fit_points(values: FloatArray, limit: int, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """All the trials, or past ``limit`` the best quarter of the limit and a random rest (in trial order)."""
    n = len(values)
    if n <= limit:
        return np.arange(n)
    best = np.argsort(-values)[: limit // 4]
    rest = np.setdiff1d(np.arange(n), best)
    chosen = np.concatenate([best, rng.choice(rest, size=limit - len(best), replace=False)])
    return np.sort(chosen)


def fit_gp(inputs: FloatArray, targets: FloatArray, seed: int = 0, start: Any = None, optimise: bool = True) -> Any:
    """Constant × Matern 5/2 (ARD) + white noise, fitted by maximum likelihood (one start: the cube is small).

    ``start``: a fitted kernel to start the likelihood's search from (the previous fit: a few data more move its
    optimum little, and the search converges in a few steps instead of dozens); ``optimise=False`` keeps it as is."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(
        length_scale=np.full(inputs.shape[1], 0.5), length_scale_bounds=(5e-3, 2e1), nu=2.5
    ) + WhiteKernel(1e-2, (1e-6, 1.0))
    if start is not None and start.k1.k2.length_scale.size == inputs.shape[1]:
        kernel = start
    model = GaussianProcessRegressor(
        kernel=kernel, normalize_y=True, n_restarts_optimizer=0, random_state=seed,
        optimizer="fmin_l_bfgs_b" if optimise else None,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(inputs, targets)
    return model


def model_quality(
    inputs: FloatArray, values: FloatArray, seed: int = 0, folds: int = QUALITY_FOLDS, kernel: Any = None
) -> float | None:
    """Walk-forward cross-validation in trial order: fit on the first k trials, predict the next block; the Spearman
    correlation of every predicted block with what the trials realised (None with too few trials). ``kernel``: fitted
    hyperparameters to keep (each fold is then one factorisation); without, they are fitted on the first fold."""
    n = len(values)
    if n < QUALITY_MIN_TRIALS:
        return None
    edges = np.linspace(n // 2, n, folds + 1).astype(int)
    predicted: list[float] = []
    realised: list[float] = []
    rng = np.random.default_rng(seed)
    # Hyperparameters fitted once (given, or on the first fold) and kept: a likelihood search per fold costs 5×.
    for start, end in itertools.pairwise(edges):
        if end <= start:
            continue
        chosen = fit_points(values[:start], MAX_FIT_POINTS, rng)
        model = fit_gp(inputs[chosen], normal_scores(values[:start][chosen]), seed=seed, start=kernel,
                       optimise=kernel is None)  # fmt: skip
        kernel = model.kernel_
        predicted += list(model.predict(inputs[start:end]))
        realised += list(values[start:end])
    if len(set(realised)) < 2 or len(set(predicted)) < 2:
        return 0.0
    return float(spearmanr(predicted, realised).statistic)


__all__ = [
    "CHANCE_SPEARMAN",
    "LENGTH_INIT",
    "LENGTH_MAX",
    "LENGTH_MIN",
    "Encoding",
    "GPTrustRegionSampler",
    "TrustRegion",
    "fit_gp",
    "model_quality",
    "normal_scores",
    "scalarised",
    "study_quality",
]
