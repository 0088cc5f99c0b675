"""Figures of a backtest: a pure-data function (what is drawn) and a drawing function (plotly).

Large series are thinned for display only: candles are merged into buckets (first open, max high, min low, last
close), equity keeps each bucket's last value and drawdown its deepest, so every peak and trough stays visible.
Computation never uses the thinned data.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stratlab.data.candles import Candles
from stratlab.engine.result import BacktestResult
from stratlab.report.split import SplitPart

FloatArray = npt.NDArray[np.float64]
DEFAULT_MAX_POINTS = 4_000
# Above this many trades the fill markers would hide the candles: they start hidden (one click in the legend).
MARKERS_SHOWN_UP_TO = 300


@dataclass(frozen=True)
class BacktestChartData:
    """Everything the backtest chart shows, already thinned to at most ``max_points`` x values."""

    title: str
    time: pd.DatetimeIndex
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    equity: FloatArray
    drawdown_pct: FloatArray
    entries: pd.DataFrame  # time, price, side, text
    exits: pd.DataFrame  # time, price, reason, text
    bucket_bars: int
    # Buy-and-hold over the same bars (initial equity x close / first close), at the equity's points; None: not drawn.
    buy_hold: FloatArray | None = None
    # Where one split part ends and the next begins: (the next part's first bar time, "train | test").
    boundaries: tuple[tuple[pd.Timestamp, str], ...] = ()


@dataclass(frozen=True)
class CandleBuckets:
    """Bars ``[start, end)`` merged into at most ``max_points`` buckets of ``size`` bars: first open, max high, min
    low, last close; ``starts`` and ``lasts`` index each bucket's first and last bar, relative to ``start``."""

    time: pd.DatetimeIndex
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    starts: npt.NDArray[np.int64]
    lasts: npt.NDArray[np.int64]
    size: int


