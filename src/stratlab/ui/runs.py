"""Reading run directories for display: listing, resolving a name safely, and loading every result file.

The UI only reads inside the runs root: a run is named by its directory name, resolved with
``resolve_path_inside`` (no ``..``, no absolute paths, no symlink escapes). Every file of a run may be missing (the
run is still going) or damaged (a disk filled up, an older stratlab wrote it, any bytes at all): each problem
becomes one line of text for that run's listing and pages, never an exception, and never a problem of other runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from stratlab.errors import ConfigError, DataError
from stratlab.optimize.context import PartName, RunContext, resolve_path_inside
from stratlab.optimize.report import TRIALS_FILE, candidates_file
from stratlab.optimize.rundir import RunDir
from stratlab.report.manifest import Manifest, read_manifest_text
from stratlab.report.robustness import SCHEMA_VERSION as ROBUSTNESS_SCHEMA_VERSION

if TYPE_CHECKING:
    from stratlab.portfolio.manifest import PortfolioManifest

NO_STATUS = "created"  # no status.json yet: the runner has not written its first one
UNKNOWN_STATE = "unknown"  # status.json exists but cannot be read
ACTIVE_STATES = frozenset({NO_STATUS, "running"})  # a created run's runner may be starting


def short_problem(problem: str, run_dir: Path) -> str:
    """A problem line without the run directory's path in front of its file names (the page already names the
    run)."""
    return problem.replace(f"{run_dir}/", "")


@dataclass(frozen=True)
class RunListing:
    """One line of the run pickers: enough to recognise a run without loading it."""

    name: str
    state: str
    summary: str
    problem: str | None = None

    @property
    def label(self) -> str:
        # The state and count as of this page's last full run; the Monitor page itself shows the live ones.
        return f"{self.name}  ·  {self.summary}" if self.problem is None else f"{self.name}  ·  {self.problem}"


def _listable(name: str) -> bool:
    # A directory name that is not UTF-8 (bytes smuggled in as surrogates) cannot travel in a URL or a widget.
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def run_names(runs_root: Path) -> list[str]:
    """Directory names of the runs under ``runs_root``, newest first (run ids begin with a UTC timestamp)."""
    if not runs_root.is_dir():
        return []
    names = [p.name for p in runs_root.iterdir() if p.is_dir() and (p / "context.json").exists() and _listable(p.name)]
    return sorted(names, reverse=True)


def open_run(runs_root: Path, name: str) -> RunDir:
    """The run called ``name`` under ``runs_root``; a name leading elsewhere or to no run is a one-line error."""
    if not name or "/" in name or "\\" in name or name in {".", ".."}:
        raise ConfigError(f"{name!r} is not a run name")
    path = resolve_path_inside(runs_root, name)
    run_dir = RunDir(path)
    if not run_dir.context_path.exists():
        raise DataError(f"run {name!r} does not exist under {runs_root}")
    return run_dir


def run_state(status: dict[str, Any] | None) -> str:
    return NO_STATUS if status is None else str(status["state"])


REPORT_WAIT_S = 60.0  # a runner that died before writing its report would otherwise keep a page polling forever


def keeps_refreshing(status: dict[str, Any] | None, has_report: bool) -> bool:
    """Whether a page showing a run live should poll again: while the run works, and after it ends until its report
    is written (a minute at most)."""
    status = status or {}
    if str(status.get("state", NO_STATUS)) in ACTIVE_STATES:
        return True
    updated = status.get("updated_at")
    recent = isinstance(updated, int | float) and time.time() - updated < REPORT_WAIT_S
    return not has_report and recent


def describe_run(runs_root: Path, name: str) -> RunListing:
    """The picker line of a run: its data, strategies, completed/budget trials and state, or its one problem."""
    try:
        run_dir = open_run(runs_root, name)
    except (ConfigError, DataError) as exc:
        return RunListing(name, UNKNOWN_STATE, "", problem=str(exc))
    try:
        context = run_dir.load_context()
        status = run_dir.read_status()
    except DataError as exc:
        return RunListing(name, UNKNOWN_STATE, "", problem=short_problem(str(exc), run_dir.path))
    request = context.request
    state = run_state(status)
    budget = request.max_trials * len(context.study_names)
    completed = int(status["completed"]) if status is not None else 0
    summary = (
        f"{request.source}/{request.symbol}/{request.timeframe}, {len(request.strategies)} strategies, "
        f"{completed:,}/{budget:,} trials, {state}"
    )
    return RunListing(name, state, summary)


# -- report.json and champion.json: the fields the pages use, checked before any page relies on them ---------------


class _Champion(BaseModel):
    model_config = ConfigDict(extra="allow")
    strategy: str
    trial: int
    params: dict[str, Any]
    backtest: dict[str, Any]


class _ReportFile(BaseModel):
    model_config = ConfigDict(extra="allow")
    schema_version: Literal[1]
    champion: _Champion | None = None
    champion_reason: str | None = None


def _first_error(file: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{file}: {where}: {first['msg']}" if where else f"{file}: {first['msg']}"


def _read_json(path: Path) -> Any:
    """A JSON file as any bytes may hold it; a file that is not UTF-8 JSON is a one-line DataError."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path.name}: unreadable ({str(exc).splitlines()[0]})") from None


