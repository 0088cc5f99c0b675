"""The order-book store: day files in the documented schema, atomic merging writes that never duplicate a snapshot,
validated reads whose errors name the file and the row, and discovery."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stratlab.atomic_io import TEMP_SUFFIX
from stratlab.data.dates import day_start_ms
from stratlab.data.orderbook.schema import ASK, BID, BookSnapshot, book_problem, snapshots_frame
from stratlab.data.orderbook.store import BookSeriesKey, OrderBookStore, write_book_parquet
from stratlab.errors import ConfigError, DataError

SOURCE, SYMBOL = "hyperliquid_perps", "BTC"
DAY = day_start_ms("2025-03-10")
SECOND = 1000


def snapshot(ts: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> BookSnapshot:
    return BookSnapshot(
        ts,
        np.array([p for p, _ in bids], dtype=np.float64),
        np.array([s for _, s in bids], dtype=np.float64),
        np.array([p for p, _ in asks], dtype=np.float64),
        np.array([s for _, s in asks], dtype=np.float64),
    )


def simple(ts: int, shift: float = 0.0) -> BookSnapshot:
    """A 2-level book around 100 (``shift`` moves every price)."""
    return snapshot(ts, [(99 + shift, 1.0), (98 + shift, 2.0)], [(101 + shift, 1.5), (102 + shift, 0.5)])


def stored_frame(store: OrderBookStore) -> pd.DataFrame:
    return store.read_span(SOURCE, SYMBOL, 0, 2**62)


def test_snapshots_land_in_utc_day_files_with_the_documented_schema(data_root: Path) -> None:
    store = OrderBookStore(data_root)
    before_midnight, after_midnight = DAY + 86_400_000 - SECOND, DAY + 86_400_000
    summary = store.write_snapshots(SOURCE, SYMBOL, [simple(after_midnight), simple(DAY), simple(before_midnight)])
    assert (summary.snapshots_written, summary.snapshots_new) == (3, 3)
    series = data_root / "orderbook" / SOURCE / SYMBOL
    assert sorted(str(p.relative_to(series)) for p in series.rglob("*.parquet")) == [
        "2025/03/10.parquet",
        "2025/03/11.parquet",
    ]
    schema = pq.read_schema(series / "2025/03/10.parquet")
    assert [(f.name, str(f.type)) for f in schema] == [
        ("timestamp_ms", "int64"), ("side", "int8"), ("level", "int16"), ("price", "double"), ("size", "double"),
    ]  # fmt: skip
    frame = store.read_day(store.day_files(SOURCE, SYMBOL)[0])
    # Sorted by (timestamp, side, level): a snapshot's asks (-1) come before its bids (+1).
    assert frame["timestamp_ms"].tolist() == [DAY] * 4 + [before_midnight] * 4
    assert frame["side"].tolist()[:4] == [ASK, ASK, BID, BID]
    assert frame["level"].tolist()[:4] == [0, 1, 0, 1]
    assert frame["price"].tolist()[:4] == [101.0, 102.0, 99.0, 98.0]
    assert frame["size"].tolist()[:4] == [1.5, 0.5, 1.0, 2.0]


def test_each_flush_merges_into_the_day_and_a_rerun_never_duplicates(data_root: Path) -> None:
    store = OrderBookStore(data_root)
    store.write_snapshots(SOURCE, SYMBOL, [simple(DAY + i * SECOND) for i in range(3)])
    store.write_snapshots(SOURCE, SYMBOL, [simple(DAY + i * SECOND) for i in range(3, 5)])
    again = store.write_snapshots(SOURCE, SYMBOL, [simple(DAY + i * SECOND) for i in range(5)])
    assert (again.snapshots_written, again.snapshots_new) == (5, 0)
    frame = stored_frame(store)
    assert len(frame) == 5 * 4
    assert np.unique(frame["timestamp_ms"]).tolist() == [DAY + i * SECOND for i in range(5)]
    assert not frame.duplicated(["timestamp_ms", "side", "level"]).any()


def test_a_snapshot_sent_again_with_the_same_time_replaces_the_stored_one_whole(data_root: Path) -> None:
    store = OrderBookStore(data_root)
    store.write_snapshots(SOURCE, SYMBOL, [simple(DAY), simple(DAY + SECOND)])
    one_level = snapshot(DAY + SECOND, [(97.0, 3.0)], [(103.0, 4.0)])
    summary = store.write_snapshots(SOURCE, SYMBOL, [one_level])
    assert summary.snapshots_new == 0
    frame = stored_frame(store)
    later = frame[frame["timestamp_ms"] == DAY + SECOND]
    assert later[["side", "level", "price", "size"]].values.tolist() == [[ASK, 0, 103.0, 4.0], [BID, 0, 97.0, 3.0]]
    # Two snapshots of one time in the same write: the later one in the list is kept.
    frame = snapshots_frame([simple(DAY), simple(DAY, shift=1.0)])
    assert frame["price"].tolist() == [102.0, 103.0, 100.0, 99.0]


def test_a_temp_file_of_a_killed_writer_is_never_data_and_is_swept_by_the_next_write(data_root: Path) -> None:
    store = OrderBookStore(data_root)
    store.write_snapshots(SOURCE, SYMBOL, [simple(DAY)])
    day_dir = store.day_files(SOURCE, SYMBOL)[0].path.parent
    leftover = day_dir / f".10.parquet.999999.deadbeef{TEMP_SUFFIX}"
    leftover.write_bytes(b"half a parquet file")
    assert [d.path.name for d in store.day_files(SOURCE, SYMBOL)] == ["10.parquet"]
    assert store.summarize(BookSeriesKey(SOURCE, SYMBOL)).problems == []
    store.write_snapshots(SOURCE, SYMBOL, [simple(DAY + SECOND)])
    assert not leftover.exists()
    assert len(np.unique(stored_frame(store)["timestamp_ms"])) == 2


def test_a_truncated_day_file_is_a_data_error_naming_it_and_is_never_overwritten(data_root: Path) -> None:
    store = OrderBookStore(data_root)
    store.write_snapshots(SOURCE, SYMBOL, [simple(DAY + i * SECOND) for i in range(50)])
    path = store.day_files(SOURCE, SYMBOL)[0].path
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    damaged = path.read_bytes()
    with pytest.raises(DataError, match=rf"^{path}: unreadable or corrupt Parquet"):
        stored_frame(store)
    with pytest.raises(DataError, match=rf"^{path}: unreadable"):
        store.write_snapshots(SOURCE, SYMBOL, [simple(DAY + 60 * SECOND)])
    assert path.read_bytes() == damaged
    problems = store.summarize(BookSeriesKey(SOURCE, SYMBOL)).problems
    assert [p.rule for p in problems] == ["unreadable"] and problems[0].file == str(path)


def _valid_rows() -> pd.DataFrame:
    return snapshots_frame([simple(DAY), simple(DAY + SECOND), simple(DAY + 2 * SECOND)])


def _set(row: int, column: str, value: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[row, column] = value
        return frame

    return change


# Rows of _valid_rows(): 0-3 the first snapshot (ask 0, ask 1, bid 0, bid 1), 4-7 the second, 8-11 the third.
BAD_FILES: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], str]] = {
    "nan price": (_set(5, "price", np.nan), r"row 5: timestamp_ms=\d+ \(.*\) ask level 1: price or size is NaN or inf"),
    "negative size": (_set(6, "size", -1.0), r"row 6: .* bid level 0: price and size must be > 0"),
    "bad side": (_set(9, "side", 2), r"row 9: .*side 2 level 1: side must be \+1 \(bid\) or -1 \(ask\)"),
    "level gap": (_set(7, "level", 2), r"row 7: .* bid level 2: levels of a side must run 0, 1, 2"),
    "duplicate": (lambda f: pd.concat([f.iloc[:5], f.iloc[4:]], ignore_index=True), r"row 5: .* same \(timestamp_ms"),
    "unsorted": (
        lambda f: f.iloc[[0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7]].reset_index(drop=True),
        r"row 8: .* backwards",
    ),
    "crossed": (_set(10, "price", 101.0), r"row 10: .* bid level 0: best bid is not below the best ask"),
    "price order": (_set(11, "price", 99.5), r"row 11: .* bid level 1: price not in book order"),
    "one sided": (lambda f: f.drop(index=[6, 7]).reset_index(drop=True), r"row 4: .* lacks its bids or its asks"),
    "time goes back": (_set(8, "timestamp_ms", DAY - 1), r"row 8: timestamp_ms=\d+ .*: rows go backwards"),
    "wrong dtype": (lambda f: f.astype({"level": "int64"}), r"column level has dtype int64, expected int16"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_day_file_is_a_data_error_naming_the_file_and_the_row(data_root: Path, case: str) -> None:
    store = OrderBookStore(data_root)
    store.write_snapshots(SOURCE, SYMBOL, [simple(DAY)])
    path = store.day_files(SOURCE, SYMBOL)[0].path
    change, message = BAD_FILES[case]
    broken = change(_valid_rows())
    pq.write_table(pa.Table.from_pandas(broken, preserve_index=False), path)
    with pytest.raises(DataError, match=rf"^{path}: {message}"):
        store.read_day(store.day_files(SOURCE, SYMBOL)[0])
    assert store.summarize(BookSeriesKey(SOURCE, SYMBOL)).problems[0].file == str(path)


def test_a_bad_row_names_its_snapshot_to_the_second(data_root: Path) -> None:
    store = OrderBookStore(data_root)
    store.write_snapshots(SOURCE, SYMBOL, [simple(DAY)])
    path = store.day_files(SOURCE, SYMBOL)[0].path
    frame = snapshots_frame([simple(DAY + 7 * SECOND), simple(DAY + 8 * SECOND)])
    frame.loc[5, "size"] = 0.0
    write_book_parquet(frame, path)
    named = rf"^{path}: row 5: timestamp_ms={DAY + 8 * SECOND} \(2025-03-10 00:00:08 UTC\) ask level 1: price and size"
    with pytest.raises(DataError, match=named):
        store.read_day(store.day_files(SOURCE, SYMBOL)[0])


def test_a_snapshot_outside_its_files_day_is_named(data_root: Path) -> None:
    store = OrderBookStore(data_root)
    store.write_snapshots(SOURCE, SYMBOL, [simple(DAY)])
    path = store.day_files(SOURCE, SYMBOL)[0].path
    write_book_parquet(snapshots_frame([simple(DAY), simple(DAY + 86_400_000)]), path)
    with pytest.raises(DataError, match=rf"^{path}: row 4: .*outside this file's UTC day \[2025-03-10 00:00 UTC"):
        store.read_day(store.day_files(SOURCE, SYMBOL)[0])


def test_discovery_lists_each_series_with_days_snapshots_and_times(data_root: Path) -> None:
    store = OrderBookStore(data_root)
    assert store.list_series() == []
    store.write_snapshots(SOURCE, SYMBOL, [simple(DAY + i * 5 * SECOND) for i in range(4)])
    store.write_snapshots(SOURCE, SYMBOL, [simple(DAY + 86_400_000 + 7)])
    store.write_snapshots("ccxt_binance", "BTC-USDT", [simple(DAY)])
    (data_root / "orderbook" / "ccxt_binance" / "empty").mkdir()  # a folder without day files is no series
    assert [str(k) for k in store.list_series()] == ["ccxt_binance/BTC-USDT", "hyperliquid_perps/BTC"]
    summary = store.summarize(BookSeriesKey(SOURCE, SYMBOL))
    assert (summary.days, summary.snapshots) == (2, 5)
    assert (summary.first_ms, summary.last_ms) == (DAY, DAY + 86_400_000 + 7)
    assert summary.problems == []


def test_names_that_are_not_one_path_component_are_refused(data_root: Path) -> None:
    with pytest.raises(ConfigError, match="symbol: 'BTC/USDT' is not a valid name"):
        OrderBookStore(data_root).write_snapshots("ccxt_binance", "BTC/USDT", [simple(DAY)])


def test_a_venue_snapshot_that_breaks_the_contract_is_described() -> None:
    assert book_problem(simple(DAY)) is None
    assert book_problem(snapshot(DAY, [], [(101, 1)])) == "no bids"
    assert book_problem(snapshot(DAY, [(101, 1)], [(101, 1)])) == "crossed book: best bid 101 >= best ask 101"
    assert (
        book_problem(snapshot(DAY, [(99, 1), (99.5, 1)], [(101, 1)])) == "bid prices are not in book order (best first)"
    )
    assert book_problem(snapshot(DAY, [(99, 0)], [(101, 1)])) == "a bid price or size is not a finite positive number"
