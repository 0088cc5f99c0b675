"""Each rule of the data contract: a month file that breaks it, and the error that must name file and row."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stratlab.data import DataError, load_ohlcv
from stratlab.data.store import MarketStore
from stratlab.data.timeframes import parse_timeframe
from stratlab.data.validate import find_problems, validate_frame
from tests.conftest import FIVE_MIN_MS, JAN_2025_MS, make_frame, run_cli

BAD_ROW = 7


def write_raw(data_root: Path, frame: pd.DataFrame, month: str = "01") -> Path:
    """Write a month file as-is, bypassing the store's checks (as a foreign tool or a bug would)."""
    path = MarketStore(data_root).series_dir("demo", "BTC", "5m") / "2025" / f"{month}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def set_cell(frame: pd.DataFrame, column: str, value: float) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[BAD_ROW, column] = value
    return frame


def _nan(f: pd.DataFrame) -> pd.DataFrame:
    return set_cell(f, "close", np.nan)


def _inf(f: pd.DataFrame) -> pd.DataFrame:
    return set_cell(f, "volume", np.inf)


def _high_below_body(f: pd.DataFrame) -> pd.DataFrame:
    body_top = max(f.loc[BAD_ROW, "open"], f.loc[BAD_ROW, "close"])
    # keep high >= low so that this is not also the high<low rule
    f = set_cell(f, "low", min(f.loc[BAD_ROW, "open"], f.loc[BAD_ROW, "close"]) * 0.99)
    return set_cell(f, "high", body_top * 0.9999)


def _low_above_body(f: pd.DataFrame) -> pd.DataFrame:
    return set_cell(f, "low", min(f.loc[BAD_ROW, "open"], f.loc[BAD_ROW, "close"]) * 1.0001)


def _high_below_low(f: pd.DataFrame) -> pd.DataFrame:
    f = set_cell(f, "high", 50.0)
    return set_cell(f, "low", 60.0)


def _negative_volume(f: pd.DataFrame) -> pd.DataFrame:
    return set_cell(f, "volume", -1.0)


def _duplicate(f: pd.DataFrame) -> pd.DataFrame:
    f = f.copy()
    f.loc[BAD_ROW, "timestamp_ms"] = f.loc[BAD_ROW - 1, "timestamp_ms"]
    return f


def _unsorted(f: pd.DataFrame) -> pd.DataFrame:
    f = f.copy()
    a, b = f.loc[BAD_ROW - 1, "timestamp_ms"], f.loc[BAD_ROW, "timestamp_ms"]
    f.loc[BAD_ROW - 1, "timestamp_ms"], f.loc[BAD_ROW, "timestamp_ms"] = b, a
    return f


def _off_grid(f: pd.DataFrame) -> pd.DataFrame:
    f = f.copy()
    f.loc[BAD_ROW, "timestamp_ms"] += 60_000  # 1 minute into a 5m bar, still sorted
    return f


ROW_RULES: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], str]] = {
    "nan": (_nan, "NaN or inf"),
    "inf": (_inf, "NaN or inf"),
    "high_below_open_close": (_high_below_body, "< max(open"),
    "low_above_open_close": (_low_above_body, "> min(open"),
    "high_below_low": (_high_below_low, "high 50.0 < low 60.0"),
    "negative_volume": (_negative_volume, "negative volume -1.0"),
    "duplicate_timestamps": (_duplicate, "duplicate timestamp_ms"),
    "unsorted_timestamps": (_unsorted, "goes backwards"),
    "off_grid_timestamps": (_off_grid, "not on the 5m grid"),
}


@pytest.mark.parametrize("rule", sorted(ROW_RULES))
def test_row_rule_error_names_file_and_row(rule: str, data_root: Path) -> None:
    breaker, words = ROW_RULES[rule]
    path = write_raw(data_root, breaker(make_frame(50)))
    with pytest.raises(DataError) as caught:
        load_ohlcv("demo", "BTC", "5m", data_root=data_root)
    message = str(caught.value)
    assert str(path) in message
    assert f"row {BAD_ROW}:" in message
    assert words in message
    assert "\n" not in message


def test_a_bar_in_the_wrong_month_file_is_named(data_root: Path) -> None:
    frame = make_frame(50)  # January bars
    path = write_raw(data_root, frame, month="02")
    with pytest.raises(DataError, match=r"row 0: .*outside this file's month") as caught:
        load_ohlcv("demo", "BTC", "5m", data_root=data_root)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda f: f.drop(columns=["volume"]), "missing column(s) volume"),
        (lambda f: f.assign(trades=1), "unexpected column(s) trades"),
        (
            lambda f: f.assign(timestamp_ms=f["timestamp_ms"].astype("float64")),
            "timestamp_ms has dtype float64",
        ),
        (lambda f: f.assign(volume=f["volume"].round().astype("int64")), "volume has dtype int64"),
        (lambda f: f.assign(close=f["close"].astype("float32")), "close has dtype float32"),
    ],
    ids=["missing", "extra", "float_timestamp", "int_volume", "float32_close"],
)
def test_schema_errors_name_file_and_column(
    change: Callable[[pd.DataFrame], pd.DataFrame], words: str, data_root: Path
) -> None:
    path = write_raw(data_root, change(make_frame(20)))
    with pytest.raises(DataError) as caught:
        load_ohlcv("demo", "BTC", "5m", data_root=data_root)
    assert str(path) in str(caught.value)
    assert words in str(caught.value)


