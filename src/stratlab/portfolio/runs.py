"""What a portfolio reads of each run directory: its candidates that passed the gates, and their daily returns.

Per run directory (written by the run's report, ``stratlab.optimize.report``):

- ``context.json`` (``RunDir.load_context``) and ``report.json`` (``RunDir.read_report``: ``selection_part``);
- ``candidates_<selection part>.csv``: one row per Pareto candidate, with at least ``strategy``, ``trial``,
  ``params`` (the trial's stored parameters as JSON) and ``verdict`` ("pass" or "flagged"); ``dsr`` is read when
  present;
- ``candidate_returns.parquet``: the daily returns of every candidate on the selection part, an int64 column
  ``day`` (UTC day start, epoch ms) and one float column ``<strategy>#<trial>`` per candidate.

A candidate is labelled ``<run_id>/<strategy>#<trial>`` across runs. Candidates of several runs are compared on the
UTC days every one of them has a return for (an inner join of the runs' days; a day a candidate has no return, NaN,
is left out for all): fewer than ``MIN_COMMON_DAYS`` such days is a one-line ``DataError`` naming the runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from stratlab.data.candles import Candles
from stratlab.data.dates import format_day
from stratlab.data.timeframes import DAY_MS
from stratlab.errors import ConfigError, DataError
from stratlab.metrics import KpiSettings, periods_per_year_for
from stratlab.optimize.context import RunContext
from stratlab.optimize.report import CANDIDATE_RETURNS_FILE
from stratlab.optimize.rundir import RunDir

DAY_COLUMN = "day"
MIN_COMMON_DAYS = 20
PASS = "pass"
VERDICTS = (PASS, "flagged")
CANDIDATE_COLUMNS = ("strategy", "trial", "params", "verdict")

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PassingCandidate:
    """A candidate of one run whose verdict is "pass"."""

    run_id: str
    strategy: str
    trial: int
    params: dict[str, Any]  # as the trial stored them: strategy params and "bt."-prefixed backtest settings
    dsr: float | None

    @property
    def column(self) -> str:
        """Its column in the run's candidate_returns.parquet."""
        return f"{self.strategy}#{self.trial}"

    @property
    def label(self) -> str:
        """Its name across runs."""
        return f"{self.run_id}/{self.column}"


@dataclass(frozen=True)
class RunCandidates:
    """One run directory as a portfolio sees it: its context, how many candidates it reported and which passed,
    with their daily returns on the selection part (columns by label; None when nothing passed)."""

    run_dir: RunDir
    context: RunContext
    selection_part: str
    n_candidates: int
    passing: tuple[PassingCandidate, ...]
    returns: pd.DataFrame | None

    @property
    def run_id(self) -> str:
        return self.context.run_id

    @property
    def market(self) -> str:
        """``source/symbol`` of the run's candles."""
        return f"{self.context.request.source}/{self.context.request.symbol}"

    @property
    def periods_per_year(self) -> int:
        """The annualisation of the run's market (365 crypto, 252 session markets), as its KPIs use it."""
        return periods_per_year_for(self.context.request.source, KpiSettings())


def read_run_candidates(path: Path | str) -> RunCandidates:
    """The passing candidates of the run directory at ``path`` and their daily returns (see the module)."""
    run_dir = RunDir(path)
    if not run_dir.path.is_dir():
        raise DataError(f"{run_dir.path}: no such run directory")
    context = run_dir.load_context()
    if not run_dir.report_path.exists():
        raise DataError(
            f"{run_dir.report_path}: missing; `stratlab run report --run-dir {run_dir.path}` writes the report"
        )
    selection_part = str(run_dir.read_report()["selection_part"])
    candidates_path = run_dir.path / f"candidates_{selection_part}.csv"
    table = _read_candidates_table(candidates_path)
    passing = tuple(_passing(table, candidates_path, context.run_id))
    returns = _read_returns(run_dir, passing) if passing else None
    return RunCandidates(run_dir, context, selection_part, len(table), passing, returns)


def _read_candidates_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: missing; the run's report lists its candidates there")
    try:
        table = pd.read_csv(path, dtype={"params": str, "verdict": str})
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=list(CANDIDATE_COLUMNS))  # a report without candidates writes an empty file
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: not a readable CSV ({str(exc).strip().splitlines()[0]})") from None
    if table.empty and not len(table.columns):
        return pd.DataFrame(columns=list(CANDIDATE_COLUMNS))
    missing = [column for column in CANDIDATE_COLUMNS if column not in table.columns]
    if missing:
        raise DataError(
            f"{path}: no {missing[0]!r} column; a report of this stratlab writes it "
            f"(`stratlab run report --run-dir {path.parent}` rebuilds it)"
        )
    return table


def _passing(table: pd.DataFrame, path: Path, run_id: str) -> list[PassingCandidate]:
    found = []
    for row_number, row in enumerate(table.itertuples(index=False)):
        verdict = row.verdict
        if verdict not in VERDICTS:
            raise DataError(f"{path}: row {row_number}: verdict {verdict!r}, expected one of {', '.join(VERDICTS)}")
        if verdict != PASS:
            continue
        found.append(
            PassingCandidate(
                run_id=run_id,
                strategy=_text(row.strategy, path, row_number, "strategy"),
                trial=_trial(row.trial, path, row_number),
                params=_params(row.params, path, row_number),
                dsr=_dsr(getattr(row, "dsr", None)),
            )
        )
    return found


