"""The one owner of Optuna storage URLs: what a URL means, and how each kind is opened so many workers can share it.

- ``journal:///abs/path`` (or a path ending in ``.journal``): Optuna's journal storage on an append-only file shared
  by the processes of one machine (``optimize/journal.py``: flock, no fsync per write, a trial's writes batched).
- ``sqlite:///abs/path``: SQLite through SQLAlchemy in WAL mode with a long busy timeout, so eight workers writing at
  once wait for each other instead of failing with "database is locked".
- any other SQLAlchemy URL (``postgresql+psycopg://user@host:port/db``): for workers on several machines; Optuna's
  heartbeat marks trials of a worker that vanished as failed.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage

from stratlab.errors import ConfigError, StratlabError
from stratlab.optimize.journal import FastJournalFile, TrialBatchingJournalStorage

log = logging.getLogger(__name__)

JOURNAL_SCHEME = "journal://"
RUN_JOURNAL_NAME = "optuna.journal"
HEARTBEAT_INTERVAL_S = 10
HEARTBEAT_GRACE_S = 40
SQLITE_BUSY_TIMEOUT_S = 120


def default_storage_url(run_dir: Path) -> str:
    """The storage a run uses unless told otherwise: the journal file (measured faster than SQLite for this
    workload: see benchmarks/optimize.py)."""
    return f"{JOURNAL_SCHEME}{(run_dir / RUN_JOURNAL_NAME).resolve()}"


def journal_path(url: str) -> Path | None:
    """The file of a journal URL, None for any other storage."""
    if url.startswith(JOURNAL_SCHEME) or url.endswith(".journal"):
        return Path(url.removeprefix(JOURNAL_SCHEME))
    return None


def _sqlite_engine_kwargs() -> dict[str, Any]:
    return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}


def _enable_wal(storage: RDBStorage) -> None:
    # WAL lets readers (reports, the live view) run while a worker writes; NORMAL sync is safe with WAL.
    from sqlalchemy import event

    engine = storage.engine

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    engine.dispose()  # connections opened before the listener existed are dropped


def open_storage(url: str, new_trial_user_attrs: Mapping[str, Any] | None = None) -> BaseStorage:
    """Open ``url`` for a worker, a report or the live view; a bad or unreachable URL is a one-line ConfigError.

    ``new_trial_user_attrs``: written with each new trial where the storage can do that in the same write (the
    journal); elsewhere the caller sets them right after creating the trial."""
    try:
        journal = journal_path(url)
        if journal is not None:
            backend = FastJournalFile(journal)
            return TrialBatchingJournalStorage(backend, new_trial_user_attrs)
        if url.startswith("sqlite:"):
            storage = RDBStorage(url, engine_kwargs=_sqlite_engine_kwargs())
            _enable_wal(storage)
            return storage
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # the heartbeat, stable for years
            return RDBStorage(url, heartbeat_interval=HEARTBEAT_INTERVAL_S, grace_period=HEARTBEAT_GRACE_S)
    except StratlabError:
        raise  # already one line naming the file (a damaged journal line)
    except (ImportError, ValueError, optuna.exceptions.StorageInternalError) as exc:
        raise ConfigError(f"storage {redact(url)}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # SQLAlchemy connection errors carry driver-specific types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"storage {redact(url)} is not reachable: {reason}") from None


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


__all__ = ["JOURNAL_SCHEME", "RUN_JOURNAL_NAME", "default_storage_url", "journal_path", "open_storage", "redact"]
