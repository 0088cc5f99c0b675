"""Each BEST member's luck statistics (PSR, DSR and what they were computed on), kept with its admission.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pools") as table:
        table.add_column(sa.Column("luck_json", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pools") as table:
        table.drop_column("luck_json")
