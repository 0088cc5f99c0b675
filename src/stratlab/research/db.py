"""The results database: every backtest of the research loop, queryable across runs.

One owner module. ``ResultsDb.open(url)`` opens a SQLite file (a path) or any SQLAlchemy URL (PostgreSQL for several
machines) and brings it to the newest schema with Alembic (``migrations/``; the tables as of head are in
``schema.py``). A database written by an older stratlab is upgraded in place, row for row.

Writes come in batches: ``write_batch`` stores a batch of backtests, their KPI records per part and (when given)
their trades in **one transaction**, so a loop killed mid-batch loses that batch and nothing else. Reads are frames:
``query`` filters KPI rows with a ``--where`` text (``where.parse_where``: no SQL from the user), ordered and limited
in the database, which answers from the indexes of revision 0002.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from stratlab import __version__
from stratlab.engine import BacktestConfig
from stratlab.engine.schema import TRADE_COLUMNS, RecordArray
from stratlab.errors import ConfigError, DataError
from stratlab.metrics import Kpis
from stratlab.research import schema as s
from stratlab.research.where import parse_where

# Alembic announces its plugins (when imported) and every migration step at INFO: noise on a user's console.
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "head"
# Rows per INSERT statement: large batches in few round trips, below SQLite's limit of bound variables per statement.
_ROWS_PER_STATEMENT = 500


def database_url(target: str | Path) -> str:
    """A SQLAlchemy URL for ``target``: a URL as given, a path as a SQLite file."""
    text = str(target)
    return text if "://" in text else f"sqlite:///{Path(text)}"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: sa.Engine, revision: str = HEAD) -> None:
    """Bring the database to ``revision`` (head: the newest) in one transaction."""
    config = alembic_config(str(engine.url))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


@dataclass(frozen=True)
class Dataset:
    """The candles a backtest ran on, as the results database names them."""

    source: str
    symbol: str
    timeframe: str
    fingerprint: str


@dataclass(frozen=True)
class BacktestRow:
    """One backtest to store: what ran, on what, and its KPI record per part (``train``, ``validation`` ...); the
    kernel's trade rows per part when they are kept."""

    strategy: str
    params: Mapping[str, Any]
    config: BacktestConfig
    dataset: Dataset
    split: str
    kpis: Mapping[str, Kpis]
    trades: Mapping[str, RecordArray] = field(default_factory=dict)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _kpi_values(record: Kpis) -> dict[str, Any]:
    values = dataclasses.asdict(record)
    values["invalid_reasons"] = list(values["invalid_reasons"])
    return values


def _trade_rows(backtest_id: int, part: str, rows: RecordArray) -> list[dict[str, Any]]:
    return [
        {"backtest_id": backtest_id, "part": part, "n": n, **{name: row[name].item() for name in TRADE_COLUMNS}}
        for n, row in enumerate(rows)
    ]


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[i : i + _ROWS_PER_STATEMENT] for i in range(0, len(rows), _ROWS_PER_STATEMENT)]


