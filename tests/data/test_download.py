"""The resumable downloader against a real local HTTP server speaking Hyperliquid's info API."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratlab.atomic_io import TEMP_SUFFIX
from stratlab.data.dates import day_end_exclusive_ms, day_start_ms
from stratlab.data.download import DownloadSummary, download_candles, open_source
from stratlab.data.sources.http_retry import RetryPolicy, TokenBucket
from stratlab.data.sources.hyperliquid import HyperliquidSource, candle_snapshot_weight
from stratlab.data.store import MarketStore
from stratlab.data.timeframes import TIMEFRAMES, parse_timeframe
from stratlab.errors import ConfigError, DownloadError
from stratlab.settings import Settings
from tests.conftest import JAN_2025_MS, run_cli
from tests.data.replay_server import ReplayServer, Scripted, expected_frame, hyperliquid_candle, synth_bars

SOURCE = "hyperliquid_perps"
FIVE_MIN = 300_000
HOUR = 3_600_000
FAST = RetryPolicy(max_retries=3, base_delay_s=0.01, max_delay_s=0.05, jitter=0.0)
# A fixed "now" well after the ranges the tests ask for, unless a test is about "now".
LATER = day_start_ms("2025-12-01")
FAST_ENV = {"STRATLAB_DOWNLOAD_WEIGHT_PER_MINUTE": "100000000", "STRATLAB_DOWNLOAD_MAX_RETRIES": "2"}


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer(now_ms=LATER) as srv:
        yield srv


def hl(server: ReplayServer, *, limiter: TokenBucket | None = None, timeout_s: float = 5.0) -> HyperliquidSource:
    return HyperliquidSource(server.url, timeout_s=timeout_s, limiter=limiter)


def run(
    server: ReplayServer,
    store: MarketStore,
    start: str,
    end: str | None,
    *,
    timeframe: str = "5m",
    symbol: str = "BTC",
    now_ms: int = LATER,
    retry: RetryPolicy = FAST,
    limiter: TokenBucket | None = None,
    timeout_s: float = 5.0,
) -> DownloadSummary:
    with hl(server, limiter=limiter, timeout_s=timeout_s) as source:
        end_ms = day_end_exclusive_ms(end) if end else None
        return download_candles(
            source, store, symbol, timeframe, day_start_ms(start), end_ms, now_ms=now_ms, retry=retry
        )


def stored(store: MarketStore, timeframe: str = "5m", symbol: str = "BTC", source: str = SOURCE) -> pd.DataFrame:
    """Every month file of a series, each validated on read, concatenated."""
    files = store.month_files(source, symbol, timeframe)
    if not files:
        return expected_frame_empty()
    return pd.concat([store.read_month(f, timeframe) for f in files], ignore_index=True)


def expected_frame_empty() -> pd.DataFrame:
    columns = {c: np.empty(0, np.float64) for c in ("open", "high", "low", "close", "volume")}
    return pd.DataFrame({"timestamp_ms": np.empty(0, np.int64), **columns})


def windows(server: ReplayServer) -> list[tuple[int, int]]:
    return [(r.body["req"]["startTime"], r.body["req"]["endTime"]) for r in server.requests_of("candleSnapshot")]


# pagination -------------------------------------------------------------------------------------------------


def test_long_range_is_paged_in_windows_of_5000_bars_without_gap_or_duplicate(
    server: ReplayServer, data_root: Path
) -> None:
    store = MarketStore(data_root)
    summary = run(server, store, "2025-01-01", "2025-02-28")
    start, end = day_start_ms("2025-01-01"), day_end_exclusive_ms("2025-02-28")
    bars = (end - start) // FIVE_MIN
    assert bars == 16_992

    assert [r.kind for r in server.requests] == ["meta"] + ["candleSnapshot"] * math.ceil(bars / 5000)
    spans = windows(server)
    assert spans[0][0] == start
    for (_, prev_end), (next_start, _) in itertools.pairwise(spans):
        assert next_start == prev_end + 1  # contiguous: endTime is inclusive, the next window starts right after
    assert all((e + 1 - s) // FIVE_MIN <= 5000 for s, e in spans)
    assert spans[-1][1] == end - 1

    frame = stored(store)
    pd.testing.assert_frame_equal(frame, expected_frame(server, "BTC", "5m", start, end))
    assert frame["timestamp_ms"].is_unique
    assert [(f.year, f.month) for f in store.month_files(SOURCE, "BTC", "5m")] == [(2025, 1), (2025, 2)]
    assert (summary.pages, summary.bars_written, summary.bars_new) == (4, bars, bars)
    assert (summary.first_bar_ms, summary.last_bar_ms) == (start, end - FIVE_MIN)
    assert summary.stored_last_ms == end - FIVE_MIN


@pytest.mark.parametrize("interval", list(TIMEFRAMES))
def test_every_interval_lands_on_the_exchange_grid(server: ReplayServer, data_root: Path, interval: str) -> None:
    tf = parse_timeframe(interval)
    end = day_start_ms("2025-06-01")
    # two windows (6000 bars), but not before 2023: every month touched is one more file to write
    start = max(day_start_ms("2023-01-01"), end - 6_000 * tf.approx_ms)
    store = MarketStore(data_root)
    with hl(server) as source:
        summary = download_candles(source, store, "ETH", interval, start, end, now_ms=LATER, retry=FAST)
    want = expected_frame(server, "ETH", interval, start, end)
    assert len(want) > 20
    pd.testing.assert_frame_equal(stored(store, interval, "ETH"), want)
    assert summary.pages == math.ceil(len(want) / 5000)


# resume and idempotence ---------------------------------------------------------------------------------------


def test_second_run_fetches_only_bars_after_the_last_stored_one(server: ReplayServer, data_root: Path) -> None:
    store = MarketStore(data_root)
    first_now = day_start_ms("2025-01-20") + 7 * FIVE_MIN + 1234
    server.now_ms = first_now
    first = run(server, store, "2025-01-01", None, now_ms=first_now)
    last = store.last_timestamp_ms(SOURCE, "BTC", "5m")
    assert last == day_start_ms("2025-01-20") + 6 * FIVE_MIN  # the bar open at `now` is not stored
    assert first.stored_last_ms == last

    later_now = day_start_ms("2025-02-03") + 1
    server.now_ms = later_now
    before = len(server.requests_of("candleSnapshot"))
    second = run(server, store, "2025-01-01", None, now_ms=later_now)
    new_windows = windows(server)[before:]
    assert new_windows[0][0] == last + FIVE_MIN
    expected_new = (day_start_ms("2025-02-03") - (last + FIVE_MIN)) // FIVE_MIN
    assert second.bars_new == second.bars_written == expected_new
    assert second.resumed_from_ms == last + FIVE_MIN

    frame = stored(store)
    assert frame["timestamp_ms"].is_unique
    pd.testing.assert_frame_equal(
        frame, expected_frame(server, "BTC", "5m", day_start_ms("2025-01-01"), day_start_ms("2025-02-03"))
    )


def test_rerun_of_a_finished_range_requests_nothing_and_changes_nothing(server: ReplayServer, data_root: Path) -> None:
    store = MarketStore(data_root)
    run(server, store, "2025-01-01", "2025-01-31")
    files = store.month_files(SOURCE, "BTC", "5m")
    content = {f.path: f.path.read_bytes() for f in files}
    count = len(server.requests)

    again = run(server, store, "2025-01-01", "2025-01-31")
    assert len(server.requests) == count  # not even the meta check
    assert again.up_to_date and again.pages == 0 and again.bars_written == 0
    assert {f.path: f.path.read_bytes() for f in store.month_files(SOURCE, "BTC", "5m")} == content
    assert "already up to date" in str(again)


# retries ------------------------------------------------------------------------------------------------------


def test_429_is_retried_after_the_servers_retry_after(server: ReplayServer, data_root: Path) -> None:
    server.queue("candleSnapshot", Scripted(429, '{"error":"rate limited"}', {"Retry-After": "1"}))
    summary = run(server, MarketStore(data_root), "2025-01-01", "2025-01-05")
    calls = server.requests_of("candleSnapshot")
    assert [c.status for c in calls] == [429, 200]
    assert calls[0].body == calls[1].body  # the same window again
    assert calls[1].at - calls[0].at >= 1.0  # Retry-After, not the backoff (at most 0.05 s in FAST)
    assert summary.retries == 1
    assert summary.bars_written == 5 * 288


def test_503_is_retried_with_exponential_backoff(server: ReplayServer, data_root: Path) -> None:
    server.queue("candleSnapshot", Scripted(503, "upstream busy"), Scripted(502, "bad gateway"))
    policy = RetryPolicy(max_retries=3, base_delay_s=0.2, max_delay_s=5.0, jitter=0.0)
    summary = run(server, MarketStore(data_root), "2025-01-01", "2025-01-02", retry=policy)
    calls = server.requests_of("candleSnapshot")
    assert [c.status for c in calls] == [503, 502, 200]
    assert calls[1].at - calls[0].at >= 0.2
    assert calls[2].at - calls[1].at >= 0.4  # doubled
    assert summary.retries == 2


def test_a_timed_out_request_is_retried(server: ReplayServer, data_root: Path) -> None:
    # A stall ten times the client's timeout, and a timeout that a normal answer meets even on a loaded machine.
    server.queue("candleSnapshot", Scripted(None, delay_s=20.0))
    summary = run(server, MarketStore(data_root), "2025-01-01", "2025-01-02", timeout_s=2.0)
    calls = server.requests_of("candleSnapshot")
    assert len(calls) == 2 and calls[0].body == calls[1].body
    assert summary.retries == 1 and summary.bars_written == 2 * 288


def test_permanent_failure_is_one_line_download_error_after_max_retries(server: ReplayServer, data_root: Path) -> None:
    server.queue("candleSnapshot", *[Scripted(503, "down for maintenance")] * 10)
    policy = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=0.01, jitter=0.0)
    store = MarketStore(data_root)
    with pytest.raises(DownloadError) as caught:
        run(server, store, "2025-01-01", "2025-01-02", retry=policy)
    message = str(caught.value)
    assert len(server.requests_of("candleSnapshot")) == 3
    assert "\n" not in message
    assert message.startswith(f"{SOURCE}: POST {server.url}/info")
    assert "HTTP 503" in message and "gave up after 3 attempts" in message
    assert store.month_files(SOURCE, "BTC", "5m") == []


def test_refused_connection_is_retried_then_reported(data_root: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with HyperliquidSource(url, timeout_s=1.0) as source, pytest.raises(DownloadError) as caught:
        download_candles(source, MarketStore(data_root), "BTC", "5m", JAN_2025_MS, JAN_2025_MS + HOUR, retry=FAST)
    assert f"POST {url}/info" in str(caught.value)
    assert "connection failed" in str(caught.value) and "gave up after 4 attempts" in str(caught.value)


UNRESOLVABLE = "http://nonexistent.invalid:1"  # .invalid never resolves (RFC 2606)


def test_a_host_that_does_not_resolve_fails_at_once_naming_it(data_root: Path) -> None:
    sleeps: list[float] = []
    patient = RetryPolicy(max_retries=6, base_delay_s=1.0, jitter=0.0)
    with HyperliquidSource(UNRESOLVABLE, timeout_s=5.0) as source, pytest.raises(DownloadError) as caught:
        download_candles(
            source, MarketStore(data_root), "BTC", "5m", JAN_2025_MS, JAN_2025_MS + HOUR, retry=patient,
            sleep=sleeps.append,
        )  # fmt: skip
    assert sleeps == []  # not one retry
    message = str(caught.value)
    assert message.startswith(f"{SOURCE}: POST {UNRESOLVABLE}/info (meta): cannot resolve host 'nonexistent.invalid'")
    assert "\n" not in message and "gave up" not in message


def test_cli_names_the_unresolvable_host_in_one_line(data_root: Path) -> None:
    result = run_cli(
        "data", "download", "--source", SOURCE, "--symbol", "BTC", "--timeframe", "1h", "--start", "2025-01-01",
        "--end", "2025-01-02", "--base-url", UNRESOLVABLE, "--data-root", str(data_root), "--no-progress",
        env={"STRATLAB_DOWNLOAD_MAX_RETRIES": "6"},
    )  # fmt: skip
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot resolve host 'nonexistent.invalid'" in errors[0]
    assert "retry" not in result.stderr  # with_retries logs every retry it makes


def test_client_errors_are_not_retried(server: ReplayServer, data_root: Path) -> None:
    server.queue("candleSnapshot", Scripted(422, "Failed to deserialize the JSON body into the target type"))
    with pytest.raises(DownloadError, match=r"HTTP 422 .*Failed to deserialize"):
        run(server, MarketStore(data_root), "2025-01-01", "2025-01-02")
    assert len(server.requests_of("candleSnapshot")) == 1


# odd pages ----------------------------------------------------------------------------------------------------


def test_a_gap_wider_than_a_window_is_skipped_and_the_rest_is_fetched(data_root: Path) -> None:
    gap = (day_start_ms("2025-01-10"), day_start_ms("2025-02-01"))  # 6336 bars: wider than a window
    window = 5000 * FIVE_MIN
    with ReplayServer(now_ms=LATER, gaps=(gap,)) as server:
        store = MarketStore(data_root)
        summary = run(server, store, "2025-01-01", "2025-02-20")
        start, end = day_start_ms("2025-01-01"), day_end_exclusive_ms("2025-02-20")
        frame = stored(store)
        pd.testing.assert_frame_equal(frame, expected_frame(server, "BTC", "5m", start, end))
    # The first page stops at the gap, so the next window starts there and is empty; the loop then moves a
    # whole window on and finds the bars after the gap.
    assert [s for s, _ in windows(server)] == [start, gap[0], gap[0] + window, gap[0] + 2 * window]
    assert gap[1] > gap[0] + window
    ts = frame["timestamp_ms"]
    assert not ts.between(gap[0], gap[1] - 1).any()
    assert ts.iloc[-1] == end - FIVE_MIN
    assert summary.stored_last_ms == end - FIVE_MIN
    assert summary.bars_written == (end - start - (gap[1] - gap[0])) // FIVE_MIN


def test_a_history_that_starts_after_the_requested_start_is_said_in_the_summary(data_root: Path) -> None:
    first_served = day_start_ms("2025-01-05")
    with ReplayServer(now_ms=LATER, gaps=((day_start_ms("2024-12-01"), first_served),)) as server:
        summary = run(server, MarketStore(data_root), "2025-01-01", "2025-01-10")
    assert summary.first_bar_ms == first_served
    text = str(summary)
    assert "no bars from 2025-01-01" in text
    assert "most recent 5,000 candles" in text


def test_a_range_with_no_bars_at_all_is_said_in_the_summary(data_root: Path) -> None:
    with ReplayServer(now_ms=LATER, gaps=((day_start_ms("2024-12-01"), day_start_ms("2025-03-01")),)) as server:
        summary = run(server, MarketStore(data_root), "2025-01-01", "2025-01-03")
    assert summary.bars_written == 0
    assert "returned no bars for 2025-01-01" in str(summary)


@pytest.mark.parametrize("sloppy", [False, True], ids=["exact-server", "server-ignores-endTime"])
def test_open_bar_is_never_stored_and_short_last_page_ends_the_run(data_root: Path, sloppy: bool) -> None:
    bar_now = day_start_ms("2025-01-25") + 150 * FIVE_MIN
    now = bar_now + 123_456  # inside the bar that opened at bar_now
    with ReplayServer(now_ms=now, ignore_end_time=sloppy) as server:
        assert server.available_bars("BTC", "5m", bar_now, bar_now)  # the server does serve the open bar
        store = MarketStore(data_root)
        summary = run(server, store, "2025-01-01", None, now_ms=now)
        closed = (bar_now - day_start_ms("2025-01-01")) // FIVE_MIN
        assert len(server.requests_of("candleSnapshot")) == math.ceil(closed / 5000)  # no extra empty request
        frame = stored(store)
        assert len(frame) == closed == summary.bars_written
        assert frame["timestamp_ms"].iloc[-1] == bar_now - FIVE_MIN
        assert summary.stop_ms == bar_now
        pd.testing.assert_frame_equal(frame, expected_frame(server, "BTC", "5m", day_start_ms("2025-01-01"), bar_now))


def test_bars_past_the_requested_end_are_not_stored_even_if_sent(data_root: Path) -> None:
    with ReplayServer(now_ms=LATER, ignore_end_time=True) as server:
        store = MarketStore(data_root)
        summary = run(server, store, "2025-01-01", "2025-01-03")
        end = day_end_exclusive_ms("2025-01-03")
        pd.testing.assert_frame_equal(
            stored(store), expected_frame(server, "BTC", "5m", day_start_ms("2025-01-01"), end)
        )
        assert summary.stop_ms == end and summary.bars_written == 3 * 288
        # One window sufficed: nothing was asked past the end (a retry of the same window, when a loaded machine
        # lets a request time out, is not a second window).
        assert len(set(windows(server))) == 1


def test_a_bar_sent_twice_with_different_values_is_counted_and_said(
    server: ReplayServer, data_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    day = day_start_ms("2025-01-01")
    bars = synth_bars("BTC", "5m", [day + i * FIVE_MIN for i in range(288)])
    candles = [hyperliquid_candle("BTC", "5m", b) for b in bars]
    changed = dict(candles[100], c=str(bars[100].low))  # the same bar again, another close (still inside its range)
    page = [*candles[:101], changed, candles[50], *candles[101:]]  # bar 50 repeated identically: harmless
    server.queue("candleSnapshot", Scripted(200, json.dumps(page), {"Content-Type": "application/json"}))
    store = MarketStore(data_root)
    with caplog.at_level("WARNING", logger="stratlab.data.download"):
        summary = run(server, store, "2025-01-01", "2025-01-01")
    assert summary.conflicting_duplicates == 1
    assert summary.bars_written == 288
    assert "1 bar(s) arrived twice with different OHLCV values; the last one sent was kept" in str(summary)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "1 bar(s) sent twice with different OHLCV values" in warnings[0]
    assert "2025-01-01 08:20 UTC" in warnings[0]  # bar 100: 100 x 5 minutes after midnight
    frame = stored(store)
    assert frame["timestamp_ms"].is_unique and len(frame) == 288
    assert frame["close"].iloc[100] == bars[100].low  # the last version sent


def test_a_clean_download_reports_no_conflict(server: ReplayServer, data_root: Path) -> None:
    summary = run(server, MarketStore(data_root), "2025-01-01", "2025-01-01")
    assert summary.conflicting_duplicates == 0 and "twice" not in str(summary)


# answers we refuse --------------------------------------------------------------------------------------------


def test_unknown_coin_is_a_clear_error_before_any_candle_request(server: ReplayServer, data_root: Path) -> None:
    with pytest.raises(DownloadError, match=r"unknown coin 'DOGE2'.*perpetuals"):
        run(server, MarketStore(data_root), "2025-01-01", "2025-01-02", symbol="DOGE2")
    with pytest.raises(DownloadError, match=r"unknown coin 'btc'.*did you mean BTC"):
        run(server, MarketStore(data_root), "2025-01-01", "2025-01-02", symbol="btc")
    assert server.requests_of("candleSnapshot") == []
    assert len(server.requests_of("meta")) == 2


def _candles_for(coin: str, interval: str) -> str:
    bars = synth_bars("BTC", "5m", [JAN_2025_MS, JAN_2025_MS + FIVE_MIN])
    return json.dumps([hyperliquid_candle(coin, interval, b) for b in bars])


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("<html>502 Bad Gateway</html>", "not JSON"),
        ('{"error": "Invalid coin"}', "error answer: Invalid coin"),
        ('{"candles": []}', "expected a list of candles"),
        (_candles_for("ETH", "5m"), "is for 'ETH' '5m', asked for 'BTC' '5m'"),
        (_candles_for("BTC", "1h"), "is for 'BTC' '1h', asked for 'BTC' '5m'"),
        (
            '[{"t": 1735689600000, "s": "BTC", "i": "5m", "o": "abc", "h": "1", "l": "1", "c": "1", "v": "1"}]',
            "non-numeric",
        ),
        ('[{"t": 1735689600000}]', "not a candle object"),
    ],
    ids=["html", "error-object", "not-a-list", "wrong-coin", "wrong-interval", "bad-number", "missing-fields"],
)
def test_malformed_answers_are_refused_without_retry(
    server: ReplayServer, data_root: Path, body: str, pattern: str
) -> None:
    server.queue("candleSnapshot", Scripted(200, body, {"Content-Type": "application/json"}))
    store = MarketStore(data_root)
    with pytest.raises(DownloadError, match=pattern):
        run(server, store, "2025-01-01", "2025-01-02")
    assert len(server.requests_of("candleSnapshot")) == 1
    assert store.month_files(SOURCE, "BTC", "5m") == []


def test_meta_without_universe_is_refused(server: ReplayServer, data_root: Path) -> None:
    server.queue("meta", Scripted(200, '{"universe": "BTC"}'))
    with pytest.raises(DownloadError, match=r"\(meta\): expected"):
        run(server, MarketStore(data_root), "2025-01-01", "2025-01-02")


def test_an_empty_range_is_a_config_error(server: ReplayServer, data_root: Path) -> None:
    with hl(server) as source:
        with pytest.raises(ConfigError, match="is not before end"):
            download_candles(source, MarketStore(data_root), "BTC", "5m", JAN_2025_MS, JAN_2025_MS, now_ms=LATER)
        with pytest.raises(ConfigError, match="is not before now"):
            download_candles(source, MarketStore(data_root), "BTC", "5m", LATER + HOUR, None, now_ms=LATER)
    assert server.requests == []


# rate limit ---------------------------------------------------------------------------------------------------


def test_requests_are_weighed_as_hyperliquid_counts_them(server: ReplayServer, data_root: Path) -> None:
    limiter = TokenBucket(per_minute=1e9)
    run(server, MarketStore(data_root), "2025-01-01", "2025-02-10", limiter=limiter)
    bars = (day_end_exclusive_ms("2025-02-10") - day_start_ms("2025-01-01")) // FIVE_MIN
    pages = [5000] * (bars // 5000) + [bars % 5000]
    assert limiter.spent == 20 + sum(candle_snapshot_weight(n) for n in pages)
    assert candle_snapshot_weight(5000) == 20 + 84 and candle_snapshot_weight(0) == 20


def test_a_small_weight_budget_slows_the_download_down(server: ReplayServer, data_root: Path) -> None:
    # 150 weight/s, burst 30. Before the last page may go, meta (20) and two pages (20 + 84 each) and its own
    # base (20) must have been spent: 248 - 30 = 218 weight that only time can refill.
    limiter = TokenBucket(per_minute=9_000, capacity=30)
    started = time.monotonic()
    run(server, MarketStore(data_root), "2025-01-01", "2025-02-21", limiter=limiter)
    elapsed = time.monotonic() - started
    assert len(server.requests_of("candleSnapshot")) == 3
    # 52 days of 5m bars: pages of 5000, 5000 and 4976 candles, after the meta request.
    assert limiter.spent == 20 + 2 * candle_snapshot_weight(5000) + candle_snapshot_weight(4976) == 331
    # A lower bound holds however loaded the machine is (how much of it is spent asleep in the bucket does not:
    # the refill also runs while pages are parsed and written).
    assert elapsed >= 218 / 150


# open_source --------------------------------------------------------------------------------------------------


def test_open_source_knows_hyperliquid_and_ccxt_and_refuses_the_rest() -> None:
    settings = Settings(hyperliquid_base_url="http://127.0.0.1:9")
    source = open_source("hyperliquid_perps", settings=settings)
    assert isinstance(source, HyperliquidSource) and source.info_url == "http://127.0.0.1:9/info"
    source.close()
    with pytest.raises(ConfigError, match=r"source: unknown 'binance' \(known: hyperliquid_perps, ccxt_<exchange>\)"):
        open_source("binance", settings=settings)
    with pytest.raises(ConfigError, match=r"ccxt has no exchange 'binanse'.*did you mean ccxt_binance"):
        open_source("ccxt_binanse", settings=settings)
    with pytest.raises(ConfigError, match="not an http"):
        open_source("hyperliquid_perps", settings=settings, base_url="ftp://x")


# the command line ---------------------------------------------------------------------------------------------


def test_cli_downloads_prints_a_summary_and_resumes(server: ReplayServer, data_root: Path) -> None:
    args = [
        "data",
        "download",
        "--source",
        SOURCE,
        "--symbol",
        "BTC",
        "--timeframe",
        "1h",
        "--start",
        "2025-01-01",
        "--end",
        "2025-01-31",
        "--base-url",
        server.url,
        "--data-root",
        str(data_root),
        "--no-progress",
    ]
    first = run_cli(*args, env=FAST_ENV)
    assert first.returncode == 0, first.stderr
    assert "hyperliquid_perps/BTC/1h" in first.stdout and "744 bars written, 744 new" in first.stdout
    frame = stored(MarketStore(data_root), "1h")
    pd.testing.assert_frame_equal(
        frame, expected_frame(server, "BTC", "1h", day_start_ms("2025-01-01"), day_start_ms("2025-02-01"))
    )
    again = run_cli(*args, env=FAST_ENV)
    assert again.returncode == 0, again.stderr
    assert "already up to date" in again.stdout
    assert len(server.requests_of("candleSnapshot")) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--source", "binance", "--symbol", "BTC"], "error: source: unknown 'binance'"),
        (["--source", SOURCE, "--symbol", "NOPE"], "error: hyperliquid_perps: unknown coin 'NOPE'"),
        (["--source", SOURCE, "--symbol", "BTC", "--start", "2025-13-01"], "error: --start: expected YYYY-MM-DD"),
    ],
    ids=["unknown-source", "unknown-coin", "bad-date"],
)
def test_cli_errors_are_one_line_and_exit_1(
    server: ReplayServer, data_root: Path, extra: list[str], message: str
) -> None:
    options = {"--timeframe": "1h", "--start": "2025-01-01", "--end": "2025-01-02", "--base-url": server.url}
    options.update(dict(zip(extra[::2], extra[1::2], strict=True)))
    args = [item for pair in options.items() for item in pair]
    result = run_cli("data", "download", *args, "--data-root", str(data_root), "--no-progress", env=FAST_ENV)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(message)
    assert "Traceback" not in result.stderr
    assert server.requests_of("candleSnapshot") == []


# kill and resume ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_killed_download_resumes_to_the_same_store_as_an_uninterrupted_one(tmp_path: Path) -> None:
    start, end = "2025-01-01", "2025-05-31"
    start_ms, end_ms = day_start_ms(start), day_end_exclusive_ms(end)
    total = (end_ms - start_ms) // FIVE_MIN
    assert math.ceil(total / 5000) == 9
    killed_root, clean_root = tmp_path / "killed", tmp_path / "clean"

    def command(root: Path, url: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "stratlab",
            "data",
            "download",
            "--source",
            SOURCE,
            "--symbol",
            "BTC",
            "--timeframe",
            "5m",
            "--start",
            start,
            "--end",
            end,
            "--base-url",
            url,
            "--data-root",
            str(root),
            "--no-progress",
        ]

    with ReplayServer(now_ms=LATER, delay_s=0.25) as server:
        env = {**os.environ, **FAST_ENV}
        killed_store = MarketStore(killed_root)
        three_pages = start_ms + 3 * 5000 * FIVE_MIN - FIVE_MIN
        proc = subprocess.Popen(
            command(killed_root, server.url),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                last = killed_store.last_timestamp_ms(SOURCE, "BTC", "5m")
                if last is not None and last >= three_pages:
                    break
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL  # killed mid-run, not finished

        # What the kill left: whole, readable month files holding a prefix of the series, nothing half-written.
        partial = stored(killed_store)
        last_before = int(partial["timestamp_ms"].iloc[-1])
        assert three_pages <= last_before < end_ms - FIVE_MIN
        pd.testing.assert_frame_equal(partial, expected_frame(server, "BTC", "5m", start_ms, last_before + FIVE_MIN))

        # A writer killed between its temp file and the rename leaves one behind; it must never count as data
        # and the next writer into that folder removes it.
        year_dir = killed_store.series_dir(SOURCE, "BTC", "5m") / "2025"
        leftover = year_dir / f".05.parquet.999999.deadbeef{TEMP_SUFFIX}"
        leftover.write_bytes(b"half a parquet file")

        requests_before = len(server.requests_of("candleSnapshot"))
        server.delay_s = 0.05
        resumed = subprocess.run(
            command(killed_root, server.url),
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert windows(server)[requests_before][0] == last_before + FIVE_MIN  # resumed, not restarted

        server.delay_s = 0.0
        clean = subprocess.run(
            command(clean_root, server.url),
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
        assert clean.returncode == 0, clean.stderr
        want = expected_frame(server, "BTC", "5m", start_ms, end_ms)

    clean_store = MarketStore(clean_root)
    killed_files = killed_store.month_files(SOURCE, "BTC", "5m")
    clean_files = clean_store.month_files(SOURCE, "BTC", "5m")
    relative = [f.path.relative_to(killed_root) for f in killed_files]
    assert relative == [f.path.relative_to(clean_root) for f in clean_files]
    assert [(f.year, f.month) for f in killed_files] == [(2025, m) for m in range(1, 6)]
    for mine, theirs in zip(killed_files, clean_files, strict=True):
        pd.testing.assert_frame_equal(killed_store.read_month(mine, "5m"), clean_store.read_month(theirs, "5m"))
    whole = stored(killed_store)
    assert len(whole) == total and whole["timestamp_ms"].is_unique
    pd.testing.assert_frame_equal(whole, want)
    assert not leftover.exists()  # the resumed run's first write into that folder swept it (pid 999999 is dead)
    assert all(not str(f.path).endswith(TEMP_SUFFIX) for f in killed_files)
    assert [str(k) for k in killed_store.list_series()] == [f"{SOURCE}/BTC/5m"]
