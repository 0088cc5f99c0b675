"""Building a portfolio from the candidates that passed the gates in one or more runs, and writing it.

1. Each run directory's passing candidates and their daily returns on its selection part (``runs``).
2. Side by side on the UTC days all of them have a return for; a candidate flat on those days has no Sharpe ratio
   and no correlation, and is left out with that reason.
3. The members: the subset with the highest Sharpe ratio whose pairwise correlations are at most ``max_corr``
   (``choose``), weighted equally or by inverse volatility (``weights``), rebalanced daily.
4. The portfolio's daily returns (Σ w_i r_i,t), equity from 1, daily drawdown and headline figures (``figures``),
   annualised with the lowest periods-per-year of the runs' markets (365 for crypto; 252 as soon as one run is
   on a session market, whose days are the only common ones).
5. Its beta to holding each market the candidates traded: one beta per ``source/symbol`` against the daily
   close-to-close returns of that market's candles (the first run's candles on it) over the same days.
6. Each member's strategy manifest (``members``) and the portfolio manifest (``manifest``).

Every figure is on the selection parts, which chose the candidates: in-sample, and labelled so.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from stratlab.atomic_io import write_text_atomic
from stratlab.data.candles import Candles
from stratlab.data.dates import format_day
from stratlab.errors import ConfigError, DataError
from stratlab.optimize.evaluate import Evaluator, load_run_candles
from stratlab.portfolio.choose import MemberChoice, choose_members
from stratlab.portfolio.figures import (
    ReturnFigures,
    annualised_sharpe,
    beta,
    drawdown_pct,
    equity_curve,
    flat_columns,
    return_figures,
)
from stratlab.portfolio.manifest import (
    PortfolioBeta,
    PortfolioFigures,
    PortfolioManifest,
    PortfolioMember,
    PortfolioRule,
    PortfolioSample,
)
from stratlab.portfolio.members import candidate_manifest
from stratlab.portfolio.runs import (
    MIN_COMMON_DAYS,
    PassingCandidate,
    RunCandidates,
    buy_and_hold_day_returns,
    check_distinct_runs,
    common_day_returns,
)
from stratlab.portfolio.weights import WeightRule, portfolio_returns

PORTFOLIO_FILE = "portfolio.json"
EQUITY_FILE = "portfolio_equity.csv"
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Portfolio:
    """A built portfolio: what it was built from, whom it left out and why, its members and its figures."""

    runs: tuple[RunCandidates, ...]
    days: npt.NDArray[np.int64]
    candidate_returns: pd.DataFrame  # days × every passing candidate considered (columns by label)
    excluded: dict[str, str]  # label -> why it was not considered
    choice: MemberChoice
    member_returns: pd.DataFrame  # days × members, in member order
    returns: FloatArray
    equity: FloatArray
    drawdown_pct: FloatArray
    figures: ReturnFigures
    single_figures: dict[str, ReturnFigures]  # label -> the member's own figures on the same days
    manifest: PortfolioManifest

    @property
    def members(self) -> list[PortfolioMember]:
        return self.manifest.members

    @property
    def correlation(self) -> pd.DataFrame:
        labels = [member.label for member in self.members]
        return pd.DataFrame(self.manifest.correlation, index=labels, columns=labels)


def build_portfolio(
    runs: Sequence[RunCandidates],
    *,
    max_corr: float,
    weights: WeightRule,
    data_root: Path | str | None = None,
) -> Portfolio:
    """The portfolio of the runs' passing candidates (see the module); ``data_root`` overrides where each run's
    candles are read from (default: the one in its context)."""
    if not -1.0 <= max_corr <= 1.0:
        raise ConfigError(f"--max-corr: a correlation between -1 and 1, got {max_corr}")
    check_distinct_runs(runs)
    aligned = common_day_returns(runs)
    excluded = {
        str(aligned.columns[column]): "its daily returns do not vary on the common days (no Sharpe ratio, no "
        "correlation)"
        for column in flat_columns(aligned.to_numpy())
    }
    pool = aligned.drop(columns=list(excluded))
    if pool.empty:
        raise DataError("every passing candidate is flat on the common days: nothing to build a portfolio from")
    contributing = [run for run in runs if run.returns is not None]
    periods = min(run.periods_per_year for run in contributing)
    choice = choose_members(pool.to_numpy(), max_corr=max_corr, rule=weights, periods_per_year=periods)
    member_returns = pool.iloc[:, list(choice.members)]
    combined = portfolio_returns(member_returns.to_numpy(), choice.weights)
    equity = equity_curve(combined)
    days = aligned.index.to_numpy(dtype=np.int64)
    figures = return_figures(combined, periods)
    candles = _CandlesOfRuns(data_root)
    rule = PortfolioRule(max_corr=max_corr, weights=weights, search=choice.method, periods_per_year=periods,
                         min_common_days=MIN_COMMON_DAYS)  # fmt: skip
    sample = PortfolioSample(
        first_day=format_day(int(days[0])),
        last_day=format_day(int(days[-1])),
        n_days=len(days),
        selection_parts={run.run_id: run.selection_part for run in contributing},
    )
    members = _members(contributing, member_returns, choice, rule, sample, candles)
    manifest = PortfolioManifest(
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        run_ids=[run.run_id for run in runs],
        rule=rule,
        sample=sample,
        members=members,
        correlation=np.atleast_2d(np.corrcoef(member_returns.to_numpy(), rowvar=False)).tolist(),
        figures=_figures_record(figures),
        betas=_betas(contributing, combined, days, candles),
    )
    return Portfolio(
        runs=tuple(runs),
        days=days,
        candidate_returns=aligned,
        excluded=excluded,
        choice=choice,
        member_returns=member_returns,
        returns=combined,
        equity=equity,
        drawdown_pct=drawdown_pct(equity),
        figures=figures,
        single_figures={
            str(label): return_figures(member_returns[label].to_numpy(), periods) for label in member_returns.columns
        },
        manifest=manifest,
    )


def _figures_record(figures: ReturnFigures) -> PortfolioFigures:
    return PortfolioFigures(
        total_return_pct=figures.total_return_pct, annual_return_pct=figures.annual_return_pct,
        annual_volatility_pct=figures.annual_volatility_pct, sharpe=figures.sharpe,
        max_drawdown_pct=figures.max_drawdown_pct,
    )  # fmt: skip


class _CandlesOfRuns:
    """Each run's candles, loaded (and checked against the run's fingerprint) once."""

    def __init__(self, data_root: Path | str | None) -> None:
        self.data_root = data_root
        self._loaded: dict[str, Candles] = {}

    def of(self, run: RunCandidates) -> Candles:
        if run.run_id not in self._loaded:
            self._loaded[run.run_id] = load_run_candles(run.context, self.data_root)
        return self._loaded[run.run_id]


def _members(
    runs: Sequence[RunCandidates],
    member_returns: pd.DataFrame,
    choice: MemberChoice,
    rule: PortfolioRule,
    sample: PortfolioSample,
    candles: _CandlesOfRuns,
) -> list[PortfolioMember]:
    by_label: dict[str, tuple[RunCandidates, PassingCandidate]] = {
        candidate.label: (run, candidate) for run in runs for candidate in run.passing
    }
    evaluators: dict[str, Evaluator] = {}
    members = []
    for label, weight in zip(member_returns.columns, choice.weights, strict=True):
        run, candidate = by_label[label]
        if run.run_id not in evaluators:
            evaluators[run.run_id] = Evaluator(run.context, candles.of(run))
        reason = (
            f"portfolio member, weight {weight:.2%} ({rule.weights}): verdict pass on {run.selection_part}; "
            f"{len(choice.members)} member(s) chosen by {rule.search} search for the highest Sharpe ratio on "
            f"{sample.n_days} common days with every pairwise correlation at most {rule.max_corr:g}"
        )
        members.append(
            PortfolioMember(
                label=label,
                run_id=run.run_id,
                market=run.market,
                strategy=candidate.strategy,
                trial=candidate.trial,
                weight=float(weight),
                dsr=candidate.dsr,
                sharpe=annualised_sharpe(member_returns[label].to_numpy(), rule.periods_per_year),
                manifest=candidate_manifest(evaluators[run.run_id], candidate, reason),
            )
        )
    return members


def _betas(
    runs: Sequence[RunCandidates], returns: FloatArray, days: npt.NDArray[np.int64], candles: _CandlesOfRuns
) -> list[PortfolioBeta]:
    """One beta per market the runs traded, against the first run's candles on it."""
    betas: dict[str, float | None] = {}
    for run in runs:
        if run.market not in betas:
            betas[run.market] = beta(returns, buy_and_hold_day_returns(candles.of(run), days))
    return [PortfolioBeta(market=market, beta=value) for market, value in betas.items()]


