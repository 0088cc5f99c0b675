"""The surrogate on synthetic trials whose answer is known: score = 3·x1 − x2² + 1.5·[kind = b] + noise, x3 irrelevant
(and missing in a third of the trials). For an additive score the exact SHAP share of a parameter is its own term
minus that term's mean, so the importance and the per-trial shares are checked against numpy computing those terms.
Additivity is checked against LightGBM's own predict, the cross-validated baseline against the textbook error of
predicting by a training mean, the maps and figures by counting points."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratlab.errors import ConfigError, DataError
from stratlab.research.surrogate import (
    CV_FOLDS,
    MISSING_COLOUR,
    Design,
    ShapTable,
    Surrogate,
    dependence_figure,
    fit_surrogate,
    importance,
    importance_figure,
    normalised_values,
    shap_summary_figure,
    shap_values,
    strongest_interaction,
    swarm_offsets,
    trials_design,
    umap_embedding,
    umap_figure,
)

ROWS = 300


def synthetic_trials(rows: int, seed: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Trials as the results database returns them (one strategy, a dict of parameters per row) and the raw draws."""
    rng = np.random.default_rng(seed)
    draws = {
        "x1": rng.uniform(-1, 1, rows),
        "x2": rng.uniform(-1, 1, rows),
        "x3": rng.uniform(-1, 1, rows),
        "x4": rng.uniform(-1, 1, rows),
        "kind": rng.choice(["a", "b", "c"], rows),
    }
    params: list[dict[str, Any]] = []
    for i in range(rows):
        row: dict[str, Any] = {name: values[i] for name, values in draws.items()}
        row["kind"] = str(row["kind"])
        row["fee_bps"] = 10  # the same in every trial
        if i % 3 == 0:
            del row["x3"]  # a conditional parameter some trials do not have
        params.append(row)
    return pd.DataFrame({"strategy": "demo", "params_json": params}), draws


def additive_terms(draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"x1": 3 * draws["x1"], "x2": -(draws["x2"] ** 2), "kind": np.where(draws["kind"] == "b", 1.5, 0.0)}


@pytest.fixture(scope="module")
def signal() -> tuple[Design, dict[str, np.ndarray], np.ndarray, Surrogate, ShapTable]:
    frame, draws = synthetic_trials(ROWS, seed=1)
    terms = additive_terms(draws)
    score = sum(terms.values()) + np.random.default_rng(2).normal(0, 0.1, ROWS)
    design = trials_design(frame)
    surrogate = fit_surrogate(design, score, seed=0)
    return design, draws, score, surrogate, shap_values(surrogate)


# Design ----------------------------------------------------------------------------------------------------------


def test_design_by_hand_from_trials_csv_json() -> None:
    frame = pd.DataFrame(
        {
            "strategy": ["ma", "ma", "ma"],
            "params": [
                json.dumps({"fast": 5, "kind": "ema", "stop": True, "fee": 1}),
                json.dumps({"fast": 8, "kind": "sma", "stop": False, "fee": 1, "trail": 0.5}),
                json.dumps({"fast": 13, "kind": "ema", "stop": True, "fee": 1}),
            ],
        },
        index=[10, 11, 12],
    )
    design = trials_design(frame, params_column="params")
    assert design.strategy == "ma"
    assert design.feature_names == ("fast", "kind", "stop", "trail")  # fee never varies: left out
    assert design.fixed == {"fee": 1}
    assert design.categorical == ("kind",)
    assert design.matrix.index.tolist() == [10, 11, 12]
    assert design.matrix["fast"].tolist() == [5.0, 8.0, 13.0]
    assert design.matrix["stop"].tolist() == [1.0, 0.0, 1.0]
    assert design.matrix["kind"].cat.categories.tolist() == ["ema", "sma"]
    assert design.matrix["kind"].tolist() == ["ema", "sma", "ema"]
    trail = design.matrix["trail"]
    assert math.isnan(trail[10]) and trail[11] == 0.5 and math.isnan(trail[12])
    assert design.params[1]["trail"] == 0.5


@settings(max_examples=15, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(-5, 5)), min_size=2, max_size=12))
def test_a_feature_is_missing_exactly_where_a_trial_lacks_the_parameter(rows: list[dict[str, int]]) -> None:
    frame = pd.DataFrame({"params_json": rows})
    varying = [n for n in "abc" if len({r.get(n, "missing") for r in rows}) > 1]
    if not varying:
        with pytest.raises(DataError, match="no parameter varies"):
            trials_design(frame)
        return
    design = trials_design(frame)
    assert list(design.feature_names) == varying
    for name in varying:
        expected = [float(r[name]) if name in r else math.nan for r in rows]
        np.testing.assert_array_equal(design.matrix[name].to_numpy(), np.array(expected))


# Surrogate and SHAP ----------------------------------------------------------------------------------------------


