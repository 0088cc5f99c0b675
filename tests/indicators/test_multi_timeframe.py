"""A coarser timeframe's values on finer bars: the exact bar where each value appears (by hand), pandas' as-of merge
as an independent reference, and a property: no bar after ``i`` changes anything a strategy reads at or before
``i``, for the alignment and for every indicator added with it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratlab.data import Candles, resample
from stratlab.data.timeframes import HOUR_MS, MINUTE_MS
from stratlab.errors import ConfigError
from stratlab.indicators import (
    align_to_base,
    confirmed_swings,
    ema,
    ema_slope,
    higher_timeframe,
    indicator_cache,
    regime,
    rsi,
    support_resistance,
    volume_zscore,
    vwap_distance,
)
from tests.conftest import FIVE_MIN_MS, JAN_2025_MS, make_frame

FloatArray = npt.NDArray[np.float64]


def candles(frame: pd.DataFrame, timeframe: str = "5m") -> Candles:
    return Candles.from_frame(frame, source="demo", symbol="BTC", timeframe=timeframe)


def five_minute_bars(first: str, last: str, missing: tuple[str, ...] = ()) -> Candles:
    """5-minute bars of 2025-01-01 opening from ``first`` to ``last`` (HH:MM, both included), without ``missing``."""
    minutes = [m for m in range(_minute(first), _minute(last) + 1, 5) if m not in {_minute(x) for x in missing}]
    frame = make_frame(len(minutes), seed=1)
    frame["timestamp_ms"] = JAN_2025_MS + np.array(minutes, dtype=np.int64) * MINUTE_MS
    return candles(frame)


def _minute(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def opens(bars: Candles) -> list[str]:
    return [
        f"{(ms - JAN_2025_MS) // HOUR_MS:02d}:{(ms - JAN_2025_MS) % HOUR_MS // MINUTE_MS:02d}"
        for ms in bars.timestamp_ms
    ]


def first_bar_showing(base: Candles, aligned: FloatArray) -> dict[float, str]:
    """Each aligned value and the open time of the first base bar that shows it."""
    seen: dict[float, str] = {}
    for value, at in zip(aligned, opens(base), strict=True):
        if not np.isnan(value):
            seen.setdefault(float(value), at)
    return seen


# by hand -----------------------------------------------------------------------------------------------------


def test_each_hour_appears_on_the_five_minute_bar_that_closes_with_it() -> None:
    base = five_minute_bars("00:00", "02:55")
    hourly = higher_timeframe(base, "1h")
    assert opens(hourly) == ["00:00", "01:00", "02:00"]
    aligned = align_to_base(base, hourly, [10.0, 20.0, 30.0])
    # The bar opening at hh:55 closes at the hour: the first that can know the hour that just ended.
    assert first_bar_showing(base, aligned) == {10.0: "00:55", 20.0: "01:55", 30.0: "02:55"}
    np.testing.assert_array_equal(aligned, [np.nan] * 11 + [10.0] * 12 + [20.0] * 12 + [30.0])


def test_a_missing_last_bar_of_the_hour_delays_the_value_to_the_next_bar_that_exists() -> None:
    # No 00:50 and 00:55 bars; the hour is still built from the ten that exist. The 00:45 bar closes at 00:50,
    # before the hour ends, so the first bar to see it is 01:00 (closing 01:05). No bars at all from 01:30 to 01:55:
    # hour 1 is seen by the 02:00 bar.
    base = five_minute_bars(
        "00:00", "02:55", missing=("00:50", "00:55", "01:30", "01:35", "01:40", "01:45", "01:50", "01:55")
    )
    hourly = higher_timeframe(base, "1h")
    aligned = align_to_base(base, hourly, [10.0, 20.0, 30.0])
    assert first_bar_showing(base, aligned) == {10.0: "01:00", 20.0: "02:00", 30.0: "02:55"}
    assert np.isnan(aligned[opens(base).index("00:45")])


def test_a_whole_missing_hour_keeps_the_hour_before() -> None:
    # No bar in hour 1: resample has no hour 1, and hour 0's value lasts until hour 2 has closed.
    minutes = [f"01:{m:02d}" for m in range(0, 60, 5)]
    base = five_minute_bars("00:00", "02:55", missing=tuple(minutes))
    hourly = higher_timeframe(base, "1h")
    assert opens(hourly) == ["00:00", "02:00"]
    aligned = align_to_base(base, hourly, [10.0, 30.0])
    assert first_bar_showing(base, aligned) == {10.0: "00:55", 30.0: "02:55"}
    assert (aligned[opens(base).index("00:55") : opens(base).index("02:55")] == 10.0).all()


def test_a_series_starting_mid_hour_sees_nothing_until_its_first_whole_hour_closes() -> None:
    # From 00:35: resample drops the incomplete first hour, so the first value is hour 1's, on the 01:55 bar. A series
    # ending at 02:30 has no complete hour 2 either.
    base = five_minute_bars("00:35", "02:30")
    hourly = higher_timeframe(base, "1h")
    assert opens(hourly) == ["01:00"]
    aligned = align_to_base(base, hourly, [20.0])
    assert first_bar_showing(base, aligned) == {20.0: "01:55"}
    assert np.isnan(aligned[: opens(base).index("01:55")]).all()
    assert (aligned[opens(base).index("01:55") :] == 20.0).all()


def test_integer_codes_come_back_as_floats_and_the_result_is_read_only() -> None:
    base = five_minute_bars("00:00", "01:55")
    hourly = higher_timeframe(base, "1h")
    aligned = align_to_base(base, hourly, np.array([-1, 4], dtype=np.int8))
    assert aligned.dtype == np.float64
    assert first_bar_showing(base, aligned) == {-1.0: "00:55", 4.0: "01:55"}
    assert not aligned.flags.writeable
    assert align_to_base(base, hourly, pd.Series([1.0, 2.0]))[-1] == 2.0


# against pandas' as-of merge ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_tf", "step_ms", "target"),
    [("5m", FIVE_MIN_MS, "15m"), ("5m", FIVE_MIN_MS, "1h"), ("5m", FIVE_MIN_MS, "4h"), ("1h", HOUR_MS, "1d"),
     ("4h", 4 * HOUR_MS, "1w"), ("1d", 24 * HOUR_MS, "1M")],
)  # fmt: skip
def test_matches_a_backward_asof_merge_on_close_times(base_tf: str, step_ms: int, target: str) -> None:
    # pandas' merge_asof picks, for each base close time, the last higher bar whose close time is <= it. Holes
    # everywhere, including at the ends of buckets.
    frame = make_frame(6_000, start_ms=JAN_2025_MS + 7 * step_ms, step_ms=step_ms, seed=4)
    holes = np.random.default_rng(9).choice(len(frame), size=600, replace=False)
    base = candles(frame.drop(index=holes).reset_index(drop=True), base_tf)
    higher = higher_timeframe(base, target)
    values = np.arange(len(higher), dtype=np.float64) * 1.5 + 1.0
    left = pd.DataFrame({"close_ms": base.timeframe.next_open(base.timestamp_ms)})
    right = pd.DataFrame({"close_ms": higher.timeframe.next_open(higher.timestamp_ms), "value": values})
    expected = pd.merge_asof(left, right, on="close_ms", direction="backward")["value"].to_numpy()
    np.testing.assert_array_equal(align_to_base(base, higher, values), expected)
    assert np.isfinite(expected).mean() > 0.5 and len(np.unique(expected[np.isfinite(expected)])) > 5


# higher_timeframe --------------------------------------------------------------------------------------------


def test_higher_timeframe_is_resample_and_reuses_its_arrays_inside_the_indicator_cache() -> None:
    base = candles(make_frame(2_000, start_ms=JAN_2025_MS + 3 * FIVE_MIN_MS, seed=2))
    expected = resample(base, "1h")
    pd.testing.assert_frame_equal(higher_timeframe(base, "1h").to_frame(), expected.to_frame())
    assert higher_timeframe(base, "1h").timeframe == expected.timeframe
    with indicator_cache() as store:
        first = higher_timeframe(base, "1h")
        again = higher_timeframe(base, "1h")
        assert again.close is first.close and again.timestamp_ms is first.timestamp_ms
        # So an indicator of the hourly bars is computed once, like one of the base bars.
        ema(first.close, 10)
        hits = store.hits
        ema(again.close, 10)
        assert store.hits == hits + 1
        assert higher_timeframe(base, "4h").close is not first.close
    # Outside the cache every call resamples again.
    assert higher_timeframe(base, "1h").close is not higher_timeframe(base, "1h").close


def test_regime_codes_of_the_hour_on_the_bar_that_closes_it() -> None:
    # Regime with short windows here: its default volatility look-back of 1,000 bars is 42 days of hourly bars.
    base = candles(make_frame(288 * 30, seed=6))
    hourly = higher_timeframe(base, "1h")
    codes = regime(hourly.high, hourly.low, hourly.close, trend_period=20, vol_period=10, vol_lookback=50)
    aligned = align_to_base(base, hourly, codes)
    closing = (base.timestamp_ms + FIVE_MIN_MS) % HOUR_MS == 0
    np.testing.assert_array_equal(aligned[closing], codes)
    # Held until the next hour closes; unknown (-1) during the hourly warm-up, then known codes.
    np.testing.assert_array_equal(aligned[11:], np.repeat(codes, 12)[: len(base) - 11])
    assert (codes[:59] == -1).all() and (codes[59:] >= 0).all()


# errors ------------------------------------------------------------------------------------------------------

BASE = five_minute_bars("00:00", "01:55")
HOURLY = resample(BASE, "1h")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: align_to_base(BASE, BASE, BASE.close), r"higher must be a coarser timeframe than base \(5m\), got 5m"),
        (
            lambda: align_to_base(HOURLY, BASE, BASE.close),
            r"higher must be a coarser timeframe than base \(1h\), got 5m",
        ),
        (lambda: align_to_base(BASE, HOURLY, [1.0, 2.0, 3.0]), "values has 3 values, higher has 2 bars"),
        (lambda: align_to_base(BASE, HOURLY, np.ones((2, 2))), r"values must be a 1-D array, got shape \(2, 2\)"),
        (lambda: align_to_base(BASE, HOURLY, ["a", "b"]), "values must be a 1-D array of numbers"),
        (lambda: higher_timeframe(BASE, "3m"), "5m bars do not nest into 3m bars"),
        (lambda: higher_timeframe(BASE, "5m"), "5m bars do not nest into 5m bars"),
        (lambda: higher_timeframe(BASE, "2m"), "unknown '2m'"),
    ],
)
def test_bad_arguments_raise_one_line_config_errors(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        call()
    assert "\n" not in str(raised.value)


# causality ---------------------------------------------------------------------------------------------------


def outputs(base: Candles) -> dict[str, FloatArray]:
    """Everything a multi-timeframe strategy reads per base bar: the new indicators on the base bars, and indicators
    of 15-minute and hourly bars aligned back on them."""
    h, lo, c, v = base.high, base.low, base.close, base.volume
    out = {
        "ema_slope": ema_slope(c, 5, 2),
        "vwap_distance": vwap_distance(h, lo, c, v, 6),
        "volume_zscore": volume_zscore(v, 6),
        "swing_high": confirmed_swings(h, lo, 2)[0],
        "swing_low": confirmed_swings(h, lo, 2)[1],
        "support": support_resistance(h, lo, c, 2, 4)[0],
        "resistance": support_resistance(h, lo, c, 2, 4)[1],
    }
    for target in ("15m", "1h"):
        higher = higher_timeframe(base, target)
        hh, hl, hc = higher.high, higher.low, higher.close
        for name, values in {
            "close": hc,
            "ema_slope": ema_slope(hc, 3),
            "rsi": rsi(hc, 3),
            "swing_high": confirmed_swings(hh, hl, 1)[0],
            "support": support_resistance(hh, hl, hc, 1, 3)[0],
        }.items():
            out[f"{target} {name}"] = align_to_base(base, higher, values)
    return out


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=400),
    offset=st.integers(min_value=0, max_value=23),
    holes=st.integers(min_value=0, max_value=30),
    cut=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_no_bar_after_i_changes_anything_at_or_before_i(n: int, offset: int, holes: int, cut: float, seed: int) -> None:
    frame = make_frame(n + holes, start_ms=JAN_2025_MS + offset * FIVE_MIN_MS, seed=seed)
    dropped = np.random.default_rng(seed).choice(len(frame), size=holes, replace=False)
    frame = frame.drop(index=dropped).reset_index(drop=True)
    i = int(cut * (n - 1))
    reference = outputs(candles(frame))
    # Bars after i with other prices and volumes (the same times), or not there at all (the series ends at i).
    changed = frame.copy()
    other = make_frame(n, seed=seed + 1)
    for column in ("open", "high", "low", "close", "volume"):
        changed.loc[i + 1 :, column] = other[column].to_numpy()[i + 1 :] * 1.3
    for variant in (changed, frame.iloc[: i + 1]):
        for name, values in outputs(candles(variant)).items():
            np.testing.assert_array_equal(values[: i + 1], reference[name][: i + 1], err_msg=name)
    # The test sees hourly values at all on longer series (the hourly alignment is not NaN throughout).
    if n >= 300:
        assert np.isfinite(reference["1h close"]).any()
