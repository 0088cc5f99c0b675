"""Plotly figures of the UI, built from plain frames (no Streamlit here). Large series are thinned for display
only: candles merge into buckets (first open, max high, min low, last close), nothing is computed from them."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stratlab.data.candles import Candles
from stratlab.report.figures import candle_buckets
from stratlab.report.split import PartName
from stratlab.selection import pareto_front
from stratlab.ui.readable import params_of

MAX_CANDLES = 2_000
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
MAX_HISTORY_POINTS = 400
# The faint cloud behind the fronts: beyond this many points a page load spends more time drawing it than
# anything else on the page, and an even sample shows the same cloud.
MAX_DOMINATED_POINTS = 2_000


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


def _hover(frame: pd.DataFrame) -> list[str]:
    texts = []
    for row in frame.itertuples():
        params = params_of(row.params)
        listed = "<br>".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in params.items())
        texts.append(f"<b>{row.strategy} #{row.trial}</b><br>{listed}")
    return texts


def _completed(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials frame's completed trials with both objective values."""
    done = trials[trials["state"] == "COMPLETE"]
    returns, drawdowns = done["train_return_pct"].astype(float), done["train_max_drawdown_pct"].astype(float)
    finite: pd.DataFrame = done[np.isfinite(returns) & np.isfinite(drawdowns)]
    return finite


def _thinned(frame: pd.DataFrame, keep: int) -> pd.DataFrame:
    """An even sample of at most ``keep`` rows in trial order (deterministic, so a redraw shows the same points)."""
    return frame if len(frame) <= keep else frame.iloc[np.linspace(0, len(frame) - 1, keep).round().astype(int)]


def _colour_of(strategies: Sequence[str]) -> dict[str, str]:
    return {strategy: PALETTE[index % len(PALETTE)] for index, strategy in enumerate(sorted(set(strategies)))}