class ResultsDb:
    """An open results database (see the module)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, target: str | Path) -> ResultsDb:
        """The database at ``target`` (a path: a SQLite file, made if missing; or a URL), at the newest schema."""
        url = database_url(target)
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = sa.create_engine(url)
            db = cls(engine)
            upgrade(engine)
        except sa.exc.ArgumentError as exc:
            raise ConfigError(f"--db: not a database URL: {target} ({exc})") from None
        except sa.exc.DatabaseError as exc:
            raise DataError(f"{target}: not a readable results database ({str(exc.orig).splitlines()[0]})") from None
        return db

    def close(self) -> None:
        self.engine.dispose()

    # writing ------------------------------------------------------------------------------------------------------

    def experiment(self, name: str, config: Mapping[str, Any]) -> int:
        """The id of experiment ``name``, made with ``config`` if it is new."""
        with self.engine.begin() as connection:
            found = connection.execute(sa.select(s.experiments.c.id).where(s.experiments.c.name == name)).scalar()
            if found is not None:
                return int(found)
            inserted = connection.execute(
                s.experiments.insert().values(
                    name=name, config_json=dict(config), code_version=__version__, created_at=_now()
                )
            )
            key = inserted.inserted_primary_key
            assert key is not None
            return int(key[0])

    def write_batch(self, experiment_id: int, iteration: int, rows: Sequence[BacktestRow]) -> list[int]:
        """Store ``rows`` in one transaction; returns their backtest ids in order."""
        now = _now()
        ids: list[int] = []
        kpi_rows: list[dict[str, Any]] = []
        trade_rows: list[dict[str, Any]] = []
        with self.engine.begin() as connection:
            for row in rows:
                inserted = connection.execute(
                    s.backtests.insert().values(
                        experiment_id=experiment_id, iteration=iteration, strategy=row.strategy,
                        params_json=json.loads(json.dumps(dict(row.params))),
                        config_json=row.config.model_dump(mode="json"), source=row.dataset.source,
                        symbol=row.dataset.symbol, timeframe=row.dataset.timeframe,
                        dataset_fingerprint=row.dataset.fingerprint, split=row.split, code_version=__version__,
                        created_at=now,
                    )
                )  # fmt: skip
                key = inserted.inserted_primary_key
                assert key is not None
                backtest_id = int(key[0])
                ids.append(backtest_id)
                kpi_rows += [
                    {"backtest_id": backtest_id, "part": part, **_kpi_values(k)} for part, k in row.kpis.items()
                ]
                for part, table in row.trades.items():
                    trade_rows += _trade_rows(backtest_id, part, table)
            for chunk in _chunks(kpi_rows):
                connection.execute(s.kpis.insert(), chunk)
            for chunk in _chunks(trade_rows):
                connection.execute(s.trades.insert(), chunk)
        return ids

    # reading ------------------------------------------------------------------------------------------------------

    def query(
        self,
        where: str | None = None,
        *,
        part: str | None = "train",
        order_by: str = "sharpe",
        descending: bool = True,
        limit: int | None = 50,
        experiment_id: int | None = None,
    ) -> pd.DataFrame:
        """KPI rows (with their backtest's strategy, parameters and data) matching ``where`` on ``part``, best first
        by ``order_by`` (rows without a value last)."""
        columns = {name: s.kpis.c[name] for name in s.KPI_NAMES}
        if order_by not in columns:
            raise ConfigError(f"--order-by: unknown KPI {order_by!r}")
        query = sa.select(
            s.backtests.c.id.label("backtest_id"), s.backtests.c.experiment_id, s.backtests.c.iteration,
            s.backtests.c.strategy, s.backtests.c.params_json, s.backtests.c.source, s.backtests.c.symbol,
            s.backtests.c.timeframe, s.kpis.c.part, *[s.kpis.c[name] for name in s.KPI_NAMES if name != "notes"],
        ).join(s.kpis, s.kpis.c.backtest_id == s.backtests.c.id)  # fmt: skip
        if where:
            query = query.where(parse_where(where, columns))
        if part is not None:
            query = query.where(s.kpis.c.part == part)
        if experiment_id is not None:
            query = query.where(s.backtests.c.experiment_id == experiment_id)
        key = columns[order_by]
        query = query.where(key.is_not(None)).order_by(key.desc() if descending else key.asc())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            return pd.read_sql(query, connection)

    def trades(self, backtest_id: int, part: str) -> RecordArray:
        """A stored backtest's trades of ``part`` as the kernel's trade records."""
        from stratlab.engine.schema import TRADE_DTYPE

        query = sa.select(s.trades).where(s.trades.c.backtest_id == backtest_id, s.trades.c.part == part)
        with self.engine.connect() as connection:
            frame = pd.read_sql(query.order_by(s.trades.c.n), connection)
        records = np.zeros(len(frame), dtype=TRADE_DTYPE)
        for name in TRADE_COLUMNS:
            records[name] = frame[name].to_numpy()
        return records

    def count(self, table: sa.Table) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


__all__ = [
    "BacktestRow",
    "Dataset",
    "ResultsDb",
    "alembic_config",
    "current_revision",
    "database_url",
    "head_revision",
    "upgrade",
]
