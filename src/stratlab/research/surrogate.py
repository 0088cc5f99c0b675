"""What matters in a strategy's parameters: a small gradient-boosted model (the surrogate) learns score from
parameters over many trials or backtests of ONE strategy, SHAP splits each prediction into one share per parameter,
and UMAP draws the trials on a plane by those shares (trials that score well for the same reasons sit together).

The surrogate comes with an honest quality figure: a cross-validated rank correlation of predicted against actual score
next to the same figure for a model that knows nothing (the training mean). An explanation of a surrogate that ranks
no better than that describes noise, and the pages say so.

Pure analysis: the input is a table of parameter dicts (``ResultsDb.backtests_frame``'s ``params_json`` or a trials
frame's ``params`` JSON) and a score per row; nothing here backtests or writes. lightgbm, shap and umap are imported
inside the functions that need them, so importing stratlab stays fast.
"""

from __future__ import annotations

import importlib
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from stratlab.errors import ConfigError, DataError

if TYPE_CHECKING:
    import lightgbm

MIN_FIT_ROWS = 30  # below this a 5-fold cross-validation tests on 6 rows a fold: no quality figure worth showing
MIN_MAP_ROWS = 15  # below this UMAP has too few neighbours to find any structure
CV_FOLDS = 5
TREES = 200
LEARNING_RATE = 0.05
LEAVES = 15
SIGNIFICANCE = 0.05  # the p-value below which the surrogate's rank correlation is taken as more than chance
MISSING_COLOUR = "#b0b0b0"
SHAP_NAME = "mean |SHAP|"


# Design ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Design:
    """One strategy's parameter dicts as a design matrix, one row per trial (the input frame's index kept).

    ``matrix`` has one column per parameter that varies, named after it, in name order: numbers (and booleans, as 0/1)
    as float64, anything else as a pandas ``category`` with its levels in sorted order. Categories stay one column
    (LightGBM splits on them natively) rather than one-hot: SHAP then gives ONE share per parameter, which is the
    question people ask ("does ma_type matter?", not "does ma_type=ema matter?"), and the UMAP map is not stretched by
    a column per level. A parameter a trial does not have (a conditional one) is NaN there; LightGBM learns where
    missing rows go. Parameters with one value in every trial are left out and listed in ``fixed``."""

    matrix: pd.DataFrame
    params: tuple[dict[str, Any], ...]
    strategy: str | None = None
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(str(name) for name in self.matrix.columns)

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(
            str(name) for name in self.matrix.columns if isinstance(self.matrix[name].dtype, pd.CategoricalDtype)
        )

    def __len__(self) -> int:
        return len(self.matrix)


def trials_design(frame: pd.DataFrame, params_column: str = "params_json") -> Design:
    """``frame``'s parameter dicts (dicts or JSON objects in ``params_column``) as a ``Design``. One strategy at a
    time: a ``strategy`` column with more than one value is a ConfigError, as the same parameter name can mean
    different things in two strategies."""
    if params_column not in frame.columns:
        raise DataError(
            f"the trials table has no {params_column!r} column (columns: {', '.join(map(str, frame.columns))})"
        )
    if frame.empty:
        raise DataError("the trials table is empty: nothing to explain")
    strategy = _one_strategy(frame)
    params = tuple(_params_dict(value, label) for label, value in zip(frame.index, frame[params_column], strict=True))
    names = sorted({name for row in params for name in row})
    columns: dict[str, pd.Series] = {}
    fixed: dict[str, Any] = {}
    for name in names:
        values = [row.get(name) for row in params]
        if _never_varies(values):
            fixed[name] = values[0]
            continue
        columns[name] = _feature_column(values, frame.index)
    if not columns:
        raise DataError(f"no parameter varies across the {len(frame):,} trials: nothing to explain")
    return Design(matrix=pd.DataFrame(columns, index=frame.index), params=params, strategy=strategy, fixed=fixed)


def _one_strategy(frame: pd.DataFrame) -> str | None:
    if "strategy" not in frame.columns:
        return None
    strategies = sorted({str(s) for s in frame["strategy"].dropna()})
    if len(strategies) > 1:
        raise ConfigError(f"explain one strategy at a time; this table has {len(strategies)}: {', '.join(strategies)}")
    return strategies[0] if strategies else None


