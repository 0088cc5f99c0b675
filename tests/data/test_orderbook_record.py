"""The order-book recorder end to end: the real clients (Hyperliquid REST and websocket, ccxt) against local
servers on 127.0.0.1, the real CLI as a process, kill -9 and Ctrl+C."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stratlab.atomic_io import TEMP_SUFFIX
from stratlab.cli import console
from stratlab.cli.app import main
from stratlab.data.dates import day_start_ms
from stratlab.data.orderbook.record import (
    RecordPlan,
    RecordSummary,
    open_book_source,
    open_book_stream,
    parse_span,
    record_order_book,
)
from stratlab.data.orderbook.store import BookSeriesKey, OrderBookStore
from stratlab.data.sources.ccxt_exchange import CcxtSource, order_book_snapshot
from stratlab.data.sources.http_retry import RetryPolicy
from stratlab.data.sources.hyperliquid import HyperliquidBookStream, HyperliquidSource, parse_l2_book
from stratlab.errors import ConfigError, DownloadError
from stratlab.settings import Settings, get_settings
from tests.data.book_server import BookReplayServer, HyperliquidWsServer, book_levels
from tests.data.replay_server import Scripted

SOURCE = "hyperliquid_perps"
FAST = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=0.02, jitter=0.0)
FAST_ENV = {"STRATLAB_DOWNLOAD_WEIGHT_PER_MINUTE": "100000000", "STRATLAB_DOWNLOAD_MAX_RETRIES": "1"}
MIDNIGHT = day_start_ms("2025-03-11")


@pytest.fixture
def server() -> Iterator[BookReplayServer]:
    with BookReplayServer() as srv:
        yield srv


def hl(server: BookReplayServer) -> HyperliquidSource:
    return HyperliquidSource(server.url, timeout_s=5.0)


def record(
    source: HyperliquidSource | CcxtSource,
    store: OrderBookStore,
    symbol: str = "BTC",
    *,
    levels: int = 5,
    duration_s: float = 0.3,
    flush_every: int = 3,
    stream: HyperliquidBookStream | None = None,
    retry: RetryPolicy = FAST,
) -> RecordSummary:
    plan = RecordPlan(levels=levels, interval_s=0.05, duration_s=duration_s, flush_every=flush_every)
    with source:
        return record_order_book(source, store, symbol, plan, stream=stream, retry=retry)


def stored(store: OrderBookStore, source: str = SOURCE, symbol: str = "BTC") -> pd.DataFrame:
    return store.read_span(source, symbol, 0, 2**62)


def expected_rows(coin: str, k: int, time_ms: int, levels: int) -> list[tuple[int, int, int, float, float]]:
    """The rows the store must hold for the k-th book the server sent, cut to ``levels``."""
    bids, asks = book_levels(coin, k)
    rows = [(time_ms, -1, i, p, s) for i, (p, s) in enumerate(asks[:levels])]
    return rows + [(time_ms, 1, i, p, s) for i, (p, s) in enumerate(bids[:levels])]


def assert_stored_as_sent(store: OrderBookStore, server: BookReplayServer, levels: int, symbol: str = "BTC") -> None:
    frame = stored(store, SOURCE, symbol)
    want = [row for coin, k, t in server.books_sent for row in expected_rows(coin, k, t, levels)]
    assert [tuple(r) for r in frame.itertuples(index=False)] == want


# polling ---------------------------------------------------------------------------------------------------------


def test_polling_records_every_book_sent_cut_to_the_levels_asked(server: BookReplayServer, data_root: Path) -> None:
    store = OrderBookStore(data_root)
    summary = record(hl(server), store, levels=5, duration_s=0.3, flush_every=3)
    requests = server.requests_of("l2Book")
    assert [r.kind for r in server.requests][:2] == ["meta", "l2Book"]  # the coin is checked before any book
    assert all(r.body == {"type": "l2Book", "coin": "BTC"} for r in requests)
    assert 4 <= len(requests) <= 7  # one per 50 ms tick over 0.3 s
    assert summary.received == summary.snapshots_new == len(requests)
    assert summary.flushes == -(-summary.received // 3) and summary.feed == "polling" and summary.errors == 0
    assert_stored_as_sent(store, server, levels=5)
    # Ticks are an interval apart.
    arrivals = np.diff([r.at for r in requests])
    assert arrivals.min() > 0.03


def test_snapshots_either_side_of_midnight_go_to_their_own_day_files(data_root: Path) -> None:
    with BookReplayServer(book_start_ms=MIDNIGHT - 2_000, book_step_ms=1_000) as server:
        store = OrderBookStore(data_root)
        record(hl(server), store, duration_s=0.25)
        days = [(d.year, d.month, d.day) for d in store.day_files(SOURCE, "BTC")]
        assert days == [(2025, 3, 10), (2025, 3, 11)]
        assert_stored_as_sent(store, server, levels=5)


def test_a_rerun_appends_and_a_book_sent_again_is_not_duplicated(data_root: Path) -> None:
    with BookReplayServer(book_start_ms=MIDNIGHT, book_step_ms=1_000) as server:
        store = OrderBookStore(data_root)
        first = record(hl(server), store, duration_s=0.2)
        server.book_start_ms = MIDNIGHT  # the venue sends the same times (and books) again, then new ones
        server._books = 0
        server.books_sent.clear()
        second = record(hl(server), store, duration_s=0.35)
        assert second.received > first.received
        assert second.snapshots_new == second.received - first.received
        frame = stored(store)
        assert not frame.duplicated(["timestamp_ms", "side", "level"]).any()
        assert len(np.unique(frame["timestamp_ms"])) == second.received


def test_transient_errors_are_retried_and_a_lost_snapshot_is_counted_not_fatal(
    server: BookReplayServer, data_root: Path
) -> None:
    # First book fine; then a 503 retried once into success; then two books lost after their one retry each.
    server.queue("l2Book", Scripted(), Scripted(503), Scripted(), *[Scripted(502, "Bad Gateway")] * 4)
    store = OrderBookStore(data_root)
    policy = RetryPolicy(max_retries=1, base_delay_s=0.01, jitter=0.0)
    # Long enough for books after the failures even when slow answers on a busy machine skip ticks.
    summary = record(hl(server), store, duration_s=1.0, retry=policy)
    statuses = [r.status for r in server.requests_of("l2Book")]
    assert statuses[:7] == [200, 503, 200, 502, 502, 502, 502]
    assert summary.retries == 3 and summary.errors == 2
    assert summary.received == statuses.count(200) >= 3
    assert_stored_as_sent(store, server, levels=5)


def test_a_failure_before_any_snapshot_stops_the_recording_with_the_error(
    server: BookReplayServer, data_root: Path
) -> None:
    server.queue("l2Book", Scripted(404, "Not Found"))
    with pytest.raises(DownloadError, match=r"hyperliquid_perps: POST .*/info \(l2Book BTC\): HTTP 404"):
        record(hl(server), OrderBookStore(data_root))
    assert len(server.requests_of("l2Book")) == 1  # a 404 is not retried
    assert OrderBookStore(data_root).list_series() == []


def test_unknown_coin_and_too_many_levels_are_refused_before_any_book(
    server: BookReplayServer, data_root: Path
) -> None:
    with pytest.raises(DownloadError, match=r"hyperliquid_perps: unknown coin 'BTCX'.*did you mean BTC"):
        record(hl(server), OrderBookStore(data_root), "BTCX")
    with pytest.raises(ConfigError, match=r"--levels 21: the l2Book serves 1 to 20 levels a side"):
        record(hl(server), OrderBookStore(data_root), levels=21)
    assert server.requests_of("l2Book") == []


def test_plans_and_spans_are_checked() -> None:
    assert [parse_span(t, "--interval") for t in ("5s", "0.05s", "250ms", "1m", "1h", "2d", "3")] == [
        5.0, 0.05, 0.25, 60.0, 3600.0, 172800.0, 3.0,
    ]  # fmt: skip
    for text in ("", "5 minutes", "-1s", "0s", "1w", "s"):
        with pytest.raises(ConfigError, match=r"--interval: expected a positive span such as 5s"):
            parse_span(text, "--interval")
    with pytest.raises(ConfigError, match="--levels: expected 1 to 100 levels a side, got 0"):
        RecordPlan(levels=0, interval_s=1.0)
    with pytest.raises(ConfigError, match=r"--interval: expected at least 0\.01s"):
        RecordPlan(levels=5, interval_s=0.001)


# damaged venue answers -------------------------------------------------------------------------------------------

GOOD_LEVELS = [[{"px": "99", "sz": "1", "n": 1}], [{"px": "101", "sz": "2", "n": 1}]]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([], r"expected \{coin, time, levels\}, got '\[\]'"),
        ({"coin": "ETH", "time": 1, "levels": GOOD_LEVELS}, r"book of 'ETH', asked for 'BTC'"),
        ({"coin": "BTC", "time": 1, "levels": GOOD_LEVELS[:1]}, r"levels is not \[bids, asks\]"),
        ({"coin": "BTC", "time": "soon", "levels": GOOD_LEVELS}, r"time 'soon' is not epoch ms"),
        ({"coin": "BTC", "time": float("inf"), "levels": GOOD_LEVELS}, r"time inf is not epoch ms"),
        ({"coin": "BTC", "time": 1, "levels": [{"px": "99"}, GOOD_LEVELS[1]]}, r"bids are not a list"),
        ({"coin": "BTC", "time": 1, "levels": [[{"px": "99"}], GOOD_LEVELS[1]]}, r"bid level 0 is not \{px, sz, n\}"),
        ({"coin": "BTC", "time": 1, "levels": [GOOD_LEVELS[0], [{"px": "x", "sz": "1"}]]}, r"ask level 0 is not"),
        ({"coin": "BTC", "time": 1, "levels": [GOOD_LEVELS[1], GOOD_LEVELS[0]]}, r"snapshot at 1 refused: crossed"),
        ({"coin": "BTC", "time": 1, "levels": [[], GOOD_LEVELS[1]]}, r"snapshot at 1 refused: no bids"),
    ],
    ids=["not-a-book", "other-coin", "one-side", "time-text", "time-inf", "bids-not-list", "no-size", "bad-price",
         "crossed", "no-bids"],
)  # fmt: skip
def test_a_damaged_l2book_answer_is_a_download_error_naming_what_is_wrong(answer: object, message: str) -> None:
    with pytest.raises(DownloadError, match=rf"^ctx: {message}"):
        parse_l2_book(answer, coin="BTC", levels=5, context="ctx")


@pytest.mark.parametrize(
    ("book", "message"),
    [
        (None, r"expected an order book, got 'None'"),
        ({"bids": "none", "asks": []}, r"bids are not a list: \"'none'\""),
        ({"bids": [[99.0]], "asks": [[101.0, 1.0]]}, r"bid level 0 is not \[price, amount\]: '\[99.0\]'"),
        ({"bids": [[99.0, 1.0]], "asks": [[101.0, "lots"]]}, r"ask level 0 is not \[price, amount\]"),
        ({"bids": [[99.0, -1.0]], "asks": [[101.0, 1.0]]}, r"snapshot at 7 refused: a bid price or size is not a"),
    ],
    ids=["not-a-book", "bids-not-list", "no-amount", "amount-text", "negative-amount"],
)
def test_a_damaged_ccxt_book_is_a_download_error_naming_what_is_wrong(book: object, message: str) -> None:
    with pytest.raises(DownloadError, match=rf"^ctx: {message}"):
        order_book_snapshot(book, levels=5, received_ms=7, context="ctx")
    stamped = order_book_snapshot({"bids": [[99.0, 1.0]], "asks": [[101.0, 2.0]]}, levels=5, received_ms=7, context="")
    assert stamped.timestamp_ms == 7  # no time in the book: the time it was received


def test_a_damaged_book_during_a_recording_is_counted_and_the_recording_goes_on(
    server: BookReplayServer, data_root: Path
) -> None:
    damaged = json.dumps({"coin": "BTC", "time": 1, "levels": [[{"px": "99"}], []]})
    server.queue("l2Book", Scripted(), Scripted(200, damaged, {"Content-Type": "application/json"}))
    store = OrderBookStore(data_root)
    summary = record(hl(server), store, duration_s=0.4)
    statuses = [r.status for r in server.requests_of("l2Book")]
    assert summary.errors == 1 and summary.retries == 0  # a damaged answer is not retried
    assert summary.received == len(statuses) - 1 >= 3
    assert_stored_as_sent(store, server, levels=5)  # every book the server built, and not the damaged one


# websocket -------------------------------------------------------------------------------------------------------


def test_the_websocket_feed_keeps_one_book_per_interval_and_asks_no_rest_book(
    server: BookReplayServer, data_root: Path
) -> None:
    store = OrderBookStore(data_root)
    with HyperliquidWsServer(server, push_every_s=0.01) as ws:
        stream = HyperliquidBookStream(ws.url, "BTC", 5, timeout_s=5.0)
        summary = record(hl(server), store, stream=stream, duration_s=0.4)
    assert ws.subscriptions == [{"type": "l2Book", "coin": "BTC"}]
    assert summary.feed == "websocket" and server.requests_of("l2Book") == []
    times = np.unique(stored(store)["timestamp_ms"])
    assert summary.received == times.size >= 4
    assert np.diff(times).min() >= 50  # one per 50 ms interval of the venue's time, though pushed every 10 ms
    sent = {t: (coin, k) for coin, k, t in server.books_sent}
    frame = stored(store)
    want = [row for t in times for row in expected_rows(*sent[int(t)], int(t), 5)]
    assert [tuple(r) for r in frame.itertuples(index=False)] == want


def test_a_dropped_websocket_is_reopened(server: BookReplayServer, data_root: Path) -> None:
    store = OrderBookStore(data_root)
    with HyperliquidWsServer(server, push_every_s=0.01, drop_after=8) as ws:
        stream = HyperliquidBookStream(ws.url, "BTC", 5, timeout_s=5.0)
        summary = record(hl(server), store, stream=stream, duration_s=0.5)
    assert ws.connections >= 2 and summary.feed == "websocket" and summary.errors >= 1
    assert summary.received >= 4 and server.requests_of("l2Book") == []


def test_without_a_websocket_the_recorder_polls(server: BookReplayServer, data_root: Path) -> None:
    store = OrderBookStore(data_root)
    nothing_there = HyperliquidBookStream("ws://127.0.0.1:9/ws", "BTC", 5, timeout_s=2.0)
    summary = record(hl(server), store, stream=nothing_there, duration_s=0.3)
    assert summary.feed == "polling" and summary.received == len(server.requests_of("l2Book")) >= 3
    assert any("websocket unavailable, polled instead" in note for note in summary.notes)
    assert_stored_as_sent(store, server, levels=5)


def test_open_book_stream_derives_the_websocket_from_the_api_root() -> None:
    settings = Settings()
    stream = open_book_stream(SOURCE, "BTC", 5, settings=settings, base_url="http://127.0.0.1:8080")
    assert isinstance(stream, HyperliquidBookStream) and stream.url == "ws://127.0.0.1:8080/ws"
    assert open_book_stream("ccxt_binance", "BTC/USDT", 5, settings=settings) is None
    with pytest.raises(ConfigError, match="--ws-url: not a ws"):
        open_book_stream(SOURCE, "BTC", 5, settings=settings, ws_url="http://127.0.0.1:1")
    with pytest.raises(ConfigError, match="source: unknown 'binance'"):
        open_book_source("binance", settings=settings)


# ccxt --------------------------------------------------------------------------------------------------------------


def test_ccxt_binance_spot_books_are_polled_and_stamped_when_received(
    server: BookReplayServer, data_root: Path
) -> None:
    store = OrderBookStore(data_root)
    before = int(time.time() * 1000)
    summary = record(CcxtSource("binance", base_url=server.url, timeout_s=5.0), store, "BTC/USDT", levels=10)
    after = int(time.time() * 1000)
    depth = server.requests_of("depth")
    assert server.requests[0].kind == "exchangeInfo"
    assert all(r.query == {"symbol": "BTCUSDT", "limit": "10"} for r in depth)
    assert summary.symbol == "BTC-USDT" and summary.received == len(depth) >= 3
    frame = stored(store, "ccxt_binance", "BTC-USDT")
    times = np.unique(frame["timestamp_ms"])
    assert before <= times[0] and times[-1] <= after  # Binance sends no time: the time of receipt
    first = frame[frame["timestamp_ms"] == times[0]]
    bids, asks = book_levels("BTC", 0, depth=10)
    assert first["price"].tolist() == [p for p, _ in asks] + [p for p, _ in bids]


def test_ccxt_hyperliquid_books_match_the_native_client(server: BookReplayServer, data_root: Path) -> None:
    store = OrderBookStore(data_root)
    summary = record(CcxtSource("hyperliquid", base_url=server.url, timeout_s=5.0), store, "BTC/USDC:USDC")
    assert summary.symbol == "BTC-USDC-USDC" and summary.received >= 3
    frame = stored(store, "ccxt_hyperliquid", "BTC-USDC-USDC")
    want = [row for coin, k, t in server.books_sent for row in expected_rows(coin, k, t, 5)]
    assert [tuple(r) for r in frame.itertuples(index=False)] == want


def test_ccxt_unknown_symbol_is_refused_before_any_book(server: BookReplayServer, data_root: Path) -> None:
    with pytest.raises(DownloadError, match=r"ccxt_binance: unknown symbol 'BTC/XYZ'"):
        record(CcxtSource("binance", base_url=server.url, timeout_s=5.0), OrderBookStore(data_root), "BTC/XYZ")
    assert server.requests_of("depth") == []


# the command line ------------------------------------------------------------------------------------------------


def in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """``stratlab ARGS`` through the CLI's own entry point in this process (no interpreter start-up): exit code,
    stdout, stderr. The logging handlers and the SIGTERM handler the command installs are put back after it."""
    for name, value in FAST_ENV.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    handlers, on_sigterm = list(logging.getLogger().handlers), signal.getsignal(signal.SIGTERM)
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["stratlab", *args])
    code = 0
    try:
        main()
    except SystemExit as exited:
        code = int(exited.code or 0)
    finally:
        logging.getLogger().handlers = handlers
        signal.signal(signal.SIGTERM, on_sigterm)
    out, err = capsys.readouterr()
    return code, out, err


def record_args(server_url: str, data_root: Path, *extra: str) -> list[str]:
    return [
        "data", "orderbook", "record", "--source", SOURCE, "--symbol", "BTC", "--levels", "4", "--interval", "0.05s",
        "--base-url", server_url, "--data-root", str(data_root), "--no-progress", *extra,
    ]  # fmt: skip


def test_cli_records_by_websocket_and_data_list_shows_the_order_book(
    server: BookReplayServer, data_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with HyperliquidWsServer(server, push_every_s=0.01) as ws:
        args = record_args(server.url, data_root, "--duration", "0.4s", "--ws-url", ws.url)
        code, out, err = in_process(capsys, monkeypatch, *args)
    assert code == 0, err
    assert "Traceback" not in err
    summary = OrderBookStore(data_root).summarize(BookSeriesKey(SOURCE, "BTC"))
    assert f"hyperliquid_perps/BTC: {summary.snapshots} snapshot(s) recorded" in out
    assert "by websocket" in out and summary.snapshots >= 4
    monkeypatch.setattr(console.stdout, "width", 200)  # one line per row, whatever terminal the tests run in
    code, out, err = in_process(capsys, monkeypatch, "data", "list", "--data-root", str(data_root))
    assert code == 0, err
    assert "No market data under" in out and "Order books in" in out
    row = next(line for line in out.splitlines() if "order book" in line)
    assert "hyperliquid_perps" in row and f" {summary.snapshots} " in row


def test_cli_ctrl_c_stops_after_a_last_flush(server: BookReplayServer, data_root: Path) -> None:
    # Nothing is flushed before the end (huge flush thresholds): every snapshot in the store got there on Ctrl+C.
    args = record_args(server.url, data_root, "--feed", "poll", "--flush-every", "100000", "--flush-seconds", "9999")
    process = subprocess.Popen(
        [sys.executable, "-m", "stratlab", *args], env={**os.environ, **FAST_ENV}, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(server.requests_of("l2Book")) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert OrderBookStore(data_root).list_series() == []
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    stored_now = OrderBookStore(data_root).summarize(BookSeriesKey(SOURCE, "BTC")).snapshots
    assert stored_now >= 4  # the book whose request Ctrl+C cut short is not one
    assert f"{stored_now} snapshot(s) recorded ({stored_now} new)" in stdout and "stopped by Ctrl+C" in stdout


@pytest.mark.slow
def test_kill_9_loses_only_unflushed_snapshots_and_a_rerun_appends(
    server: BookReplayServer, data_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OrderBookStore(data_root)
    args = record_args(server.url, data_root, "--feed", "poll", "--flush-every", "2")
    process = subprocess.Popen(
        [sys.executable, "-m", "stratlab", *args], env={**os.environ, **FAST_ENV}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            series = store.list_series()
            if series and store.summarize(series[0]).snapshots >= 6:
                break
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    sent = len(server.requests_of("l2Book"))
    kept = store.summarize(BookSeriesKey(SOURCE, "BTC"))
    assert kept.problems == [] and sent - 2 <= kept.snapshots <= sent  # at most the unflushed buffer is lost
    # A writer killed between its temp file and the rename leaves one behind: never data, swept by the next write.
    day_dir = store.day_files(SOURCE, "BTC")[-1].path.parent
    leftover = day_dir / f".{store.day_files(SOURCE, 'BTC')[-1].path.name}.999999.deadbeef{TEMP_SUFFIX}"
    leftover.write_bytes(b"half a parquet file")
    code, _, err = in_process(
        capsys, monkeypatch, *record_args(server.url, data_root, "--feed", "poll", "--duration", "0.3s")
    )
    assert code == 0, err
    after = store.summarize(BookSeriesKey(SOURCE, "BTC"))
    assert after.problems == [] and after.snapshots > kept.snapshots
    assert not stored(store).duplicated(["timestamp_ms", "side", "level"]).any()
    assert not leftover.exists()


@pytest.mark.parametrize(("damage", "rule"), [("truncated", "unreadable"), ("wrong_dtype", "wrong_dtype")])
def test_a_damaged_day_file_is_listed_as_a_problem_and_a_rerun_stops_on_it_with_one_line(
    data_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, damage: str, rule: str
) -> None:
    store = OrderBookStore(data_root)
    with BookReplayServer(book_start_ms=MIDNIGHT, book_step_ms=1_000) as server:
        first = record_args(server.url, data_root, "--feed", "poll", "--duration", "0.3s")
        code, _, err = in_process(capsys, monkeypatch, *first)
        assert code == 0, err
        path = store.day_files(SOURCE, "BTC")[0].path
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
            expected = f"error: {path}: unreadable or corrupt Parquet"
        else:
            frame = pd.read_parquet(path)
            pq.write_table(pa.Table.from_pandas(frame.astype({"price": str}), preserve_index=False), path)
            expected = f"error: {path}: column price has dtype"
        damaged = path.read_bytes()
        monkeypatch.setattr(console.stdout, "width", 300)
        code, out, err = in_process(capsys, monkeypatch, "data", "list", "--data-root", str(data_root))
        assert code == 0, err
        row = next(line for line in out.splitlines() if "order book" in line)
        assert row.replace("│", " ").split()[-1] == "1"  # one problem
        assert f"problem {rule}: {path}: " in out
        # Books of the same day again: the first flush meets the damaged file and stops without touching it.
        server.book_start_ms = MIDNIGHT + 60_000
        args = record_args(server.url, data_root, "--feed", "poll", "--duration", "0.3s", "--flush-every", "2")
        code, _, err = in_process(capsys, monkeypatch, *args)
    assert code == 1
    assert err.startswith(expected), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert path.read_bytes() == damaged


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--source", "binance"], 1, "error: source: unknown 'binance' (known: hyperliquid_perps, ccxt_<exchange>)"),
        (["--interval", "fast"], 1, "error: --interval: expected a positive span such as 5s, 250ms, 1m, 1h or 1d"),
        (["--duration", "1 hour"], 1, "error: --duration: expected a positive span such as 5s"),
        (["--levels", "0"], 2, "error: --levels: 0 is below the minimum 1"),
        (["--symbol", "NOPE"], 1, "error: hyperliquid_perps: unknown coin 'NOPE'"),
    ],
    ids=["unknown-source", "bad-interval", "bad-duration", "levels-out-of-range", "unknown-coin"],
)
def test_cli_errors_are_one_line_without_a_traceback(
    server: BookReplayServer,
    data_root: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    code: int,
    message: str,
) -> None:
    args = record_args(server.url, data_root)
    options = dict(zip(args[3:-1:2], args[4::2], strict=False))
    options.update(dict(zip(extra[::2], extra[1::2], strict=True)))
    command = ["data", "orderbook", "record", *[item for pair in options.items() for item in pair], "--no-progress"]
    exit_code, _, err = in_process(capsys, monkeypatch, *command)
    assert exit_code == code, err
    assert err.startswith(message), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert server.requests_of("l2Book") == []
