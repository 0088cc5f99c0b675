"""The run directory (``runs/<run_id>_<label>/``): one owner for every file in it.

- ``context.json``: the resolved run (written once, never changed);
- the storage (``optuna.journal`` by default);
- ``status.json``: the current state, rewritten atomically (schema: docs/schemas/status.schema.json);
- ``progress.jsonl``: append-only events, one JSON object per line (schema: docs/schemas/progress.schema.json);
- ``stop.flag``: its existence asks every worker to stop after its current trial;
- ``report.json``, ``trials.csv``, ``pareto.csv``, ``candidates_<part>.csv``, ``champion.json``: rebuilt from the
  storage at the end of a run, or at any time by ``run report``;
- ``workers/worker-<n>.log``: each local worker's output;
- ``supervisor.lock``: held (``flock``) by the live ``run start`` of this directory, so a second one refuses and a
  reader can tell a supervisor that died from one that runs.

Every path inside a run directory is relative to it: a run directory can be moved, copied or archived whole. Every
reader accepts any bytes: what it cannot read is a one-line ``DataError`` naming the file, for that run only.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from stratlab.atomic_io import write_text_atomic
from stratlab.errors import ConfigError, DataError
from stratlab.optimize.context import SCHEMA_VERSION, RunContext
from stratlab.optimize.storage import RUN_JOURNAL_NAME, default_storage_url, journal_path

LOCK_RETRY_S = 2.0
RESULT_FILES = ("report.json", "champion.json", "trials.csv", "pareto.csv")


class RunState(enum.StrEnum):
    """What ``status.json`` says of a run (``interrupted`` is read, never written: a running state whose supervisor
    is gone)."""

    NEW = "new"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class EndReason(enum.StrEnum):
    """Why a run's supervisor ended, as its final ``status.json`` says (``ended_because``)."""

    BUDGET_MET = "budget_met"  # every study has its completed trials
    TIME_BUDGET = "time_budget"  # the workers stopped on their own when the run's time budget passed
    STOP_REQUESTED = "stop_requested"  # stop.flag: the UI's Stop button or `run stop` (``stop_requested_by``)
    INTERRUPTED = "interrupted"  # Ctrl+C or SIGTERM reached `run start` (``stop_requested_by``)
    WORKER_FAILED = "worker_failed"  # a worker exited with an error (``worker_failures``)


class _ParetoPoint(BaseModel):
    model_config = ConfigDict(extra="allow")
    trial: int
    return_pct: float
    max_drawdown_pct: float


class _StrategyStatus(BaseModel):
    model_config = ConfigDict(extra="allow")
    strategy: str
    completed: int
    running: int
    failed: int
    pruned: int
    budget: int
    pareto: list[_ParetoPoint]


class _ReportCounts(BaseModel):
    """The fields of report.json the CLI and the report's own guard read."""

    model_config = ConfigDict(extra="allow")
    schema_version: int
    strategies: dict[str, dict[str, int]]
    selection_part: str
    dd_threshold_pct: float
    champion: dict[str, Any] | None
    champion_reason: str | None = None


class _WorkerFailure(BaseModel):
    model_config = ConfigDict(extra="allow")
    worker: int
    exit_code: int | None
    error: str


class _StatusFile(BaseModel):
    """The fields of status.json a reader relies on (docs/schemas/status.schema.json has them all)."""

    model_config = ConfigDict(extra="allow")
    run_id: str
    state: RunState
    completed: int
    budget: int
    trials_per_s: float
    eta_s: float | None
    workers: int
    strategies: list[_StrategyStatus]
    # Written since the end reason and the throughput history exist; older files have neither.
    ended_because: EndReason | None = None
    stop_requested_by: str | None = None
    worker_failures: list[_WorkerFailure] = []
    history: list[tuple[float, int, float]] = []  # [elapsed_s, completed, trials_per_s], evenly thinned