def test_garbage_bytes_are_reported_as_corrupt_parquet(data_root: Path) -> None:
    path = write_raw(data_root, make_frame(20))
    path.write_bytes(b"this is not parquet at all" * 10)
    with pytest.raises(DataError, match="unreadable or corrupt Parquet") as caught:
        load_ohlcv("demo", "BTC", "5m", data_root=data_root)
    assert str(path) in str(caught.value)


def test_truncated_parquet_is_reported(data_root: Path) -> None:
    path = write_raw(data_root, make_frame(500))
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(DataError, match="unreadable or corrupt Parquet") as caught:
        load_ohlcv("demo", "BTC", "5m", data_root=data_root)
    assert str(path) in str(caught.value)


def test_first_bad_row_wins_across_rules(data_root: Path) -> None:
    frame = make_frame(50)
    frame.loc[30, "volume"] = -5.0
    frame.loc[12, "close"] = np.nan
    write_raw(data_root, frame)
    with pytest.raises(DataError, match=r"row 12: .*NaN"):
        load_ohlcv("demo", "BTC", "5m", data_root=data_root)


def test_problems_come_in_row_order_whatever_order_the_rules_are_checked_in() -> None:
    """Rules are checked values first (NaN, prices, volume), timestamps last; the report follows the rows."""
    frame = make_frame(50)
    frame.loc[2, "timestamp_ms"] += 60_000  # off the 5m grid: the last rule checked, the earliest row
    frame.loc[5, "volume"] = -1.0  # negative volume
    frame.loc[10, "volume"] = -2.0  # ... and on row 10 together with an off-grid timestamp
    frame.loc[10, "timestamp_ms"] += 60_000
    frame.loc[20, "close"] = np.nan  # the first rule checked, a later row
    frame.loc[30, "timestamp_ms"] = frame.loc[29, "timestamp_ms"]  # duplicate
    frame.loc[40, ["high", "low"]] = [50.0, 60.0]  # high < low
    problems = find_problems(frame, "f.parquet", parse_timeframe("5m"))
    assert [(p.rule, p.row) for p in problems] == [
        ("off_grid_timestamps", 2),
        ("negative_volume", 5),  # first seen on row 5: before off_grid's second row, 10
        ("not_finite", 20),
        ("duplicate_timestamps", 30),
        ("high_below_low", 40),
    ]
    assert [p.example_rows for p in problems[:2]] == [(2, 10), (5, 10)]
    with pytest.raises(DataError, match=r"^f\.parquet: row 2: .*not on the 5m grid"):
        validate_frame(frame, "f.parquet", parse_timeframe("5m"))


def test_rules_failing_on_the_same_first_row_keep_the_order_they_are_checked_in() -> None:
    frame = make_frame(20)
    frame.loc[4, "volume"] = -1.0
    frame.loc[4, "timestamp_ms"] = frame.loc[3, "timestamp_ms"] - 60_000  # backwards, and off the grid
    problems = find_problems(frame, "f.parquet", parse_timeframe("5m"))
    # The order of checking (values, order of timestamps, grid), not the alphabet.
    assert [(p.rule, p.row) for p in problems] == [
        ("negative_volume", 4),
        ("unsorted_timestamps", 4),
        ("off_grid_timestamps", 4),
    ]


def test_data_check_reports_every_problem_and_gap_and_exits_zero(data_root: Path) -> None:
    frame = make_frame(300)
    frame.loc[3, "volume"] = -1.0
    frame.loc[9, "low"] = frame.loc[9, "high"] + 1.0
    frame = frame.drop(index=range(100, 112)).reset_index(drop=True)  # a gap of 12 bars
    write_raw(data_root, frame)
    result = run_cli(
        "data",
        "check",
        "--source",
        "demo",
        "--symbol",
        "BTC",
        "--timeframe",
        "5m",
        "--data-root",
        str(data_root),
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "negative_volume" in out
    assert "high_below_low" in out
    gap_start = pd.Timestamp(JAN_2025_MS + 100 * FIVE_MIN_MS, unit="ms").strftime("%Y-%m-%d %H:%M")
    assert f"gap: {gap_start} UTC" in out
    assert "12 missing bars" in out
    assert "2 problem(s), 1 gap(s)" in out


def test_data_check_strict_fails_on_problems_and_passes_on_clean_data(data_root: Path) -> None:
    args = (
        "data",
        "check",
        "--source",
        "demo",
        "--symbol",
        "BTC",
        "--timeframe",
        "5m",
        "--strict",
        "--data-root",
        str(data_root),
    )
    write_raw(data_root, make_frame(100))
    clean = run_cli(*args)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "0 problem(s), 0 gap(s)" in clean.stdout

    write_raw(data_root, set_cell(make_frame(100), "volume", -3.0))
    dirty = run_cli(*args)
    assert dirty.returncode == 1
    assert "negative_volume" in dirty.stdout


def test_data_check_strict_reports_an_unreadable_file(data_root: Path) -> None:
    path = write_raw(data_root, make_frame(20))
    path.write_bytes(b"\x00" * 64)
    result = run_cli(
        "data",
        "check",
        "--source",
        "demo",
        "--symbol",
        "BTC",
        "--timeframe",
        "5m",
        "--strict",
        "--data-root",
        str(data_root),
    )
    assert result.returncode == 1
    assert "unreadable" in result.stdout