def test_importance_matches_the_exact_shares_of_the_known_score(signal: Any) -> None:
    _, draws, _, _, shap = signal
    terms = additive_terms(draws)
    # exact SHAP of an additive function: its own term minus the term's mean; mean |.| of that is the importance
    truth = {name: float(np.abs(term - term.mean()).mean()) for name, term in terms.items()}
    ranking = importance(shap)
    assert list(ranking.index[:3]) == ["x1", "kind", "x2"]  # then x3 and x4, in either order
    assert ranking["x1"] == pytest.approx(truth["x1"], rel=0.1)
    assert ranking["kind"] == pytest.approx(truth["kind"], rel=0.15)
    assert ranking["x2"] == pytest.approx(truth["x2"], rel=0.25)  # a small curvature the shrunk trees underfit
    assert max(ranking["x3"], ranking["x4"]) < 0.15 * ranking["x2"]
    for name in ("x1", "kind"):
        shares = shap.values[name].to_numpy()
        assert np.corrcoef(shares, terms[name] - terms[name].mean())[0, 1] > 0.98


def test_shap_adds_up_to_lightgbms_own_prediction(signal: Any) -> None:
    design, _, _, surrogate, shap = signal
    predicted = surrogate.booster.predict(design.matrix)
    np.testing.assert_allclose(shap.base_value + shap.values.sum(axis=1).to_numpy(), predicted, atol=1e-6)
    # with covers from the training rows, the base value is the model's average prediction over those rows
    assert shap.base_value == pytest.approx(float(np.mean(predicted)), abs=1e-9)
    assert shap.values.index.equals(design.matrix.index)


def test_cross_validation_on_a_signal(signal: Any) -> None:
    _, _, score, surrogate, _ = signal
    quality = surrogate.quality
    assert quality.folds == CV_FOLDS == len(quality.fold_spearman)
    assert quality.spearman > 0.9 and min(quality.fold_spearman) > 0.8
    assert quality.better_than_chance and "better than chance" in quality.summary
    # predicting each fold by the other folds' mean: expected error var · (1 + 1/n_train)
    n_train = ROWS * (CV_FOLDS - 1) / CV_FOLDS
    assert quality.baseline_mse == pytest.approx(np.var(score) * (1 + 1 / n_train), rel=0.05)
    assert quality.mse < 0.05 * quality.baseline_mse
    assert quality.baseline_spearman < 0.1


def test_cross_validation_on_pure_noise_is_no_better_than_chance(signal: Any) -> None:
    design = signal[0]
    noise = np.random.default_rng(7).normal(size=ROWS)
    quality = fit_surrogate(design, noise, seed=0).quality
    assert abs(quality.spearman) < 0.15
    assert not quality.better_than_chance and "no better than chance" in quality.summary
    assert quality.mse > 0.95 * quality.baseline_mse


def test_the_strongest_interaction_is_the_planted_one() -> None:
    frame, draws = synthetic_trials(200, seed=3)
    score = draws["x1"] * draws["x4"] + 0.3 * draws["x2"]
    shap = shap_values(fit_surrogate(trials_design(frame), score))
    assert strongest_interaction(shap, "x1") == "x4"
    assert strongest_interaction(shap, "x4") == "x1"


def test_the_same_seed_gives_the_same_surrogate(signal: Any) -> None:
    design, _, score, surrogate, _ = signal
    again = fit_surrogate(design, score, seed=0)
    np.testing.assert_array_equal(again.predict(), surrogate.predict())
    assert again.quality == surrogate.quality


# UMAP ------------------------------------------------------------------------------------------------------------


@pytest.mark.slow  # the first map of a process compiles UMAP's numba kernels: about 6 s, then 0.3 s a map
def test_umap_shape_determinism_and_what_it_separates(signal: Any) -> None:
    _, draws, _, _, shap = signal
    embedding = umap_embedding(shap, seed=0)
    assert embedding.shape == (ROWS, 2) and np.isfinite(embedding).all()
    np.testing.assert_array_equal(umap_embedding(shap, seed=0), embedding)
    assert not np.allclose(umap_embedding(shap, seed=1), embedding)
    # kind = b moves the score by 1.5, so its trials sit apart: a trial's nearest neighbour on the map shares it
    is_b = draws["kind"] == "b"
    distances = np.linalg.norm(embedding[:, None, :] - embedding[None, :, :], axis=2)
    np.fill_diagonal(distances, np.inf)
    assert np.mean(is_b[distances.argmin(axis=1)] == is_b) > 0.95


# Figures ---------------------------------------------------------------------------------------------------------


def test_importance_and_summary_figures_count_their_points(signal: Any) -> None:
    design, _, _, _, shap = signal
    bars = importance_figure(importance(shap))
    assert len(bars.data[0].x) == len(design.feature_names)
    assert bars.data[0].y[-1] == "x1"  # most important on top
    summary = shap_summary_figure(shap)
    present, absent = summary.data
    assert len(present.x) + len(absent.x) == ROWS * len(design.feature_names)
    assert len(absent.x) == int(design.matrix["x3"].isna().sum()) == ROWS // 3
    assert absent.marker.color == MISSING_COLOUR
    assert np.min(present.marker.color) >= 0 and np.max(present.marker.color) <= 1
    assert list(summary.layout.yaxis.ticktext)[-1] == "x1"
    # every point sits on its feature's row, within the swarm's ±0.4
    rows = np.round(np.asarray(present.y, dtype=float))
    assert np.abs(np.asarray(present.y, dtype=float) - rows).max() <= 0.4 + 1e-12