def default_portfolio_dir(runs_root: Path | str, now: dt.datetime | None = None) -> Path:
    """``<runs root>/portfolios/<UTC timestamp>``."""
    moment = now or dt.datetime.now(dt.UTC)
    return Path(runs_root) / "portfolios" / moment.strftime("%Y%m%dT%H%M%SZ")


def equity_table(portfolio: Portfolio) -> pd.DataFrame:
    """The portfolio's day-by-day record: UTC day, its start in ms, the portfolio's return, equity (from 1) and
    drawdown, then each member's return (the portfolio's return is their weighted sum)."""
    table = pd.DataFrame(
        {
            "day": [format_day(int(day)) for day in portfolio.days],
            "day_ms": portfolio.days,
            "return": portfolio.returns,
            "equity": portfolio.equity,
            "drawdown_pct": portfolio.drawdown_pct,
        }
    )
    for label in portfolio.member_returns.columns:
        table[f"return {label}"] = portfolio.member_returns[label].to_numpy()
    return table


@dataclass(frozen=True)
class PortfolioFiles:
    directory: Path
    manifest: Path
    equity: Path


def write_portfolio(portfolio: Portfolio, out_dir: Path | str) -> PortfolioFiles:
    """``portfolio_equity.csv`` then ``portfolio.json`` (the manifest last: a directory with it is complete), each
    written atomically, into ``out_dir``, which must be new or empty: a portfolio is never overwritten."""
    directory = Path(out_dir)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConfigError(f"--out: {directory} already exists and is not an empty folder; a portfolio is never "
                          "overwritten, choose another")  # fmt: skip
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: {directory}: cannot be created ({exc.strerror})") from None
    files = PortfolioFiles(directory, directory / PORTFOLIO_FILE, directory / EQUITY_FILE)
    buffer = io.StringIO()
    equity_table(portfolio).to_csv(buffer, index=False)
    write_text_atomic(files.equity, buffer.getvalue())
    portfolio.manifest.write(files.manifest)
    return files


__all__ = [
    "EQUITY_FILE",
    "PORTFOLIO_FILE",
    "Portfolio",
    "PortfolioFiles",
    "build_portfolio",
    "default_portfolio_dir",
    "equity_table",
    "write_portfolio",
]
