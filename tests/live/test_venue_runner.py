"""A runner on the ``hyperliquid_perps`` feed: candles polled from the local replay server (Hyperliquid's info API),
stored as they arrive, traded as the backtest would trade the stored bars.

Real time would make a test wait five minutes per bar, so the runner is given a replay clock that jumps to each
bar's due time; the feed, the downloader, the HTTP client and the server are the real ones. The server synthesises
its candles independently of the demo market, so the book trades bars it has never seen in a backtest; the
reference is ``run_backtest`` on the bars the feed stored in the Parquet store.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from stratlab.data.dates import day_start_ms
from stratlab.data.loader import load_ohlcv
from stratlab.engine import run_backtest
from stratlab.live.alerts import NotifyMode
from stratlab.live.feeds import ReplayClock
from stratlab.live.runner import open_runner
from stratlab.live.start import StartOptions, new_spec
from stratlab.report.manifest import read_manifest
from stratlab.settings import load_settings
from stratlab.strategies import get_strategy
from tests.data.replay_server import ReplayServer
from tests.live.manifests import write_manifest

DAY = 86_400_000
FIVE_MINUTES = 300_000


def test_a_day_of_venue_candles_is_polled_stored_and_traded_as_backtested(
    demo_root: Path, data_root: Path, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "champion.json", demo_root, params={"fast": 5, "slow": 20})
    start = day_start_ms("2025-03-05")
    with ReplayServer() as server:
        spec = new_spec(
            StartOptions(
                manifests=(manifest,), feed="hyperliquid_perps", notify=NotifyMode.NONE, base_url=server.url,
                warmup_bars=300,
            )
        ).model_copy(update={"from_ms": start, "to_ms": start + DAY})  # fmt: skip
        runner = open_runner(
            tmp_path / "venue", spec, settings=load_settings(), data_root=data_root,
            console=Console(file=io.StringIO()), clock=ReplayClock(start, None),
        )  # fmt: skip
        end = runner.run()
        snapshots = server.requests_of("candleSnapshot")
    assert end.status == "finished" and end.bars == DAY // FIVE_MINUTES
    assert len(snapshots) >= 2  # the warm-up's back-fill, then the day's polls

    # Every bar the book saw is in the store (the feed stores before it delivers), and the state holds the same.
    stored = load_ohlcv("hyperliquid_perps", "BTC", "5m", data_root=data_root)
    connection = sqlite3.connect(tmp_path / "venue" / "state.db")
    try:
        bars = pd.read_sql("select * from bars order by time_ms", connection)
        equity = pd.read_sql("select time_ms, equity from equity order by time_ms", connection)
        trades = pd.read_sql("select entry_time_ms, exit_time_ms, side, pnl from trades order by n", connection)
    finally:
        connection.close()
    assert bars["time_ms"].iloc[0] == start - 300 * FIVE_MINUTES
    np.testing.assert_array_equal(stored.timestamp_ms, bars["time_ms"].to_numpy())
    np.testing.assert_array_equal(stored.close, bars["close"].to_numpy())
    assert equity["time_ms"].iloc[0] == start and (np.diff(equity["time_ms"]) == FIVE_MINUTES).all()

    champion = read_manifest(manifest)
    strategy = get_strategy(champion.strategy)
    expected = run_backtest(
        stored, strategy.signals(stored, champion.params), champion.backtest,
        stops=strategy.stops(stored, champion.params), start=300,
    )  # fmt: skip
    np.testing.assert_array_equal(equity["equity"].to_numpy(), expected.equity)
    assert len(trades) == expected.n_trades > 3
    np.testing.assert_array_equal(trades["pnl"].to_numpy(), expected.trades["pnl"].to_numpy())