def test_dependence_and_map_figures(signal: Any) -> None:
    design, _, score, _, shap = signal
    figure = dependence_figure(shap, "x3")
    assert len(figure.data[0].x) == ROWS - ROWS // 3  # the trials without x3 are left out
    by_score = dependence_figure(shap, "x1", score=score)
    np.testing.assert_array_equal(by_score.data[0].marker.color, score)
    np.testing.assert_array_equal(by_score.data[0].y, shap.values["x1"].to_numpy())
    assert "colour: kind" in dependence_figure(shap, "x1", colour_by="kind").layout.title.text
    points = np.column_stack([np.arange(ROWS), -np.arange(ROWS)]).astype(float)
    mapped = umap_figure(points, shap, score)
    assert len(mapped.data[0].x) == ROWS
    assert f"x1 = {design.params[4]['x1']}" in mapped.data[0].text[4]
    assert "x3" not in mapped.data[0].text[0]  # trial 0 has no x3


def test_normalised_values_by_hand() -> None:
    numbers = pd.Series(np.arange(11.0))
    # numpy's linear percentiles of 0..10: 5th = 0.5, 95th = 9.5
    np.testing.assert_allclose(normalised_values(numbers), np.clip((np.arange(11.0) - 0.5) / 9.0, 0, 1))
    levels = pd.Series(pd.Categorical(["b", None, "c", "a"], categories=["a", "b", "c"]))
    np.testing.assert_array_equal(normalised_values(levels), [0.5, np.nan, 1.0, 0.0])


def test_swarm_offsets_spread_points_that_share_a_bin() -> None:
    offsets = swarm_offsets(np.array([0.0, 0.0, 0.0, 0.0, 1.0]), bins=10, width=0.4)
    # four points in one bin take slots 0, 1, 2, 3 -> 0, -1, +1, -2 steps; the widest (2 steps) spans the width
    np.testing.assert_allclose(offsets, [0.0, -0.2, 0.2, -0.4, 0.0])


# Bad input: one line each ----------------------------------------------------------------------------------------


def one_line(error: pytest.ExceptionInfo[Exception]) -> str:
    message = str(error.value)
    assert message and "\n" not in message
    return message


def test_bad_tables_are_one_line_errors() -> None:
    cases: list[tuple[pd.DataFrame, type[Exception], str]] = [
        (pd.DataFrame({"other": [1]}), DataError, "no 'params_json' column"),
        (pd.DataFrame({"params_json": []}), DataError, "empty"),
        (pd.DataFrame({"strategy": ["a", "b"], "params_json": [{"x": 1}, {"x": 2}]}), ConfigError, "one strategy"),
        (pd.DataFrame({"params_json": ["{not json", "{}"]}), DataError, "not valid JSON"),
        (pd.DataFrame({"params_json": [[1, 2], {"x": 1}]}), DataError, "must be a JSON object"),
        (pd.DataFrame({"params_json": [{"x": 1}, {"x": 1}]}), DataError, "no parameter varies"),
    ]
    for frame, kind, words in cases:
        with pytest.raises(kind) as error:
            trials_design(frame)
        assert words in one_line(error)


def test_bad_scores_and_maps_are_one_line_errors(signal: Any) -> None:
    design, _, score, surrogate, shap = signal
    small = trials_design(synthetic_trials(20, seed=5)[0])
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: fit_surrogate(small, np.arange(20.0)), DataError, "at least 30"),
        (lambda: fit_surrogate(design, np.ones(ROWS)), DataError, "nothing to explain"),
        (lambda: fit_surrogate(design, np.where(np.arange(ROWS) == 3, np.nan, score)), DataError, "1 of 300 scores"),
        (lambda: fit_surrogate(design, score[:-1]), ConfigError, "one score per row"),
        (lambda: shap_values(surrogate, Design(small.matrix[["x1"]], small.params)), ConfigError, "not the"),
        (lambda: dependence_figure(shap, "nope"), ConfigError, "no parameter 'nope'"),
        (lambda: umap_figure(np.zeros((3, 2)), shap, score), ConfigError, "the map has 3 points"),
        (lambda: umap_embedding(_first(shap, 10)), DataError, "at least 15"),
        (lambda: umap_embedding(_zeroed(shap)), DataError, "learned nothing"),
    ]
    for call, kind, words in cases:
        with pytest.raises(kind) as error:
            call()
        assert words in one_line(error)


def _first(shap: ShapTable, rows: int) -> ShapTable:
    return ShapTable(values=shap.values.iloc[:rows], base_value=shap.base_value, design=shap.design)


def _zeroed(shap: ShapTable) -> ShapTable:
    return ShapTable(values=shap.values * 0.0, base_value=shap.base_value, design=shap.design)