def _add_dominated(
    figure: go.Figure, dominated: pd.DataFrame, colours: dict[str, str], row: int | None = None, col: int | None = None
) -> None:
    """The trials off the front, small and faint (one legend entry for all): the cloud the front was chosen from.

    Beyond ``MAX_DOMINATED_POINTS`` in all, each strategy keeps an even share in trial order: tens of thousands of
    SVG markers slow the browser for nothing, since faint points only show where the cloud lies; the front itself is
    never thinned."""
    share = max(1, MAX_DOMINATED_POINTS // max(1, dominated["strategy"].nunique()))
    first = True
    for strategy, group in dominated.groupby("strategy", sort=True):
        shown = _thinned(group.sort_values("trial"), share if len(dominated) > MAX_DOMINATED_POINTS else len(group))
        figure.add_trace(
            go.Scatter(
                x=shown["train_max_drawdown_pct"], y=shown["train_return_pct"], mode="markers",
                marker={"color": colours.get(str(strategy), "gray"), "size": 4, "opacity": 0.25},
                name="dominated trials", legendgroup="dominated trials", showlegend=first,
                customdata=shown["trial"], text=[str(strategy)] * len(shown),
                hovertemplate="%{text} #%{customdata} (dominated)<br>DD %{x:.2f} %<br>return %{y:.2f} %<extra></extra>",
            ),
            row=row, col=col,
        )  # fmt: skip
        first = False


def _same_windows(trials: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
    """A walk-forward run's trials of the windows the candidates come from (its last window's, in the report)."""
    if "window" in trials.columns and "window" in candidates.columns and len(candidates):
        return trials[trials["window"].isin(set(candidates["window"]))]
    return trials


def pareto_figure(
    candidates: pd.DataFrame,
    selection: str,
    champion: tuple[str, int] | None,
    dd_threshold_pct: float | None = None,
    trials: pd.DataFrame | None = None,
) -> go.Figure:
    """Train front (left) and the same candidates on the selection part (right), per strategy; champion starred; the
    drawdown threshold of the champion rule, which applies to the selection part only, drawn on that panel.
    ``trials`` (a trials frame): its completed trials off the front drawn faintly behind the train front."""
    figure = make_subplots(
        rows=1, cols=2, subplot_titles=(PartName.TRAIN, selection), horizontal_spacing=0.1, shared_yaxes=False
    )  # fmt: skip
    colours = _colour_of(list(candidates["strategy"].astype(str)) if len(candidates) else [])
    if trials is not None and len(trials):
        done = _completed(_same_windows(trials, candidates))
        front = set(zip(candidates["strategy"].astype(str), candidates["trial"].astype(int), strict=True))
        keys = zip(done["strategy"].astype(str), done["trial"].astype(int), strict=True)
        dominated = done[[key not in front for key in keys]]
        colours = _colour_of([*colours, *dominated["strategy"].astype(str)])
        _add_dominated(figure, dominated, colours, row=1, col=1)
    for strategy, group in candidates.groupby("strategy", sort=True):
        hover = _hover(group)
        colour = colours[str(strategy)]  # the same colour for a strategy in both panels
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
    if dd_threshold_pct is not None:
        figure.add_vline(
            x=dd_threshold_pct, line={"dash": "dash", "color": "firebrick"}, row=1, col=2,
            annotation_text=f"DD threshold {dd_threshold_pct:g} %", annotation_position="top right",
        )  # fmt: skip
    for col in (1, 2):
        figure.update_xaxes(title_text="max drawdown %", row=1, col=col)
    figure.update_yaxes(title_text="return %", row=1, col=1)
    figure.update_layout(height=460, margin={"t": 40})
    return figure


def front_mask(trials: pd.DataFrame, min_train_trades: int = 0) -> npt.NDArray[np.bool_]:
    """Per row of a trials frame: on its strategy's train Pareto front (completed, at least ``min_train_trades``
    trades on train, as the report's rule; ``selection.pareto_front``)."""
    mask = np.zeros(len(trials), dtype=bool)
    done = _completed(trials)
    trades = done["n_trades"].astype(float).fillna(0.0) if "n_trades" in done.columns else None
    eligible = done if trades is None else done[trades >= min_train_trades]
    positions = pd.Series(np.arange(len(trials)), index=trials.index)
    for _, group in eligible.groupby("strategy", sort=True):
        front = pareto_front(group["train_return_pct"].to_numpy(float), group["train_max_drawdown_pct"].to_numpy(float))
        mask[positions[group.index[front]].to_numpy()] = True
    return mask


def live_front_figure(trials: pd.DataFrame, min_train_trades: int = 0) -> go.Figure:
    """Train return against train max drawdown of a trials frame: each strategy's front so far as a coloured line of
    markers, every other completed trial faint behind it."""
    figure = go.Figure()
    trials = trials.reset_index(drop=True)
    on_front = front_mask(trials, min_train_trades)
    done = _completed(trials)
    colours = _colour_of(list(done["strategy"].astype(str)))
    _add_dominated(figure, done[~on_front[done.index]], colours)
    fronts = trials[on_front].sort_values(["strategy", "train_max_drawdown_pct"])
    for strategy, group in fronts.groupby("strategy", sort=True):
        figure.add_trace(
            go.Scatter(
                x=group["train_max_drawdown_pct"], y=group["train_return_pct"], mode="lines+markers",
                line={"color": colours[str(strategy)], "shape": "hv", "width": 1}, marker={"size": 8},
                name=str(strategy), text=_hover(group),
                hovertemplate="%{text}<br>DD %{x:.2f} %<br>return %{y:.2f} %<extra></extra>",
            )
        )  # fmt: skip
    figure.update_layout(
        height=440, margin={"t": 30}, xaxis_title="train max drawdown %", yaxis_title="train return %",
        legend={"title": {"text": "train front so far"}},
    )  # fmt: skip
    return figure


def monthly_figure(monthly: pd.DataFrame, partial: Collection[tuple[int, int]] = ()) -> go.Figure:
    """Heat map of monthly returns (rows years, columns months, then the year's total when the table has it), red to
    green around zero, in %. A month the part covers only in part (``partial``: (year, month)) is marked with an
    asterisk and says so on hover. Years are categories: as numbers, plotly would label a two-year axis 2,024.5."""
    months = [m for m in range(1, 13) if m in monthly.columns]
    columns: list[int | str] = [*months, *(["year"] if "year" in monthly.columns else [])]
    values = monthly[columns].to_numpy(dtype=float)
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    x = [names[c - 1] if isinstance(c, int) else "Year" for c in columns]
    years = [int(y) for y in monthly.index]
    marked = [[isinstance(c, int) and (year, c) in partial for c in columns] for year in years]
    text = [
        ["" if np.isnan(v) else f"{v:+.1f}%{'*' if flag else ''}" for v, flag in zip(row, flags, strict=True)]
        for row, flags in zip(values, marked, strict=True)
    ]
    notes = [["partial month" if flag else "" for flag in flags] for flags in marked]
    figure = go.Figure(
        go.Heatmap(
            z=values, x=x, y=[str(y) for y in years], colorscale="RdYlGn", zmin=-limit, zmax=limit, text=text,
            customdata=notes, texttemplate="%{text}", colorbar={"title": {"text": "return %"}},
            hovertemplate="%{y} %{x}: %{z:+.2f} % %{customdata}<extra></extra>",
        )
    )  # fmt: skip
    figure.update_yaxes(type="category", categoryorder="array", categoryarray=[str(y) for y in years])
    title = "* partial month: the part covers only some of its days" if any(map(any, marked)) else None
    figure.update_layout(height=120 + 40 * len(monthly), margin={"t": 40}, title=title)
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


# -- Monitor ------------------------------------------------------------------------------------------------------

WINDOW_DASHES = ("solid", "dot", "dash", "dashdot", "longdash")  # a walk-forward window's front: its strategy's colour


def strategy_colours(strategies: Sequence[str]) -> dict[str, str]:
    """One colour per strategy, in the run's order (the same on every redraw)."""
    return {strategy: PALETTE[i % len(PALETTE)] for i, strategy in enumerate(strategies)}


def front_figure(points: pd.DataFrame, studies: Sequence[str], strategies: Sequence[str]) -> go.Figure:
    """The best-so-far train fronts: return % against max drawdown %, one colour per strategy (a walk-forward run
    draws one front per window and strategy, in its strategy's colour)."""
    figure = go.Figure()
    colours = strategy_colours(strategies)
    for study in studies:
        front = points[points["strategy"] == study].sort_values("max_drawdown_pct")
        if front.empty:
            continue
        strategy, _, window = study.partition("@w")
        colour = colours.get(strategy, PALETTE[0])
        dash = WINDOW_DASHES[int(window) % len(WINDOW_DASHES)] if window.isdigit() else "solid"
        figure.add_trace(
            go.Scatter(
                x=front["max_drawdown_pct"], y=front["return_pct"], mode="lines+markers", name=study,
                line={"color": colour, "shape": "hv", "dash": dash}, customdata=front["trial"],
                hovertemplate=f"{study} #%{{customdata}}<br>max DD %{{x:.2f}} %<br>return %{{y:+.2f}} %<extra></extra>",
            )
        )  # fmt: skip
    figure.update_layout(
        title="Best so far on train (the Pareto front of each strategy)", height=380, margin={"t": 40},
        xaxis_title="max drawdown on train (%)", yaxis_title="return on train (%)",
    )  # fmt: skip
    return figure


def elapsed_unit(longest_s: float) -> tuple[str, float]:
    """The unit that keeps the elapsed axis readable: seconds, minutes or hours."""
    if longest_s < 180:
        return "s", 1.0
    if longest_s < 3 * 3600:
        return "min", 60.0
    return "h", 3600.0


def throughput_figure(history: list[list[float]]) -> go.Figure:
    """Completed trials and trials/s against elapsed time, from the supervisor's history."""
    frame = pd.DataFrame(history, columns=["elapsed_s", "completed", "trials_per_s"])
    unit, scale = elapsed_unit(float(frame["elapsed_s"].max()))
    elapsed = frame["elapsed_s"] / scale
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    figure.add_trace(
        go.Scatter(x=elapsed, y=frame["completed"], mode="lines+markers", name="completed trials",
                   hovertemplate=f"%{{x:.1f}} {unit}: %{{y:,}} trials<extra></extra>"),
        row=1, col=1,
    )  # fmt: skip
    figure.add_trace(
        go.Scatter(x=elapsed, y=frame["trials_per_s"], mode="lines+markers", name="trials/s",
                   hovertemplate=f"%{{x:.1f}} {unit}: %{{y:.2f}} trials/s<extra></extra>"),
        row=2, col=1,
    )  # fmt: skip
    figure.update_yaxes(title_text="completed trials", row=1, col=1)
    figure.update_yaxes(title_text="trials/s", rangemode="tozero", row=2, col=1)
    figure.update_xaxes(title_text=f"elapsed ({unit})", row=2, col=1)
    figure.update_layout(title="Progress over time", height=420, margin={"t": 40}, showlegend=False)
    return figure


# -- "Is it luck?" and the portfolio --------------------------------------------------------------------------------

PASS_COLOUR, FAIL_COLOUR = "#2ca02c", "#d62728"


def utc_days(day_ms: Sequence[int]) -> pd.DatetimeIndex:
    """UTC day starts (epoch ms) as dates plotly draws on a date axis (naive, in UTC)."""
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(day_ms, dtype=np.int64), unit="ms"))


