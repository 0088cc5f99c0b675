"""``stratlab research query``: ask the results database for backtests by their KPIs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stratlab.cli import console

research_app = typer.Typer(help="The research loop's results database.", no_args_is_help=True)
Opt = typer.Option

SHOWN = ("backtest_id", "strategy", "symbol", "timeframe", "part", "sharpe", "return_pct", "max_drawdown_pct",
         "green_days_pct", "n_trades")  # fmt: skip


@research_app.command("query")
def research_query(
    db: Annotated[str, Opt("--db", help="The results database: a SQLite file or a SQLAlchemy URL.")],
    where: Annotated[
        str | None, Opt("--where", help='A filter on KPIs, e.g. "sharpe > 1.5 and max_drawdown_pct < 20".')
    ] = None,
    part: Annotated[str, Opt("--part", help="Which part's KPIs: train, validation, test, holdout.")] = "train",
    order_by: Annotated[str, Opt("--order-by", help="The KPI to rank by (best first).")] = "sharpe",
    ascending: Annotated[bool, Opt("--ascending", help="Rank lowest first (e.g. by max_drawdown_pct).")] = False,
    limit: Annotated[int, Opt("--limit", min=1, help="Rows at most.")] = 50,
    csv: Annotated[Path | None, Opt("--csv", help="Write every KPI of the rows to this CSV file.")] = None,
) -> None:
    """The backtests whose KPIs on --part pass --where, best first by --order-by: a table, or every column as CSV."""
    from stratlab.atomic_io import write_text_atomic
    from stratlab.research.db import ResultsDb, database_url

    if "://" not in db and not Path(db).is_file():
        from stratlab.errors import DataError

        raise DataError(f"--db: {db}: no results database there")
    results = ResultsDb.open(database_url(db))
    try:
        frame = results.query(where, part=part, order_by=order_by, descending=not ascending, limit=limit)
    finally:
        results.close()
    if csv is not None:
        write_text_atomic(csv, frame.to_csv(index=False))
        console.stdout.print(f"written: {csv} ({len(frame):,} rows)", markup=False)
        return
    table = Table(title=f"{len(frame):,} backtests on {part}, by {order_by}", title_justify="left")
    for column in SHOWN:
        table.add_column(column, justify="left" if column in ("strategy", "symbol", "timeframe", "part") else "right")
    for row in frame.to_dict("records"):
        table.add_row(*[_cell(row[column]) for column in SHOWN])
    console.stdout.print(table)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


__all__ = ["research_app"]
