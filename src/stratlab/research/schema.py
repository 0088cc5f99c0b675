"""The results database's tables, at the newest revision: one definition, read by the database module, the loop
and the UI.

The ``kpis`` table has one typed column per field of the KPI record (``stratlab.metrics.Kpis``), derived from the
record here, so the record and the table cannot drift apart in code. The database on disk follows Alembic revisions
(``migrations/versions``): a KPI added to the record needs a revision that adds its column, and
``tests/research/test_db.py`` checks that a database migrated to head has exactly these columns.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import sqlalchemy as sa

from stratlab.engine.schema import TRADE_COLUMNS, TRADE_DTYPE
from stratlab.metrics import Kpis

metadata = sa.MetaData()


def kpi_column_type(hint: Any) -> sa.types.TypeEngine[Any]:
    """The column type of a KPI field's type hint: numbers as numbers, text as text, collections as JSON."""
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
    bare = {arg for arg in typing.get_args(hint) if arg is not type(None)} if optional else {hint}
    if bare == {bool}:
        return sa.Boolean()
    if bare == {int}:
        return sa.BigInteger()
    if bare == {float}:
        return sa.Float()
    if bare == {str}:
        return sa.Text()
    return sa.JSON()


def _optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def kpi_columns() -> list[sa.Column[Any]]:
    """One column per KPI field, nullable where the record allows None."""
    hints = typing.get_type_hints(Kpis)
    return [
        sa.Column(
            field.name, kpi_column_type(hints[field.name]), nullable=type(None) in typing.get_args(hints[field.name])
        )
        for field in dataclasses.fields(Kpis)
    ]


KPI_NAMES: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(Kpis))

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("config_json", sa.JSON, nullable=False),
    sa.Column("code_version", sa.String(40), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

backtests = sa.Table(
    "backtests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), nullable=False),
    sa.Column("iteration", sa.Integer, nullable=False),
    sa.Column("strategy", sa.String(80), nullable=False),
    sa.Column("params_json", sa.JSON, nullable=False),
    sa.Column("config_json", sa.JSON, nullable=False),
    sa.Column("source", sa.String(80), nullable=False),
    sa.Column("symbol", sa.String(80), nullable=False),
    sa.Column("timeframe", sa.String(10), nullable=False),
    sa.Column("dataset_fingerprint", sa.String(64), nullable=False),
    sa.Column("split", sa.String(40), nullable=False),
    sa.Column("code_version", sa.String(40), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

kpis = sa.Table(
    "kpis",
    metadata,
    sa.Column("backtest_id", sa.Integer, sa.ForeignKey("backtests.id"), primary_key=True),
    sa.Column("part", sa.String(20), primary_key=True),
    *kpi_columns(),
)

# Trade fields as the kernel types them: its integers as integers, its floats as floats.
_TRADE_TYPES: dict[str, Any] = {}
trades = sa.Table(
    "trades",
    metadata,
    sa.Column("backtest_id", sa.Integer, sa.ForeignKey("backtests.id"), primary_key=True),
    sa.Column("part", sa.String(20), primary_key=True),
    sa.Column("n", sa.Integer, primary_key=True),
    *[
        sa.Column(name, _TRADE_TYPES.get(name, sa.BigInteger if TRADE_DTYPE[name].kind == "i" else sa.Float))
        for name in TRADE_COLUMNS
    ],
)

step_logs = sa.Table(
    "step_logs",
    metadata,
    sa.Column("backtest_id", sa.Integer, sa.ForeignKey("backtests.id"), primary_key=True),
    sa.Column("bar", sa.Integer, primary_key=True),
    sa.Column("time_ms", sa.BigInteger, nullable=False),
    sa.Column("signal", sa.Integer, nullable=False),
    sa.Column("indicators_json", sa.JSON, nullable=False),
    sa.Column("decision", sa.String(40), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

adaptive_decisions = sa.Table(
    "adaptive_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), nullable=False),
    sa.Column("iteration", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),  # threshold | model_quality
    sa.Column("name", sa.String(80), nullable=False),  # the KPI or the figure
    sa.Column("old_value", sa.Float),
    sa.Column("new_value", sa.Float),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

pools = sa.Table(
    "pools",
    metadata,
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), primary_key=True),
    sa.Column("pool", sa.String(10), primary_key=True),  # GOOD | BEST
    sa.Column("backtest_id", sa.Integer, sa.ForeignKey("backtests.id"), primary_key=True),
    sa.Column("admitted_iteration", sa.Integer, nullable=False),
    sa.Column("thresholds_json", sa.JSON, nullable=False),
    sa.Column("score", sa.Float),
    sa.Column("luck_json", sa.JSON),  # BEST members: PSR, DSR and what they were computed on (revision 0003)
)

# The indexes the common questions need ("the 50 best by Sharpe with max DD <= 20 % and >= 60 % green days").
QUERY_INDEXES = (
    sa.Index("ix_kpis_part_sharpe", kpis.c.part, kpis.c.sharpe),
    sa.Index("ix_kpis_part_return", kpis.c.part, kpis.c.return_pct),
    sa.Index("ix_kpis_part_max_drawdown", kpis.c.part, kpis.c.max_drawdown_pct),
    sa.Index("ix_backtests_experiment", backtests.c.experiment_id, backtests.c.iteration),
)

__all__ = [
    "KPI_NAMES",
    "QUERY_INDEXES",
    "adaptive_decisions",
    "backtests",
    "experiments",
    "kpi_column_type",
    "kpi_columns",
    "kpis",
    "metadata",
    "pools",
    "step_logs",
    "trades",
]
