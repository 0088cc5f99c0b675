"""A recursive average's declared memory against the average itself: started later, an EMA (or Wilder's average)
differs from the one on the longer history by a gap that shrinks by (1 - alpha) a bar; after ``ema_memory`` /
``wilder_memory`` bars that gap is below one part in a million of where it began."""

from __future__ import annotations

import numpy as np
import pytest

from stratlab.indicators import MEMORY_RTOL, atr, ema, ema_memory, smoothing_memory, wilder_memory


def test_smoothing_memory_is_where_the_decay_crosses_the_tolerance() -> None:
    for alpha in (0.5, 2 / 21, 1 / 14, 2 / 201):
        m = smoothing_memory(alpha)
        assert (1 - alpha) ** m <= MEMORY_RTOL < (1 - alpha) ** (m - 1)
    assert smoothing_memory(1.0) == 1
    with pytest.raises(ValueError, match="alpha"):
        smoothing_memory(0.0)


@pytest.mark.parametrize("period", [5, 20, 100])
def test_an_ema_started_later_meets_the_full_one_within_its_memory(period: int) -> None:
    rng = np.random.default_rng(period)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 6_000)))
    start = 1_000
    full = ema(close, period)[start:]
    later = ema(close[start:], period)
    first_gap = abs(later[period - 1] - full[period - 1])
    assert first_gap > 0  # the seeds differ: a later start does change the average at first
    after = ema_memory(period)
    assert np.all(np.abs(later[after:] - full[after:]) <= MEMORY_RTOL * first_gap * 1.0001)


def test_wilders_atr_started_later_meets_the_full_one_within_its_memory() -> None:
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 4_000)))
    high, low = close * (1 + rng.uniform(0, 0.01, close.size)), close * (1 - rng.uniform(0, 0.01, close.size))
    start, period = 700, 14
    full = atr(high, low, close, period)[start:]
    later = atr(high[start:], low[start:], close[start:], period)
    first_gap = abs(later[period] - full[period])
    assert first_gap > 0
    after = wilder_memory(period) + 1
    assert np.all(np.abs(later[after:] - full[after:]) <= MEMORY_RTOL * first_gap * 1.0001)