def cscv_logit_figure(logits: Sequence[float], pbo: float | None) -> go.Figure:
    """Histogram of the CSCV logits (one per split: the in-sample winner's relative rank out of sample, as a
    logit). The PBO is the share of splits at or left of 0, where the winner falls to or below the median."""
    figure = go.Figure(
        go.Histogram(x=list(logits), nbinsx=40, marker={"color": PALETTE[0]}, name="splits",
                     hovertemplate="logit %{x}<br>%{y} splits<extra></extra>")
    )  # fmt: skip
    figure.add_vrect(x0=min(0.0, *logits) if logits else -1.0, x1=0.0, fillcolor=FAIL_COLOUR, opacity=0.08,
                     line_width=0)  # fmt: skip
    figure.add_vline(x=0.0, line={"color": FAIL_COLOUR, "width": 2})
    shown = "undefined" if pbo is None else f"{pbo:.2f} ({pbo:.1%} of {len(logits):,} splits at or left of 0)"
    figure.update_layout(
        title=f"CSCV logits of the in-sample winner's out-of-sample rank: PBO {shown}", height=360,
        margin={"t": 50}, xaxis_title="logit (left of 0: the winner falls to or below the median out of sample)",
        yaxis_title="splits", showlegend=False, bargap=0.05,
    )  # fmt: skip
    return figure


