"""``stratlab data orderbook record``: record a venue's L2 order book into the store until the duration or Ctrl+C."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from stratlab.cli import console
from stratlab.cli.data import DataRootOption, data_app
from stratlab.cli.data_download import download_retry_policy, print_summary
from stratlab.data.orderbook.record import (
    FEEDS,
    MAX_LEVELS,
    RecordPlan,
    open_book_source,
    open_book_stream,
    parse_span,
    record_order_book,
)
from stratlab.data.orderbook.store import OrderBookStore
from stratlab.errors import ConfigError
from stratlab.settings import get_settings

orderbook_app = typer.Typer(help="Order books: record L2 snapshots into the store.", no_args_is_help=True)
data_app.add_typer(orderbook_app, name="orderbook")


def _stop_like_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@orderbook_app.command("record")
def record_command(
    source: Annotated[str, typer.Option(help="hyperliquid_perps, or ccxt_<exchange> (e.g. ccxt_binance).")],
    symbol: Annotated[
        str, typer.Option(help="Coin for Hyperliquid (BTC); ccxt symbol otherwise (BTC/USDT, BTC/USDC:USDC).")
    ],
    levels: Annotated[
        int, typer.Option(min=1, max=MAX_LEVELS, help="Levels a side to keep (Hyperliquid serves at most 20).")
    ] = 20,
    interval: Annotated[str, typer.Option(help="Time between snapshots: 5s, 500ms, 1m, ...")] = "5s",
    duration: Annotated[
        str | None, typer.Option(help="How long to record (1h, 30m, 2d); default: until Ctrl+C.")
    ] = None,
    feed: Annotated[
        str, typer.Option(help="auto: the venue's websocket where it has one (Hyperliquid), else polling; poll.")
    ] = "auto",
    flush_every: Annotated[int, typer.Option(min=1, help="Write to the store every N snapshots...")] = 60,
    flush_seconds: Annotated[float, typer.Option(min=0.001, help="...or every M seconds, whichever first.")] = 60.0,
    base_url: Annotated[
        str | None, typer.Option(help="REST API root to use instead of the source's (a mirror, a test server).")
    ] = None,
    ws_url: Annotated[
        str | None, typer.Option(help="Hyperliquid websocket URL (default: /ws beside the API root).")
    ] = None,
    store_symbol: Annotated[
        str | None, typer.Option(help="Name to store the series under (default: the symbol with / and : as -).")
    ] = None,
    data_root: DataRootOption = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress line.")] = True,
) -> None:
    """Record L2 snapshots into <data-root>/orderbook/<source>/<symbol>/YYYY/MM/DD.parquet. Ctrl+C stops after a
    last flush; a rerun appends without duplicates."""
    settings = get_settings()
    if feed not in FEEDS:
        raise ConfigError(f"--feed: expected one of {', '.join(FEEDS)}, got {feed!r}")
    plan = RecordPlan(
        levels=levels,
        interval_s=parse_span(interval, "--interval"),
        duration_s=parse_span(duration, "--duration") if duration is not None else None,
        flush_every=flush_every,
        flush_interval_s=flush_seconds,
    )
    store = OrderBookStore(data_root)
    remote = open_book_source(source, settings=settings, base_url=base_url)
    stream = None
    if feed == "auto":
        stream = open_book_stream(source, symbol, levels, settings=settings, base_url=base_url, ws_url=ws_url)
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    try:
        summary = record_order_book(
            remote,
            store,
            symbol,
            plan,
            stream=stream,
            store_symbol=store_symbol,
            retry=download_retry_policy(settings),
            show_progress=progress,
            console=console.stderr,
        )
    finally:
        remote.close()
    print_summary(summary.lines())
    if summary.interrupted:
        raise typer.Exit(130)


__all__ = ["orderbook_app", "record_command"]
