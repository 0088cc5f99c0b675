"""Figures of a backtest: a pure-data function (what is drawn) and a drawing function (plotly).

Large series are thinned for display only: candles are merged into buckets (first open, max high, min low, last
close), equity keeps each bucket's last value and drawdown its deepest, so every peak and trough stays visible.
Computation never uses the thinned data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stratlab.data.candles import Candles
from stratlab.engine.result import BacktestResult

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


def backtest_chart_data(result: BacktestResult, *, max_points: int = DEFAULT_MAX_POINTS) -> BacktestChartData:
    """The chart's data: candles, equity and drawdown per (bucket of) bars, and one marker per fill."""
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
    )


def backtest_figure(data: BacktestChartData) -> go.Figure:
    """Candles with entry/exit markers, equity, and drawdown below, sharing the time axis."""
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
    return figure


__all__ = ["BacktestChartData", "backtest_chart_data", "backtest_figure"]