def candle_buckets(candles: Candles, start: int, end: int, max_points: int) -> CandleBuckets:
    n = max(end - start, 0)
    size = max(1, -(-n // max_points))
    starts = np.arange(0, n, size, dtype=np.int64)
    lasts = np.minimum(starts + size - 1, n - 1)
    high, low = candles.high[start:end], candles.low[start:end]
    return CandleBuckets(
        time=pd.to_datetime(candles.timestamp_ms[start:end][starts], unit="ms", utc=True),
        open=candles.open[start:end][starts],
        high=np.maximum.reduceat(high, starts) if n else high,
        low=np.minimum.reduceat(low, starts) if n else low,
        close=candles.close[start:end][lasts],
        starts=starts,
        lasts=lasts,
        size=size,
    )


def buy_and_hold_equity(result: BacktestResult) -> FloatArray:
    """Per bar of the backtest: the equity of holding the asset from the first bar's close, without costs."""
    close = result.candles.close[result.start : result.end]
    if close.size == 0:
        return np.empty(0)
    out: FloatArray = result.initial_equity * (close / close[0])  # exactly the initial equity on the first bar
    return out


def part_boundaries(parts: Sequence[SplitPart]) -> tuple[tuple[pd.Timestamp, str], ...]:
    """One marker where each part ends and the next begins, at the next part's first bar, labelled "train | test"."""
    return tuple(
        (pd.Timestamp(after.first_bar_ms, unit="ms", tz="UTC"), f"{before.name} | {after.name}")
        for before, after in itertools.pairwise(parts)
    )


def backtest_chart_data(
    result: BacktestResult,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
    parts: Sequence[SplitPart] = (),
    buy_and_hold: bool = False,
) -> BacktestChartData:
    """The chart's data: candles, equity and drawdown per (bucket of) bars, and one marker per fill; with ``parts``,
    a marker at each boundary between them; with ``buy_and_hold``, that equity over the same bars."""
    start, end = result.start, result.end
    candles = result.candles
    frame = result.equity_frame()
    buckets = candle_buckets(candles, start, end, max_points)
    trades = result.trades
    side_name = np.where(trades["side"].to_numpy() > 0, "long", "short")
    entries = pd.DataFrame(
        {
            "time": pd.to_datetime(trades["entry_time_ms"], unit="ms", utc=True),
            "price": trades["entry_price"],
            "side": trades["side"],
            "text": [
                f"{s} {q:.6g} @ {p:.6g}"
                for s, q, p in zip(side_name, trades["size"], trades["entry_price"], strict=True)
            ],
        }
    )
    exits = pd.DataFrame(
        {
            "time": pd.to_datetime(trades["exit_time_ms"], unit="ms", utc=True),
            "price": trades["exit_price"],
            "reason": trades["exit_reason"],
            "text": [f"{r}: pnl {p:,.2f}" for r, p in zip(trades["exit_reason"], trades["pnl"], strict=True)],
        }
    )
    return BacktestChartData(
        title=f"{candles.label} · {len(trades)} trades · return {result.return_pct:.2f} % · "
        f"max DD {result.max_drawdown_pct:.2f} %",
        time=buckets.time,
        open=buckets.open,
        high=buckets.high,
        low=buckets.low,
        close=buckets.close,
        equity=frame["equity"].to_numpy()[buckets.lasts],
        drawdown_pct=np.maximum.reduceat(frame["drawdown_pct"].to_numpy(), buckets.starts),
        entries=entries,
        exits=exits,
        bucket_bars=buckets.size,
        buy_hold=buy_and_hold_equity(result)[buckets.lasts] if buy_and_hold else None,
        boundaries=part_boundaries(parts),
    )


def backtest_figure(data: BacktestChartData, *, log_y: bool = False) -> go.Figure:
    """Candles with entry/exit markers, equity (and buy-and-hold), and drawdown below, sharing the time axis; a
    dashed line through all three at each split boundary; ``log_y``: price and equity on log scales (a 10 % move
    looks the same at any level)."""
    figure = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=[0.55, 0.25, 0.20])
    candle_name = "price" if data.bucket_bars == 1 else f"price ({data.bucket_bars} bars per candle)"
    figure.add_trace(
        go.Candlestick(x=data.time, open=data.open, high=data.high, low=data.low, close=data.close, name=candle_name),
        row=1,
        col=1,
    )
    markers_visible: bool | str = True if len(data.entries) <= MARKERS_SHOWN_UP_TO else "legendonly"
    for side, symbol, colour, label in (
        (1, "triangle-up", "#1a9850", "long entry"),
        (-1, "triangle-down", "#d73027", "short entry"),
    ):
        chosen = data.entries[data.entries["side"] == side]
        figure.add_trace(
            go.Scatter(
                x=chosen["time"],
                y=chosen["price"],
                mode="markers",
                name=label,
                text=chosen["text"],
                marker={"symbol": symbol, "size": 9, "color": colour},
                hovertemplate="%{text}<extra></extra>",
                visible=markers_visible,
            ),
            row=1,
            col=1,
        )
    figure.add_trace(
        go.Scatter(
            x=data.exits["time"],
            y=data.exits["price"],
            mode="markers",
            name="exit",
            text=data.exits["text"],
            marker={"symbol": "x", "size": 8, "color": "#4d4d4d"},
            hovertemplate="%{text}<extra></extra>",
            visible=markers_visible,
        ),
        row=1,
        col=1,
    )
    figure.add_trace(go.Scatter(x=data.time, y=data.equity, name="equity", line={"color": "#2166ac"}), row=2, col=1)
    if data.buy_hold is not None:
        figure.add_trace(
            go.Scatter(x=data.time, y=data.buy_hold, name="buy and hold", line={"color": "#999999", "dash": "dot"}),
            row=2,
            col=1,
        )
    figure.add_trace(
        go.Scatter(x=data.time, y=-data.drawdown_pct, name="drawdown %", fill="tozeroy", line={"color": "#b2182b"}),
        row=3,
        col=1,
    )
    figure.update_layout(
        title=data.title, height=900, xaxis_rangeslider_visible=False, hovermode="x unified", template="plotly_white"
    )
    figure.update_yaxes(title_text="price", row=1, col=1)
    figure.update_yaxes(title_text="equity", row=2, col=1)
    figure.update_yaxes(title_text="drawdown %", row=3, col=1)
    if log_y:
        figure.update_yaxes(type="log", row=1, col=1)
        figure.update_yaxes(type="log", row=2, col=1)
    for time, label in data.boundaries:
        # A shape and an annotation, not add_vline: its label cannot be placed on a date axis.
        figure.add_shape(
            type="line", x0=time, x1=time, xref="x", y0=0, y1=1, yref="paper",
            line={"color": "#555555", "width": 1, "dash": "dash"}, name=label,
        )  # fmt: skip
        figure.add_annotation(
            x=time, xref="x", y=1, yref="paper", text=label, showarrow=False, yanchor="bottom",
            font={"size": 12, "color": "#333333"}, bgcolor="rgba(255,255,255,0.8)",
        )  # fmt: skip
    return figure


__all__ = ["BacktestChartData", "backtest_chart_data", "backtest_figure", "buy_and_hold_equity", "part_boundaries"]
