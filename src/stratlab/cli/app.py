"""Root of the ``stratlab`` CLI: global options, logging, and the one place errors become exit codes."""

from __future__ import annotations

import difflib
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from typer._click import exceptions as cli_errors  # the click that typer vendors and raises

from stratlab import __version__
from stratlab.cli import (
    console,
    data_download,  # noqa: F401  (registers 'data download')
    data_import,  # noqa: F401  (registers 'data import-csv')
    data_orderbook,  # noqa: F401  (registers 'data orderbook record')
)
from stratlab.cli.backtest import backtest
from stratlab.cli.data import data_app
from stratlab.cli.paper import paper_app
from stratlab.cli.portfolio import portfolio_app
from stratlab.cli.research import research_app
from stratlab.cli.run import optimize, run_app
from stratlab.cli.strategy import strategy_app
from stratlab.cli.ui import ui
from stratlab.errors import StratlabError
from stratlab.logging_setup import configure_logging
from stratlab.settings import get_settings
from stratlab.strategies import load_failures, load_user_strategies

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
app.add_typer(portfolio_app, name="portfolio")
app.add_typer(paper_app, name="paper")
app.add_typer(research_app, name="research")
app.add_typer(strategy_app, name="strategy")
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
    strategies_dir: Annotated[
        Path | None,
        typer.Option("--strategies-dir", help="Folder of your own strategy files (default: STRATLAB_STRATEGIES_DIR)."),
    ] = None,
) -> None:
    """Global options; the log file (logs/stratlab.log) keeps STRATLAB_LOG_LEVEL and up (DEBUG by default)."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    if strategies_dir is not None:
        _use_strategies_dir(strategies_dir)
    settings = get_settings()
    configure_logging(level, settings.log_dir, file_level=settings.log_level)
    # Secrets are SecretStr, so this line shows them masked.
    log.debug("stratlab %s, settings: %r", __version__, settings)
    _load_user_strategies()


def _use_strategies_dir(folder: Path) -> None:
    """The folder for this command and every process it starts (workers read the setting from the environment)."""
    if not folder.is_dir():
        raise typer.BadParameter(f"no such folder: {folder}", param_hint="--strategies-dir")
    os.environ["STRATLAB_STRATEGIES_DIR"] = str(folder.resolve())
    get_settings.cache_clear()


def _load_user_strategies() -> None:
    """Read the user's strategies once, up front: a file that does not import is shown here, once, with its own
    traceback, and the command goes on without it; a name clash stops the command (one line naming both files)."""
    load_user_strategies()
    for failure in load_failures():
        console.stderr.print(f"warning: {failure.report()}", markup=False, highlight=False)


def _option_name(param: object) -> str:
    """How the user typed a parameter: its longest option name (``--fee-bps``), or an argument's name."""
    opts = [str(o) for o in getattr(param, "opts", ())]
    if getattr(param, "param_type_name", "") == "option" and opts:
        return max(opts, key=len)
    return str(getattr(param, "name", None) or "value").upper()


def _bad_value(exc: cli_errors.BadParameter) -> str:
    """``'abc' is not a valid number``: the value and the problem, from the validation typer ran on it."""
    cause = exc.__cause__
    if not isinstance(cause, ValidationError) or not cause.errors():
        return exc.message.rstrip(".")
    error = cause.errors()[0]
    value, bounds = error.get("input"), error.get("ctx") or {}
    described = {
        "float_parsing": f"{value!r} is not a valid number",
        "int_parsing": f"{value!r} is not a valid integer",
        "greater_than_equal": f"{value} is below the minimum {bounds.get('ge')}",
        "less_than_equal": f"{value} is above the maximum {bounds.get('le')}",
        "greater_than": f"{value} must be greater than {bounds.get('gt')}",
        "less_than": f"{value} must be less than {bounds.get('lt')}",
    }
    return described.get(error["type"], f"{value!r}: {error['msg'][:1].lower()}{error['msg'][1:]}")


def _usage_line(exc: cli_errors.UsageError) -> str:
    """One line naming the option (or the command) and the problem, instead of click's usage box."""
    command = exc.ctx.command_path if exc.ctx is not None else "stratlab"
    if isinstance(exc, cli_errors.MissingParameter) and exc.param is not None:
        return f"{_option_name(exc.param)}: required"
    if isinstance(exc, cli_errors.BadParameter) and exc.param is not None:
        return f"{_option_name(exc.param)}: {_bad_value(exc)}"
    if isinstance(exc, cli_errors.BadParameter) and isinstance(exc.param_hint, str):
        return f"{exc.param_hint}: {_bad_value(exc)}"  # raised by a command: typer.BadParameter(..., param_hint=)
    if isinstance(exc, cli_errors.NoSuchOption):
        close = difflib.get_close_matches(exc.option_name, exc.possibilities or [], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return f"{exc.option_name}: no such option of '{command}'{hint}"
    return f"{command}: {exc.format_message().rstrip('.')}"


def _print_error(message: str) -> None:
    console.stderr.print("error: " + " ".join(message.split()), markup=False)


def main() -> None:
    """Entry point of the ``stratlab`` script and ``python -m stratlab``.

    The app runs outside click's standalone mode so that every failure, usage errors included, ends here as one
    ``error:`` line on stderr: exit 2 for a usage error (click's convention), 1 for anything else.
    """
    try:
        code = app(prog_name="stratlab", standalone_mode=False)
    except cli_errors.NoArgsIsHelpError as exc:
        sys.exit(exc.exit_code)  # the help is already printed; a bare command group is a usage error
    except cli_errors.UsageError as exc:
        _print_error(_usage_line(exc))
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        _print_error(exc.format_message())
        sys.exit(exc.exit_code)
    except StratlabError as exc:
        log.debug("command failed", exc_info=True)
        _print_error(str(exc))
        sys.exit(1)
    except (KeyboardInterrupt, typer.Abort):
        console.stderr.print("interrupted", markup=False)
        sys.exit(130)
    # Outside standalone mode, typer.Exit (and Ctrl+C, as 130) come back as an exit code; success as None.
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
