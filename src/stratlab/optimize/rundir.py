"""The run directory (``runs/<run_id>_<label>/``): one owner for every file in it.

- ``context.json``: the resolved run (written once, never changed);
- the storage (``optuna.journal`` by default);
- ``status.json``: the current state, rewritten atomically (schema: docs/schemas/status.schema.json);
- ``progress.jsonl``: append-only events, one JSON object per line (schema: docs/schemas/progress.schema.json);
- ``stop.flag``: its existence asks every worker to stop after its current trial;
- ``report.json``, ``trials.csv``, ``pareto.csv``, ``candidates_<part>.csv``, ``champion.json``: rebuilt from the
  storage at the end of a run, or at any time by ``run report``;
- ``workers/worker-<n>.log``: each local worker's output.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stratlab.atomic_io import write_text_atomic
from stratlab.errors import ConfigError, DataError
from stratlab.optimize.context import SCHEMA_VERSION, RunContext


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
        try:
            raw = json.loads(self.context_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{self.context_path}: unreadable ({exc})") from None
        version = raw.get("schema_version") if isinstance(raw, dict) else None
        if version != SCHEMA_VERSION:
            raise DataError(
                f"{self.context_path}: schema version {version!r}, this stratlab reads {SCHEMA_VERSION}; "
                "re-create the run with this version"
            )
        try:
            return RunContext.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise DataError(f"{self.context_path}: {where}: {first['msg']}") from None

    # status and progress ---------------------------------------------------------------------------------------

    def write_status(self, status: dict[str, Any]) -> None:
        write_text_atomic(self.status_path, json.dumps(status, indent=2, default=_jsonable) + "\n")

    def read_status(self) -> dict[str, Any] | None:
        if not self.status_path.exists():
            return None
        try:
            value = json.loads(self.status_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{self.status_path}: unreadable ({exc})") from None
        return value if isinstance(value, dict) else None

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
        if not self.progress_path.exists():
            return []
        lines = self.progress_path.read_text(encoding="utf-8").splitlines()
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


def _parse_lines(lines: list[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield value


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


__all__ = ["RunDir", "list_runs"]