class RunDir:
    """Paths and reads/writes of one run directory."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @property
    def context_path(self) -> Path:
        return self.path / "context.json"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def progress_path(self) -> Path:
        return self.path / "progress.jsonl"

    @property
    def stop_flag(self) -> Path:
        return self.path / "stop.flag"

    @property
    def report_path(self) -> Path:
        return self.path / "report.json"

    @property
    def champion_path(self) -> Path:
        return self.path / "champion.json"

    @property
    def workers_dir(self) -> Path:
        return self.path / "workers"

    @property
    def lock_path(self) -> Path:
        return self.path / "supervisor.lock"

    @property
    def journal_path(self) -> Path:
        return self.path / RUN_JOURNAL_NAME

    def result_files(self) -> list[Path]:
        """The report files this run already wrote."""
        return [self.path / name for name in RESULT_FILES if (self.path / name).exists()]

    # context -------------------------------------------------------------------------------------------------

    def create(self, context: RunContext) -> None:
        if self.context_path.exists():
            raise ConfigError(f"{self.path}: a run already lives here")
        self.path.mkdir(parents=True, exist_ok=True)
        self.workers_dir.mkdir(exist_ok=True)
        write_text_atomic(self.context_path, context.model_dump_json(indent=2) + "\n")

    def load_context(self) -> RunContext:
        """The run's context; a missing, half-written or foreign file is a one-line DataError."""
        if not self.context_path.exists():
            raise DataError(f"{self.path}: not a run directory (no context.json)")
        raw = read_json_object(self.context_path)
        version = raw.get("schema_version")
        if version != SCHEMA_VERSION:
            raise DataError(
                f"{self.context_path}: schema version {version!r}, this stratlab reads {SCHEMA_VERSION}; "
                "re-create the run with this version"
            )
        try:
            return RunContext.model_validate(raw)
        except ValidationError as exc:
            raise first_problem(self.context_path, exc) from None

    # storage -----------------------------------------------------------------------------------------------------

    def storage_url(self, context: RunContext, override: str | None = None) -> str:
        """The storage to open: ``override``, else the one the run was created with, else the run's own journal in
        this directory (wherever the directory now is)."""
        if override:
            return override
        stored = context.storage_url
        if stored is None or _is_own_journal(stored, self.path):
            return default_storage_url(self.path)
        return stored

    def check_storage_kept(self, context: RunContext, override: str | None = None) -> None:
        """Refuse to go on when the run's own journal is gone or empty while the run already has results: opening it
        would create an empty one, and a report or a restart would replace those results with nothing."""
        own = journal_path(self.storage_url(context, override))
        if own is None or own != self.journal_path.resolve():
            return
        written = [p.name for p in self.result_files()]
        if not own.exists():
            kept = f"; {', '.join(written)} kept as they are" if written else ""
            raise DataError(
                f"{own}: the run's journal is missing, so its trials are gone{kept}: restore the journal "
                "from a backup, or start a new run"
            )
        repaired = any(own.parent.glob(f"{own.name}.*.bak"))  # `run repair` cut every line, knowingly, keeping a copy
        if own.stat().st_size == 0 and (written or self._status_completed() > 0) and not repaired:
            what = ", ".join(written) if written else "status.json"
            raise DataError(
                f"{own}: the run's journal is empty but the run already wrote {what}: refusing to replace those "
                "results; restore the journal from a backup, or start a new run"
            )

    def _status_completed(self) -> int:
        try:
            status = self.read_status()
        except DataError:
            return 0
        return int(status["completed"]) if status else 0

    # supervisor lock -------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def supervisor_lock(self) -> Iterator[None]:
        """Held by the one live ``run start`` of this directory; a second one gets a one-line ConfigError."""
        try:
            handle = self.lock_path.open("a+")
        except OSError as exc:
            raise ConfigError(f"{self.lock_path}: cannot be opened as the run's lock ({_one_line(exc)})") from None
        try:
            deadline = time.monotonic() + LOCK_RETRY_S  # readers probe the lock for microseconds: wait them out
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        handle.seek(0)
                        holder = handle.read().strip() or "another process"
                        raise ConfigError(
                            f"{self.path}: this run is already running (supervisor {holder} holds "
                            f"{self.lock_path.name}); `stratlab run stop --run-dir {self.path}` stops it"
                        ) from None
                    time.sleep(0.05)
            handle.seek(0)
            handle.truncate()
            handle.write(f"{socket.gethostname()}:{os.getpid()}\n")
            handle.flush()
            yield
        finally:
            handle.close()  # closing the descriptor releases the lock

    def supervisor_alive(self) -> bool:
        """True while a ``run start`` of this machine holds the lock (a killed one releases it as it dies)."""
        try:
            handle = self.lock_path.open("rb")
        except OSError:
            return False
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    # status and progress ---------------------------------------------------------------------------------------

    def write_status(self, status: dict[str, Any]) -> None:
        write_text_atomic(self.status_path, json.dumps(status, indent=2, default=_jsonable) + "\n")

    def read_status(self) -> dict[str, Any] | None:
        """status.json as written, or None before the first start. A file that is not UTF-8 JSON with the expected
        fields is a one-line DataError; a "running" state whose supervisor died reads as "interrupted"."""
        if not self.status_path.exists():
            return None
        value = read_json_object(self.status_path)
        try:
            _StatusFile.model_validate(value)
        except ValidationError as exc:
            raise first_problem(self.status_path, exc) from None
        if value["state"] == RunState.RUNNING and not self.supervisor_alive():
            value["state"] = RunState.INTERRUPTED.value
            value["eta_s"] = None
        return value

    def read_report(self) -> dict[str, Any]:
        """report.json as written (a one-line DataError when it is missing, unreadable or not a report)."""
        report = read_json_object(self.report_path)
        try:
            _ReportCounts.model_validate(report)
        except ValidationError as exc:
            raise first_problem(self.report_path, exc) from None
        return report

    def append_progress(self, event: str, **fields: Any) -> None:
        """Append one event line. A single ``write`` of a line under the pipe buffer size is atomic with O_APPEND,
        so lines from several workers never interleave."""
        line = json.dumps({"time": time.time(), "event": event, **fields}, default=_jsonable) + "\n"
        data = line.encode("utf-8")
        fd = os.open(self.progress_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def read_progress(self, tail: int | None = None) -> list[dict[str, Any]]:
        """Events in order (the last ``tail`` if given); a torn last line (a writer killed mid-line) is skipped."""
        try:
            lines = self.progress_path.read_bytes().splitlines()
        except OSError:
            return []
        if tail is not None:
            lines = lines[-tail:]
        return list(_parse_lines(lines))

    # stop flag ---------------------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        write_text_atomic(self.stop_flag, f"stop requested at {time.time():.3f}\n")

    def stop_requested(self) -> bool:
        return self.stop_flag.exists()

    def clear_stop(self) -> None:
        self.stop_flag.unlink(missing_ok=True)


def _parse_lines(lines: list[bytes]) -> Iterator[dict[str, Any]]:
    """The lines that are JSON objects; a torn, binary or foreign line is skipped, never an error for a reader."""
    for line in lines:
        try:
            value = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(value, dict) and isinstance(value.get("event"), str):
            yield value


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object file as any bytes may hold it; anything else (missing, not UTF-8, not JSON, not an object) is a
    one-line DataError naming the file."""
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable ({_one_line(exc)})") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def first_problem(path: Path, exc: ValidationError) -> DataError:
    """The first problem pydantic found in a file, as one line naming the file and the field."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return DataError(f"{path}: {where}: {first['msg']}" if where else f"{path}: {first['msg']}")


def _is_own_journal(url: str, run_path: Path) -> bool:
    """A journal URL naming this run's journal file, also when the directory was moved or copied since it was
    written (older context.json files stored it as an absolute path)."""
    path = journal_path(url)
    return path is not None and path.name == RUN_JOURNAL_NAME and path.parent.name == run_path.name


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def list_runs(root: Path) -> list[RunDir]:
    """Run directories under ``root``, newest first (by name: run ids start with a UTC timestamp)."""
    if not root.exists():
        return []
    runs = [RunDir(p) for p in root.iterdir() if p.is_dir() and (p / "context.json").exists()]
    return sorted(runs, key=lambda r: r.path.name, reverse=True)


__all__ = ["EndReason", "RunDir", "RunState", "list_runs"]
