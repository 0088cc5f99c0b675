"""A runner's state: one SQLite database (``state.db`` in the state directory), through SQLAlchemy.

Everything a runner needs to resume and everything status, report and the UI show:

- ``runner``: the spec (``RunnerSpec`` as JSON, written once), status, pid, heartbeat, the risk state;
- ``bars``: every bar a book has seen per store series (warm-up and traded), so a restart rebuilds the books from
  the database itself, whatever happened to the store since;
- ``books``: per book the kernel's state record (bytes), the order pending for the next open, bars traded, and the
  position mirrored to the venue;
- ``equity`` (one row per book and traded bar), ``trades`` (the kernel's trade rows), ``orders`` (what the live
  broker sent or would send, keyed by the client order id), ``risk_events`` and ``events`` (the log people read).

**One transaction per bar** (``commit_bar``): a bar's rows of every table and the books' new states are committed
together, so a runner killed at any instant finds either all of a bar or none of it, and resumes after the last
committed bar (no lost fill, no bar traded twice). An order for the venue is committed as ``sending`` before it is
sent (``record_order``), so a restart asks the venue about it by its client id instead of sending it again.

SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit survives the process being killed (the OS holds the
log), and a reader (status, the UI) never blocks the runner.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection, Engine

from stratlab.data.candles import Candles
from stratlab.data.timeframes import parse_timeframe
from stratlab.engine import EXIT_REASONS
from stratlab.engine.schema import TRADE_COLUMNS, TRADE_DTYPE, RecordArray
from stratlab.errors import DataError
from stratlab.live.book import PendingOrder
from stratlab.live.feeds import ClosedBar
from stratlab.live.risk import RiskDecision, RiskState
from stratlab.live.spec import RunnerSpec
from stratlab.processes import hold_process_lock

STATE_FILE = "state.db"
KILL_SWITCH_FILE = "KILL"
STOP_FILE = "STOP"
LOCK_FILE = "runner.lock"
SCHEMA_VERSION = 1

metadata = sa.MetaData()

runner_table = sa.Table(
    "runner",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("spec_json", sa.Text, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("status_reason", sa.Text, nullable=False, default=""),
    sa.Column("pid", sa.Integer),
    sa.Column("started_ms", sa.BigInteger),
    sa.Column("heartbeat_ms", sa.BigInteger),
    sa.Column("risk_json", sa.Text, nullable=False),
)

bars_table = sa.Table(
    "bars",
    metadata,
    sa.Column("series", sa.String(200), primary_key=True),
    sa.Column("time_ms", sa.BigInteger, primary_key=True),
    sa.Column("open", sa.Float, nullable=False),
    sa.Column("high", sa.Float, nullable=False),
    sa.Column("low", sa.Float, nullable=False),
    sa.Column("close", sa.Float, nullable=False),
    sa.Column("volume", sa.Float, nullable=False),
)

books_table = sa.Table(
    "books",
    metadata,
    sa.Column("book_id", sa.String(200), primary_key=True),
    sa.Column("series", sa.String(200), nullable=False),
    sa.Column("first_bar_ms", sa.BigInteger, nullable=False),  # the first bar of its history (warm-up start)
    sa.Column("kernel_state", sa.LargeBinary),  # None until the first traded bar
    sa.Column("pending_order", sa.Integer, nullable=False, default=0),
    sa.Column("pending_tp", sa.Float),
    sa.Column("pending_sl", sa.Float),
    sa.Column("traded_bars", sa.Integer, nullable=False, default=0),
    sa.Column("last_bar_ms", sa.BigInteger),
    sa.Column("position", sa.Float, nullable=False, default=0.0),
    sa.Column("equity", sa.Float, nullable=False),
    sa.Column("venue_position", sa.Float, nullable=False, default=0.0),  # what the live broker holds for it
)

equity_table = sa.Table(
    "equity",
    metadata,
    sa.Column("book_id", sa.String(200), primary_key=True),
    sa.Column("time_ms", sa.BigInteger, primary_key=True),
    sa.Column("bar_index", sa.Integer, nullable=False),
    sa.Column("equity", sa.Float, nullable=False),
    sa.Column("position", sa.Float, nullable=False),
    sa.Column("close", sa.Float, nullable=False),
)

# Trade fields as the kernel types them, but the exit reason by its name (people read this table).
_TRADE_TYPES: dict[str, Any] = {"exit_reason": sa.String(32)}
trades_table = sa.Table(
    "trades",
    metadata,
    sa.Column("book_id", sa.String(200), primary_key=True),
    sa.Column("n", sa.Integer, primary_key=True),
    *[
        sa.Column(
            name,
            _TRADE_TYPES.get(name, sa.BigInteger if TRADE_DTYPE[name].kind == "i" else sa.Float),
            nullable=False,
        )
        for name in TRADE_COLUMNS
    ],
)

orders_table = sa.Table(
    "orders",
    metadata,
    sa.Column("client_id", sa.String(80), primary_key=True),
    sa.Column("book_id", sa.String(200), nullable=False),
    sa.Column("bar_ms", sa.BigInteger, nullable=False),
    sa.Column("symbol", sa.String(80), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("amount", sa.Float, nullable=False),
    sa.Column("reduce_only", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("price", sa.Float),
    sa.Column("fee", sa.Float),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

risk_events_table = sa.Table(
    "risk_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("wall_ms", sa.BigInteger, nullable=False),
    sa.Column("bar_ms", sa.BigInteger, nullable=False),
    sa.Column("book_id", sa.String(200)),
    sa.Column("rule", sa.String(40), nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

events_table = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("wall_ms", sa.BigInteger, nullable=False),
    sa.Column("bar_ms", sa.BigInteger),
    sa.Column("level", sa.String(10), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
)


def hold_runner_lock(state_dir: Path) -> TextIO:
    """The lock of the one runner of ``state_dir``; a second runner on the same state gets a one-line error naming
    the first."""
    busy = (
        f"{state_dir}: a runner is already trading this state (pid {{pid}}); "
        f"stratlab paper stop --state-dir {state_dir} stops it"
    )
    return hold_process_lock(state_dir, LOCK_FILE, busy)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Event:
    """A line of the runner's log: what happened, for people (fills, halts, errors, start and stop)."""

    kind: str
    text: str
    level: str = "info"
    bar_ms: int | None = None