def walk_forward_figure(
    labels: Sequence[str],
    in_sample_annual_pct: Sequence[float | None],
    out_of_sample_annual_pct: Sequence[float | None],
    oos_day_ms: Sequence[int],
    oos_equity: Sequence[float | None],
) -> go.Figure:
    """In-sample against out-of-sample annual return per window (grouped bars, top) and the out-of-sample
    windows' equity stitched end to end (bottom)."""
    figure = make_subplots(
        rows=2, cols=1, vertical_spacing=0.14, row_heights=[0.5, 0.5],
        subplot_titles=(
            "annual return per window: in-sample (train) vs out-of-sample", "stitched out-of-sample equity"
        ),
    )  # fmt: skip
    figure.add_trace(go.Bar(x=list(labels), y=list(in_sample_annual_pct), name="in-sample annual return %",
                            marker={"color": PALETTE[0]}), row=1, col=1)  # fmt: skip
    figure.add_trace(go.Bar(x=list(labels), y=list(out_of_sample_annual_pct), name="out-of-sample annual return %",
                            marker={"color": PALETTE[3]}), row=1, col=1)  # fmt: skip
    figure.add_trace(go.Scatter(x=utc_days(oos_day_ms), y=list(oos_equity), mode="lines", name="out-of-sample equity",
                                line={"color": PALETTE[2]}), row=2, col=1)  # fmt: skip
    figure.update_yaxes(title_text="annual return %", row=1, col=1)
    figure.update_yaxes(title_text="equity", row=2, col=1)
    figure.update_xaxes(title_text="day (UTC)", row=2, col=1)
    figure.update_layout(barmode="group", height=620, margin={"t": 50})
    return figure


