"""``stratlab strategy``: write a user strategy from the template, check it before it is trusted, list what is known."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from stratlab.cli import console
from stratlab.data.loader import load_ohlcv
from stratlab.errors import ConfigError
from stratlab.settings import get_settings
from stratlab.strategies import (
    Strategy,
    get_strategy,
    strategy_names,
    strategy_source,
    user_strategy_names,
)
from stratlab.strategies.base import check_name
from stratlab.strategies.check import CheckPlan, CheckResult, StrategyCheck, check_strategy
from stratlab.strategies.check_records import has_passed, save_check

Opt = typer.Option

strategy_app = typer.Typer(help="Write, check and list strategies, the user's own beside the built-ins.")

_STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) or "MyStrategy"


def _template(name: str) -> str:
    text = files("stratlab.strategies").joinpath("templates/ema_cross.py.tmpl").read_text(encoding="utf-8")
    return text.replace("__NAME__", name).replace("__CLASS__", _class_name(name))


@strategy_app.command("new")
def strategy_new(
    name: Annotated[str, typer.Argument(help="The strategy's name: lower snake_case, also its file's name.")],
) -> None:
    """Write a commented template (an EMA cross with a trend filter) to the strategies folder as NAME.py."""
    check_name(name, "NAME")  # the rule every strategy's name follows
    if name in strategy_names():
        where = strategy_source(name)
        raise ConfigError(f"NAME: {name!r} is taken by {where.file if where else 'a built-in strategy'}")
    folder = get_settings().strategies_dir
    path = folder / f"{name}.py"
    if path.exists():
        raise ConfigError(f"{path}: exists already; a new strategy never replaces a file")
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as out:  # "x": never over a file that appeared meanwhile
        out.write(_template(name))
    console.stdout.print(f"wrote {path}", markup=False)
    console.stdout.print(f"next: stratlab strategy check {name}", markup=False)


def _check_table(name: str, results: list[CheckResult]) -> Table:
    table = Table(title=f"strategy check: {name}", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for result in results:
        table.add_row(result.check, Text(result.status, style=_STATUS_STYLE[result.status]), result.detail)
    return table


@strategy_app.command("check")
def strategy_check(
    name: Annotated[str, typer.Argument(help="The strategy to check (its name).")],
    source: Annotated[str, Opt("--source", help="Data source of the candles checked on.")] = "demo",
    symbol: Annotated[str, Opt("--symbol", help="Symbol.")] = "BTC",
    timeframe: Annotated[str, Opt("--timeframe", help="Bar timeframe.")] = "5m",
    start: Annotated[str | None, Opt("--start", help="First day, YYYY-MM-DD (UTC).")] = None,
    end: Annotated[str | None, Opt("--end", help="Last day, YYYY-MM-DD (UTC).")] = None,
    bars: Annotated[int, Opt("--bars", min=500, help="The last this many bars of the period are checked.")] = 20_000,
    draws: Annotated[int, Opt("--draws", min=0, max=200, help="Random parameter sets beside the defaults.")] = 6,
    seed: Annotated[int, Opt("--seed", min=0, help="Seed of the parameter draws.")] = 0,
    data_root: Annotated[Path | None, Opt("--data-root", help="Store root (default: STRATLAB_DATA_ROOT).")] = None,
) -> None:
    """Check a strategy on stored candles: contract, look-ahead, history dependence and speed; exit 1 on a failure.

    A user strategy that passes is trusted by optimize and research for exactly this file content."""
    strategy = get_strategy(name)
    candles = load_ohlcv(source, symbol, timeframe, start, end, data_root=data_root or get_settings().data_root)
    candles = candles.slice(max(0, len(candles) - bars), len(candles))
    if len(candles) < 500:
        raise ConfigError(f"{candles.label}: {len(candles):,} bars; the check needs at least 500")
    built_ins = [get_strategy(n) for n in strategy_names() if n not in user_strategy_names()]
    results: list[CheckResult] = []
    with console.stderr.status(f"checking {name} on {len(candles):,} bars of {candles.label}") as status:

        def shown(result: CheckResult) -> None:
            results.append(result)
            status.update(f"checked {result.check}: {result.status}")

        check = check_strategy(strategy, candles, built_ins, CheckPlan(draws=draws, seed=seed), on_result=shown)
    console.stdout.print(_check_table(name, results))
    _record(strategy, check)
    failed = [r.check for r in check.results if r.status == "fail"]
    if failed:
        console.stderr.print(f"error: {name} failed the {', '.join(failed)} check (see the table)", markup=False)
        raise typer.Exit(1)
    console.stdout.print(f"{name}: passed on {candles.label}, {len(candles):,} bars", markup=False)


def _record(strategy: Strategy, check: StrategyCheck) -> None:
    source = strategy_source(strategy.name)
    if source is None:
        return  # a built-in is checked by the test suite; nothing gates on a record of it
    path = save_check(check, source)
    verdict = "trusted by optimize and research" if check.passed else "not trusted"
    console.stdout.print(f"recorded in {path} (sha256 {source.sha256[:12]}…: {verdict})", markup=False)


@strategy_app.command("list")
def strategy_list() -> None:
    """Every strategy: built-in or the user's file, and whether that file's current content passed its check."""
    table = Table(title="strategies", title_justify="left")
    table.add_column("name")
    table.add_column("from")
    table.add_column("check")
    table.add_column("summary", overflow="fold")
    for name in strategy_names():
        strategy = get_strategy(name)
        source = strategy_source(name)
        if source is None:
            table.add_row(name, "built-in", "suite", strategy.summary)
            continue
        checked = Text("passed", style="green") if has_passed(name, source) else Text("never", style="yellow")
        table.add_row(name, source.entry_point or source.file, checked, strategy.summary)
    console.stdout.print(table)


__all__ = ["strategy_app"]
