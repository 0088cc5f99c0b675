"""``stratlab data ...``: inspect, check and fill the market-data store."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stratlab.cli import console
from stratlab.data.dates import format_ms, format_ms_seconds
from stratlab.data.inspect import inspect_series
from stratlab.data.orderbook.store import BookSeriesKey, OrderBookStore
from stratlab.data.store import MarketStore, SeriesKey
from stratlab.data.timeframes import parse_timeframe

log = logging.getLogger(__name__)

data_app = typer.Typer(help="Market data: list, check, demo, download, import.", no_args_is_help=True)

DataRootOption = Annotated[
    Path | None,
    typer.Option("--data-root", help="Store root (default: STRATLAB_DATA_ROOT or data/market_data)."),
]


def _when(ts_ms: int | None) -> str:
    return format_ms(ts_ms) if ts_ms is not None else "-"


@data_app.command("list")
def list_command(data_root: DataRootOption = None) -> None:
    """A table of every stored series: first and last bar, bar count, gaps; then the order books recorded."""
    store = MarketStore(data_root)
    keys = store.list_series()
    books = OrderBookStore(store.root)
    book_keys = books.list_series()
    log.debug("%d series and %d order books under %s", len(keys), len(book_keys), store.root)
    if not keys:
        console.stdout.print(f"No market data under {store.ohlcv_root}. Try: stratlab data demo")
    else:
        _print_candle_table(store, keys)
    if book_keys:
        _print_order_book_table(books, book_keys)


def _print_candle_table(store: MarketStore, keys: list[SeriesKey]) -> None:
    table = Table(title=f"Market data in {store.root}")
    for column in (
        "source",
        "symbol",
        "timeframe",
        "first bar",
        "last bar",
        "bars",
        "gaps",
        "missing bars",
        "problems",
    ):
        table.add_column(column, justify="right" if column in {"bars", "gaps", "missing bars", "problems"} else "left")
    for key in keys:
        report = inspect_series(store, key)
        table.add_row(
            key.source,
            key.symbol,
            key.timeframe,
            _when(report.first_ms),
            _when(report.last_ms),
            f"{report.bars:,}",
            str(len(report.gaps)),
            f"{report.missing_bars:,}",
            str(len(report.problems)) if report.problems else "0",
        )
    console.stdout.print(table)


def _print_order_book_table(books: OrderBookStore, keys: list[BookSeriesKey]) -> None:
    """Order-book series: one row each, with the UTC days and snapshots stored and any problem found."""
    table = Table(title=f"Order books in {books.root}")
    for column in ("source", "symbol", "kind", "first snapshot", "last snapshot", "days", "snapshots", "problems"):
        table.add_column(column, justify="right" if column in {"days", "snapshots", "problems"} else "left")
    summaries = [books.summarize(key) for key in keys]
    for summary in summaries:
        key = summary.key
        table.add_row(
            key.source,
            key.symbol,
            "order book",
            format_ms_seconds(summary.first_ms) if summary.first_ms is not None else "-",
            format_ms_seconds(summary.last_ms) if summary.last_ms is not None else "-",
            f"{summary.days:,}",
            f"{summary.snapshots:,}",
            str(len(summary.problems)),
        )
    console.stdout.print(table)
    for summary in summaries:
        for problem in summary.problems:
            console.stdout.print(f"problem {problem.rule}: {problem}", markup=False)


@data_app.command("check")
def check_command(
    source: Annotated[str, typer.Option(help="Source, e.g. hyperliquid_perps or demo.")],
    symbol: Annotated[str, typer.Option(help="Symbol, e.g. BTC.")],
    timeframe: Annotated[str, typer.Option(help="Timeframe, e.g. 5m.")],
    strict: Annotated[bool, typer.Option(help="Exit 1 if any problem or gap was found.")] = False,
    data_root: DataRootOption = None,
) -> None:
    """Report every problem of every month file and every gap of a series."""
    store = MarketStore(data_root)
    tf = parse_timeframe(timeframe)
    store.require_month_files(source, symbol, tf)
    report = inspect_series(store, SeriesKey(source, symbol, tf.name))
    console.stdout.print(f"{report.key}: {report.bars:,} bars from {_when(report.first_ms)} to {_when(report.last_ms)}")
    for problem in report.problems:
        rows = ""
        if problem.count > 1:
            rows = f" [rows {', '.join(map(str, problem.example_rows))}{' ...' if problem.count > 5 else ''}]"
        console.stdout.print(f"problem {problem.rule}: {problem}{rows}", markup=False)
    for gap in report.gaps:
        console.stdout.print(
            f"gap: {format_ms(gap.start_ms)} -> {format_ms(gap.end_ms)}: {gap.missing_bars:,} missing bars",
            markup=False,
        )
    console.stdout.print(
        f"{len(report.problems)} problem(s), {len(report.gaps)} gap(s), {report.missing_bars:,} missing bar(s)"
    )
    if strict and (report.problems or report.gaps):
        raise typer.Exit(code=1)


@data_app.command("demo")
def demo_command(
    data_root: DataRootOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the generator: same seed, same bars.")] = 7,
) -> None:
    """Write the deterministic synthetic demo market (source 'demo') into the store."""
    from stratlab.data.demo import write_demo_market

    store = MarketStore(data_root)
    summary = write_demo_market(store, seed=seed)
    console.stdout.print(str(summary), markup=False)


__all__ = ["data_app"]