def _axis_labels(values: Sequence[float | int | None], steps: Sequence[int]) -> list[str]:
    """Category labels of a grid axis: each value, or its step when it fell outside the parameter's bounds (so no
    two labels are the same)."""
    return [f"{v:g}" if v is not None else f"out of range ({s:+d} steps)" for v, s in zip(values, steps, strict=True)]


def neighbourhood_figure(
    x_param: str,
    y_param: str,
    steps: Sequence[int],
    x_values: Sequence[float | int | None],
    y_values: Sequence[float | int | None],
    return_pct: Sequence[Sequence[float | None]],
) -> go.Figure:
    """Heat map of the return (%) around the champion: rows ``y_param``, columns ``x_param`` at ``steps`` steps
    from the champion's values, red to green around zero; empty cells were not valid. The champion is the cell at
    step 0 on both axes, circled."""
    x_labels, y_labels = _axis_labels(x_values, steps), _axis_labels(y_values, steps)
    values = np.array([[np.nan if v is None else v for v in row] for row in return_pct], dtype=float)
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    text = [["invalid" if v is None else f"{v:+.1f}%" for v in row] for row in return_pct]
    figure = go.Figure(
        go.Heatmap(
            z=[list(row) for row in return_pct], x=x_labels, y=y_labels, colorscale="RdYlGn", zmin=-limit,
            zmax=limit, text=text, texttemplate="%{text}", colorbar={"title": {"text": "return %"}},
            hovertemplate=f"{x_param} %{{x}}<br>{y_param} %{{y}}<br>return %{{z:.2f}} %<extra></extra>",
        )
    )  # fmt: skip
    if 0 in steps:
        centre = list(steps).index(0)
        figure.add_trace(
            go.Scatter(
                x=[x_labels[centre]], y=[y_labels[centre]], mode="markers", name="champion",
                marker={"symbol": "circle-open", "size": 46, "color": "black", "line": {"width": 3}},
                hovertemplate="champion<extra></extra>",
            )
        )  # fmt: skip
    figure.update_xaxes(type="category", title_text=x_param)
    figure.update_yaxes(type="category", title_text=y_param)
    figure.update_layout(height=460, margin={"t": 40}, showlegend=False,
                         title="return % around the champion (circled), two most important parameters")  # fmt: skip
    return figure


def equity_fan_figure(
    day_ms: Sequence[int],
    p5: Sequence[float | None],
    p50: Sequence[float | None],
    p95: Sequence[float | None],
    observed: Sequence[float | None],
) -> go.Figure:
    """The bootstrap's equity fan: the 5th-95th percentile band, the median and the observed daily equity, by UTC
    day."""
    days = utc_days(day_ms)
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=days, y=list(p95), mode="lines", line={"width": 0, "color": PALETTE[0]},
                                name="95th percentile", showlegend=False))  # fmt: skip
    figure.add_trace(go.Scatter(x=days, y=list(p5), mode="lines", line={"width": 0, "color": PALETTE[0]},
                                fill="tonexty", fillcolor="rgba(31,119,180,0.2)",
                                name="5th-95th percentile"))  # fmt: skip
    figure.add_trace(go.Scatter(x=days, y=list(p50), mode="lines", line={"dash": "dash", "color": PALETTE[0]},
                                name="median"))  # fmt: skip
    figure.add_trace(go.Scatter(x=days, y=list(observed), mode="lines", line={"color": "black", "width": 2},
                                name="observed"))  # fmt: skip
    figure.update_layout(height=420, margin={"t": 40}, xaxis_title="day (UTC)", yaxis_title="equity",
                         title="stationary block bootstrap of the daily returns: equity fan")  # fmt: skip
    return figure


