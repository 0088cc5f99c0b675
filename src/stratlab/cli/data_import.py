"""``stratlab data import-csv``: merge an MT5 history export or a plain OHLCV CSV into the store."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from stratlab.cli import console
from stratlab.cli.data import DataRootOption, data_app
from stratlab.data.sources.csv_import import CsvFormat, VolumeColumn, import_csv

log = logging.getLogger(__name__)


@data_app.command("import-csv")
def import_csv_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="The CSV file: an MT5 export (Symbols > Bars > Export) or a plain CSV with a header.",
            show_default=False,
        ),
    ],
    source: Annotated[str, typer.Option(help="Source name in the store, e.g. mt5_icmarkets.")],
    symbol: Annotated[str, typer.Option(help="Symbol, e.g. EURUSD.")],
    timeframe: Annotated[str, typer.Option(help="Timeframe of the bars in the file, e.g. 5m.")],
    tz: Annotated[
        str,
        typer.Option(
            "--tz",
            help="IANA time zone of the times in the file (for MT5, the broker's server time), e.g. "
            "Europe/Athens. Epoch numbers and times with a UTC offset ignore it.",
        ),
    ] = "UTC",
    file_format: Annotated[
        CsvFormat,
        typer.Option("--format", help="auto: MT5 if the header has <DATE>, plain CSV otherwise."),
    ] = CsvFormat.AUTO,
    volume: Annotated[
        VolumeColumn,
        typer.Option("--volume", help="MT5 column read as volume: <TICKVOL> or <VOL> (0 for FX)."),
    ] = VolumeColumn.TICKVOL,
    data_root: DataRootOption = None,
) -> None:
    """Import bars from a CSV file; importing the same or an overlapping file again merges, never duplicates.

    A file with any problem exits 1 with one error line naming the file and the CSV line; nothing is written.
    """
    summary = import_csv(
        file,
        source=source,
        symbol=symbol,
        timeframe=timeframe,
        tz=tz,
        fmt=file_format,
        volume=volume,
        data_root=data_root,
    )
    log.debug("import-csv wrote %s", ", ".join(str(path) for path in summary.files))
    console.stdout.print(str(summary), markup=False)


__all__ = ["import_csv_command"]
