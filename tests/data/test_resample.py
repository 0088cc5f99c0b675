"""``resample`` against pandas' own resampler (an independent implementation of the same aggregation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratlab.data import Candles, resample
from stratlab.errors import ConfigError
from tests.conftest import FIVE_MIN_MS, JAN_2025_MS, make_frame

PANDAS_RULES = {
    "15m": ("15min", None),
    "1h": ("1h", None),
    "4h": ("4h", None),
    "1d": ("1D", None),
    "3d": ("3D", pd.Timestamp("1970-01-01")),
    "1w": ("7D", pd.Timestamp("1970-01-05")),  # Monday-anchored weeks
    "1M": ("MS", None),
}


def pandas_reference(frame: pd.DataFrame, target: str, source_ms: int) -> pd.DataFrame:
    """pandas resample with the same completeness rule: drop partial first/last buckets and empty ones."""
    rule, origin = PANDAS_RULES[target]
    indexed = frame.set_index(pd.to_datetime(frame["timestamp_ms"], unit="ms"))
    kwargs = {"origin": origin} if origin is not None else {}
    grouped = indexed.resample(rule, label="left", closed="left", **kwargs)
    out = grouped.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    counts = grouped["open"].count()
    out = out[counts > 0]
    bucket_open = out.index.as_unit("ms").asi8
    if target == "1M":
        bucket_close = (out.index + pd.offsets.MonthBegin(1)).as_unit("ms").asi8
    else:
        bucket_close = bucket_open + pd.Timedelta(rule).value // 1_000_000
    first_ts = int(frame["timestamp_ms"].iloc[0])
    last_close = int(frame["timestamp_ms"].iloc[-1]) + source_ms
    complete = np.ones(len(out), dtype=bool)
    complete[0] = bucket_open[0] == first_ts
    complete[-1] &= last_close >= bucket_close[-1]
    out = out[complete]
    result = out.reset_index(drop=True)
    result.insert(0, "timestamp_ms", bucket_open[complete].astype(np.int64))
    return result


def as_candles(frame: pd.DataFrame) -> Candles:
    return Candles.from_frame(frame, source="demo", symbol="BTC", timeframe="5m")


@pytest.mark.parametrize("target", sorted(PANDAS_RULES))
def test_matches_pandas_on_a_year_with_holes(target: str) -> None:
    frame = make_frame(288 * 400, start_ms=JAN_2025_MS + 7 * FIVE_MIN_MS, seed=3)
    rng = np.random.default_rng(5)
    holes = rng.choice(len(frame), size=2_000, replace=False)
    frame = frame.drop(index=holes).reset_index(drop=True)
    got = resample(as_candles(frame), target).to_frame()
    expected = pandas_reference(frame, target, FIVE_MIN_MS)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)


def test_hand_computed_hour() -> None:
    # 2025-01-01 00:00 .. 01:55: 24 bars, two complete hours; the 02:00 bar alone is dropped as incomplete.
    ts = JAN_2025_MS + FIVE_MIN_MS * np.arange(25, dtype=np.int64)
    price = np.arange(25, dtype=np.float64) + 100.0
    frame = pd.DataFrame(
        {
            "timestamp_ms": ts,
            "open": price,
            "high": price + 2,
            "low": price - 1,
            "close": price + 1,
            "volume": np.ones(25),
        }
    )
    hourly = resample(as_candles(frame), "1h").to_frame()
    assert hourly["timestamp_ms"].tolist() == [JAN_2025_MS, JAN_2025_MS + 3_600_000]
    assert hourly["open"].tolist() == [100.0, 112.0]
    assert hourly["high"].tolist() == [113.0, 125.0]
    assert hourly["low"].tolist() == [99.0, 111.0]
    assert hourly["close"].tolist() == [112.0, 124.0]
    assert hourly["volume"].tolist() == [12.0, 12.0]


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=3_000),
    offset=st.integers(min_value=0, max_value=500),
    target=st.sampled_from(["15m", "1h", "4h", "1d"]),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_matches_pandas_for_any_start_and_length(n: int, offset: int, target: str, seed: int) -> None:
    frame = make_frame(n, start_ms=JAN_2025_MS + offset * FIVE_MIN_MS, seed=seed)
    got = resample(as_candles(frame), target).to_frame()
    reference = pandas_reference(frame, target, FIVE_MIN_MS) if n else None
    assert reference is not None
    pd.testing.assert_frame_equal(got, reference, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize(("source", "target"), [("5m", "3m"), ("5m", "5m"), ("3d", "1w"), ("1M", "1d")])
def test_targets_that_do_not_nest_are_refused(source: str, target: str) -> None:
    step = {"5m": FIVE_MIN_MS, "3d": 3 * 86_400_000, "1M": 31 * 86_400_000}[source]
    frame = make_frame(3, step_ms=step)
    candles = Candles.from_frame(frame, source="demo", symbol="BTC", timeframe=source)
    with pytest.raises(ConfigError, match="timeframe"):
        resample(candles, target)
