"""The uniform sampler behind ``--sampler random``: every draw inside its distribution, on its grid, and spread as
the distribution says (checked against the exact uniform and log-uniform laws, not against its own output)."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from scipy import stats

from stratlab.optimize.sampling import UniformSampler, make_sampler

N = 4000


def draws(distribution: optuna.distributions.BaseDistribution, seed: int = 0) -> list[object]:
    sampler = UniformSampler(seed=seed)
    study = optuna.create_study(sampler=sampler)
    study.ask()
    (frozen,) = study.get_trials(deepcopy=False)
    return [sampler.sample_independent(study, frozen, "p", distribution) for _ in range(N)]


def test_floats_are_uniform_and_log_floats_log_uniform() -> None:
    plain = np.array(draws(optuna.distributions.FloatDistribution(-2.0, 3.0)))
    assert plain.min() >= -2.0 and plain.max() <= 3.0
    assert stats.kstest(plain, stats.uniform(loc=-2.0, scale=5.0).cdf).pvalue > 1e-3
    logged = np.array(draws(optuna.distributions.FloatDistribution(0.1, 100.0, log=True), seed=1))
    assert logged.min() >= 0.1 and logged.max() <= 100.0
    assert stats.kstest(np.log(logged), stats.uniform(loc=math.log(0.1), scale=math.log(1000.0)).cdf).pvalue > 1e-3


def test_stepped_values_sit_on_the_grid_and_every_grid_point_is_reached() -> None:
    stepped = draws(optuna.distributions.FloatDistribution(0.0, 10.0, step=0.25))
    grid = {round(0.25 * k, 10) for k in range(41)}
    assert {round(float(v), 10) for v in stepped} == grid
    ints = draws(optuna.distributions.IntDistribution(2, 10, step=2))
    assert all(isinstance(v, int) for v in ints) and set(ints) == {2, 4, 6, 8, 10}
    counts = np.bincount([v // 2 - 1 for v in ints])  # type: ignore[operator]
    assert stats.chisquare(counts).pvalue > 1e-3


def test_log_integers_follow_optunas_rounded_log_uniform_law() -> None:
    values = np.array(draws(optuna.distributions.IntDistribution(5, 400, log=True)))
    assert values.min() >= 5 and values.max() <= 400 and values.dtype.kind == "i"
    # P(v) = (log(v + 0.5) - log(v - 0.5)) / (log(400.5) - log(4.5)): small periods are drawn far more often.
    support = np.arange(5, 401)
    expected = (np.log(support + 0.5) - np.log(support - 0.5)) / (math.log(400.5) - math.log(4.5))
    observed = np.array([(values == v).sum() for v in support])
    low, high = support < 20, support >= 100
    for mask in (low, high):
        share = observed[mask].sum() / N
        assert share == pytest.approx(expected[mask].sum(), abs=0.03)


def test_categories_are_equally_likely_and_the_factory_knows_every_sampler() -> None:
    choices = draws(optuna.distributions.CategoricalDistribution(["long", "short", "both"]))
    counts = [choices.count(c) for c in ("long", "short", "both")]
    assert stats.chisquare(counts).pvalue > 1e-3
    assert isinstance(make_sampler("random", 0), UniformSampler)
    for name in ("tpe", "nsga2", "qmc"):
        assert isinstance(make_sampler(name, 0), optuna.samplers.BaseSampler)
    with pytest.raises(ValueError, match="unknown sampler"):
        make_sampler("grid", 0)


def test_the_same_seed_gives_the_same_draws() -> None:
    distribution = optuna.distributions.IntDistribution(1, 1000, log=True)
    assert draws(distribution, seed=7) == draws(distribution, seed=7) != draws(distribution, seed=8)
