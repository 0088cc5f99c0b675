"""The Parquet store: layout, month split, merge and de-duplication, atomic writes, discovery, loading ranges."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from stratlab.data import DataError, MarketStore, SeriesKey, load_ohlcv
from stratlab.data.timeframes import DAY_MS
from stratlab.errors import ConfigError
from tests.conftest import FIVE_MIN_MS, JAN_2025_MS, make_frame, run_cli

# 2025-01-31 22:00 UTC: 48 bars of 5m straddle the January/February boundary.
END_OF_JAN_MS = JAN_2025_MS + 30 * DAY_MS + 22 * 3_600_000


def test_layout_and_columns_follow_the_contract(data_root: Path) -> None:
    store = MarketStore(data_root)
    store.write_candles("hyperliquid_perps", "BTC", "5m", make_frame(48, start_ms=END_OF_JAN_MS))
    jan = data_root / "ohlcv/hyperliquid_perps/BTC/5m/2025/01.parquet"
    feb = data_root / "ohlcv/hyperliquid_perps/BTC/5m/2025/02.parquet"
    assert jan.is_file() and feb.is_file()
    schema = pq.read_schema(jan)
    assert schema.names == ["timestamp_ms", "open", "high", "low", "close", "volume"]
    assert [str(t) for t in schema.types] == ["int64"] + ["double"] * 5
    jan_ts = pq.read_table(jan)["timestamp_ms"].to_numpy()
    feb_ts = pq.read_table(feb)["timestamp_ms"].to_numpy()
    assert len(jan_ts) == 24 and len(feb_ts) == 24  # 22:00..23:55 and 00:00..01:55
    assert jan_ts.max() < JAN_2025_MS + 31 * DAY_MS <= feb_ts.min()


def test_rewriting_a_month_merges_dedupes_and_the_incoming_bar_wins(data_root: Path) -> None:
    store = MarketStore(data_root)
    frame = make_frame(100)
    store.write_candles("demo", "BTC", "5m", frame.iloc[:60])
    corrected = frame.iloc[40:100].copy()
    corrected.loc[50, "volume"] = 12345.0
    summary = store.write_candles("demo", "BTC", "5m", corrected.sample(frac=1.0, random_state=1))
    assert summary.rows_new == 40
    loaded = load_ohlcv("demo", "BTC", "5m", data_root=data_root).to_frame()
    assert len(loaded) == 100
    assert loaded["timestamp_ms"].is_unique and loaded["timestamp_ms"].is_monotonic_increasing
    assert loaded.loc[50, "volume"] == 12345.0
    expected = frame.copy()
    expected.loc[50, "volume"] = 12345.0
    pd.testing.assert_frame_equal(loaded, expected)


def test_writing_twice_is_idempotent_byte_for_byte(data_root: Path) -> None:
    store = MarketStore(data_root)
    frame = make_frame(500)
    store.write_candles("demo", "ETH", "5m", frame)
    path = store.month_files("demo", "ETH", "5m")[0].path
    before = path.read_bytes()
    summary = store.write_candles("demo", "ETH", "5m", frame)
    assert summary.rows_new == 0
    assert path.read_bytes() == before


def test_invalid_incoming_data_is_refused_and_the_stored_file_is_untouched(data_root: Path) -> None:
    store = MarketStore(data_root)
    store.write_candles("demo", "BTC", "5m", make_frame(30))
    path = store.month_files("demo", "BTC", "5m")[0].path
    before = path.read_bytes()
    bad = make_frame(30, start_ms=JAN_2025_MS + 30 * FIVE_MIN_MS)
    bad.loc[4, "high"] = bad.loc[4, "low"] - 1
    with pytest.raises(DataError, match=r"^downloaded page: row 4: "):
        store.write_candles("demo", "BTC", "5m", bad, origin="downloaded page")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["01.parquet"]


def test_a_corrupt_existing_month_is_never_overwritten(data_root: Path) -> None:
    store = MarketStore(data_root)
    store.write_candles("demo", "BTC", "5m", make_frame(30))
    path = store.month_files("demo", "BTC", "5m")[0].path
    path.write_bytes(b"garbage")
    with pytest.raises(DataError, match="unreadable or corrupt Parquet"):
        store.write_candles("demo", "BTC", "5m", make_frame(10))
    assert path.read_bytes() == b"garbage"


def test_a_leftover_temp_file_of_a_killed_writer_is_not_data(data_root: Path) -> None:
    store = MarketStore(data_root)
    store.write_candles("demo", "BTC", "5m", make_frame(30))
    folder = store.month_files("demo", "BTC", "5m")[0].path.parent
    (folder / f".02.parquet.{os.getpid()}.deadbeef.tmp").write_bytes(b"half a file")
    assert [f.month for f in store.month_files("demo", "BTC", "5m")] == [1]
    assert len(load_ohlcv("demo", "BTC", "5m", data_root=data_root)) == 30


def test_discovery_lists_every_series(data_root: Path) -> None:
    store = MarketStore(data_root)
    for source, symbol, tf in [
        ("demo", "ETH", "5m"),
        ("demo", "BTC", "1h"),
        ("mt5_icmarkets", "EURUSD", "5m"),
    ]:
        step = 3_600_000 if tf == "1h" else FIVE_MIN_MS
        store.write_candles(source, symbol, tf, make_frame(10, step_ms=step))
    (data_root / "ohlcv/demo/SOL/5m").mkdir(parents=True)  # an empty folder is not a series
    assert store.list_series() == [
        SeriesKey("demo", "BTC", "1h"),
        SeriesKey("demo", "ETH", "5m"),
        SeriesKey("mt5_icmarkets", "EURUSD", "5m"),
    ]
    assert store.symbols("demo") == ["BTC", "ETH"]


@pytest.mark.parametrize("symbol", ["../etc", "BTC/USDT", "", ".hidden"])
def test_unsafe_names_are_refused(symbol: str, data_root: Path) -> None:
    with pytest.raises(ConfigError, match="symbol"):
        MarketStore(data_root).write_candles("demo", symbol, "5m", make_frame(3))


def test_load_range_is_utc_days_with_inclusive_end(data_root: Path) -> None:
    store = MarketStore(data_root)
    store.write_candles("demo", "BTC", "5m", make_frame(288 * 70))  # 70 days from 2025-01-01
    candles = load_ohlcv("demo", "BTC", "5m", start="2025-01-31", end="2025-02-02", data_root=data_root)
    assert len(candles) == 3 * 288
    first = pd.Timestamp(int(candles.timestamp_ms[0]), unit="ms")
    last = pd.Timestamp(int(candles.timestamp_ms[-1]), unit="ms")
    assert (str(first), str(last)) == ("2025-01-31 00:00:00", "2025-02-02 23:55:00")
    assert len(candles.files) == 2  # January and February only, March is not read


def test_candles_are_read_only_and_round_trip_to_a_frame(data_root: Path) -> None:
    frame = make_frame(40)
    MarketStore(data_root).write_candles("demo", "BTC", "5m", frame)
    candles = load_ohlcv("demo", "BTC", "5m", data_root=data_root)
    with pytest.raises(ValueError, match="read-only"):
        candles.close[0] = 1.0
    pd.testing.assert_frame_equal(candles.to_frame(), frame)
    assert candles.close.dtype == np.float64 and candles.timestamp_ms.dtype == np.int64


def test_unknown_source_symbol_and_timeframe_say_what_exists(data_root: Path) -> None:
    MarketStore(data_root).write_candles("demo", "BTC", "5m", make_frame(10))
    with pytest.raises(DataError, match=r"symbol 'DOGE': unknown for source demo \(symbols: BTC\)"):
        load_ohlcv("demo", "DOGE", "5m", data_root=data_root)
    with pytest.raises(DataError, match=r"source 'binance'.*\(sources: demo\)"):
        load_ohlcv("binance", "BTC", "5m", data_root=data_root)
    with pytest.raises(DataError, match=r"timeframe '1h'.*\(timeframes: 5m\)"):
        load_ohlcv("demo", "BTC", "1h", data_root=data_root)
    with pytest.raises(ConfigError, match="timeframe: unknown '7m'"):
        load_ohlcv("demo", "BTC", "7m", data_root=data_root)


@pytest.mark.parametrize(("start", "end", "field"), [("2025-13-01", None, "start"), (None, "01/02/2025", "end")])
def test_bad_dates_name_the_field(start: str | None, end: str | None, field: str, data_root: Path) -> None:
    MarketStore(data_root).write_candles("demo", "BTC", "5m", make_frame(10))
    with pytest.raises(ConfigError, match=f"^{field}: expected YYYY-MM-DD"):
        load_ohlcv("demo", "BTC", "5m", start=start, end=end, data_root=data_root)


def test_a_range_without_bars_is_an_error_that_shows_the_stored_span(data_root: Path) -> None:
    MarketStore(data_root).write_candles("demo", "BTC", "5m", make_frame(10))
    with pytest.raises(DataError, match=r"no bars between 2024-01-01 and 2024-01-31 \(stored: 2025-01-01 00:00"):
        load_ohlcv("demo", "BTC", "5m", start="2024-01-01", end="2024-01-31", data_root=data_root)


def test_last_timestamp_reads_the_newest_bar(data_root: Path) -> None:
    store = MarketStore(data_root)
    assert store.last_timestamp_ms("demo", "BTC", "5m") is None
    frame = make_frame(48, start_ms=END_OF_JAN_MS)
    store.write_candles("demo", "BTC", "5m", frame)
    assert store.last_timestamp_ms("demo", "BTC", "5m") == int(frame["timestamp_ms"].iloc[-1])


def test_the_next_write_removes_temp_files_of_dead_writers_only(data_root: Path) -> None:
    store = MarketStore(data_root)
    store.write_candles("demo", "BTC", "5m", make_frame(30))
    folder = store.month_files("demo", "BTC", "5m")[0].path.parent
    exited = [sys.executable, "-c", "import os; print(os.getpid())"]
    dead = subprocess.run(exited, check=True, capture_output=True, text=True)
    orphan = folder / f".01.parquet.{int(dead.stdout)}.deadbeef.tmp"
    live = folder / f".01.parquet.{os.getpid()}.cafebabe.tmp"
    orphan.write_bytes(b"half a file")
    live.write_bytes(b"a file being written")
    store.write_candles("demo", "BTC", "5m", make_frame(10))
    assert not orphan.exists()
    assert live.exists()


def test_a_reader_never_sees_a_file_being_replaced_by_a_writer(tmp_path: Path) -> None:
    """A reader racing a writer that keeps replacing the same month file gets the old or the new content, whole:
    never an error from an old footer paired with a new file."""
    import threading

    from stratlab.data.store import atomic_write_parquet, read_parquet_frame
    from tests.conftest import make_frame

    path = tmp_path / "01.parquet"
    frames = [make_frame(n, seed=n) for n in (3_000, 9_000)]
    atomic_write_parquet(frames[0], path)
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            atomic_write_parquet(frames[i % 2], path)

    thread = threading.Thread(target=writer)
    thread.start()
    lengths = set()
    try:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            lengths.add(len(read_parquet_frame(path)))
    finally:
        stop.set()
        thread.join()
    assert lengths <= {3_000, 9_000}


def test_files_that_are_not_month_files_are_listed_as_stray(data_root: Path) -> None:
    store = MarketStore(data_root)
    store.write_candles("demo", "BTC", "5m", make_frame(30))
    series = store.series_dir("demo", "BTC", "5m")
    year = series / "2025"
    strays = [year / "13.parquet", year / "1.parquet", year / "notes.txt", series / "README", series / "backup"]
    for path in strays[:-1]:
        path.write_bytes((year / "01.parquet").read_bytes())
    strays[-1].mkdir()
    (year / f".02.parquet.{os.getpid()}.deadbeef.tmp").write_bytes(b"a write in progress")  # not stray
    assert store.stray_paths("demo", "BTC", "5m") == sorted(strays)
    assert [f.month for f in store.month_files("demo", "BTC", "5m")] == [1]  # still never read as data
    assert store.stray_paths("demo", "ETH", "5m") == []


def test_data_check_reports_stray_files_and_strict_fails_on_them(data_root: Path) -> None:
    store = MarketStore(data_root)
    store.write_candles("demo", "BTC", "5m", make_frame(30))
    year = store.series_dir("demo", "BTC", "5m") / "2025"
    (year / "13.parquet").write_bytes((year / "01.parquet").read_bytes())
    (year / "notes.txt").write_text("downloaded by hand\n")
    args = ["data", "check", "--source", "demo", "--symbol", "BTC", "--timeframe", "5m", "--data-root", str(data_root)]
    lenient = run_cli(*args)
    assert lenient.returncode == 0, lenient.stderr
    problems = [line for line in lenient.stdout.splitlines() if line.startswith("problem stray_file:")]
    assert [line.split(": ")[1] for line in problems] == [str(year / "13.parquet"), str(year / "notes.txt")]
    assert "2 problem(s), 0 gap(s)" in lenient.stdout
    strict = run_cli(*args, "--strict")
    assert strict.returncode == 1
