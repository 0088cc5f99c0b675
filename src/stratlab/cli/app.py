"""Root of the ``stratlab`` CLI: global options, logging, and the one place errors become exit codes."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from stratlab import __version__
from stratlab.cli import (
    console,
    data_download,  # noqa: F401  (registers 'data download')
    data_import,  # noqa: F401  (registers 'data import-csv')
)
from stratlab.cli.backtest import backtest
from stratlab.cli.data import data_app
from stratlab.cli.run import optimize, run_app
from stratlab.cli.ui import ui
from stratlab.errors import StratlabError
from stratlab.logging_setup import configure_logging
from stratlab.settings import get_settings

log = logging.getLogger("stratlab")

app = typer.Typer(
    name="stratlab",
    help="Find trading strategies on OHLCV candles and prove whether they hold out of sample.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_app, name="data")
app.command("backtest")(backtest)
app.add_typer(run_app, name="run")
app.command("optimize")(optimize)
app.command("ui")(ui)


def _version(value: bool) -> None:
    if value:
        console.stdout.print(f"stratlab {__version__}")
        raise typer.Exit


@app.callback()
def root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug messages on the console.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on the console.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Global options; the log file (logs/stratlab.log) always records debug detail."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    settings = get_settings()
    configure_logging(level, settings.log_dir)
    # Secrets are SecretStr, so this line shows them masked.
    log.debug("stratlab %s, settings: %r", __version__, settings)


def main() -> None:
    """Entry point of the ``stratlab`` script and ``python -m stratlab``."""
    try:
        app()
    except StratlabError as exc:
        log.debug("command failed", exc_info=True)
        console.stderr.print(f"error: {exc}", markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        console.stderr.print("interrupted", markup=False)
        sys.exit(130)


__all__ = ["app", "main"]