def correlation_figure(labels: Sequence[str], matrix: Sequence[Sequence[float]]) -> go.Figure:
    """Heat map of the members' correlation of daily returns, -1 (blue) to +1 (red)."""
    figure = go.Figure(
        go.Heatmap(
            z=[list(row) for row in matrix], x=list(labels), y=list(labels), zmin=-1.0, zmax=1.0,
            colorscale="RdBu_r", text=[[f"{v:+.2f}" for v in row] for row in matrix], texttemplate="%{text}",
            hovertemplate="%{y}<br>%{x}<br>correlation %{z:.3f}<extra></extra>",
        )
    )  # fmt: skip
    figure.update_xaxes(type="category", showticklabels=len(labels) <= 8)
    figure.update_yaxes(type="category", autorange="reversed")
    figure.update_layout(height=200 + 60 * len(labels), margin={"t": 40}, title="correlation of daily returns")
    return figure


def portfolio_equity_figure(day_ms: Sequence[int], equity: Sequence[float], drawdown_pct: Sequence[float]) -> go.Figure:
    """The portfolio's daily equity (from 1, top) and its drawdown in percent below zero (bottom)."""
    days = utc_days(day_ms)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05)
    figure.add_trace(go.Scatter(x=days, y=list(equity), mode="lines", name="equity",
                                line={"color": PALETTE[0]}), row=1, col=1)  # fmt: skip
    figure.add_trace(go.Scatter(x=days, y=[-abs(v) for v in drawdown_pct], mode="lines", name="drawdown %",
                                fill="tozeroy", line={"color": FAIL_COLOUR}), row=2, col=1)  # fmt: skip
    figure.update_yaxes(title_text="equity (from 1)", row=1, col=1)
    figure.update_yaxes(title_text="drawdown %", row=2, col=1)
    figure.update_xaxes(title_text="day (UTC)", row=2, col=1)
    figure.update_layout(height=520, margin={"t": 30}, showlegend=False)
    return figure


# -- order books ------------------------------------------------------------------------------------------------------

BID_COLOUR, ASK_COLOUR = "#2ca02c", "#d62728"


def order_book_figure(frame: pd.DataFrame, title: str, depth_bps: float, depth_levels: int) -> go.Figure:
    """Quote depth within ``depth_bps`` of the mid on each side (top) and the top-``depth_levels`` size imbalance
    (bottom) over UTC time. ``frame``: ``time`` (naive UTC), ``depth_bid_quote``, ``depth_ask_quote``, ``imbalance``."""
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.06)
    band = f"{depth_bps:,g} bps"
    for column, name, colour in (
        ("depth_bid_quote", "bids", BID_COLOUR),
        ("depth_ask_quote", "asks", ASK_COLOUR),
    ):
        figure.add_trace(
            go.Scatter(x=frame["time"], y=frame[column], mode="lines", name=f"{name} within {band}",
                       line={"color": colour},
                       hovertemplate=f"%{{x|%Y-%m-%d %H:%M:%S}} UTC<br>{name}: %{{y:,.0f}} quote<extra></extra>"),
            row=1, col=1,
        )  # fmt: skip
    figure.add_trace(
        go.Scatter(x=frame["time"], y=frame["imbalance"], mode="lines", name="imbalance", line={"color": PALETTE[0]},
                   hovertemplate="%{x|%Y-%m-%d %H:%M:%S} UTC<br>imbalance: %{y:+.3f}<extra></extra>"),
        row=2, col=1,
    )  # fmt: skip
    figure.add_hline(y=0.0, line={"color": "#999999", "width": 1}, row=2, col=1)
    figure.update_yaxes(title_text=f"depth within {band} (quote)", tickformat=",.0f", rangemode="tozero", row=1, col=1)
    figure.update_yaxes(title_text=f"imbalance, top {depth_levels} levels", range=[-1.05, 1.05], row=2, col=1)
    figure.update_xaxes(title_text="time (UTC)", row=2, col=1)
    figure.update_layout(
        title=title, height=540, margin={"t": 80}, legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"}
    )
    return figure


__all__ = [
    "WINDOW_DASHES",
    "candles_figure",
    "compare_figure",
    "correlation_figure",
    "cscv_logit_figure",
    "elapsed_unit",
    "equity_fan_figure",
    "front_figure",
    "history_figure",
    "monthly_figure",
    "neighbourhood_figure",
    "order_book_figure",
    "pareto_figure",
    "portfolio_equity_figure",
    "strategy_colours",
    "throughput_figure",
    "utc_days",
    "walk_forward_figure",
]
