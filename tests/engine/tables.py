"""Hand-written candle tables for engine tests: a few bars each, prices chosen so the arithmetic is easy by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from stratlab.data.candles import Candles

FIVE_MIN_MS = 300_000
START_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC


def table(rows: Sequence[tuple[float, float, float, float]], *, step_ms: int = FIVE_MIN_MS) -> Candles:
    """Candles from (open, high, low, close) rows, one 5m bar each from 2025-01-01 00:00 UTC, volume 1."""
    arr = np.array(rows, dtype=np.float64)
    frame = pd.DataFrame(
        {
            "timestamp_ms": START_MS + np.arange(len(rows), dtype=np.int64) * step_ms,
            "open": arr[:, 0],
            "high": arr[:, 1],
            "low": arr[:, 2],
            "close": arr[:, 3],
            "volume": np.ones(len(rows)),
        }
    )
    timeframe = {FIVE_MIN_MS: "5m", 3_600_000: "1h", 86_400_000: "1d"}[step_ms]
    return Candles.from_frame(frame, source="test", symbol="X", timeframe=timeframe)


def flat_bars(n: int, price: float = 100.0) -> list[tuple[float, float, float, float]]:
    """``n`` bars that trade in a narrow range around ``price`` and touch nothing."""
    return [(price, price + 0.1, price - 0.1, price)] * n


def signals(n: int, events: Mapping[int, int]) -> npt.NDArray[np.int8]:
    """An int8 signal array of ``n`` bars with ``events`` ({bar: +1/-1}) set."""
    out = np.zeros(n, dtype=np.int8)
    for bar, value in events.items():
        out[bar] = value
    return out
