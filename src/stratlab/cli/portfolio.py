"""``stratlab portfolio build``: a portfolio of the candidates that passed the gates in one or more runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from stratlab.cli import console
from stratlab.portfolio.weights import WeightRule
from stratlab.settings import get_settings

if TYPE_CHECKING:
    from stratlab.portfolio.build import Portfolio
    from stratlab.portfolio.figures import ReturnFigures
    from stratlab.portfolio.runs import RunCandidates

portfolio_app = typer.Typer(
    help="Portfolios of the candidates that passed the gates across runs.", no_args_is_help=True
)
Opt = typer.Option


@portfolio_app.command("build")
def portfolio_build(
    run_dirs: Annotated[
        list[Path], Opt("--run-dir", help="A run directory (runs/<run_id>_<label>); repeat it for several runs.")
    ],
    max_corr: Annotated[
        float, Opt("--max-corr", min=-1.0, max=1.0, help="Most correlated two members may be (daily returns).")
    ] = 0.5,
    weights: Annotated[WeightRule, Opt("--weights", help="How members share the capital.")] = WeightRule.EQUAL,
    out: Annotated[
        Path | None, Opt("--out", help="A new folder for the portfolio (default: runs/portfolios/<UTC timestamp>).")
    ] = None,
    data_root: Annotated[
        Path | None, Opt("--data-root", help="Store root (default: the one each run was created with).")
    ] = None,
) -> None:
    """Choose, among the candidates that passed the gates, the members with the highest Sharpe ratio whose daily
    returns correlate at most --max-corr, and write portfolio.json and portfolio_equity.csv."""
    from stratlab.portfolio.build import build_portfolio, default_portfolio_dir, write_portfolio
    from stratlab.portfolio.runs import read_run_candidates

    runs = [read_run_candidates(path) for path in run_dirs]
    for run in runs:
        _print_run(run)
    portfolio = build_portfolio(runs, max_corr=max_corr, weights=weights, data_root=data_root)
    files = write_portfolio(portfolio, out if out is not None else default_portfolio_dir(get_settings().runs_root))
    _print_portfolio(portfolio)
    console.stdout.print(f"written: {files.manifest}, {files.equity}", markup=False)


def _print_run(run: RunCandidates) -> None:
    where = f"run {run.run_id} ({run.market}, {run.selection_part})"
    if run.passing:
        line = f"{where}: {len(run.passing):,} of {run.n_candidates:,} candidates passed the gates"
    else:
        line = f"{where}: no candidate passed the gates ({run.n_candidates:,} flagged)"
    console.stdout.print(line, markup=False)


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _print_portfolio(portfolio: Portfolio) -> None:
    manifest = portfolio.manifest
    rule, sample = manifest.rule, manifest.sample
    n_considered = portfolio.candidate_returns.shape[1] - len(portfolio.excluded)
    members = Table(
        title=f"members: {rule.search} search of {n_considered:,} candidates for the highest Sharpe ratio, every "
        f"pairwise correlation at most {rule.max_corr:g}; weights {rule.weights}, rebalanced daily",
        title_justify="left",
    )
    for column in ("member", "market", "weight %", "DSR", "Sharpe", "annual return %", "volatility %", "max DD %"):
        members.add_column(column, justify="left" if column in ("member", "market") else "right")
    for member in portfolio.members:
        own: ReturnFigures = portfolio.single_figures[member.label]
        members.add_row(
            member.label, member.market, f"{member.weight * 100:,.2f}", _number(member.dsr, 3),
            _number(own.sharpe), _number(own.annual_return_pct), _number(own.annual_volatility_pct),
            _number(own.max_drawdown_pct),
        )  # fmt: skip
    console.stdout.print(members)

    labels = [member.label for member in portfolio.members]
    if len(labels) > 1:
        correlation = Table(title="correlation of daily returns", title_justify="left")
        correlation.add_column("")
        for index in range(len(labels)):
            correlation.add_column(f"{index + 1}", justify="right")
        for index, (label, row) in enumerate(zip(labels, manifest.correlation, strict=True)):
            correlation.add_row(f"{index + 1} {label}", *(f"{value:+.2f}" for value in row))
        console.stdout.print(correlation)

    figures = manifest.figures
    summary = Table(
        title=f"portfolio: {sample.first_day} to {sample.last_day} UTC, {sample.n_days:,} days "
        f"({rule.periods_per_year} a year)",
        title_justify="left",
    )
    columns = ["total return %", "annual return %", "volatility %", "Sharpe", "max DD % (daily)"]
    columns += [f"beta {beta.market}" for beta in manifest.betas]
    for column in columns:
        summary.add_column(column, justify="right")
    summary.add_row(
        _number(figures.total_return_pct), _number(figures.annual_return_pct), _number(figures.annual_volatility_pct),
        _number(figures.sharpe), _number(figures.max_drawdown_pct), *(_number(beta.beta) for beta in manifest.betas),
    )  # fmt: skip
    console.stdout.print(summary)
    for label, reason in portfolio.excluded.items():
        console.stdout.print(f"left out {label}: {reason}", markup=False)
    console.stdout.print(sample.note, markup=False)


__all__ = ["portfolio_app"]
