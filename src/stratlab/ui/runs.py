"""Reading run directories for display: listing, resolving a name safely, and loading every result file.

The UI only reads inside the runs root: a run is named by its directory name, resolved with
``resolve_path_inside`` (no ``..``, no absolute paths, no symlink escapes). Every file of a run may be missing (the
run is still going) or damaged (a disk filled up, an older stratlab wrote it): each problem becomes one line of text
for the page, never an exception.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from stratlab.errors import ConfigError, DataError
from stratlab.optimize.context import RunContext, resolve_path_inside
from stratlab.optimize.rundir import RunDir
from stratlab.report.manifest import read_manifest


@dataclass(frozen=True)
class RunListing:
    """One line of the run pickers: enough to recognise a run without loading it."""

    name: str
    state: str
    summary: str
    problem: str | None = None

    @property
    def label(self) -> str:
        # No state here: a picker keeps its labels while the run moves on; the pages show the live state.
        return f"{self.name}  ·  {self.summary}" if self.problem is None else f"{self.name}  ·  unreadable"


def run_names(runs_root: Path) -> list[str]:
    """Directory names of the runs under ``runs_root``, newest first (run ids begin with a UTC timestamp)."""
    if not runs_root.is_dir():
        return []
    names = [p.name for p in runs_root.iterdir() if p.is_dir() and (p / "context.json").exists()]
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


def describe_run(runs_root: Path, name: str) -> RunListing:
    try:
        run_dir = open_run(runs_root, name)
        context = run_dir.load_context()
        status = run_dir.read_status() or {}
    except (ConfigError, DataError) as exc:
        return RunListing(name, "unreadable", "", problem=str(exc))
    request = context.request
    state = str(status.get("state", "created"))
    budget = request.max_trials * len(request.strategies)
    summary = (
        f"{request.source}/{request.symbol}/{request.timeframe}, {len(request.strategies)} strategies, {budget} trials"
    )
    return RunListing(name, state, summary)


@dataclass
class RunResults:
    """What a run directory holds right now; ``problems`` lists what could not be read, one line each."""

    name: str
    context: RunContext | None = None
    status: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    trials: pd.DataFrame | None = None
    pareto: pd.DataFrame | None = None
    candidates: pd.DataFrame | None = None
    manifest: dict[str, Any] | None = None
    manifest_text: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def selection_part(self) -> str:
        return self.context.selection_part if self.context is not None else "test"


def _read_csv(path: Path, problems: list[str]) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name}: unreadable ({str(exc).splitlines()[0]})")
        return None


def load_results(runs_root: Path, name: str, event_tail: int = 200, tables: bool = True) -> RunResults:
    """Every result file of run ``name`` that exists and parses; the rest explained in ``problems``. ``tables``:
    also the CSVs and the manifest (the live view needs only the status and the events)."""
    results = RunResults(name)
    try:
        run_dir = open_run(runs_root, name)
        results.context = run_dir.load_context()
    except (ConfigError, DataError) as exc:
        results.problems.append(str(exc))
        return results
    problems = results.problems
    try:
        results.status = run_dir.read_status()
    except DataError as exc:
        problems.append(str(exc))
    results.events = run_dir.read_progress(tail=event_tail)
    if run_dir.report_path.exists():
        try:
            report = json.loads(run_dir.report_path.read_text(encoding="utf-8"))
            if not isinstance(report, dict) or report.get("schema_version") != 1:
                problems.append(f"report.json: schema {report.get('schema_version')!r} is not one this stratlab reads")
            else:
                results.report = report
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"report.json: unreadable ({exc})")
    if not tables:
        return results
    results.trials = _read_csv(run_dir.path / "trials.csv", problems)
    results.pareto = _read_csv(run_dir.path / "pareto.csv", problems)
    results.candidates = _read_csv(run_dir.path / f"candidates_{results.selection_part}.csv", problems)
    if run_dir.champion_path.exists():
        try:
            results.manifest = read_manifest(run_dir.champion_path)
            results.manifest_text = run_dir.champion_path.read_text(encoding="utf-8")
        except DataError as exc:
            problems.append(str(exc))
    return results


def files_signature(runs_root: Path, name: str) -> tuple[tuple[str, int, int], ...]:
    """(file, size, mtime) of a run's files: a cache key that changes whenever the run writes something."""
    try:
        run_dir = open_run(runs_root, name)
    except (ConfigError, DataError):
        return ()
    out = []
    for path in sorted(run_dir.path.iterdir()):
        if path.is_file():
            stat = path.stat()
            out.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(out)


__all__ = ["RunListing", "RunResults", "describe_run", "files_signature", "load_results", "open_run", "run_names"]
