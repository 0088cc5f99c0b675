"""A run's Optuna studies and trials read straight from its storage, also while workers write to it.

Replaying a journal is the expensive part (1.4 s for the 11.8 MB journal of a 5,000-trial run); later reads of the
same storage object only parse the lines appended since. So one storage object per run and storage URL is kept for
the server's lifetime (``st.cache_resource``) and every refresh asks it for the trials again.

Reading never writes: a journal or SQLite file that does not exist is not opened (opening it would create it),
and a run whose journal is gone while results exist is refused by ``RunDir.check_storage_kept``. Each problem is a
one-line ``DataError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd
import streamlit as st
from optuna.storages import BaseStorage

from stratlab.errors import ConfigError, DataError
from stratlab.optimize.context import RunContext
from stratlab.optimize.report import TRIALS_FILE, trial_rows, trials_frame
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.storage import journal_path, open_storage
from stratlab.optimize.worker import read_studies
from stratlab.ui.runs import ACTIVE_STATES, read_table, run_state

SQLITE_PREFIX = "sqlite:///"


@dataclass
class LiveStorage:
    """One opened storage of a run, shared by every session; ``size`` is its file's size at the last read."""

    storage: BaseStorage
    size: int = 0


def _storage_file(url: str) -> Path | None:
    """The local file a storage URL lives in (journal or SQLite), None for a database server."""
    journal = journal_path(url)
    if journal is not None:
        return journal
    return Path(url.removeprefix(SQLITE_PREFIX)) if url.startswith(SQLITE_PREFIX) else None


def _file_size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


@st.cache_resource(max_entries=8, show_spinner="Reading the run's trials…")
def _opened(run_path: str, url: str, identity: tuple[int, int]) -> LiveStorage:
    # identity (device, inode of the storage file) is in the key: a journal replaced by another file (a restored
    # backup, a run directory copied over) is read from its first line, not from where the old one ended.
    return LiveStorage(open_storage(url))


def _identity(path: Path | None) -> tuple[int, int]:
    try:
        stat = path.stat() if path is not None else None
    except OSError:
        return (0, 0)
    return (stat.st_dev, stat.st_ino) if stat is not None else (0, 0)


def run_storage(run_dir: RunDir, context: RunContext) -> BaseStorage:
    """The run's storage, opened once per server and re-read incrementally; a missing or damaged one is a one-line
    DataError, and nothing is created."""
    run_dir.check_storage_kept(context)  # a lost journal next to results: refused before anything opens it
    url = run_dir.storage_url(context)
    path = _storage_file(url)
    if path is not None and not path.exists():
        raise DataError(f"{path.name}: no trials yet (the run's storage does not exist yet)")
    identity = _identity(path)
    try:
        live = _opened(str(run_dir.path), url, identity)
        size = _file_size(path)
        if size < live.size:
            # The file shrank (``run repair`` cut a damaged tail): an incremental reader would skip lines.
            _opened.clear()
            live = _opened(str(run_dir.path), url, identity)
        live.size = size
    except ConfigError as exc:
        raise DataError(str(exc)) from None
    return live.storage


def run_studies(run_dir: RunDir, context: RunContext) -> dict[str, optuna.Study]:
    """The run's studies that exist now (a study no worker reached yet is absent), from the shared storage."""
    storage = run_storage(run_dir, context)
    try:
        return read_studies(context, storage)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise DataError(f"the run's storage cannot be read ({str(exc).splitlines()[0]})") from None


def storage_trials_frame(run_dir: RunDir, context: RunContext | None = None) -> pd.DataFrame:
    """The trials frame (trials.csv's columns and rows, made by the same function) read from the storage now."""
    context = context if context is not None else run_dir.load_context()
    return trials_frame(context, trial_rows(context.searches, run_studies(run_dir, context)))


def _finished_with_trials_csv(run_dir: RunDir) -> bool:
    """A report written after the run ended holds every trial: reading its CSV costs no journal replay. A report
    of a run still going (``stratlab run report`` mid-run) is already behind the storage."""
    if not (run_dir.report_path.exists() and (run_dir.path / TRIALS_FILE).exists()):
        return False
    try:
        state = run_state(run_dir.read_status())
    except DataError:
        return False
    return state not in ACTIVE_STATES


def live_trials_frame(run_dir: RunDir) -> pd.DataFrame:
    """Every trial of the run as the trials frame: trials.csv when the run ended and was reported, else the storage
    as it is now. Problems are one-line DataErrors."""
    context = run_dir.load_context()
    if _finished_with_trials_csv(run_dir):
        frame = read_table(
            run_dir.path / TRIALS_FILE, ("strategy", "state"), ("trial", "train_return_pct", "train_max_drawdown_pct")
        )
        if frame is not None and not frame.empty:
            return frame
    return storage_trials_frame(run_dir, context)


__all__ = ["LiveStorage", "live_trials_frame", "run_storage", "run_studies", "storage_trials_frame"]
