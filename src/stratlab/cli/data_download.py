"""``stratlab data download``: fill the store from a remote source, resuming where the stored series ends."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from stratlab.cli import console
from stratlab.cli.data import DataRootOption, data_app
from stratlab.data.dates import day_end_exclusive_ms, day_start_ms
from stratlab.data.download import download_candles, open_source
from stratlab.data.sources.http_retry import RetryPolicy
from stratlab.data.store import MarketStore
from stratlab.data.timeframes import parse_timeframe
from stratlab.settings import Settings, get_settings


def download_retry_policy(settings: Settings) -> RetryPolicy:
    """How a command that asks a venue retries: ``STRATLAB_DOWNLOAD_MAX_RETRIES`` times, the rest as by default."""
    return RetryPolicy(max_retries=settings.download_max_retries)


def print_summary(lines: Iterable[str]) -> None:
    """A run's summary on stdout, one fact a line, as plain text (a symbol or a path may look like rich markup)."""
    for line in lines:
        console.stdout.print(line, markup=False)


@data_app.command("download")
def download_command(
    source: Annotated[str, typer.Option(help="hyperliquid_perps, or ccxt_<exchange> (e.g. ccxt_binance).")],
    symbol: Annotated[
        str, typer.Option(help="Coin for Hyperliquid (BTC); ccxt symbol otherwise (BTC/USDT, BTC/USDC:USDC).")
    ],
    timeframe: Annotated[str, typer.Option(help="Bar timeframe, e.g. 5m, 1h, 1d.")],
    start: Annotated[str, typer.Option(help="First day to fetch, YYYY-MM-DD (UTC).")],
    end: Annotated[
        str | None, typer.Option(help="Last day to fetch, YYYY-MM-DD (UTC, included). Default: up to now.")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="API root to use instead of the source's (a mirror, a proxy, a test server)."),
    ] = None,
    store_symbol: Annotated[
        str | None,
        typer.Option(help="Name to store the series under (default: the symbol with / and : turned into -)."),
    ] = None,
    data_root: DataRootOption = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Download candles into the store. A second run fetches only the bars that closed since the first."""
    settings = get_settings()
    tf = parse_timeframe(timeframe)
    start_ms = day_start_ms(start, "--start")
    end_ms = day_end_exclusive_ms(end, "--end") if end is not None else None
    store = MarketStore(data_root if data_root is not None else Path(settings.data_root))
    remote = open_source(source, settings=settings, base_url=base_url)
    try:
        summary = download_candles(
            remote,
            store,
            symbol,
            tf,
            start_ms,
            end_ms,
            store_symbol=store_symbol,
            retry=download_retry_policy(settings),
            show_progress=progress,
            console=console.stderr,
        )
    finally:
        remote.close()
    print_summary(summary.lines())


__all__ = ["download_command", "download_retry_policy", "print_summary"]
