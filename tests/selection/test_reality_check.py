"""SPA and White's Reality Check over a search: calibrated on noise, decisive on a planted edge, blind to columns that
carry no information, and the Reality Check p-value recomputed by hand from the same bootstrap draws and from an
independent stationary bootstrap."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from arch.bootstrap import StationaryBootstrap

from stratlab.errors import ConfigError
from stratlab.selection.reality_check import default_block_size, superior_predictive_ability

FloatArray = npt.NDArray[np.float64]
T, N = 250, 20


def noise(seed: int, t: int = T, n: int = N) -> FloatArray:
    """Daily returns of ``n`` configurations with no edge at all: i.i.d. N(0, 1 %)."""
    return np.random.default_rng(seed).normal(0.0, 0.01, (t, n))


def planted(seed: int = 7) -> FloatArray:
    """Noise with column 3 given a mean of 0.4 daily standard deviations (a t-statistic near 6 over 250 days)."""
    matrix = noise(seed)
    matrix[:, 3] += 0.004
    return matrix


def reality_check_by_hand(differences: FloatArray, draws: list[FloatArray]) -> float:
    """White (2000): V = max_k mean(d_k); each draw re-centred, V* = max_k (mean(d*_k) - mean(d_k)); p = P(V* > V)."""
    means = differences.mean(axis=0)
    observed = means.max()
    simulated = np.array([(draw.mean(axis=0) - means).max() for draw in draws])
    return float(np.mean(simulated > observed))


def stationary_indices(rng: np.random.Generator, t: int, mean_block: int, reps: int) -> npt.NDArray[np.intp]:
    """Politis & Romano's stationary bootstrap, written out: each position starts a new block with probability
    1/mean_block (at a uniform index), otherwise continues the previous one (wrapping around)."""
    indices = np.empty((reps, t), dtype=np.intp)
    indices[:, 0] = rng.integers(0, t, reps)
    for i in range(1, t):
        restart = rng.random(reps) < 1.0 / mean_block
        indices[:, i] = np.where(restart, rng.integers(0, t, reps), (indices[:, i - 1] + 1) % t)
    return indices


def test_on_pure_noise_small_p_values_are_rare_and_never_below_the_reality_check() -> None:
    spa, white = [], []
    for seed in range(40):
        tested = superior_predictive_ability(noise(seed), np.zeros(T), reps=500, seed=seed)
        assert tested is not None and tested.n_models == N
        spa.append(tested.spa_pvalue)
        white.append(tested.reality_check_pvalue)
    spa_p, white_p = np.array(spa), np.array(white)
    # Under the null a p-value is about uniform: about 5 % of them at or below 0.05, not most of them.
    assert np.mean(spa_p <= 0.05) <= 0.2
    assert np.mean(white_p <= 0.05) <= 0.2
    # ... and spread over [0, 1] rather than stuck near 1 (a test that never rejects is no test).
    assert 0.2 <= float(np.median(spa_p)) <= 0.8
    assert np.mean(spa_p >= 0.5) >= 0.25
    # Hansen's consistent p-value re-centres fewer configurations than White's, so it is never larger.
    assert np.all(spa_p <= white_p + 1e-12)


def test_a_strong_planted_edge_is_found_after_the_search() -> None:
    tested = superior_predictive_ability(planted(), np.zeros(T), seed=3)
    assert tested is not None
    assert tested.spa_pvalue <= 0.01
    assert tested.reality_check_pvalue <= 0.01


def test_against_a_benchmark_equal_to_the_best_column_nothing_beats_it() -> None:
    matrix = planted()
    against_cash = superior_predictive_ability(matrix, np.zeros(T), seed=3)
    against_best = superior_predictive_ability(matrix, matrix[:, 3], seed=3)
    assert against_cash is not None and against_best is not None
    assert against_cash.reality_check_pvalue <= 0.01
    # Every other column trails the benchmark by 0.4 standard deviations a day: no evidence of superiority.
    assert against_best.reality_check_pvalue >= 0.95
    assert against_best.spa_pvalue >= 0.2
    assert against_best.n_models == N - 1  # the benchmark's own column differs from it by nothing


def test_the_reality_check_p_value_is_whites_on_the_same_bootstrap_draws() -> None:
    # Returns minus benchmark are the loss differentials: a sign slip or a dropped benchmark would change p.
    rng = np.random.default_rng(11)
    benchmark = rng.normal(0.0003, 0.01, 120)
    matrix = rng.normal(0.0, 0.01, (120, 6)) + benchmark[:, None] * 0.5
    matrix[:, 2] += 0.0015
    seed, reps = 5, 400
    tested = superior_predictive_ability(matrix, benchmark, reps=reps, seed=seed)
    assert tested is not None
    differences = matrix - benchmark[:, None]
    block = round(np.sqrt(120))
    assert tested.block_size == block == default_block_size(120)
    bootstrap = StationaryBootstrap(block, differences, seed=seed)
    draws = [np.asarray(data[0][0]) for data in bootstrap.bootstrap(reps)]
    by_hand = reality_check_by_hand(differences, draws)
    assert 0.02 < by_hand < 0.98  # an informative case, not one decided at either end
    assert tested.reality_check_pvalue == pytest.approx(by_hand, abs=1e-12)


def test_the_reality_check_p_value_agrees_with_an_independent_stationary_bootstrap() -> None:
    rng = np.random.default_rng(21)
    matrix = rng.normal(0.0, 0.01, (200, 8))
    matrix[:, 5] += 0.0012  # a modest edge: p somewhere in the middle
    tested = superior_predictive_ability(matrix, np.zeros(200), reps=2000, seed=1)
    assert tested is not None
    indices = stationary_indices(np.random.default_rng(99), 200, round(np.sqrt(200)), 2000)
    by_hand = reality_check_by_hand(matrix, [matrix[row] for row in indices])
    assert 0.02 < by_hand < 0.9
    # Two Monte Carlo estimates of one p-value with 2,000 draws each: a standard error near 0.011 apiece.
    assert tested.reality_check_pvalue == pytest.approx(by_hand, abs=0.06)


def test_flat_and_duplicate_columns_are_left_out_and_change_nothing() -> None:
    clean = noise(4, n=3)
    flat = np.zeros((T, 1))  # a trial that never traded: the same as cash every day
    padded = np.hstack([clean[:, :1], flat, clean, flat, clean[:, 2:3]])
    with_junk = superior_predictive_ability(padded, np.zeros(T), seed=2)
    alone = superior_predictive_ability(clean, np.zeros(T), seed=2)
    assert with_junk is not None and alone is not None
    assert (with_junk.n_models, alone.n_models) == (3, 3)
    assert (with_junk.spa_pvalue, with_junk.reality_check_pvalue) == (alone.spa_pvalue, alone.reality_check_pvalue)
    assert superior_predictive_ability(np.hstack([flat, flat]), np.zeros(T)) is None  # nothing left to test


def test_a_column_a_constant_away_from_cash_is_left_out() -> None:
    # 0.1 % every day, no risk: no information about skill, and nothing a studentised statistic can divide by.
    clean = noise(4, n=3)
    padded = np.hstack([clean, np.full((T, 1), 0.001)])
    tested = superior_predictive_ability(padded, np.zeros(T), seed=2)
    alone = superior_predictive_ability(clean, np.zeros(T), seed=2)
    assert tested is not None and alone is not None
    assert tested.n_models == 3
    assert (tested.spa_pvalue, tested.reality_check_pvalue) == (alone.spa_pvalue, alone.reality_check_pvalue)


def test_against_buy_and_hold_a_column_offset_from_it_by_a_constant_is_left_out() -> None:
    benchmark = np.random.default_rng(8).normal(0.0, 0.02, T)
    matrix = np.column_stack([benchmark + 0.0005, benchmark, noise(9, n=2)])
    tested = superior_predictive_ability(matrix, benchmark, seed=0)
    assert tested is not None and tested.n_models == 2
    assert superior_predictive_ability(matrix[:, :2], benchmark, seed=0) is None  # nothing left to test


def test_same_inputs_and_seed_give_the_same_p_values_and_the_seed_matters() -> None:
    matrix = noise(12)
    first = superior_predictive_ability(matrix, np.zeros(T), reps=300, seed=4)
    again = superior_predictive_ability(matrix.copy(), np.zeros(T), reps=300, seed=4)
    assert first is not None and first == again
    others = [superior_predictive_ability(matrix, np.zeros(T), reps=300, seed=s) for s in (5, 6, 7)]
    assert {o.reality_check_pvalue for o in others if o is not None} - {first.reality_check_pvalue}


@pytest.mark.parametrize(
    ("returns", "benchmark", "expected"),
    [
        (np.zeros((9, 3)), np.zeros(9), "needs at least 10 periods, got 9"),
        (np.zeros((20, 3)), np.zeros(19), "returns must be T×N and the benchmark T long"),
        (np.zeros(20), np.zeros(20), "returns must be T×N"),
        (np.full((20, 2), np.nan), np.zeros(20), "must be finite"),
    ],
)
def test_bad_inputs_are_one_line_config_errors(returns: FloatArray, benchmark: FloatArray, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        superior_predictive_ability(returns, benchmark)
    assert expected in str(caught.value) and "\n" not in str(caught.value)
