"""ccxt sources end to end: real ccxt code (hyperliquid, binance spot) against the local replay server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from stratlab.data.dates import day_end_exclusive_ms, day_start_ms
from stratlab.data.download import DownloadSummary, download_candles, open_source
from stratlab.data.sources.ccxt_exchange import (
    CcxtSource,
    market_types_for,
    rebase_api_urls,
    rebase_url,
    store_symbol_for,
)
from stratlab.data.sources.http_retry import RetryPolicy
from stratlab.data.sources.hyperliquid import HyperliquidSource
from stratlab.data.store import MarketStore
from stratlab.data.timeframes import parse_timeframe
from stratlab.errors import ConfigError, DownloadError
from stratlab.settings import Settings
from tests.conftest import run_cli
from tests.data.replay_server import ReplayServer, Scripted, expected_frame

FIVE_MIN = 300_000
HOUR = 3_600_000
LATER = day_start_ms("2025-12-01")
FAST = RetryPolicy(max_retries=3, base_delay_s=0.01, max_delay_s=0.05, jitter=0.0)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer(now_ms=LATER) as srv:
        yield srv


def ccxt_run(
    server: ReplayServer,
    store: MarketStore,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: str,
    end: str | None,
    *,
    now_ms: int = LATER,
    retry: RetryPolicy = FAST,
) -> DownloadSummary:
    with CcxtSource(exchange, base_url=server.url, timeout_s=5.0) as source:
        end_ms = day_end_exclusive_ms(end) if end else None
        return download_candles(
            source, store, symbol, timeframe, day_start_ms(start), end_ms, now_ms=now_ms, retry=retry
        )


def stored(store: MarketStore, source: str, symbol: str, timeframe: str) -> pd.DataFrame:
    files = store.month_files(source, symbol, timeframe)
    return pd.concat([store.read_month(f, timeframe) for f in files], ignore_index=True)


# rules ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "stored_as"),
    [("BTC/USDC:USDC", "BTC-USDC-USDC"), ("BTC/USDT", "BTC-USDT"), ("ETH/USDT:USDT-250328", "ETH-USDT-USDT-250328")],
)
def test_ccxt_symbols_are_stored_under_path_safe_names(symbol: str, stored_as: str) -> None:
    assert store_symbol_for(symbol) == stored_as


def test_base_url_replaces_host_and_keeps_every_path() -> None:
    api = {
        "public": "https://api.binance.com/api/v3",
        "fapiPublic": "https://fapi.binance.com/fapi/v1",
        "nested": {"rest": "https://x.example/v2?x=1"},
    }
    assert rebase_api_urls(api, "http://127.0.0.1:8080/") == {
        "public": "http://127.0.0.1:8080/api/v3",
        "fapiPublic": "http://127.0.0.1:8080/fapi/v1",
        "nested": {"rest": "http://127.0.0.1:8080/v2?x=1"},
    }
    assert rebase_url("https://api.{hostname}", "http://proxy/hl") == "http://proxy/hl"


def test_markets_loaded_depend_on_the_symbol() -> None:
    assert market_types_for("hyperliquid", "BTC/USDC:USDC") == ["swap"]
    assert market_types_for("hyperliquid", "BTC") == ["swap"]  # a bare coin name is a perp on Hyperliquid
    assert market_types_for("hyperliquid", "PURR/USDC") == ["spot"]
    assert market_types_for("binance", "BTC/USDT") == ["spot"]
    assert market_types_for("binance", "BTC/USDT:USDT") == ["linear"]
    assert market_types_for("binance", "BTC/USD:BTC") == ["inverse"]
    assert market_types_for("kraken", "BTC/USD") is None


# hyperliquid through ccxt ------------------------------------------------------------------------------------------


def test_ccxt_hyperliquid_pages_windows_and_matches_the_native_client(server: ReplayServer, data_root: Path) -> None:
    store = MarketStore(data_root)
    summary = ccxt_run(server, store, "hyperliquid", "BTC/USDC:USDC", "5m", "2025-01-01", "2025-02-09")
    start, end = day_start_ms("2025-01-01"), day_end_exclusive_ms("2025-02-09")
    bars = (end - start) // FIVE_MIN
    # load_markets restricted to swaps: the spot token list (currencies) and the perps with their contexts only
    assert [r.body["type"] for r in server.requests[:2]] == ["spotMeta", "metaAndAssetCtxs"]
    snapshots = server.requests_of("candleSnapshot")
    assert len(server.requests) == 2 + len(snapshots)
    assert [r.body["req"]["startTime"] for r in snapshots] == [start, start + 5000 * FIVE_MIN, start + 10000 * FIVE_MIN]
    assert [r.body["req"]["endTime"] for r in snapshots] == [
        start + 5000 * FIVE_MIN - 1,
        start + 10000 * FIVE_MIN - 1,
        end - 1,
    ]
    assert all(r.body["req"]["coin"] == "BTC" and r.body["req"]["interval"] == "5m" for r in snapshots)
    assert summary.bars_written == bars == 11_520

    via_ccxt = stored(store, "ccxt_hyperliquid", "BTC-USDC-USDC", "5m")
    pd.testing.assert_frame_equal(via_ccxt, expected_frame(server, "BTC", "5m", start, end))
    with HyperliquidSource(server.url) as native:
        download_candles(native, store, "BTC", "5m", start, end, now_ms=LATER, retry=FAST)
    pd.testing.assert_frame_equal(via_ccxt, stored(store, "hyperliquid_perps", "BTC", "5m"))


def test_ccxt_hyperliquid_resume_adds_only_new_bars(server: ReplayServer, data_root: Path) -> None:
    store = MarketStore(data_root)
    ccxt_run(server, store, "hyperliquid", "ETH/USDC:USDC", "1h", "2025-01-01", "2025-01-10")
    again = ccxt_run(server, store, "hyperliquid", "ETH/USDC:USDC", "1h", "2025-01-01", "2025-01-20")
    snapshots = server.requests_of("candleSnapshot")
    assert len(snapshots) == 2
    assert snapshots[1].body["req"]["startTime"] == day_end_exclusive_ms("2025-01-10")
    assert again.bars_new == again.bars_written == 10 * 24
    frame = stored(store, "ccxt_hyperliquid", "ETH-USDC-USDC", "1h")
    assert frame["timestamp_ms"].is_unique and len(frame) == 20 * 24


def test_ccxt_unknown_symbol_is_a_clear_error_with_a_hint(server: ReplayServer, data_root: Path) -> None:
    with pytest.raises(DownloadError, match=r"ccxt_hyperliquid: unknown symbol 'BTC'; did you mean BTC/USDC:USDC"):
        ccxt_run(server, MarketStore(data_root), "hyperliquid", "BTC", "1h", "2025-01-01", "2025-01-02")
    assert server.requests_of("candleSnapshot") == []


def test_ccxt_timeframe_the_exchange_lacks_is_refused_before_any_request() -> None:
    # Kraken has no 3m bars; the check needs no network, so the URL points nowhere.
    with (
        CcxtSource("kraken", base_url="http://127.0.0.1:9") as source,
        pytest.raises(ConfigError, match=r"ccxt_kraken: timeframe '3m' not served \(timeframes: 1m 5m"),
    ):
        source.prepare("BTC/USD", parse_timeframe("3m"))


# binance spot through ccxt ------------------------------------------------------------------------------------


def test_ccxt_binance_spot_pages_by_since_and_limit(server: ReplayServer, data_root: Path) -> None:
    store = MarketStore(data_root)
    summary = ccxt_run(server, store, "binance", "BTC/USDT", "1h", "2025-01-01", "2025-04-10")
    start, end = day_start_ms("2025-01-01"), day_end_exclusive_ms("2025-04-10")
    bars = (end - start) // HOUR
    assert bars == 2400
    assert [r.kind for r in server.requests] == ["exchangeInfo", "klines", "klines", "klines"]
    klines = server.requests_of("klines")
    assert [int(r.query["startTime"]) for r in klines] == [start, start + 1000 * HOUR, start + 2000 * HOUR]
    assert [int(r.query["limit"]) for r in klines] == [1000, 1000, 400]
    assert all(r.query["symbol"] == "BTCUSDT" and r.query["interval"] == "1h" for r in klines)
    assert summary.bars_written == bars
    pd.testing.assert_frame_equal(
        stored(store, "ccxt_binance", "BTC-USDT", "1h"), expected_frame(server, "BTC", "1h", start, end)
    )


def test_ccxt_short_page_ends_the_run(data_root: Path) -> None:
    quarter = 15 * 60_000
    listed, delisted = day_start_ms("2025-02-20"), day_start_ms("2025-03-05") + 5 * HOUR
    with ReplayServer(now_ms=LATER, first_ms=listed, gaps=((delisted, LATER + HOUR),)) as server:
        store = MarketStore(data_root)
        # From before the listing: the first page starts at the listing; the second holds the last 268 bars
        # before the delisting and is short, so nothing later exists and no third request is made.
        summary = ccxt_run(server, store, "binance", "ETH/USDT", "15m", "2025-02-01", None)
        klines = server.requests_of("klines")
        assert [int(r.query["startTime"]) for r in klines] == [day_start_ms("2025-02-01"), listed + 1000 * quarter]
        assert [int(r.query["limit"]) for r in klines] == [1000, 1000]
        frame = stored(store, "ccxt_binance", "ETH-USDT", "15m")
        pd.testing.assert_frame_equal(frame, expected_frame(server, "ETH", "15m", listed, delisted))
        assert len(frame) == 1268
        assert summary.last_bar_ms == delisted - quarter


def test_ccxt_network_errors_are_retried(server: ReplayServer, data_root: Path) -> None:
    server.queue("klines", Scripted(503, "Service Unavailable"), Scripted(429, '{"code":-1003}', {"Retry-After": "1"}))
    summary = ccxt_run(server, MarketStore(data_root), "binance", "BTC/USDT", "1h", "2025-01-01", "2025-01-03")
    klines = server.requests_of("klines")
    assert [r.status for r in klines] == [503, 429, 200]
    assert len({r.query["startTime"] for r in klines}) == 1
    assert klines[2].at - klines[1].at >= 1.0  # Retry-After read from the response ccxt saw
    assert summary.retries == 2 and summary.bars_written == 72


def test_ccxt_host_that_does_not_resolve_fails_at_once_naming_it(data_root: Path) -> None:
    sleeps: list[float] = []
    patient = RetryPolicy(max_retries=6, base_delay_s=1.0, jitter=0.0)
    source = CcxtSource("binance", base_url="http://nonexistent.invalid:1", timeout_s=5.0)
    with source, pytest.raises(DownloadError) as caught:
        download_candles(
            source, MarketStore(data_root), "BTC/USDT", "1h", day_start_ms("2025-01-01"), day_start_ms("2025-01-02"),
            now_ms=LATER, retry=patient, sleep=sleeps.append,
        )  # fmt: skip
    assert sleeps == []  # not one retry
    assert str(caught.value).startswith("ccxt_binance: load markets: cannot resolve host 'nonexistent.invalid'")


def test_ccxt_permanent_failures_name_the_exchange_and_status(server: ReplayServer, data_root: Path) -> None:
    server.queue("klines", *[Scripted(502, "Bad Gateway")] * 5)
    policy = RetryPolicy(max_retries=1, base_delay_s=0.01, jitter=0.0)
    with pytest.raises(DownloadError) as caught:
        ccxt_run(server, MarketStore(data_root), "binance", "BTC/USDT", "1h", "2025-01-01", "2025-01-03", retry=policy)
    message = str(caught.value)
    assert message.startswith("ccxt_binance: fetch_ohlcv BTC/USDT 1h")
    assert "ExchangeNotAvailable" in message and "502" in message and f"{server.url}/api/v3/klines" in message
    assert "gave up after 2 attempts" in message and "\n" not in message
    assert len(server.requests_of("klines")) == 2


def test_ccxt_http_404_is_not_retried(server: ReplayServer, data_root: Path) -> None:
    # ccxt files 404 under ExchangeNotAvailable (a network error), but no retry brings a missing endpoint back
    server.queue("klines", Scripted(404, "Not Found"))
    with pytest.raises(DownloadError, match="404"):
        ccxt_run(server, MarketStore(data_root), "binance", "BTC/USDT", "1h", "2025-01-01", "2025-01-03")
    assert len(server.requests_of("klines")) == 1


def test_ccxt_unknown_symbol_lists_what_is_there(server: ReplayServer, data_root: Path) -> None:
    with pytest.raises(DownloadError, match=r"ccxt_binance: unknown symbol 'XYZ123/EUR' \(2 markets loaded\)"):
        ccxt_run(server, MarketStore(data_root), "binance", "XYZ123/EUR", "1h", "2025-01-01", "2025-01-03")
    with pytest.raises(DownloadError, match=r"unknown symbol 'btc/usdt'; did you mean BTC/USDT\?"):
        ccxt_run(server, MarketStore(data_root), "binance", "btc/usdt", "1h", "2025-01-01", "2025-01-03")
    assert server.requests_of("klines") == []


def test_open_source_builds_ccxt_sources_with_the_base_url(server: ReplayServer) -> None:
    source = open_source("ccxt_binance", settings=Settings(), base_url=server.url)
    assert isinstance(source, CcxtSource) and source.name == "ccxt_binance" and source.base_url == server.url
    with pytest.raises(ConfigError, match="ccxt has no exchange 'nosuch'"):
        open_source("ccxt_nosuch", settings=Settings())


def test_cli_downloads_through_ccxt_with_an_explicit_store_symbol(server: ReplayServer, data_root: Path) -> None:
    result = run_cli(
        "data", "download", "--source", "ccxt_hyperliquid", "--symbol", "SOL/USDC:USDC", "--store-symbol", "SOL",
        "--timeframe", "4h", "--start", "2025-01-01", "--end", "2025-01-31", "--base-url", server.url,
        "--data-root", str(data_root), "--no-progress",
        env={"STRATLAB_DOWNLOAD_MAX_RETRIES": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "ccxt_hyperliquid/SOL/4h" in result.stdout and "186 bars written" in result.stdout
    store = MarketStore(data_root)
    assert [str(k) for k in store.list_series()] == ["ccxt_hyperliquid/SOL/4h"]
    pd.testing.assert_frame_equal(
        stored(store, "ccxt_hyperliquid", "SOL", "4h"),
        expected_frame(server, "SOL", "4h", day_start_ms("2025-01-01"), day_start_ms("2025-02-01")),
    )
