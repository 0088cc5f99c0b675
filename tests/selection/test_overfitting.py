"""PSR, DSR and PBO against what they claim to measure: Monte Carlo calibration on simulated markets whose truth is
known (no formula is checked against itself), plus cases worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stratlab.errors import ConfigError
from stratlab.selection.overfitting import (
    SharpeShape,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_ratio,
)


def test_sharpe_ratio_and_shape_worked_by_hand() -> None:
    returns = [0.01, -0.02, 0.03, 0.0]
    # mean 0.005; deviations 0.005, -0.025, 0.025, -0.005; sum of squares 0.0013; sample variance 0.0013 / 3
    assert sharpe_ratio(returns) == pytest.approx(0.005 / math.sqrt(0.0013 / 3), abs=1e-12)
    shape = SharpeShape.of(returns)
    assert shape is not None and shape.n_obs == 4
    # population moments: m2 = 0.0013 / 4, m3 = (0.005^3 - 0.025^3 + 0.025^3 - 0.005^3) / 4 = 0, m4 = 2*(0.005^4 +
    # 0.025^4) / 4
    m2, m4 = 0.0013 / 4, 2 * (0.005**4 + 0.025**4) / 4
    assert shape.skewness == pytest.approx(0.0, abs=1e-12)
    assert shape.kurtosis == pytest.approx(m4 / m2**2, rel=1e-12)
    assert sharpe_ratio([0.01, 0.01, 0.01]) is None and SharpeShape.of([0.01]) is None


def test_psr_worked_by_hand() -> None:
    shape = SharpeShape(sharpe=0.1, n_obs=253, skewness=-0.5, kurtosis=5.0)
    # 1 - (-0.5)(0.1) + (5 - 1)/4 * 0.01 = 1.06; z = 0.1 * sqrt(252) / sqrt(1.06) = 1.541869...
    z = 0.1 * math.sqrt(252) / math.sqrt(1.06)
    assert z == pytest.approx(1.5418692, abs=1e-6)
    assert probabilistic_sharpe_ratio(shape) == pytest.approx(0.5 * (1 + math.erf(z / math.sqrt(2))), abs=1e-9)
    assert probabilistic_sharpe_ratio(shape, benchmark_sharpe=0.1) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("law", ["normal", "skewed"])
def test_psr_against_the_true_sharpe_is_calibrated(law: str) -> None:
    """With the benchmark set to the true Sharpe ratio, PSR is a p-value: above 0.95 in about 5 % of samples."""
    rng = np.random.default_rng(7)
    n_samples, n_obs = 3_000, 500
    if law == "normal":
        draws = rng.normal(0.001, 0.01, size=(n_samples, n_obs))
        true_sharpe = 0.1
    else:
        # Shifted exponential: skewness 2, kurtosis 9; mean 0.002 - 0.01 + 0.01 = 0.002, std 0.01.
        draws = rng.exponential(0.01, size=(n_samples, n_obs)) - 0.01 + 0.002
        true_sharpe = 0.2
    psr = np.array([probabilistic_sharpe_ratio(SharpeShape.of(row), true_sharpe) for row in draws])  # type: ignore[arg-type]
    assert 0.035 <= float(np.mean(psr > 0.95)) <= 0.07
    assert 0.035 <= float(np.mean(psr < 0.05)) <= 0.07


def test_expected_max_sharpe_matches_the_best_of_n_noise_trials() -> None:
    """The best of N skill-less trials shows, on average, the Sharpe ratio the formula expects (within 5 %)."""
    rng = np.random.default_rng(11)
    n_trials, n_obs, repetitions = 100, 250, 200
    best = []
    for _ in range(repetitions):
        trials = rng.normal(0.0, 0.01, size=(n_obs, n_trials))
        sharpes = trials.mean(axis=0) / trials.std(axis=0, ddof=1)
        best.append(sharpes.max())
    expected = expected_max_sharpe(n_trials, 1.0 / (n_obs - 1))
    assert float(np.mean(best)) == pytest.approx(expected, rel=0.05)


def test_dsr_deflates_the_best_of_many_noise_trials_where_psr_does_not() -> None:
    rng = np.random.default_rng(5)
    n_trials, n_obs = 50, 365
    psr_passes = dsr_passes = 0
    repetitions = 150
    for _ in range(repetitions):
        trials = rng.normal(0.0, 0.01, size=(n_obs, n_trials))
        sharpes = trials.mean(axis=0) / trials.std(axis=0, ddof=1)
        shape = SharpeShape.of(trials[:, int(np.argmax(sharpes))])
        assert shape is not None
        psr_passes += probabilistic_sharpe_ratio(shape) >= 0.95
        dsr_passes += deflated_sharpe_ratio(shape, n_trials, float(sharpes.var(ddof=1))) >= 0.95
    assert psr_passes / repetitions > 0.5  # the naive test calls most lucky winners skilled
    assert dsr_passes / repetitions <= 0.10


def test_dsr_keeps_a_real_edge() -> None:
    rng = np.random.default_rng(3)
    trials = rng.normal(0.0, 0.01, size=(730, 50))
    trials[:, 7] += 0.0025  # a true per-day Sharpe ratio of 0.25
    sharpes = trials.mean(axis=0) / trials.std(axis=0, ddof=1)
    shape = SharpeShape.of(trials[:, 7])
    assert shape is not None and int(np.argmax(sharpes)) == 7
    assert deflated_sharpe_ratio(shape, 50, float(sharpes.var(ddof=1))) > 0.95


def test_pbo_of_pure_noise_is_about_a_half_and_of_a_planted_edge_near_zero() -> None:
    """On noise the in-sample winner's out-of-sample rank is uniform, so PBO averages a half over many markets (one
    market alone can land anywhere: its splits share the same rows); a planted edge wins out of sample too."""
    noise_pbo, slopes = [], []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        result = probability_of_backtest_overfitting(rng.normal(0.0, 0.01, size=(800, 40)), blocks=8)
        noise_pbo.append(result.pbo)
        slopes.append(result.degradation_slope)
    assert 0.35 <= float(np.mean(noise_pbo)) <= 0.65
    assert float(np.mean(slopes)) < 0.0  # in-sample luck does not carry out of sample

    rng = np.random.default_rng(1)
    edge = rng.normal(0.0, 0.01, size=(800, 40))
    edge[:, 3] += 0.003  # per-day Sharpe ratio 0.3 on one trial
    planted = probability_of_backtest_overfitting(edge, blocks=16)
    assert planted.n_splits == math.comb(16, 8) and planted.logits.shape == (12_870,)
    assert planted.pbo <= 0.05 and planted.probability_of_loss <= 0.05


def test_pbo_rank_logit_worked_by_hand() -> None:
    """Two blocks, three trials: trial 0 wins in block 0 and is worst in block 1, and the other way round."""
    block_0 = np.array([[0.03, 0.01, 0.00], [0.01, -0.01, 0.00], [0.02, 0.00, 0.01]])
    block_1 = np.array([[-0.03, 0.02, 0.01], [0.01, 0.04, 0.02], [-0.01, 0.03, 0.00]])
    result = probability_of_backtest_overfitting(np.vstack([block_0, block_1]), blocks=2)
    # In-sample block 0: trial 0 has the best Sharpe; out of sample it ranks 1 of 3: omega = 1/4, logit ln(1/3).
    # In-sample block 1: trial 1 is best; out of sample (block 0) it ranks 1 of 3 as well.
    assert result.n_splits == 2
    assert np.allclose(result.logits, [math.log(1 / 3), math.log(1 / 3)])
    assert result.pbo == 1.0


@pytest.mark.parametrize(
    ("matrix", "blocks", "needle"),
    [
        (np.zeros((40, 1)), 4, "at least 2 trials"),
        (np.zeros((40, 3)), 5, "even"),
        (np.zeros((10, 3)), 16, "cannot make"),
        (np.full((40, 3), np.nan), 4, "NaN"),
    ],
)
def test_pbo_refuses_what_it_cannot_measure(matrix: np.ndarray, blocks: int, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        probability_of_backtest_overfitting(matrix, blocks=blocks)


def test_deflation_needs_two_trials() -> None:
    with pytest.raises(ConfigError, match="at least 2 trials"):
        expected_max_sharpe(1, 0.01)
