"""Every completed trial's daily returns on the part it was optimised on: the matrix the luck statistics need.

Workers keep the returns of the trials they finish and write them in batches, one Parquet file per batch under
``trial_returns.parts/`` (a killed worker loses at most its last few seconds, and the report backtests those trials
again). The report joins every batch into ``trial_returns.parquet``: one row per UTC day (column ``day``, the day's
start in epoch ms), one float32 column per trial named ``<study>#<trial>`` (the study is the strategy, or
``<strategy>@w<k>`` for walk-forward window k); a day outside a trial's part is empty (NaN). float32 keeps a 5,000-trial
run over a year of days near 7 MB, and a daily return needs no more than 7 significant digits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from stratlab.atomic_io import atomic_writer
from stratlab.data.store import read_parquet_frame
from stratlab.engine import BacktestResult
from stratlab.errors import DataError
from stratlab.metrics.daily import daily_series, day_last_bars

log = logging.getLogger(__name__)

PARTS_DIR = "trial_returns.parts"
MATRIX_FILE = "trial_returns.parquet"
DAY_COLUMN = "day"
FLUSH_EVERY_S = 5.0
FLUSH_EVERY_TRIALS = 500

Float32Array = npt.NDArray[np.float32]
Int64Array = npt.NDArray[np.int64]


def trial_key(study: str, trial: int) -> str:
    """The column of one trial in the matrix."""
    return f"{study}#{trial}"


def daily_returns(result: BacktestResult, last: Int64Array | None = None) -> tuple[Int64Array, Float32Array]:
    """(day start ms, return over the day) of a backtest's equity, as every daily KPI counts them; ``last``: the
    days' last bars of the backtest's bars, when known."""
    daily = daily_series(result.timestamp_ms, result.equity, result.initial_equity, last)
    return daily.day_ms, daily.returns.astype(np.float32)


def write_columns_atomic(columns: Mapping[str, npt.NDArray[Any]], path: Path) -> None:
    """Write named columns to ``path`` atomically, as plain Parquet: random float returns gain nothing from
    dictionaries, statistics or compression, and skipping them makes a worker's batch about six times cheaper."""
    table = pa.Table.from_arrays([pa.array(values) for values in columns.values()], names=list(columns))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as handle:
        pq.write_table(table, handle, compression="none", use_dictionary=False, write_statistics=False)


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame``'s columns (not its index) to ``path`` atomically (see ``write_columns_atomic``)."""
    write_columns_atomic({str(name): frame[name].to_numpy() for name in frame.columns}, path)


class TrialReturnsWriter:
    """A worker's buffer of trial returns, written as one batch file per group of trials that share their days."""

    def __init__(self, run_path: Path, worker: str) -> None:
        self.directory = Path(run_path) / PARTS_DIR
        self.prefix = worker.replace(":", "-").replace("/", "-")
        self._pending: dict[tuple[int, ...], tuple[Int64Array, dict[str, Float32Array]]] = {}
        self._count = 0
        self._batches = 0
        self._last_flush = time.monotonic()
        # The days' last bars per bar range: a worker backtests the same few ranges thousands of times.
        self._last_bars: dict[tuple[int, int, int, int], Int64Array] = {}

    def _days_of(self, result: BacktestResult) -> Int64Array:
        stamps = result.candles.timestamp_ms
        key = (stamps.ctypes.data, stamps.size, result.start, result.end)
        last = self._last_bars.get(key)
        if last is None:
            last = self._last_bars[key] = day_last_bars(result.timestamp_ms)
        return last

    def add(self, key: str, result: BacktestResult) -> None:
        """Keep one trial's returns; written at the next flush (every few seconds or hundreds of trials)."""
        days, returns = daily_returns(result, self._days_of(result))
        group = (int(days[0]), int(days[-1]), int(days.size)) if days.size else (0, 0, 0)
        self._pending.setdefault(group, (days, {}))[1][key] = returns
        self._count += 1
        if self._count >= FLUSH_EVERY_TRIALS or time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        for days, columns in self._pending.values():
            self._batches += 1
            write_columns_atomic(
                {DAY_COLUMN: days, **columns}, self.directory / f"{self.prefix}-{self._batches:06d}.parquet"
            )
        self._pending.clear()
        self._count = 0
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Write what is left (a worker that stops, for whatever reason, keeps every trial it finished)."""
        self.flush()


def _read_batch(path: Path) -> pd.DataFrame:
    frame = read_parquet_frame(path)
    if DAY_COLUMN not in frame.columns:
        raise DataError(f"{path}: no {DAY_COLUMN!r} column: not a file of daily trial returns")
    return frame.set_index(DAY_COLUMN)


def read_batches(run_path: Path) -> pd.DataFrame:
    """Every readable batch the workers wrote, joined on the day (a trial written twice kept once); an unreadable one
    is named in a warning and left out."""
    directory = Path(run_path) / PARTS_DIR
    paths = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
    frames = []
    for path in paths:
        try:
            frames.append(_read_batch(path))
        except DataError as exc:
            # A batch damaged after it was written is not a lost result: its trials are in the storage, and the
            # report backtests every trial it has no returns for.
            log.warning("%s; its trials are backtested again", exc)
    if not frames:
        return pd.DataFrame(index=pd.Index([], dtype=np.int64, name=DAY_COLUMN))
    return _one_block(pd.concat(frames, axis=1, join="outer", sort=True))


def _one_block(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as one float32 block, a column present twice kept once (a join of many batches is as many blocks,
    which pandas handles slowly)."""
    frame = frame.loc[:, ~frame.columns.duplicated()]
    return pd.DataFrame(frame.to_numpy(dtype=np.float32), index=frame.index, columns=frame.columns)


def with_trials(matrix: pd.DataFrame, added: Mapping[str, BacktestResult]) -> pd.DataFrame:
    """``matrix`` with the returns of ``added`` trials (backtested again because their batch was lost)."""
    if not added:
        return matrix
    extra = {}
    for key, result in added.items():
        days, returns = daily_returns(result)
        extra[key] = pd.Series(returns, index=pd.Index(days, name=DAY_COLUMN))
    return _one_block(pd.concat([matrix, pd.DataFrame(extra)], axis=1, join="outer", sort=True))


def write_matrix(run_path: Path, matrix: pd.DataFrame, keys: Iterable[str]) -> pd.DataFrame:
    """Write ``trial_returns.parquet`` with the columns ``keys`` (in that order); returns what was written."""
    ordered = matrix.reindex(columns=list(keys))
    ordered.index.name = DAY_COLUMN
    write_parquet_atomic(ordered.reset_index(), Path(run_path) / MATRIX_FILE)
    return ordered


def read_matrix(run_path: Path) -> pd.DataFrame:
    """``trial_returns.parquet`` as written by the report (index: day start ms)."""
    path = Path(run_path) / MATRIX_FILE
    if not path.exists():
        raise DataError(f"{path}: missing; `stratlab run report --run-dir {run_path}` writes it")
    return _read_batch(path)


__all__ = [
    "DAY_COLUMN",
    "MATRIX_FILE",
    "PARTS_DIR",
    "TrialReturnsWriter",
    "daily_returns",
    "read_batches",
    "read_matrix",
    "trial_key",
    "with_trials",
    "write_columns_atomic",
    "write_matrix",
    "write_parquet_atomic",
]
