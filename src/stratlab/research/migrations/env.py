"""Alembic's environment for the results database: migrations run on the connection ``ResultsDb`` hands over
(``config.attributes["connection"]``), or on ``sqlalchemy.url`` when run by hand."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

config = context.config


def run_migrations(connection: sa.Connection) -> None:
    # Batch mode: SQLite alters a table by copying it, which plain ALTER statements cannot do there.
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        run_migrations(connection)
