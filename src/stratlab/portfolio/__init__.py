"""Portfolios of the candidates that passed the gates across runs: chosen under a correlation cap, weighted, and
written as a portfolio manifest.

The names a user, the CLI or the UI needs::

    from stratlab.portfolio import WeightRule, build_portfolio, read_run_candidates, write_portfolio

    runs = [read_run_candidates(path) for path in ("runs/A_btc", "runs/B_eth")]
    portfolio = build_portfolio(runs, max_corr=0.5, weights=WeightRule.INVERSE_VOL)
    write_portfolio(portfolio, "runs/portfolios/mine")  # portfolio.json + portfolio_equity.csv

- ``read_run_candidates`` / ``RunCandidates`` / ``PassingCandidate``: what a run directory holds for a portfolio;
- ``choose_members`` (exact search up to 15 candidates, greedy forward selection above), ``WeightRule``,
  ``weights_for``, ``portfolio_returns``; ``return_figures`` and ``beta``;
- ``build_portfolio``, ``Portfolio``, ``write_portfolio``, ``default_portfolio_dir``;
- ``PortfolioManifest`` and ``read_portfolio_manifest``: the portfolio.json model and its checked reader.

Each name is imported from its module on first use, so the CLI's start-up stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratlab.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from stratlab.portfolio.build import Portfolio, build_portfolio, default_portfolio_dir, write_portfolio
    from stratlab.portfolio.choose import MemberChoice, SearchMethod, choose_members
    from stratlab.portfolio.figures import ReturnFigures, beta, return_figures
    from stratlab.portfolio.manifest import PortfolioManifest, read_portfolio_manifest
    from stratlab.portfolio.runs import PassingCandidate, RunCandidates, read_run_candidates
    from stratlab.portfolio.weights import WeightRule, portfolio_returns, weights_for

# Each public name and the module it comes from.
_HOMES = {
    "Portfolio": "build",
    "build_portfolio": "build",
    "default_portfolio_dir": "build",
    "write_portfolio": "build",
    "MemberChoice": "choose",
    "SearchMethod": "choose",
    "choose_members": "choose",
    "ReturnFigures": "figures",
    "beta": "figures",
    "return_figures": "figures",
    "PortfolioManifest": "manifest",
    "read_portfolio_manifest": "manifest",
    "PassingCandidate": "runs",
    "RunCandidates": "runs",
    "read_run_candidates": "runs",
    "WeightRule": "weights",
    "portfolio_returns": "weights",
    "weights_for": "weights",
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), {name: f".{module}" for name, module in _HOMES.items()})

__all__ = [
    "MemberChoice",
    "PassingCandidate",
    "Portfolio",
    "PortfolioManifest",
    "ReturnFigures",
    "RunCandidates",
    "SearchMethod",
    "WeightRule",
    "beta",
    "build_portfolio",
    "choose_members",
    "default_portfolio_dir",
    "portfolio_returns",
    "read_portfolio_manifest",
    "read_run_candidates",
    "return_figures",
    "weights_for",
    "write_portfolio",
]