@dataclass(frozen=True)
class BookRow:
    """A book as stored (see ``books_table``)."""

    book_id: str
    series: str
    first_bar_ms: int
    kernel_state: bytes | None
    pending: PendingOrder
    traded_bars: int
    last_bar_ms: int | None
    position: float
    equity: float
    venue_position: float


@dataclass(frozen=True)
class BookUpdate:
    """One book's rows for one bar (written by ``commit_bar``)."""

    book_id: str
    bar_index: int
    kernel_state: bytes
    pending: PendingOrder
    traded_bars: int
    position: float
    equity: float
    close: float
    trades: RecordArray
    first_trade_n: int  # the kernel's trade count before this bar: the rows' numbers start here


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def _none_to_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _trade_rows(update: BookUpdate) -> list[dict[str, Any]]:
    rows = []
    for offset, trade in enumerate(update.trades):
        row: dict[str, Any] = {"book_id": update.book_id, "n": update.first_trade_n + offset}
        for name in TRADE_COLUMNS:
            value = trade[name]
            row[name] = EXIT_REASONS[int(value)] if name == "exit_reason" else value.item()
        rows.append(row)
    return rows


class StateStore:
    """The state database of one state directory (see the module)."""

    def __init__(self, state_dir: Path, engine: Engine) -> None:
        self.state_dir = state_dir
        self.engine = engine

    # opening ------------------------------------------------------------------------------------------------------

    @staticmethod
    def path_in(state_dir: Path) -> Path:
        return state_dir / STATE_FILE

    @classmethod
    def _engine(cls, path: Path) -> Engine:
        engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine

    @classmethod
    def create(cls, state_dir: Path, spec: RunnerSpec) -> StateStore:
        """A new state database for ``spec`` (the directory must not hold one)."""
        path = cls.path_in(state_dir)
        if path.exists():
            raise DataError(f"{path}: a runner's state is already there")
        state_dir.mkdir(parents=True, exist_ok=True)
        store = cls(state_dir, cls._engine(path))
        metadata.create_all(store.engine)
        with store.engine.begin() as connection:
            connection.execute(
                runner_table.insert().values(
                    id=1, schema_version=SCHEMA_VERSION, created_ms=wall_ms(), spec_json=spec.model_dump_json(),
                    status="new", status_reason="", risk_json=json.dumps(asdict(RiskState())),
                )
            )  # fmt: skip
        return store

    @classmethod
    def open(cls, state_dir: Path) -> StateStore:
        """The state database in ``state_dir``; a missing or foreign one is a one-line error."""
        path = cls.path_in(state_dir)
        if not path.is_file():
            raise DataError(f"{state_dir}: no runner state here (no {STATE_FILE}); start one with stratlab paper start")
        store = cls(state_dir, cls._engine(path))
        try:
            with store.engine.connect() as connection:
                row = connection.execute(sa.select(runner_table.c.schema_version)).first()
        except sa.exc.DatabaseError as exc:
            raise DataError(f"{path}: not a readable runner state ({exc.orig})") from None
        if row is None or row[0] != SCHEMA_VERSION:
            raise DataError(
                f"{path}: runner state schema {None if row is None else row[0]!r}, this stratlab reads {SCHEMA_VERSION}"
            )
        return store

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    # the runner row -----------------------------------------------------------------------------------------------

    def runner(self) -> dict[str, Any]:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(runner_table)).mappings().one()
        return dict(row)

    def spec(self) -> RunnerSpec:
        text = self.runner()["spec_json"]
        try:
            return RunnerSpec.model_validate_json(text)
        except ValidationError as exc:
            raise DataError(f"{self.path_in(self.state_dir)}: runner spec: {exc.errors()[0]['msg']}") from None

    def risk_state(self) -> RiskState:
        return RiskState(**json.loads(self.runner()["risk_json"]))

    def save_risk_state(self, risk: RiskState) -> None:
        with self.engine.begin() as connection:
            connection.execute(runner_table.update().values(risk_json=json.dumps(asdict(risk))))

    def set_status(self, status: str, reason: str = "", *, pid: int | None = None, started: bool = False) -> None:
        values: dict[str, Any] = {"status": status, "status_reason": reason, "heartbeat_ms": wall_ms()}
        if pid is not None:
            values["pid"] = pid
        if started:
            values["started_ms"] = wall_ms()
        with self.engine.begin() as connection:
            connection.execute(runner_table.update().values(**values))

    def heartbeat(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(runner_table.update().values(heartbeat_ms=wall_ms()))

    # bars and books -----------------------------------------------------------------------------------------------

    def add_warmup_bars(self, series: str, candles: Candles, new_books: Sequence[tuple[str, int, float]] = ()) -> None:
        """Warm-up bars of a series (before its first traded bar) and the books they start (book id, first bar's
        open time, capital), in one transaction: a restart finds both or neither."""
        frame = pd.DataFrame(
            {
                "series": series,
                "time_ms": candles.timestamp_ms,
                "open": candles.open,
                "high": candles.high,
                "low": candles.low,
                "close": candles.close,
                "volume": candles.volume,
            }
        )
        rows = [{str(key): value for key, value in row.items()} for row in frame.to_dict("records")]
        with self.engine.begin() as connection:
            if rows:
                connection.execute(bars_table.insert(), rows)
            for book_id, first_bar_ms, equity in new_books:
                self._add_book(connection, book_id, series, first_bar_ms, equity)

    @staticmethod
    def _add_book(connection: Connection, book_id: str, series: str, first_bar_ms: int, equity: float) -> None:
        connection.execute(
            books_table.insert().values(
                book_id=book_id, series=series, first_bar_ms=first_bar_ms, pending_order=0, traded_bars=0,
                position=0.0, equity=equity, venue_position=0.0,
            )
        )  # fmt: skip

    def add_book(self, book_id: str, series: str, first_bar_ms: int, equity: float) -> None:
        with self.engine.begin() as connection:
            self._add_book(connection, book_id, series, first_bar_ms, equity)

    def books(self) -> list[BookRow]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(books_table).order_by(books_table.c.book_id)).mappings().all()
        return [
            BookRow(
                book_id=row["book_id"],
                series=row["series"],
                first_bar_ms=row["first_bar_ms"],
                kernel_state=row["kernel_state"],
                pending=PendingOrder(
                    row["pending_order"], _none_to_nan(row["pending_tp"]), _none_to_nan(row["pending_sl"])
                ),
                traded_bars=row["traded_bars"],
                last_bar_ms=row["last_bar_ms"],
                position=row["position"],
                equity=row["equity"],
                venue_position=row["venue_position"],
            )
            for row in rows
        ]

    def series_bars(self, series: str, timeframe: str, source: str, symbol: str, from_ms: int) -> Candles:
        """The bars of ``series`` from ``from_ms`` on, as candles (a book's history after a restart)."""
        with self.engine.connect() as connection:
            frame = pd.read_sql(
                sa.select(bars_table).where(bars_table.c.series == series, bars_table.c.time_ms >= from_ms)
                .order_by(bars_table.c.time_ms),
                connection,
            )  # fmt: skip
        frame = frame.rename(columns={"time_ms": "timestamp_ms"})
        return Candles.from_frame(frame, source=source, symbol=symbol, timeframe=parse_timeframe(timeframe))

    def last_bar_ms(self, series: str) -> int | None:
        with self.engine.connect() as connection:
            value = connection.execute(
                sa.select(sa.func.max(bars_table.c.time_ms)).where(bars_table.c.series == series)
            ).scalar_one()
        return None if value is None else int(value)

    # one bar, one transaction -------------------------------------------------------------------------------------

    def commit_bar(
        self,
        series: str,
        bar: ClosedBar,
        updates: Sequence[BookUpdate],
        risk: RiskState,
        decisions: Sequence[RiskDecision],
        events: Sequence[Event],
    ) -> None:
        """Every row of one bar and every book's new state, in one transaction (see the module)."""
        now = wall_ms()
        with self.engine.begin() as connection:
            connection.execute(
                bars_table.insert().values(
                    series=series, time_ms=bar.time_ms, open=bar.open, high=bar.high, low=bar.low, close=bar.close,
                    volume=bar.volume,
                )
            )  # fmt: skip
            for update in updates:
                values: dict[str, Any] = {
                    "kernel_state": update.kernel_state,
                    "pending_order": update.pending.order,
                    "pending_tp": _nan_to_none(update.pending.tp_distance),
                    "pending_sl": _nan_to_none(update.pending.sl_distance),
                    "traded_bars": update.traded_bars,
                    "last_bar_ms": bar.time_ms,
                    "position": update.position,
                    "equity": update.equity,
                }
                connection.execute(books_table.update().where(books_table.c.book_id == update.book_id).values(**values))
                connection.execute(
                    equity_table.insert().values(
                        book_id=update.book_id, time_ms=bar.time_ms, bar_index=update.bar_index, equity=update.equity,
                        position=update.position, close=update.close,
                    )
                )  # fmt: skip
                rows = _trade_rows(update)
                if rows:
                    connection.execute(trades_table.insert(), rows)
            connection.execute(runner_table.update().values(risk_json=json.dumps(asdict(risk)), heartbeat_ms=now))
            self._log(connection, decisions, events, now)

    def _log(
        self, connection: Connection, decisions: Sequence[RiskDecision], events: Sequence[Event], now: int
    ) -> None:
        if decisions:
            connection.execute(
                risk_events_table.insert(),
                [
                    {"wall_ms": now, "bar_ms": d.bar_ms, "book_id": d.book_id, "rule": d.rule, "action": d.action,
                     "reason": d.reason}
                    for d in decisions
                ],
            )  # fmt: skip
        if events:
            connection.execute(
                events_table.insert(),
                [
                    {"wall_ms": now, "bar_ms": e.bar_ms, "level": e.level, "kind": e.kind, "text": e.text}
                    for e in events
                ],
            )

    def log(self, events: Sequence[Event], decisions: Sequence[RiskDecision] = ()) -> None:
        """Events outside a bar (start, stop, errors)."""
        with self.engine.begin() as connection:
            self._log(connection, decisions, events, wall_ms())

    # orders -------------------------------------------------------------------------------------------------------

    def record_order(self, values: dict[str, Any], *, venue_position: tuple[str, float] | None = None) -> None:
        """Insert or update an order row by its client id, and with ``venue_position`` (book id, position) the book's
        position on the venue, in one transaction committed at once (see the module): a fill and the position it
        moved are stored together or not at all."""
        now = wall_ms()
        with self.engine.begin() as connection:
            exists = connection.execute(
                sa.select(orders_table.c.client_id).where(orders_table.c.client_id == values["client_id"])
            ).first()
            if exists:
                where = orders_table.c.client_id == values["client_id"]
                connection.execute(orders_table.update().where(where).values(**values, updated_ms=now))
            else:
                connection.execute(orders_table.insert().values(**values, created_ms=now, updated_ms=now))
            if venue_position is not None:
                book_id, position = venue_position
                connection.execute(
                    books_table.update().where(books_table.c.book_id == book_id).values(venue_position=position)
                )

    # reading for people -------------------------------------------------------------------------------------------

    def _frame(self, query: sa.Select[Any]) -> pd.DataFrame:
        with self.engine.connect() as connection:
            return pd.read_sql(query, connection)

    def equity_frame(self, book_id: str | None = None) -> pd.DataFrame:
        query = sa.select(equity_table).order_by(equity_table.c.book_id, equity_table.c.time_ms)
        if book_id is not None:
            query = query.where(equity_table.c.book_id == book_id)
        return self._frame(query)

    def trades_frame(self, book_id: str | None = None) -> pd.DataFrame:
        query = sa.select(trades_table).order_by(trades_table.c.book_id, trades_table.c.n)
        if book_id is not None:
            query = query.where(trades_table.c.book_id == book_id)
        return self._frame(query)

    def orders_frame(self) -> pd.DataFrame:
        return self._frame(sa.select(orders_table).order_by(orders_table.c.created_ms))

    def orders_in_flight(self) -> pd.DataFrame:
        return self._frame(sa.select(orders_table).where(orders_table.c.status == "sending"))

    def risk_events_frame(self, limit: int | None = None) -> pd.DataFrame:
        return self._frame(sa.select(risk_events_table).order_by(risk_events_table.c.id.desc()).limit(limit))

    def events_frame(self, limit: int | None = None) -> pd.DataFrame:
        return self._frame(sa.select(events_table).order_by(events_table.c.id.desc()).limit(limit))


def trades_as_records(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
    """The trades table's rows back as the kernel's trade records (exit reasons as codes), for comparisons."""
    records = np.zeros(len(frame), dtype=TRADE_DTYPE)
    for name in TRADE_COLUMNS:
        values = frame[name].to_numpy()
        records[name] = [EXIT_REASONS.index(v) for v in values] if name == "exit_reason" else values
    return records


__all__ = [
    "KILL_SWITCH_FILE",
    "STATE_FILE",
    "STOP_FILE",
    "BookRow",
    "BookUpdate",
    "Event",
    "StateStore",
    "hold_runner_lock",
    "trades_as_records",
    "wall_ms",
]
