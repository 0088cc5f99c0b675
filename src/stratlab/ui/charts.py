"""Plotly figures of the UI, built from plain frames (no Streamlit here). Large series are thinned for display
only: candles merge into buckets (first open, max high, min low, last close), nothing is computed from them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stratlab.data.candles import Candles
from stratlab.report.figures import candle_buckets
from stratlab.report.split import PartName

MAX_CANDLES = 2_000
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
MAX_HISTORY_POINTS = 400


def candles_figure(candles: Candles, title: str, max_points: int = MAX_CANDLES) -> go.Figure:
    """A candlestick chart of ``candles``, merged into at most ``max_points`` buckets."""
    buckets = candle_buckets(candles, 0, len(candles), max_points)
    figure = go.Figure(
        go.Candlestick(
            x=buckets.time, open=buckets.open, high=buckets.high, low=buckets.low, close=buckets.close, name=title
        )
    )
    note = f" (each candle = {buckets.size} bars)" if buckets.size > 1 else ""
    figure.update_layout(title=f"{title}{note}", xaxis_rangeslider_visible=False, height=420, margin={"t": 40})
    return figure


def _params(text: object) -> dict[str, object]:
    """A candidate's parameters from its CSV cell (JSON); anything else shows no parameters rather than failing."""
    try:
        params = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


def _hover(frame: pd.DataFrame) -> list[str]:
    texts = []
    for row in frame.itertuples():
        params = _params(row.params)
        listed = "<br>".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in params.items())
        texts.append(f"<b>{row.strategy} #{row.trial}</b><br>{listed}")
    return texts


def pareto_figure(candidates: pd.DataFrame, selection: str, champion: tuple[str, int] | None) -> go.Figure:
    """Train front (left) and the same candidates on the selection part (right), per strategy; champion starred."""
    figure = make_subplots(
        rows=1, cols=2, subplot_titles=(PartName.TRAIN, selection), horizontal_spacing=0.1, shared_yaxes=False
    )  # fmt: skip
    for index, (strategy, group) in enumerate(candidates.groupby("strategy", sort=True)):
        hover = _hover(group)
        colour = PALETTE[index % len(PALETTE)]  # the same colour for a strategy in both panels
        for col, part in ((1, PartName.TRAIN), (2, selection)):
            figure.add_trace(
                go.Scatter(
                    x=group[f"{part}_max_drawdown_pct"], y=group[f"{part}_return_pct"], mode="markers",
                    marker={"color": colour, "size": 8},
                    name=str(strategy), legendgroup=str(strategy), showlegend=col == 1, text=hover,
                    hovertemplate="%{text}<br>DD %{x:.2f} %<br>return %{y:.2f} %<extra></extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
    if champion is not None:
        chosen = candidates[(candidates["strategy"] == champion[0]) & (candidates["trial"] == champion[1])]
        for col, part in ((1, PartName.TRAIN), (2, selection)):
            figure.add_trace(
                go.Scatter(
                    x=chosen[f"{part}_max_drawdown_pct"], y=chosen[f"{part}_return_pct"], mode="markers",
                    marker={"symbol": "star", "size": 18, "color": "gold", "line": {"width": 1, "color": "black"}},
                    name="champion", legendgroup="champion", showlegend=col == 1, text=_hover(chosen),
                    hovertemplate="%{text}<br>DD %{x:.2f} %<br>return %{y:.2f} %<extra>champion</extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
    for col in (1, 2):
        figure.update_xaxes(title_text="max drawdown %", row=1, col=col)
    figure.update_yaxes(title_text="return %", row=1, col=1)
    figure.update_layout(height=460, margin={"t": 40})
    return figure


def monthly_figure(monthly: pd.DataFrame) -> go.Figure:
    """Heat map of monthly returns (rows years, columns months), red to green around zero. Years are categories:
    as numbers, plotly would label a two-year axis 2,024.5."""
    months = [m for m in range(1, 13) if m in monthly.columns]
    values = monthly[months].to_numpy(dtype=float)
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    figure = go.Figure(
        go.Heatmap(
            z=values, x=[names[m - 1] for m in months], y=[str(y) for y in monthly.index], colorscale="RdYlGn",
            zmin=-limit, zmax=limit, text=np.vectorize(lambda v: "" if np.isnan(v) else f"{v:+.1f}%")(values),
            texttemplate="%{text}", hovertemplate="%{y} %{x}: %{z:.2f} %<extra></extra>",
        )
    )  # fmt: skip
    figure.update_yaxes(type="category", categoryorder="array", categoryarray=[str(y) for y in monthly.index])
    figure.update_layout(height=120 + 40 * len(monthly), margin={"t": 30})
    return figure


def importance_figure(importances: dict[str, float], title: str) -> go.Figure:
    names = list(importances)[::-1]
    figure = go.Figure(go.Bar(x=[importances[n] for n in names], y=names, orientation="h"))
    figure.update_layout(title=title, height=120 + 28 * len(names), margin={"t": 40}, xaxis_title="importance")
    return figure


def history_figure(trials: pd.DataFrame, max_points: int = MAX_HISTORY_POINTS) -> go.Figure:
    """Train return of the completed trials by trial number (an even sample of at most ``max_points`` per strategy)
    and the best so far (every step where it improves, so the line is exact), per strategy."""
    figure = go.Figure()
    complete = trials[trials["state"] == "COMPLETE"].sort_values("trial")
    for index, (strategy, group) in enumerate(complete.groupby("strategy", sort=True)):
        colour = PALETTE[index % len(PALETTE)]
        shown = group.iloc[:: max(1, -(-len(group) // max_points))]
        best = group["train_return_pct"].cummax()
        steps = group[best.ne(best.shift())]
        figure.add_trace(
            go.Scatter(
                x=shown["trial"], y=shown["train_return_pct"], mode="markers", name=f"{strategy}",
                marker={"size": 4, "opacity": 0.5, "color": colour}, legendgroup=str(strategy),
            )
        )  # fmt: skip
        figure.add_trace(
            go.Scatter(
                x=[*steps["trial"], group["trial"].iloc[-1]], y=[*best[steps.index], best.iloc[-1]],
                mode="lines", line_shape="hv", line={"color": colour}, name=f"{strategy} best",
                legendgroup=str(strategy),
            )
        )  # fmt: skip
    figure.update_layout(height=420, margin={"t": 30}, xaxis_title="trial", yaxis_title="train return %")
    return figure


def compare_figure(fronts: dict[str, pd.DataFrame], selection: dict[str, str]) -> go.Figure:
    """The candidates of several runs on their selection part, one colour per run."""
    figure = go.Figure()
    for index, (name, frame) in enumerate(fronts.items()):
        part = selection[name]
        figure.add_trace(
            go.Scatter(
                x=frame[f"{part}_max_drawdown_pct"], y=frame[f"{part}_return_pct"], mode="markers", name=name,
                marker={"color": PALETTE[index % len(PALETTE)], "size": 8},
                text=_hover(frame), hovertemplate="%{text}<br>DD %{x:.2f} %<br>return %{y:.2f} %<extra></extra>",
            )
        )  # fmt: skip
    figure.update_layout(
        height=420, margin={"t": 30}, xaxis_title="max drawdown % (selection part)", yaxis_title="return %"
    )
    return figure


__all__ = [
    "candles_figure",
    "compare_figure",
    "history_figure",
    "importance_figure",
    "monthly_figure",
    "pareto_figure",
]