def read_report(path: Path) -> dict[str, Any]:
    """report.json with the fields the Analyze page uses checked (a one-line DataError otherwise)."""
    report = _read_json(path)
    if not isinstance(report, dict):
        raise DataError(f"{path.name}: expected a JSON object, got {type(report).__name__}")
    if report.get("schema_version") != 1:
        raise DataError(f"{path.name}: schema {report.get('schema_version')!r} is not one this stratlab reads")
    try:
        _ReportFile.model_validate(report)
    except ValidationError as exc:
        raise DataError(_first_error(path.name, exc)) from None
    return report


def read_champion(path: Path) -> tuple[Manifest, str]:
    """champion.json (the paper manifest) and its text (for the download), checked as ``stratlab backtest
    --manifest`` reads it."""
    return read_manifest_text(path)


# -- the CSV tables ---------------------------------------------------------------------------------------------


def read_table(path: Path, text_columns: Iterable[str], number_columns: Iterable[str]) -> pd.DataFrame | None:
    """A CSV the report wrote, or None if there is none yet; bytes that are not such a table (other columns, text
    where numbers belong) are a one-line DataError naming the file."""
    if not path.exists():
        return None
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()  # a run without a single candidate writes an empty table
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and pandas' ParserError are ValueErrors
        raise DataError(f"{path.name}: unreadable ({str(exc).strip().splitlines()[0]})") from None
    numbers = list(number_columns)
    missing = [c for c in [*text_columns, *numbers] if c not in frame.columns]
    if missing:
        raise DataError(f"{path.name}: no column {missing[0]!r}, not a table this stratlab wrote")
    if len(frame):
        wrong = [c for c in numbers if not pd.api.types.is_numeric_dtype(frame[c])]
        if wrong:
            raise DataError(f"{path.name}: column {wrong[0]!r} holds something other than numbers")
    return frame


def _kpi_columns(parts: Iterable[str]) -> list[str]:
    return [f"{part}_{kpi}" for part in parts for kpi in ("return_pct", "max_drawdown_pct")]


@dataclass
class RunResults:
    """What a run directory holds right now; ``problems`` lists what could not be read, one line each."""

    name: str
    context: RunContext | None = None
    status: dict[str, Any] | None = None
    status_problem: str | None = None
    report: dict[str, Any] | None = None
    report_problem: str | None = None
    trials: pd.DataFrame | None = None
    pareto: pd.DataFrame | None = None
    candidates: pd.DataFrame | None = None
    manifest: Manifest | None = None
    manifest_text: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def selection_part(self) -> PartName:
        return self.context.selection_part if self.context is not None else PartName.TEST

    @property
    def state(self) -> str:
        return UNKNOWN_STATE if self.status_problem is not None else run_state(self.status)


def load_results(runs_root: Path, name: str, event_tail: int = 200, tables: bool = True) -> RunResults:
    """Every result file of run ``name`` that exists and parses; the rest explained in ``problems``. ``tables``:
    also the CSVs and the manifest (the live view needs only the status and the events)."""
    results = RunResults(name)
    try:
        run_dir = open_run(runs_root, name)
    except (ConfigError, DataError) as exc:
        results.problems.append(str(exc))
        return results

    def attempt(read: Any, *args: Any) -> Any:
        try:
            return read(*args)
        except DataError as exc:
            results.problems.append(short_problem(str(exc), run_dir.path))
            return None

    results.context = attempt(run_dir.load_context)
    if results.context is None:
        return results
    try:
        results.status = run_dir.read_status()
    except DataError as exc:
        results.status_problem = short_problem(str(exc), run_dir.path)
        results.problems.append(results.status_problem)
    results.events = run_dir.read_progress(tail=event_tail)
    if run_dir.report_path.exists():
        try:
            results.report = read_report(run_dir.report_path)
        except DataError as exc:
            results.report_problem = str(exc)
            results.problems.append(results.report_problem)
    if not tables:
        return results
    selection = results.selection_part
    results.trials = attempt(
        read_table, run_dir.path / TRIALS_FILE, ("strategy", "state"), ("trial", "train_return_pct")
    )
    results.pareto = attempt(read_table, run_dir.path / "pareto.csv", ("strategy",), ("trial",))
    results.candidates = attempt(
        read_table, run_dir.path / candidates_file(selection), ("strategy", "params"),
        ("trial", *_kpi_columns((PartName.TRAIN, selection))),
    )  # fmt: skip
    if run_dir.champion_path.exists():
        shown = attempt(read_champion, run_dir.champion_path)
        if shown is not None:
            results.manifest, results.manifest_text = shown
    return results


