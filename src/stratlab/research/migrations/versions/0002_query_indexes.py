"""Indexes for the questions people ask the results database most: the best backtests of a part by Sharpe or by
return under a drawdown limit, and an experiment's backtests in iteration order.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_kpis_part_sharpe", "kpis", ["part", "sharpe"]),
    ("ix_kpis_part_return", "kpis", ["part", "return_pct"]),
    ("ix_kpis_part_max_drawdown", "kpis", ["part", "max_drawdown_pct"]),
    ("ix_backtests_experiment", "backtests", ["experiment_id", "iteration"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