def _params_dict(value: Any, label: Any) -> dict[str, Any]:
    """A row's parameters: a dict as stored in the database, or the JSON text of one as trials.csv writes it."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise DataError(f"row {label}: parameters are not valid JSON ({error.msg})") from None
    if not isinstance(value, Mapping):
        raise DataError(f"row {label}: parameters must be a JSON object, got {type(value).__name__}")
    return {str(name): item for name, item in value.items()}


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _never_varies(values: list[Any]) -> bool:
    """One value everywhere (missing counts as a value: a parameter present in some trials only does vary)."""
    return len({"<missing>" if _is_missing(v) else json.dumps(v, sort_keys=True, default=str) for v in values}) == 1


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating)  # bool is an int: True/False -> 1/0


def _feature_column(values: list[Any], index: pd.Index) -> pd.Series:
    """Numbers as float64; any column holding something else (text, lists) as a category of its values' text."""
    present = [v for v in values if not _is_missing(v)]
    if all(_is_number(v) for v in present):
        return pd.Series([math.nan if _is_missing(v) else float(v) for v in values], index=index, dtype="float64")
    text = [None if _is_missing(v) else (v if isinstance(v, str) else json.dumps(v, sort_keys=True)) for v in values]
    levels = sorted({t for t in text if t is not None})
    return pd.Series(pd.Categorical(text, categories=levels), index=index)


# Surrogate -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurrogateQuality:
    """Out-of-fold figures of a ``CV_FOLDS``-fold cross-validation (rows shuffled with the seed): every row predicted
    by a model that never saw it, then compared with its actual score over all rows at once.

    ``baseline_*`` are the same figures for the trivial model that predicts its training folds' mean score: its rank
    correlation is not zero but slightly negative (a fold whose scores run high is predicted by the others' lower
    mean), which is the level a surrogate must clear."""

    folds: int
    spearman: float
    spearman_p_value: float
    baseline_spearman: float
    mse: float
    baseline_mse: float
    fold_spearman: tuple[float, ...]

    @property
    def better_than_chance(self) -> bool:
        """The surrogate ranks unseen trials better than the mean does, and not by luck (one-sided p < 5 %)."""
        return self.spearman > self.baseline_spearman and self.spearman_p_value < SIGNIFICANCE and self.spearman > 0

    @property
    def summary(self) -> str:
        """One sentence for a page."""
        figures = (
            f"cross-validated rank correlation {self.spearman:.2f} (the mean's {self.baseline_spearman:.2f}; "
            f"folds {min(self.fold_spearman):.2f}..{max(self.fold_spearman):.2f})"
        )
        if self.better_than_chance:
            return f"{figures}: the surrogate ranks unseen trials better than chance"
        return f"{figures}: no better than chance, so its explanations describe noise"


@dataclass(frozen=True, eq=False)
class Surrogate:
    """A LightGBM regressor of score on a design, fit on every row, with its cross-validated quality."""

    booster: lightgbm.Booster
    design: Design
    score: np.ndarray
    quality: SurrogateQuality
    settings: dict[str, Any]

    def predict(self, design: Design | None = None) -> np.ndarray:
        """Predicted score of each row of ``design`` (the training design when None)."""
        matrix = _matching_matrix(self, self.design if design is None else design)
        return np.asarray(self.booster.predict(matrix), dtype=np.float64)