def files_signature(runs_root: Path, name: str) -> tuple[tuple[str, int, int], ...]:
    """(file, size, mtime) of a run's files: a cache key that changes whenever the run writes something."""
    try:
        run_dir = open_run(runs_root, name)
        paths = sorted(run_dir.path.iterdir())
    except (ConfigError, DataError, OSError):
        return ()
    out = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue  # removed between the listing and here
        if path.is_file():
            out.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(out)


# -- robustness.json ----------------------------------------------------------------------------------------------


def read_robustness(path: Path) -> dict[str, Any] | None:
    """robustness.json as a JSON object, or None when the run has none (reported before it existed, or without a
    champion); other bytes or another schema are a one-line DataError. Its sections are checked where they are
    shown (``stratlab.ui.luck.parse_robustness``), one by one."""
    if not path.exists():
        return None
    raw = _read_json(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path.name}: expected a JSON object, got {type(raw).__name__}")
    if raw.get("schema_version") != ROBUSTNESS_SCHEMA_VERSION:
        raise DataError(f"{path.name}: schema {raw.get('schema_version')!r} is not one this stratlab reads")
    return raw


# -- portfolios (``stratlab portfolio build``) under <runs root>/portfolios/ -------------------------------------

PORTFOLIOS_DIR = "portfolios"
EQUITY_TEXT_COLUMNS = ("day",)
EQUITY_NUMBER_COLUMNS = ("day_ms", "return", "equity", "drawdown_pct")


def portfolio_names(runs_root: Path) -> list[str]:
    """Folders under ``<runs root>/portfolios`` holding a portfolio.json, newest first (the default names are UTC
    timestamps)."""
    from stratlab.portfolio.build import PORTFOLIO_FILE

    folder = runs_root / PORTFOLIOS_DIR
    if not folder.is_dir():
        return []
    names = [p.name for p in folder.iterdir() if p.is_dir() and (p / PORTFOLIO_FILE).exists() and _listable(p.name)]
    return sorted(names, reverse=True)


@dataclass(frozen=True)
class PortfolioView:
    """A written portfolio: its manifest and its day-by-day equity (``portfolio_equity.csv``), or the equity's one
    problem line."""

    name: str
    manifest: PortfolioManifest
    equity: pd.DataFrame | None
    equity_problem: str | None = None


def load_portfolio(runs_root: Path, name: str) -> PortfolioView:
    """The portfolio folder ``name`` under ``<runs root>/portfolios``, read with the portfolio's own manifest reader;
    a name leading elsewhere, or a manifest that cannot be read, is a one-line error."""
    from stratlab.portfolio.build import EQUITY_FILE, PORTFOLIO_FILE
    from stratlab.portfolio.manifest import read_portfolio_manifest

    if not name or "/" in name or "\\" in name or name in {".", ".."}:
        raise ConfigError(f"{name!r} is not a portfolio name")
    folder = resolve_path_inside(runs_root / PORTFOLIOS_DIR, name)
    manifest = read_portfolio_manifest(folder / PORTFOLIO_FILE)
    try:
        equity = read_table(folder / EQUITY_FILE, EQUITY_TEXT_COLUMNS, EQUITY_NUMBER_COLUMNS)
    except DataError as exc:
        return PortfolioView(name, manifest, None, str(exc))
    if equity is None:
        return PortfolioView(name, manifest, None, f"{EQUITY_FILE}: missing")
    return PortfolioView(name, manifest, equity)


__all__ = [
    "ACTIVE_STATES",
    "NO_STATUS",
    "PORTFOLIOS_DIR",
    "REPORT_WAIT_S",
    "UNKNOWN_STATE",
    "PortfolioView",
    "RunListing",
    "RunResults",
    "describe_run",
    "files_signature",
    "keeps_refreshing",
    "load_portfolio",
    "load_results",
    "open_run",
    "portfolio_names",
    "read_champion",
    "read_report",
    "read_robustness",
    "read_table",
    "run_names",
    "run_state",
    "short_problem",
]
