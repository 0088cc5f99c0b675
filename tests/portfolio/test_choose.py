"""The portfolio's pure core on return matrices built so the answer is known: the subset chosen under the correlation
cap, the weights, the daily equity and the figures, each checked against pandas or numpy computing the same thing
another way (brute force over subsets, weighted sums, hand formulas)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from stratlab.errors import ConfigError
from stratlab.portfolio.choose import SearchMethod, choose_members
from stratlab.portfolio.figures import beta, drawdown_pct, equity_curve, return_figures
from stratlab.portfolio.weights import WeightRule, portfolio_returns, weights_for

DAYS = 500
PERIODS = 365


def two_edges_and_a_copy(seed: int = 1) -> pd.DataFrame:
    """A and B: independent daily returns with a positive mean; A_copy: A plus a little noise (correlation ~0.99),
    with a slightly lower Sharpe ratio."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0.002, 0.01, DAYS)
    b = rng.normal(0.002, 0.01, DAYS)
    copy = a + rng.normal(-0.0002, 0.0015, DAYS)
    return pd.DataFrame({"A": a, "B": b, "A_copy": copy})


def factor_market(n_candidates: int, seed: int) -> pd.DataFrame:
    """Candidates loading on three common factors with different strengths, so correlations spread over [-1, 1]."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(0.0, 0.01, (DAYS, 3))
    loadings = rng.normal(0.0, 1.0, (3, n_candidates))
    noise = rng.normal(0.0, 0.01, (DAYS, n_candidates)) * rng.uniform(0.3, 2.0, n_candidates)
    edges = rng.normal(0.0008, 0.0008, n_candidates)
    return pd.DataFrame(factors @ loadings + noise + edges, columns=[f"c{i}" for i in range(n_candidates)])


def pandas_sharpe(series: pd.Series) -> float:
    """Annualised Sharpe ratio as pandas computes it: mean over sample std, times √365."""
    return float(series.mean() / series.std() * math.sqrt(PERIODS))


def pandas_weights(frame: pd.DataFrame, rule: WeightRule) -> pd.Series:
    if rule == WeightRule.EQUAL:
        return pd.Series(1.0 / frame.shape[1], index=frame.columns)
    inverse = 1.0 / frame.std()
    return inverse / inverse.sum()


def brute_force_best(frame: pd.DataFrame, max_corr: float, rule: WeightRule) -> tuple[tuple[str, ...], float]:
    """Every subset, its pairwise correlations by pandas, its weighted daily series built with pandas: the best
    Sharpe ratio among those under the cap (ties to fewer members, as the rule documents)."""
    correlation = frame.corr()
    best: tuple[tuple[str, ...], float] = ((), -math.inf)
    for size in range(1, frame.shape[1] + 1):
        for subset in itertools.combinations(frame.columns, size):
            if any(correlation.loc[x, y] > max_corr for x, y in itertools.combinations(subset, 2)):
                continue
            chosen = frame[list(subset)]
            sharpe = pandas_sharpe((chosen * pandas_weights(chosen, rule)).sum(axis=1))
            if sharpe > best[1] + 1e-9:
                best = (subset, sharpe)
    return best


def chosen_columns(frame: pd.DataFrame, members: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(str(frame.columns[i]) for i in members)


@pytest.mark.parametrize("exact_limit", [15, 0], ids=["exact", "greedy"])
def test_the_near_duplicate_is_left_out_and_the_two_independent_edges_are_chosen(exact_limit: int) -> None:
    frame = two_edges_and_a_copy()
    correlation = frame.corr()
    assert correlation.loc["A", "A_copy"] > 0.95 and abs(correlation.loc["A", "B"]) < 0.15
    assert pandas_sharpe(frame["A"]) > pandas_sharpe(frame["A_copy"]) > 0 and pandas_sharpe(frame["B"]) > 0
    choice = choose_members(
        frame.to_numpy(), max_corr=0.5, rule=WeightRule.EQUAL, periods_per_year=PERIODS, exact_limit=exact_limit
    )
    assert chosen_columns(frame, choice.members) == ("A", "B")
    assert choice.method == (SearchMethod.EXACT if exact_limit else SearchMethod.GREEDY)
    # The pair beats either edge alone: the reason to diversify.
    pair = frame["A"] * 0.5 + frame["B"] * 0.5
    assert choice.sharpe == pytest.approx(pandas_sharpe(pair), rel=1e-12)
    assert choice.sharpe > max(pandas_sharpe(frame["A"]), pandas_sharpe(frame["B"]))
    # Without a cap, nothing keeps the copy out; with a cap it is out whatever the search.
    uncapped = choose_members(frame.to_numpy(), max_corr=1.0, rule=WeightRule.EQUAL, periods_per_year=PERIODS)
    assert brute_force_best(frame, 1.0, WeightRule.EQUAL)[0] == chosen_columns(frame, uncapped.members)


@pytest.mark.parametrize("rule", list(WeightRule))
@pytest.mark.parametrize(("seed", "max_corr"), [(3, 0.3), (4, 0.5), (5, 0.0), (6, -0.2)])
def test_exact_search_finds_the_brute_force_best_subset_under_the_cap(
    seed: int, max_corr: float, rule: WeightRule
) -> None:
    frame = factor_market(9, seed)
    choice = choose_members(frame.to_numpy(), max_corr=max_corr, rule=rule, periods_per_year=PERIODS)
    expected, expected_sharpe = brute_force_best(frame, max_corr, rule)
    assert choice.method == SearchMethod.EXACT
    assert chosen_columns(frame, choice.members) == expected
    assert choice.sharpe == pytest.approx(expected_sharpe, rel=1e-9)


@pytest.mark.parametrize("rule", list(WeightRule))
@pytest.mark.parametrize(("n_candidates", "seed"), [(12, 7), (24, 8)], ids=["exact", "greedy"])
def test_the_cap_holds_on_the_chosen_set_weights_sum_to_one_and_the_sharpe_is_the_series(
    n_candidates: int, seed: int, rule: WeightRule
) -> None:
    frame = factor_market(n_candidates, seed)
    max_corr = 0.4
    choice = choose_members(frame.to_numpy(), max_corr=max_corr, rule=rule, periods_per_year=PERIODS)
    chosen = frame[list(chosen_columns(frame, choice.members))]
    correlation = chosen.corr().to_numpy()
    assert np.all(correlation[~np.eye(len(choice.members), dtype=bool)] <= max_corr)
    assert choice.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(choice.weights > 0)
    np.testing.assert_allclose(choice.weights, pandas_weights(chosen, rule).to_numpy(), rtol=1e-12)
    # The Sharpe ratio the search reports is the one of the weighted daily series, computed here with numpy.
    series = chosen.to_numpy() @ choice.weights
    assert choice.sharpe == pytest.approx(series.mean() / series.std(ddof=1) * math.sqrt(PERIODS), rel=1e-9)
    # At least as good as the best single candidate, which is where the greedy search starts.
    assert choice.sharpe >= max(pandas_sharpe(frame[c]) for c in frame.columns) - 1e-12
    if n_candidates > 15:
        assert choice.method == SearchMethod.GREEDY and len(choice.members) > 1
        # No candidate under the cap with every member raises the Sharpe ratio any more: where greedy stops.
        for column in frame.columns.difference(chosen.columns):
            if (frame[chosen.columns].corrwith(frame[column]) <= max_corr).all():
                grown = frame[[*chosen.columns, column]]
                assert pandas_sharpe((grown * pandas_weights(grown, rule)).sum(axis=1)) <= choice.sharpe + 1e-9


def test_inverse_vol_weights_are_one_over_the_std_normalised() -> None:
    returns = np.array([[0.01, 0.03, -0.02], [-0.01, 0.00, 0.04], [0.02, -0.03, 0.00], [0.00, 0.02, 0.01]])
    by_hand = []
    for column in returns.T:
        mean = sum(column) / 4
        by_hand.append(1.0 / math.sqrt(sum((x - mean) ** 2 for x in column) / 3))
    expected = np.array(by_hand) / sum(by_hand)
    np.testing.assert_allclose(weights_for(returns, WeightRule.INVERSE_VOL), expected, rtol=1e-12)
    np.testing.assert_allclose(weights_for(returns, WeightRule.EQUAL), [1 / 3] * 3, rtol=1e-15)


def test_portfolio_equity_is_the_daily_rebalanced_weighted_sum() -> None:
    frame = factor_market(4, 11)
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    combined = portfolio_returns(frame.to_numpy(), weights)
    by_pandas = frame.mul(weights, axis=1).sum(axis=1)
    np.testing.assert_allclose(combined, by_pandas.to_numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(equity_curve(combined), (1.0 + by_pandas).cumprod().to_numpy(), rtol=1e-12)


def test_figures_worked_by_hand() -> None:
    returns = np.array([0.10, -0.20, 0.05, 0.10])
    # Equity 1.1, 0.88, 0.924, 1.0164; the peak is 1.1, so the deepest fall is 1 - 0.88 / 1.1 = 20 %.
    np.testing.assert_allclose(equity_curve(returns), [1.1, 0.88, 0.924, 1.0164], rtol=1e-12)
    np.testing.assert_allclose(drawdown_pct(equity_curve(returns)), [0.0, 20.0, 16.0, 7.6], rtol=1e-12, atol=1e-12)
    figures = return_figures(returns, PERIODS)
    assert figures.n_days == 4
    assert figures.total_return_pct == pytest.approx(1.64, rel=1e-12)
    assert figures.annual_return_pct == pytest.approx((1.0164 ** (365 / 4) - 1) * 100, rel=1e-12)
    assert figures.max_drawdown_pct == pytest.approx(20.0, rel=1e-12)
    # mean 0.0125; deviations .0875, -.2125, .0375, .0875; squares .00765625 + .04515625 + .00140625 + .00765625
    # = .061875; sample std √(.061875 / 3)
    std = math.sqrt(0.061875 / 3)
    assert figures.annual_volatility_pct == pytest.approx(std * math.sqrt(365) * 100, rel=1e-12)
    assert figures.sharpe == pytest.approx(0.0125 / std * math.sqrt(365), rel=1e-12)
    # A first-day loss: the initial equity is the first peak.
    assert drawdown_pct(equity_curve(np.array([-0.5, 0.5])))[0] == pytest.approx(50.0)


def test_beta_is_the_covariance_over_the_benchmark_variance() -> None:
    rng = np.random.default_rng(12)
    benchmark = rng.normal(0, 0.02, 200)
    returns = 0.6 * benchmark + rng.normal(0.001, 0.005, 200)
    covariance = np.cov(returns, benchmark, ddof=1)
    assert beta(returns, benchmark) == pytest.approx(covariance[0, 1] / covariance[1, 1], rel=1e-12)
    assert beta(returns, np.zeros(200)) is None


def test_bad_inputs_are_one_line_errors() -> None:
    frame = two_edges_and_a_copy()
    with pytest.raises(ConfigError, match=r"^max_corr: a correlation between -1 and 1, got 1.5$"):
        choose_members(frame.to_numpy(), max_corr=1.5, rule=WeightRule.EQUAL, periods_per_year=PERIODS)
    flat = frame.assign(A=0.001).to_numpy()
    with pytest.raises(ConfigError, match="candidate column 0 does not vary"):
        choose_members(flat, max_corr=0.5, rule=WeightRule.EQUAL, periods_per_year=PERIODS)
    with pytest.raises(ConfigError, match="finite"):
        choose_members(frame.assign(B=np.nan).to_numpy(), max_corr=0.5, rule=WeightRule.EQUAL, periods_per_year=1)
    with pytest.raises(ConfigError, match="inverse-vol needs members whose daily returns vary"):
        weights_for(flat, WeightRule.INVERSE_VOL)


def test_the_package_names_come_from_the_modules_that_define_them() -> None:
    import importlib

    import stratlab.portfolio as package

    for name in package.__all__:
        value = getattr(package, name)
        home = importlib.import_module(f"stratlab.portfolio.{package._HOMES[name]}")
        assert value is getattr(home, name) and name in home.__all__