def surrogate_settings(rows: int, seed: int = 0) -> dict[str, Any]:
    """LightGBM's settings for ``rows`` training rows: small, single-threaded and deterministic.

    Leaves need at least 5 rows (50 rows still split) and at most 50 (5,000 rows do not fit noise leaf by leaf); the
    same floor holds per category level (LightGBM's default of 100 would forbid category splits below ~300 rows).
    Every row and column is used in every tree: no sampling, so nothing random but the seed's tie-breaks."""
    min_rows = int(min(50, max(5, rows // 40)))
    return {
        "objective": "regression",
        "learning_rate": LEARNING_RATE,
        "num_leaves": LEAVES,
        "min_data_in_leaf": min_rows,
        "min_data_per_group": min_rows,
        "cat_smooth": 5.0,
        "lambda_l2": 1.0,
        "num_threads": 1,
        "deterministic": True,
        "force_row_wise": True,
        "seed": seed,
        "verbosity": -1,
    }


def fit_surrogate(design: Design, score: np.ndarray, seed: int = 0) -> Surrogate:
    """Fit the surrogate of ``score`` (one finite value per design row) and cross-validate it. Fewer than
    ``MIN_FIT_ROWS`` rows, a missing score or a constant score is a DataError."""
    values = _checked_score(design, score)
    settings = surrogate_settings(len(values), seed)
    quality = _cross_validate(design.matrix, values, settings, seed)
    booster = _train(design.matrix, values, settings)
    return Surrogate(booster=booster, design=design, score=values, quality=quality, settings=settings)


def _checked_score(design: Design, score: np.ndarray) -> np.ndarray:
    values = np.asarray(score, dtype=np.float64).reshape(-1)
    if values.size != len(design):
        raise ConfigError(f"{values.size:,} scores for {len(design):,} design rows: give one score per row")
    if values.size < MIN_FIT_ROWS:
        raise DataError(f"{values.size} trials are too few to learn from: the surrogate needs at least {MIN_FIT_ROWS}")
    missing = int((~np.isfinite(values)).sum())
    if missing:
        raise DataError(f"{missing:,} of {values.size:,} scores are missing or infinite: keep only scored trials")
    if np.ptp(values) == 0:
        raise DataError(f"the score is {values[0]:g} in all {values.size:,} trials: nothing to explain")
    return values


def _train(matrix: pd.DataFrame, score: np.ndarray, settings: dict[str, Any]) -> lightgbm.Booster:
    import lightgbm

    dataset = lightgbm.Dataset(matrix, label=score, params={"verbosity": -1}, free_raw_data=False)
    return lightgbm.train(settings, dataset, num_boost_round=TREES)


def _cross_validate(matrix: pd.DataFrame, score: np.ndarray, settings: dict[str, Any], seed: int) -> SurrogateQuality:
    from scipy.stats import spearmanr
    from sklearn.model_selection import KFold

    predicted = np.empty_like(score)
    baseline = np.empty_like(score)
    fold_spearman: list[float] = []
    for train_rows, test_rows in KFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed).split(matrix):
        booster = _train(matrix.iloc[train_rows], score[train_rows], settings)
        predicted[test_rows] = np.asarray(booster.predict(matrix.iloc[test_rows]), dtype=np.float64)
        baseline[test_rows] = score[train_rows].mean()
        fold_spearman.append(_spearman_or_zero(predicted[test_rows], score[test_rows]))
    result = spearmanr(predicted, score, alternative="greater")
    rho = float(result.statistic) if np.ptp(predicted) > 0 else 0.0  # a constant prediction ranks nothing
    p_value = float(result.pvalue) if np.ptp(predicted) > 0 else 1.0
    return SurrogateQuality(
        folds=CV_FOLDS,
        spearman=rho,
        spearman_p_value=p_value,
        baseline_spearman=_spearman_or_zero(baseline, score),
        mse=float(np.mean((predicted - score) ** 2)),
        baseline_mse=float(np.mean((baseline - score) ** 2)),
        fold_spearman=tuple(fold_spearman),
    )


def _spearman_or_zero(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Spearman's rho; 0 when either side is constant (no ranking information, where scipy gives NaN)."""
    from scipy.stats import spearmanr

    if np.ptp(predicted) == 0 or np.ptp(actual) == 0:
        return 0.0
    return float(spearmanr(predicted, actual).statistic)


def _matching_matrix(surrogate: Surrogate, design: Design) -> pd.DataFrame:
    if design.feature_names != surrogate.design.feature_names:
        raise ConfigError(
            f"the design's parameters ({', '.join(design.feature_names)}) are not the surrogate's "
            f"({', '.join(surrogate.design.feature_names)})"
        )
    return design.matrix


# SHAP ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ShapTable:
    """Each row's prediction split into one share per parameter (``values``: the design's index and feature names)
    plus ``base_value``, the surrogate's average prediction over the rows it was fit on: base + row sum = prediction."""

    values: pd.DataFrame
    base_value: float
    design: Design

    @property
    def prediction(self) -> pd.Series:
        return self.base_value + self.values.sum(axis=1)


def shap_values(surrogate: Surrogate, design: Design | None = None) -> ShapTable:
    """Exact TreeSHAP values (path-dependent: the trees' own training covers stand for "a parameter unknown") of
    every row of ``design`` (the training design when None)."""
    design = surrogate.design if design is None else design
    matrix = _matching_matrix(surrogate, design)
    with warnings.catch_warnings():
        # shap's plotting colours call matplotlib APIs that warn of their own deprecation; nothing here plots with them
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        shap = importlib.import_module("shap")  # untyped; loaded on first use only
    explainer = shap.TreeExplainer(surrogate.booster)
    values = np.asarray(explainer.shap_values(matrix), dtype=np.float64)
    frame = pd.DataFrame(values, index=design.matrix.index, columns=list(design.feature_names))
    return ShapTable(values=frame, base_value=float(np.ravel(explainer.expected_value)[0]), design=design)


def importance(shap: ShapTable) -> pd.Series:
    """Mean |SHAP| per parameter, largest first: how far, on average, a parameter moves the predicted score."""
    return shap.values.abs().mean().sort_values(ascending=False, kind="stable").rename(SHAP_NAME)


def strongest_interaction(shap: ShapTable, feature: str) -> str | None:
    """The other parameter that best explains the spread of ``feature``'s SHAP at a given value of ``feature``: rows
    sorted by ``feature``, cut into about ten runs, and in each run the absolute rank correlation of ``feature``'s SHAP
    with the other parameter's value, averaged (weighted by run length). None when there is no other parameter."""
    _check_feature(shap, feature)
    others = [name for name in shap.design.feature_names if name != feature]
    if not others:
        return None
    order = np.argsort(_numeric(shap.design.matrix[feature]), kind="stable")
    runs = np.array_split(order, max(1, min(10, len(order) // 10)))
    strength = {
        name: _mean_run_correlation(shap.values[feature].to_numpy(), shap.design.matrix[name], runs) for name in others
    }
    return max(others, key=lambda name: strength[name])


def _mean_run_correlation(shares: np.ndarray, other: pd.Series, runs: list[np.ndarray]) -> float:
    values = _numeric(other)
    total = 0.0
    for run in runs:
        known = run[np.isfinite(values[run])]
        if known.size > 2:
            total += abs(_spearman_or_zero(shares[known], values[known])) * known.size
    return total / len(values)


def _check_feature(shap: ShapTable, feature: str) -> None:
    if feature not in shap.design.feature_names:
        raise ConfigError(f"no parameter {feature!r}; the design has: {', '.join(shap.design.feature_names)}")


def _numeric(column: pd.Series) -> np.ndarray:
    """A feature as numbers: a category as its level's position (missing -> NaN)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy(dtype=np.float64)
        return np.where(codes < 0, np.nan, codes)
    return column.to_numpy(dtype=np.float64)


def normalised_values(column: pd.Series) -> np.ndarray:
    """A feature scaled to 0..1 for colour: numbers between their 5th and 95th percentiles (clipped, so one extreme
    value does not wash out the rest), a category by its level's position; missing stays NaN."""
    values = _numeric(column)
    known = values[np.isfinite(values)]
    if known.size == 0:
        return values
    if isinstance(column.dtype, pd.CategoricalDtype):
        low, high = 0.0, float(max(1, len(column.cat.categories) - 1))
    else:
        low, high = (float(q) for q in np.percentile(known, [5, 95]))
        if high <= low:
            low, high = float(known.min()), float(known.max())
    if high <= low:
        return np.where(np.isfinite(values), 0.5, np.nan)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


# UMAP ------------------------------------------------------------------------------------------------------------


def umap_neighbours(rows: int) -> int:
    """UMAP's neighbourhood size: its default 15, a quarter of the rows below 60 (but at least 5)."""
    return int(min(15, max(5, rows // 4)))


def umap_embedding(shap: ShapTable, seed: int = 0) -> np.ndarray:
    """The rows' SHAP vectors on a plane, shape (n, 2); the same seed gives the same map. SHAP vectors share one unit
    (score), so they go in unscaled. Neighbours are found exactly by scikit-learn and handed to UMAP: exact at any n
    (UMAP itself would switch to an approximate search from 4,096 rows) and it skips compiling UMAP's own search."""
    vectors = shap.values.to_numpy(dtype=np.float64)
    rows = vectors.shape[0]
    if rows < MIN_MAP_ROWS:
        raise DataError(f"{rows} trials are too few for a map: UMAP needs at least {MIN_MAP_ROWS}")
    if np.ptp(vectors, axis=0).max() == 0:
        raise DataError("every trial has the same SHAP values (the surrogate learned nothing): there is no map to draw")
    from sklearn.neighbors import NearestNeighbors

    neighbours = umap_neighbours(rows)
    distances, indices = NearestNeighbors(n_neighbors=neighbours).fit(vectors).kneighbors(vectors)
    umap = importlib.import_module("umap")  # untyped and slow to import; loaded on first use only
    reducer = umap.UMAP(
        n_neighbors=neighbours, n_components=2, random_state=seed, n_jobs=1, precomputed_knn=(indices, distances, None)
    )
    with warnings.catch_warnings():
        # "no search index: transform unavailable" is about mapping new rows later, which this map never does
        warnings.simplefilter("ignore", UserWarning)
        embedding = reducer.fit_transform(vectors)
    return np.asarray(embedding, dtype=np.float64)


# Figures ---------------------------------------------------------------------------------------------------------


def importance_figure(ranking: pd.Series, max_features: int = 20) -> go.Figure:
    """Mean |SHAP| per parameter as horizontal bars, the most important on top."""
    shown = ranking.head(max_features)
    figure = go.Figure(
        go.Bar(
            x=shown.to_numpy()[::-1], y=[str(n) for n in shown.index[::-1]], orientation="h",
            hovertemplate="%{y}: %{x:,.4g}<extra></extra>",
        )
    )  # fmt: skip
    figure.update_layout(
        title="What moves the score: mean |SHAP| per parameter", xaxis_title="mean |SHAP| (score units)",
        height=max(260, 60 + 26 * len(shown)), template="plotly_white", margin={"l": 140},
    )  # fmt: skip
    return figure


def swarm_offsets(shares: np.ndarray, bins: int = 60, width: float = 0.4) -> np.ndarray:
    """Vertical offsets that spread points sharing an x-range like a beeswarm: within each of ``bins`` bins of x,
    points alternate above and below the line, further out one by one, scaled so the fullest bin spans ±``width``."""
    if shares.size == 0 or np.ptp(shares) == 0:
        slot = np.arange(shares.size)
    else:
        cells = np.minimum(((shares - shares.min()) / np.ptp(shares) * bins).astype(int), bins - 1)
        order = np.argsort(cells, kind="stable")
        starts = np.searchsorted(cells[order], cells[order], side="left")
        slot = np.empty(shares.size, dtype=int)
        slot[order] = np.arange(shares.size) - starts
    signed = np.where(slot % 2 == 0, 1, -1) * ((slot + 1) // 2)
    widest = max(1, int(np.abs(signed).max())) if shares.size else 1
    offsets = signed * (width / widest)
    return np.asarray(offsets, dtype=np.float64)


def shap_summary_figure(shap: ShapTable, max_features: int = 20) -> go.Figure:
    """A beeswarm-like summary: one row per parameter (most important on top), one point per trial at its SHAP
    value, coloured by the parameter's value (low blue .. high red, a category by its level's position); trials
    without the parameter are grey."""
    features = list(importance(shap).index[:max_features])[::-1]
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    colours: list[np.ndarray] = []
    missing_x: list[np.ndarray] = []
    missing_y: list[np.ndarray] = []
    texts: list[str] = []
    missing_text: list[str] = []
    for row, feature in enumerate(features):
        shares = shap.values[feature].to_numpy(dtype=np.float64)
        y = row + swarm_offsets(shares)
        colour = normalised_values(shap.design.matrix[feature])
        label = shap.design.matrix[feature].astype(object).to_numpy()
        known = np.isfinite(colour)
        xs.append(shares[known])
        ys.append(y[known])
        colours.append(colour[known])
        texts.extend(f"{feature} = {v}" for v in label[known])
        missing_x.append(shares[~known])
        missing_y.append(y[~known])
        missing_text.extend(f"{feature} not set" for _ in range(int((~known).sum())))
    figure = go.Figure()
    figure.add_trace(
        go.Scattergl(
            x=np.concatenate(xs) if xs else [], y=np.concatenate(ys) if ys else [], mode="markers", name="trials",
            text=texts, hovertemplate="%{text}<br>SHAP %{x:,.4g}<extra></extra>",
            marker={"color": np.concatenate(colours) if colours else [], "colorscale": "RdBu_r", "cmin": 0, "cmax": 1,
                    "size": 5, "colorbar": {"title": "value", "tickvals": [0, 1], "ticktext": ["low", "high"]}},
        )
    )  # fmt: skip
    figure.add_trace(
        go.Scattergl(
            x=np.concatenate(missing_x) if missing_x else [], y=np.concatenate(missing_y) if missing_y else [],
            mode="markers", name="not set", text=missing_text, marker={"color": MISSING_COLOUR, "size": 5},
            hovertemplate="%{text}<br>SHAP %{x:,.4g}<extra></extra>",
        )
    )  # fmt: skip
    figure.update_layout(
        title="Each trial's SHAP per parameter", xaxis_title="SHAP (score units; right raises the score)",
        yaxis={"tickvals": list(range(len(features))), "ticktext": features, "zeroline": False},
        height=max(300, 80 + 40 * len(features)), template="plotly_white", showlegend=False, margin={"l": 140},
    )  # fmt: skip
    figure.add_vline(x=0, line={"color": "#888", "width": 1})
    return figure


def dependence_figure(
    shap: ShapTable, feature: str, colour_by: str | None = None, score: np.ndarray | None = None
) -> go.Figure:
    """``feature``'s value against its SHAP, one point per trial; coloured by ``score`` when given, else by the
    parameter named ``colour_by``, else by ``strongest_interaction``. Trials without the feature are left out."""
    _check_feature(shap, feature)
    column = shap.design.matrix[feature]
    known = column.notna().to_numpy()
    x = column.astype(object).to_numpy()[known] if isinstance(column.dtype, pd.CategoricalDtype) else column[known]
    if score is not None:
        colour_name, colour = "score", np.asarray(score, dtype=np.float64)[known]
        colour_scale: dict[str, Any] = {"colorscale": "Viridis"}
    else:
        colour_name = colour_by or strongest_interaction(shap, feature) or feature
        _check_feature(shap, colour_name)
        colour = normalised_values(shap.design.matrix[colour_name])[known]
        colour_scale = {"colorscale": "RdBu_r", "cmin": 0, "cmax": 1}
    figure = go.Figure(
        go.Scattergl(
            x=x, y=shap.values[feature].to_numpy()[known], mode="markers",
            marker={"color": colour, "size": 6, "colorbar": {"title": colour_name}, **colour_scale},
            hovertemplate=f"{feature} = %{{x}}<br>SHAP %{{y:,.4g}}<extra></extra>",
        )
    )  # fmt: skip
    figure.update_layout(
        title=f"How {feature} moves the score (colour: {colour_name})", xaxis_title=feature,
        yaxis_title=f"SHAP of {feature} (score units)", height=420, template="plotly_white",
    )  # fmt: skip
    return figure


def params_text(params: Mapping[str, Any]) -> str:
    """A trial's parameters for a hover box, one per line."""
    return "<br>".join(f"{name} = {value}" for name, value in sorted(params.items()))


def umap_figure(embedding: np.ndarray, shap: ShapTable, score: np.ndarray, score_name: str = "score") -> go.Figure:
    """The UMAP map: one point per trial, coloured by score, the trial's parameters on hover."""
    points = np.asarray(embedding, dtype=np.float64)
    values = np.asarray(score, dtype=np.float64).reshape(-1)
    if points.shape != (len(shap.design), 2) or values.size != len(shap.design):
        raise ConfigError(
            f"the map has {points.shape[0]:,} points and {values.size:,} scores for {len(shap.design):,} trials"
        )
    hover = [f"{score_name} {v:,.4g}<br>{params_text(p)}" for v, p in zip(values, shap.design.params, strict=True)]
    figure = go.Figure(
        go.Scattergl(
            x=points[:, 0], y=points[:, 1], mode="markers", text=hover, hovertemplate="%{text}<extra></extra>",
            marker={"color": values, "colorscale": "Viridis", "size": 6, "colorbar": {"title": score_name}},
        )
    )  # fmt: skip
    figure.update_layout(
        title="Trials mapped by why they score (UMAP of SHAP values)", height=480, template="plotly_white",
        xaxis={"showticklabels": False, "title": ""}, yaxis={"showticklabels": False, "title": ""},
    )  # fmt: skip
    return figure


__all__ = [
    "Design",
    "ShapTable",
    "Surrogate",
    "SurrogateQuality",
    "dependence_figure",
    "fit_surrogate",
    "importance",
    "importance_figure",
    "normalised_values",
    "params_text",
    "shap_summary_figure",
    "shap_values",
    "strongest_interaction",
    "surrogate_settings",
    "swarm_offsets",
    "trials_design",
    "umap_embedding",
    "umap_figure",
    "umap_neighbours",
]
