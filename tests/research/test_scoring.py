"""Scores checked against scipy's rankdata, flags on hand-made rows, Pareto sets against the definition pair by pair."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata

from stratlab.errors import ConfigError, DataError
from stratlab.research.scoring import ScoreWeights, outlier_flags, pareto_set, score, sharpe_capped

NAN = math.nan


def reference_rank(values: np.ndarray[Any, Any], higher_is_better: bool) -> np.ndarray[Any, Any]:
    """rank / m among the defined values (scipy, ties averaged); NaN -> 0."""
    out = np.zeros(values.size)
    defined = ~np.isnan(values)
    oriented = values[defined] if higher_is_better else -values[defined]
    out[defined] = rankdata(oriented, method="average") / defined.sum()
    return out


def test_one_kpi_by_hand() -> None:
    frame = pd.DataFrame({"sharpe": [1.0, 2.0, NAN, 2.0]}, index=[10, 11, 12, 13])
    result = score(frame, ScoreWeights(weights={"sharpe": 1.0}))
    # ranks among the three defined values: 1 -> 1, the two 2s share 2 and 3 -> 2.5; NaN -> 0
    assert result.index.tolist() == [10, 11, 12, 13]
    assert result.tolist() == pytest.approx([1 / 3, 2.5 / 3, 0.0, 2.5 / 3])


def test_the_score_is_the_weighted_mean_of_scipys_percentile_ranks() -> None:
    rng = np.random.default_rng(3)
    n = 60
    frame = pd.DataFrame(
        {
            "sharpe": np.round(rng.normal(1, 1, n), 1),  # rounded: ties
            "max_drawdown_pct": np.round(rng.uniform(2, 40, n)),
            "green_days_pct": rng.uniform(30, 70, n),
            "n_trades": rng.integers(0, 50, n),
        }
    )
    frame.loc[[3, 17, 40], "sharpe"] = NAN
    frame.loc[[5, 17], "max_drawdown_pct"] = NAN
    weights = {"sharpe": 3.0, "max_drawdown_pct": 2.0, "green_days_pct": 1.0, "n_trades": 0.5}
    result = score(frame, ScoreWeights(weights=weights, sharpe_cap=None))
    expected = (
        3.0 * reference_rank(frame["sharpe"].to_numpy(), True)
        + 2.0 * reference_rank(frame["max_drawdown_pct"].to_numpy(), False)
        + 1.0 * reference_rank(frame["green_days_pct"].to_numpy(), True)
        + 0.5 * reference_rank(frame["n_trades"].to_numpy(dtype=float), True)
    ) / 6.5
    np.testing.assert_allclose(result.to_numpy(), expected, rtol=1e-12)
    assert result.between(0, 1).all()


def test_sharpes_above_the_cap_rank_as_the_cap() -> None:
    frame = pd.DataFrame({"sharpe": [1.0, 4.0, 6.0, 40.0]})
    assert sharpe_capped(frame, 5.0).tolist() == [1.0, 4.0, 5.0, 5.0]
    capped = score(frame, ScoreWeights(weights={"sharpe": 1.0}, sharpe_cap=5.0))
    assert capped.tolist() == pytest.approx([1 / 4, 2 / 4, 3.5 / 4, 3.5 / 4])  # 6 and 40 tie at the cap
    uncapped = score(frame, ScoreWeights(weights={"sharpe": 1.0}, sharpe_cap=None))
    assert uncapped.tolist() == pytest.approx([1 / 4, 2 / 4, 3 / 4, 1.0])


def test_the_default_weights_score_the_default_kpis() -> None:
    best = {"sharpe": 3, "calmar": 4, "max_drawdown_pct": 5, "ulcer_index_pct": 1, "green_days_pct": 70,
            "top_days_pnl_share_pct": 20, "n_trades": 400}  # fmt: skip
    worst = {"sharpe": 0.1, "calmar": 0.1, "max_drawdown_pct": 50, "ulcer_index_pct": 20, "green_days_pct": 30,
             "top_days_pnl_share_pct": 90, "n_trades": 12}  # fmt: skip
    assert score(pd.DataFrame([worst, best])).tolist() == pytest.approx([0.5, 1.0])  # rank 1/2 and 2/2 everywhere


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"weights": {"sharp": 1.0}}, r"^unknown KPI 'sharp'; did you mean sharpe"),
        ({"weights": {"sharpe": -1.0}}, r"^ScoreWeights: weights: the weight of sharpe must be a finite number >= 0"),
        ({"weights": {"sharpe": 0.0}}, r"^ScoreWeights: weights: at least one weight must be above 0"),
        ({"weights": {"beta": 1.0}}, r"^ScoreWeights: say in 'better' which way is better for beta$"),
        ({"weights": {"beta": 1.0}, "better": {"beta": "up"}}, r"^ScoreWeights: better.beta: Input should be"),
    ],
)
def test_bad_weights_are_one_config_error_line(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        ScoreWeights(**fields)
    assert "\n" not in str(caught.value)


def test_a_direction_given_for_one_kpi_keeps_the_others() -> None:
    weights = ScoreWeights(weights={"beta": 1.0, "sharpe": 1.0}, better={"beta": "lower"})
    assert (weights.better["beta"], weights.better["sharpe"]) == ("lower", "higher")
    frame = pd.DataFrame({"beta": [0.2, 0.9], "sharpe": [1.0, 1.0]})
    # beta: lower better -> [2/2, 1/2]; sharpe tied -> [1.5/2, 1.5/2]
    assert score(frame, weights).tolist() == pytest.approx([(1.0 + 0.75) / 2, (0.5 + 0.75) / 2])


def test_scoring_a_table_without_a_weighted_column_is_a_one_line_data_error() -> None:
    with pytest.raises(DataError, match=r"^the KPI table has no column 'calmar'$"):
        score(pd.DataFrame({"sharpe": [1.0]}))


def test_outlier_flags_read_the_records_own_fields() -> None:
    frame = pd.DataFrame(
        [
            {"sharpe": 1.5, "sharpe_outlier": False, "is_valid": True, "invalid_reasons": [],
             "top_days_pnl_share_pct": 30.0, "top_k_days": 5, "capacity_flag": False, "capacity_max_pct": 0.2,
             "stopped_early": None},
            {"sharpe": 7.2, "sharpe_outlier": True, "is_valid": False,
             "invalid_reasons": ["too few trades (3 < 10)", "too few active days (2 < 5)"],
             "top_days_pnl_share_pct": 85.0, "top_k_days": 5, "capacity_flag": True, "capacity_max_pct": 3.25,
             "stopped_early": "equity below zero"},
            {"sharpe": None, "sharpe_outlier": False, "is_valid": False, "invalid_reasons": '["zero variance"]',
             "top_days_pnl_share_pct": None, "top_k_days": 5, "capacity_flag": False, "capacity_max_pct": None,
             "stopped_early": None},
        ]
    )  # fmt: skip
    assert outlier_flags(frame).tolist() == [
        "",
        "Sharpe 7.20 above the cap; invalid: too few trades (3 < 10); too few active days (2 < 5); "
        "best 5 days make 85 % of the PnL; trades too large for the market (up to 3.2 % of a bar's traded value); "
        "stopped early: equity below zero",
        "invalid: zero variance",
    ]


def test_outlier_flags_judge_only_the_columns_present() -> None:
    frame = pd.DataFrame({"top_days_pnl_share_pct": [49.0, 51.0]})
    assert outlier_flags(frame).tolist() == ["", "best few days make 51 % of the PnL"]
    assert outlier_flags(frame, concentrated_share_pct=60.0).tolist() == ["", ""]


# --- Pareto sets ----------------------------------------------------------------------------------------------


def brute_pareto(points: list[tuple[float, ...]], ways: list[str]) -> list[bool]:
    """The definition applied pair by pair: kept if finite and no finite point is >= everywhere and > somewhere."""
    gains = [tuple(v if way == "max" else -v for v, way in zip(p, ways, strict=True)) for p in points]
    finite = [all(math.isfinite(v) for v in g) for g in gains]

    def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))

    return [
        finite[i] and not any(finite[j] and dominates(gains[j], gains[i]) for j in range(len(points)))
        for i in range(len(points))
    ]


values = st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.5, -1.0, NAN, math.inf])  # few values: many ties and copies


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(1, 4),
    data=st.data(),
)
def test_pareto_set_matches_the_definition(k: int, data: st.DataObject) -> None:
    points = data.draw(st.lists(st.tuples(*[values] * k), min_size=0, max_size=25))
    ways = data.draw(st.lists(st.sampled_from(["max", "min"]), min_size=k, max_size=k))
    columns = ["sharpe", "max_drawdown_pct", "green_days_pct", "n_trades"][:k]
    frame = pd.DataFrame(points, columns=columns, dtype=float)
    result = pareto_set(frame, dict(zip(columns, ways, strict=True)))  # type: ignore[arg-type]
    assert result.tolist() == brute_pareto(points, ways)


def test_pareto_set_on_a_hand_made_table() -> None:
    frame = pd.DataFrame(
        {
            "sharpe": [2.0, 1.0, 2.0, 3.0, 1.0],
            "max_drawdown_pct": [10.0, 5.0, 10.0, 30.0, 20.0],
            "green_days_pct": [50.0, 50.0, 50.0, 50.0, 70.0],
        }
    )
    # rows 0 and 2 are copies (both kept); row 4 is dominated in Sharpe and drawdown but alone in green days
    two = pareto_set(frame, {"sharpe": "max", "max_drawdown_pct": "min"})
    assert two.tolist() == [True, True, True, True, False]
    three = pareto_set(frame, {"sharpe": "max", "max_drawdown_pct": "min", "green_days_pct": "max"})
    assert three.tolist() == [True, True, True, True, True]


def test_bad_pareto_objectives_are_one_line_errors() -> None:
    frame = pd.DataFrame({"sharpe": [1.0]})
    with pytest.raises(ConfigError, match=r"^pareto set: objective 'sharpe' must be 'max' or 'min', not 'up'$"):
        pareto_set(frame, {"sharpe": "up"})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match=r"^pareto set: name at least one objective$"):
        pareto_set(frame, {})
    with pytest.raises(DataError, match=r"^the KPI table has no column 'calmar'$"):
        pareto_set(frame, {"calmar": "max"})