def _text(value: Any, path: Path, row: int, column: str) -> str:
    if not isinstance(value, str) or not value:
        raise DataError(f"{path}: row {row}: {column} is empty")
    return value


def _trial(value: Any, path: Path, row: int) -> int:
    if isinstance(value, int | np.integer) or (isinstance(value, float) and value.is_integer()):
        return int(value)
    raise DataError(f"{path}: row {row}: trial {value!r} is not a trial number")


def _params(value: Any, path: Path, row: int) -> dict[str, Any]:
    try:
        params = json.loads(value) if isinstance(value, str) else None
    except json.JSONDecodeError:
        params = None
    if not isinstance(params, dict):
        raise DataError(f"{path}: row {row}: params is not a JSON object")
    return params


def _dsr(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _read_returns(run_dir: RunDir, passing: Sequence[PassingCandidate]) -> pd.DataFrame:
    """The passing candidates' daily returns, indexed by UTC day start (ms), columns by label."""
    path = run_dir.path / CANDIDATE_RETURNS_FILE
    if not path.exists():
        raise DataError(
            f"{path}: missing; a report of this stratlab writes it "
            f"(`stratlab run report --run-dir {run_dir.path}` rebuilds it)"
        )
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises its own types for every kind of damage: all mean "unreadable"
        raise DataError(f"{path}: not a readable Parquet file ({str(exc).strip().splitlines()[0]})") from None
    if DAY_COLUMN not in frame.columns or not pd.api.types.is_integer_dtype(frame[DAY_COLUMN]):
        raise DataError(f"{path}: expected an integer column {DAY_COLUMN!r} (UTC day start, epoch ms)")
    days = frame[DAY_COLUMN].to_numpy(dtype=np.int64)
    if np.any(days % DAY_MS != 0):
        raise DataError(f"{path}: {DAY_COLUMN}: {int(days[days % DAY_MS != 0][0])} is not a UTC day start")
    if len(np.unique(days)) != len(days):
        raise DataError(f"{path}: {DAY_COLUMN}: a day appears twice")
    columns = {}
    for candidate in passing:
        if candidate.column not in frame.columns:
            raise DataError(f"{path}: no column {candidate.column!r} for a candidate that passed the gates")
        values = frame[candidate.column]
        if not pd.api.types.is_float_dtype(values):
            raise DataError(f"{path}: {candidate.column}: expected float daily returns, got {values.dtype}")
        if np.isinf(values.to_numpy()).any():
            raise DataError(f"{path}: {candidate.column}: an infinite daily return")
        columns[candidate.label] = values.to_numpy(dtype=np.float64)
    return pd.DataFrame(columns, index=pd.Index(days, name=DAY_COLUMN)).sort_index()


def check_distinct_runs(runs: Sequence[RunCandidates]) -> None:
    """The same run given twice would count its candidates twice."""
    seen: dict[str, Path] = {}
    for run in runs:
        if run.run_id in seen:
            raise ConfigError(f"--run-dir: run {run.run_id} is given twice ({seen[run.run_id]}, {run.run_dir.path})")
        seen[run.run_id] = run.run_dir.path


def common_day_returns(runs: Sequence[RunCandidates]) -> pd.DataFrame:
    """The passing candidates of every run side by side on the UTC days all of them have a return for."""
    frames = [run.returns for run in runs if run.returns is not None]
    if not frames:
        raise DataError("no candidate passed the gates in any run: nothing to build a portfolio from")
    joined = pd.concat(frames, axis=1, join="inner").dropna(how="any")
    if len(joined) < MIN_COMMON_DAYS:
        names = ", ".join(run.run_id for run in runs if run.returns is not None)
        raise DataError(
            f"runs {names}: {len(joined):,} UTC days with a return for every passing candidate, a portfolio needs "
            f"at least {MIN_COMMON_DAYS} (runs on other periods share fewer selection days)"
        )
    return joined


def buy_and_hold_day_returns(candles: Candles, days: Int64Array) -> FloatArray:
    """Holding the run's instrument: close-to-close returns of each UTC day's last close (the first day of the
    candles over its first open), on ``days``."""
    frame = pd.DataFrame(
        {"day": candles.timestamp_ms // DAY_MS * DAY_MS, "open": candles.open, "close": candles.close}
    ).groupby("day")
    first_open, last_close = frame["open"].first(), frame["close"].last()
    previous = last_close.shift(1)
    previous.iloc[0] = first_open.iloc[0]
    daily = (last_close / previous - 1.0).reindex(days)
    if daily.isna().any():
        missing = int(daily.index[daily.isna()][0])
        raise DataError(f"{candles.label}: no candle on {format_day(missing)}, one of the portfolio's days")
    return daily.to_numpy(dtype=np.float64)


__all__ = [
    "MIN_COMMON_DAYS",
    "PassingCandidate",
    "RunCandidates",
    "buy_and_hold_day_returns",
    "check_distinct_runs",
    "common_day_returns",
    "read_run_candidates",
]
