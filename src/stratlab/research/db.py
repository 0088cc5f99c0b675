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
    steps: Sequence[Mapping[str, Any]] = ()  # rows of step_logs without their backtest id (``steps.StepRow``)


@dataclass(frozen=True)
class Admission:
    """A backtest of the batch (by its index in the batch) admitted to a pool, with what admitted it."""

    row: int
    pool: str
    thresholds: Mapping[str, Any]
    score: float | None
    luck: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Decision:
    """One line of ``adaptive_decisions``: a threshold that moved, or a figure of the loop's model, and why."""

    kind: str
    name: str
    old_value: float | None
    new_value: float | None
    reason: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


_KPI_FIELDS = tuple(field.name for field in dataclasses.fields(Kpis))


def kpi_values(record: Kpis) -> dict[str, Any]:
    """A KPI record as a row: field -> value (a shallow read, several times faster than ``dataclasses.asdict``,
    which copies every value deeply; the reasons as a list, as JSON keeps them)."""
    values = {name: getattr(record, name) for name in _KPI_FIELDS}
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

    def write_batch(
        self,
        experiment_id: int,
        iteration: int,
        rows: Sequence[BacktestRow],
        admissions: Sequence[Admission] = (),
        decisions: Sequence[Decision] = (),
    ) -> list[int]:
        """Store ``rows`` with their pool admissions and the threshold decisions of the same iteration in one
        transaction (a loop killed before it commits loses this batch and nothing else); returns the backtest ids."""
        now = _now()
        ids: list[int] = []
        kpi_rows: list[dict[str, Any]] = []
        trade_rows: list[dict[str, Any]] = []
        step_rows: list[dict[str, Any]] = []
        backtest_rows = [
            {
                "experiment_id": experiment_id, "iteration": iteration, "strategy": row.strategy,
                "params_json": json.loads(json.dumps(dict(row.params))),
                "config_json": row.config.model_dump(mode="json"), "source": row.dataset.source,
                "symbol": row.dataset.symbol, "timeframe": row.dataset.timeframe,
                "dataset_fingerprint": row.dataset.fingerprint, "split": row.split, "code_version": __version__,
                "created_at": now,
            }
            for row in rows
        ]  # fmt: skip
        with self.engine.begin() as connection:
            # One multi-row INSERT ... RETURNING per chunk, the ids in the rows' order (not one statement per row).
            for chunk in _chunks(backtest_rows):
                inserted = connection.execute(
                    s.backtests.insert().returning(s.backtests.c.id, sort_by_parameter_order=True), chunk
                )
                ids += [int(key) for key in inserted.scalars()]
            for backtest_id, row in zip(ids, rows, strict=True):
                kpi_rows += [
                    {"backtest_id": backtest_id, "part": part, **kpi_values(k)} for part, k in row.kpis.items()
                ]
                for part, table in row.trades.items():
                    trade_rows += _trade_rows(backtest_id, part, table)
                step_rows += [{"backtest_id": backtest_id, **step} for step in row.steps]
            for target, values in ((s.kpis, kpi_rows), (s.trades, trade_rows), (s.step_logs, step_rows)):
                for chunk in _chunks(values):
                    connection.execute(target.insert(), chunk)
            if admissions:
                connection.execute(
                    s.pools.insert(),
                    [
                        {"experiment_id": experiment_id, "pool": a.pool, "backtest_id": ids[a.row],
                         "admitted_iteration": iteration, "thresholds_json": json.loads(json.dumps(a.thresholds)),
                         "score": a.score, "luck_json": None if a.luck is None else json.loads(json.dumps(a.luck))}
                        for a in admissions
                    ],
                )  # fmt: skip
            if decisions:
                connection.execute(
                    s.adaptive_decisions.insert(),
                    [
                        {"experiment_id": experiment_id, "iteration": iteration, "kind": d.kind, "name": d.name,
                         "old_value": d.old_value, "new_value": d.new_value, "reason": d.reason, "created_at": now}
                        for d in decisions
                    ],
                )  # fmt: skip
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

    def experiment_config(self, name: str) -> tuple[int, dict[str, Any]] | None:
        """(id, stored config) of experiment ``name``, or None when there is none."""
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(s.experiments.c.id, s.experiments.c.config_json).where(s.experiments.c.name == name)
            ).first()
        return None if row is None else (int(row[0]), dict(row[1]))

    def experiments(self) -> pd.DataFrame:
        """Every experiment: id, name, creation time, backtests and pool sizes."""
        counts = (
            sa.select(s.backtests.c.experiment_id, sa.func.count().label("backtests"),
                      sa.func.max(s.backtests.c.iteration).label("last_iteration"))
            .group_by(s.backtests.c.experiment_id).subquery()
        )  # fmt: skip
        query = (
            sa.select(s.experiments.c.id, s.experiments.c.name, s.experiments.c.created_at,
                      sa.func.coalesce(counts.c.backtests, 0).label("backtests"), counts.c.last_iteration)
            .outerjoin(counts, counts.c.experiment_id == s.experiments.c.id).order_by(s.experiments.c.id)
        )  # fmt: skip
        with self.engine.connect() as connection:
            frame = pd.read_sql(query, connection)
            pools = pd.read_sql(
                sa.select(s.pools.c.experiment_id, s.pools.c.pool, sa.func.count().label("n"))
                .group_by(s.pools.c.experiment_id, s.pools.c.pool), connection,
            )  # fmt: skip
        for pool in ("GOOD", "BEST"):
            sizes = pools[pools["pool"] == pool].set_index("experiment_id")["n"]
            frame[pool.lower()] = frame["id"].map(sizes).fillna(0).astype(int)
        return frame

    def backtests_frame(self, experiment_id: int, part: str = "train") -> pd.DataFrame:
        """Every backtest of an experiment with its KPI record of ``part`` (none for a part it did not run), in id
        order: what the loop resumes from and what the Research page plots."""
        query = (
            sa.select(
                s.backtests.c.id.label("backtest_id"), s.backtests.c.iteration, s.backtests.c.strategy,
                s.backtests.c.source, s.backtests.c.symbol, s.backtests.c.timeframe, s.backtests.c.params_json,
                s.backtests.c.config_json, *[s.kpis.c[name] for name in s.KPI_NAMES if name != "notes"],
            )
            .join(s.kpis, sa.and_(s.kpis.c.backtest_id == s.backtests.c.id, s.kpis.c.part == part))
            .where(s.backtests.c.experiment_id == experiment_id)
            .order_by(s.backtests.c.id)
        )  # fmt: skip
        with self.engine.connect() as connection:
            return pd.read_sql(query, connection)

    def pool_members(self, experiment_id: int) -> pd.DataFrame:
        """Every admission of an experiment: pool, backtest, iteration, thresholds in force, score and luck."""
        query = (
            sa.select(s.pools)
            .where(s.pools.c.experiment_id == experiment_id)
            .order_by(s.pools.c.admitted_iteration, s.pools.c.backtest_id)
        )
        with self.engine.connect() as connection:
            return pd.read_sql(query, connection)

    def decisions(self, experiment_id: int) -> pd.DataFrame:
        """The experiment's adaptive decisions in the order they were taken."""
        query = sa.select(s.adaptive_decisions).where(s.adaptive_decisions.c.experiment_id == experiment_id)
        with self.engine.connect() as connection:
            return pd.read_sql(query.order_by(s.adaptive_decisions.c.id), connection)

    def kpis_of(self, backtest_id: int) -> dict[str, dict[str, Any]]:
        """A backtest's KPI record per part, as stored."""
        query = sa.select(s.kpis).where(s.kpis.c.backtest_id == backtest_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return {str(row["part"]): {k: v for k, v in row.items() if k not in ("backtest_id", "part")} for row in rows}

    def backtest(self, backtest_id: int) -> dict[str, Any]:
        """A stored backtest's row (strategy, parameters, config, market, split); a missing id is a DataError."""
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(s.backtests).where(s.backtests.c.id == backtest_id)).mappings().first()
        if row is None:
            raise DataError(f"the results database has no backtest {backtest_id}")
        return dict(row)

    def step_logs(self, backtest_id: int) -> pd.DataFrame:
        query = sa.select(s.step_logs).where(s.step_logs.c.backtest_id == backtest_id).order_by(s.step_logs.c.bar)
        with self.engine.connect() as connection:
            return pd.read_sql(query, connection)

    def count(self, table: sa.Table) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


__all__ = [
    "Admission",
    "BacktestRow",
    "Dataset",
    "Decision",
    "ResultsDb",
    "alembic_config",
    "current_revision",
    "database_url",
    "head_revision",
    "kpi_values",
    "upgrade",
]
