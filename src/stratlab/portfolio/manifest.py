"""The portfolio manifest (``portfolio.json``): a typed, versioned record of a portfolio's members and how they were
chosen, with each member's full strategy manifest (``stratlab.report.manifest.Manifest``), so a paper runner can
rebuild every member's backtest as it rebuilds a champion's.

Schema version 1, as JSON:

- ``schema_version`` (1), ``kind`` ("stratlab.portfolio"), ``created_at`` (UTC, ISO 8601), ``package_version``;
- ``run_ids``: the runs the candidates came from, in the order given;
- ``rule`` (:class:`PortfolioRule`): ``max_corr``, ``weights`` ("equal" | "inverse-vol"), ``search`` ("exact" |
  "greedy"), ``periods_per_year`` (the annualisation), ``min_common_days``, ``rebalancing`` ("daily");
- ``sample`` (:class:`PortfolioSample`): the common UTC days (first, last, count), each run's selection part, and
  ``note``: the figures are in-sample (the selection parts chose the candidates);
- ``members`` (:class:`PortfolioMember`): label (``<run_id>/<strategy>#<trial>``), run, market, strategy, trial,
  weight (they sum to 1), the DSR the run's report gave it, its own Sharpe ratio on the sample, its ``manifest``;
- ``correlation``: the members' Pearson correlation matrix of daily returns, rows and columns in member order;
- ``figures`` (:class:`PortfolioFigures`): total and annual return, volatility, Sharpe ratio, max drawdown (daily);
- ``betas`` (:class:`PortfolioBeta`): the portfolio's beta to holding each market the runs traded.

A file that is not such a manifest (other bytes, another kind or version, a field missing or of another type, weights
that do not sum to 1) is one ``DataError`` line naming the file and the field.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stratlab import __version__
from stratlab.atomic_io import write_text_atomic
from stratlab.errors import DataError
from stratlab.portfolio.choose import SearchMethod
from stratlab.portfolio.weights import WeightRule
from stratlab.report.manifest import Manifest, parse_versioned_json

PORTFOLIO_SCHEMA_VERSION: Final = 1
PORTFOLIO_KIND: Final = "stratlab.portfolio"
WEIGHTS_SUM_TOLERANCE = 1e-9
IN_SAMPLE_NOTE = (
    "in-sample: every figure is on the candidates' selection parts, the very days that chose them (their Pareto "
    "front, their gates and this portfolio's members): not out-of-sample"
)


class PortfolioRule(BaseModel):
    """How the members were chosen and weighted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_corr: float = Field(ge=-1.0, le=1.0, allow_inf_nan=False)
    weights: WeightRule
    search: SearchMethod
    objective: Literal["max_sharpe"] = "max_sharpe"
    rebalancing: Literal["daily"] = "daily"
    periods_per_year: int = Field(ge=1)
    min_common_days: int = Field(ge=2)


class PortfolioSample(BaseModel):
    """The days every figure is computed on: UTC days all passing candidates have a return for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_day: str
    last_day: str
    n_days: int = Field(ge=2)
    selection_parts: dict[str, str]  # run id -> the part its candidates were compared on (test or validation)
    note: str = IN_SAMPLE_NOTE


class PortfolioMember(BaseModel):
    """One member: where it comes from, its weight and its strategy manifest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    run_id: str
    market: str  # source/symbol
    strategy: str
    trial: int
    weight: float = Field(gt=0.0, le=1.0, allow_inf_nan=False)
    dsr: float | None
    sharpe: float | None
    manifest: Manifest

    @model_validator(mode="after")
    def _manifest_is_this_member(self) -> PortfolioMember:
        manifest = self.manifest
        if (manifest.run_id, manifest.strategy, manifest.trial) != (self.run_id, self.strategy, self.trial):
            raise ValueError(
                f"manifest: run {manifest.run_id} {manifest.strategy}#{manifest.trial} is not the member's "
                f"{self.run_id} {self.strategy}#{self.trial}"
            )
        return self


class PortfolioFigures(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    total_return_pct: float
    annual_return_pct: float | None
    annual_volatility_pct: float
    sharpe: float | None
    max_drawdown_pct: float


class PortfolioBeta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    market: str
    beta: float | None


class PortfolioManifest(BaseModel):
    """A portfolio as a paper runner needs it (see the module for the fields)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = PORTFOLIO_SCHEMA_VERSION
    kind: Literal["stratlab.portfolio"] = PORTFOLIO_KIND
    created_at: str
    package_version: str = __version__
    run_ids: list[str]
    rule: PortfolioRule
    sample: PortfolioSample
    members: list[PortfolioMember] = Field(min_length=1)
    correlation: list[list[float]]
    figures: PortfolioFigures
    betas: list[PortfolioBeta]

    @model_validator(mode="after")
    def _consistent(self) -> PortfolioManifest:
        total = math.fsum(member.weight for member in self.members)
        if abs(total - 1.0) > WEIGHTS_SUM_TOLERANCE:
            raise ValueError(f"members: the weights sum to {total!r}, not 1")
        labels = [member.label for member in self.members]
        if len(set(labels)) != len(labels):
            raise ValueError("members: a member appears twice")
        stray = [member.run_id for member in self.members if member.run_id not in self.run_ids]
        if stray:
            raise ValueError(f"members: run {stray[0]} is not in run_ids")
        k = len(self.members)
        if len(self.correlation) != k or any(len(row) != k for row in self.correlation):
            raise ValueError(f"correlation: expected a {k} × {k} matrix, one row and column per member")
        return self

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"

    def write(self, path: Path) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        write_text_atomic(path, self.to_json())


def parse_portfolio_manifest(text: str, path: Path) -> PortfolioManifest:
    """A portfolio manifest from its JSON text; anything else is one ``DataError`` line naming ``path``."""
    return parse_versioned_json(
        text, path, model=PortfolioManifest, kind=PORTFOLIO_KIND, version=PORTFOLIO_SCHEMA_VERSION,
        what="portfolio manifest", backtest_at="members: backtest",
    )  # fmt: skip


def read_portfolio_manifest(path: Path | str) -> PortfolioManifest:
    """The portfolio manifest at ``path``, checked (see :func:`parse_portfolio_manifest`)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable portfolio manifest ({exc})") from None
    return parse_portfolio_manifest(text, path)


__all__ = [
    "IN_SAMPLE_NOTE",
    "PORTFOLIO_KIND",
    "PORTFOLIO_SCHEMA_VERSION",
    "PortfolioBeta",
    "PortfolioFigures",
    "PortfolioManifest",
    "PortfolioMember",
    "PortfolioRule",
    "PortfolioSample",
    "parse_portfolio_manifest",
    "read_portfolio_manifest",
]
