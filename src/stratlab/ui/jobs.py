"""Background work started from the UI: optimisation runs and data jobs, each a separate OS process.

A run is started as ``stratlab run start --no-live`` in its own session, so closing the browser, refreshing the page
or restarting the UI leaves it running; its state lives in its run directory. A data job (``data demo``,
``data download``) runs under a small wrapper (``python -m stratlab.ui.jobs <job file>``) that records the command's
exit code in the job file, atomically, so a page can tell "still running", "done" and "failed" apart after any
refresh. Job files and logs live in ``<runs root>/_jobs/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratlab.atomic_io import write_text_atomic
from stratlab.optimize.context import RunRequest
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.runner import create_run, validate_workers
from stratlab.processes import pid_alive

JOBS_DIR = "_jobs"


def stratlab_command(*args: str, quiet: bool = False) -> list[str]:
    return [sys.executable, "-m", "stratlab", *(["--quiet"] if quiet else []), *args]


def _spawn(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
    return process.pid


def launch_run(request: RunRequest, *, data_root: Path, runs_root: Path, workers: int) -> RunDir:
    """Create the run directory (every check happens here, before anything starts) and start its runner."""
    validate_workers(workers)
    run_dir = create_run(request, data_root=data_root, runs_root=runs_root)
    command = stratlab_command(
        "run", "start", "--run-dir", str(run_dir.path), "--workers", str(workers), "--no-live",
        "--data-root", str(data_root), quiet=True,
    )  # fmt: skip
    _spawn(command, run_dir.workers_dir / "supervisor.log")
    return run_dir


@dataclass(frozen=True)
class Job:
    """A data job as its job file records it."""

    job_id: str
    title: str
    command: list[str]
    started_at: float
    state: str  # running | finished | failed | died
    exit_code: int | None
    log_path: Path

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _jobs_dir(runs_root: Path) -> Path:
    return runs_root / JOBS_DIR


def start_job(runs_root: Path, title: str, args: list[str]) -> Job:
    """Start ``stratlab <args>`` in the background under the wrapper; returns its job record."""
    jobs = _jobs_dir(runs_root)
    jobs.mkdir(parents=True, exist_ok=True)
    job_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"_{os.getpid()}_{time.monotonic_ns() % 100000}"
    job_file = jobs / f"{job_id}.json"
    record = {
        "job_id": job_id, "title": title, "command": stratlab_command(*args), "started_at": time.time(),
        "state": "running", "exit_code": None, "log": str(jobs / f"{job_id}.log"),
    }  # fmt: skip
    write_text_atomic(job_file, json.dumps(record, indent=2) + "\n")
    _spawn([sys.executable, "-m", "stratlab.ui.jobs", str(job_file)], jobs / f"{job_id}.log")
    return _job_from(record)


def _job_from(record: dict[str, Any]) -> Job:
    state = str(record["state"])
    if state == "running" and record.get("pid") and not pid_alive(int(record["pid"])):
        state = "died"  # the wrapper was killed before it could record an exit code
    return Job(
        job_id=str(record["job_id"]), title=str(record["title"]), command=list(record["command"]),
        started_at=float(record["started_at"]), state=state, exit_code=record.get("exit_code"),
        log_path=Path(record["log"]),
    )  # fmt: skip


def list_jobs(runs_root: Path, limit: int = 10) -> list[Job]:
    """The newest jobs first; unreadable job files are skipped (a job being written is replaced atomically)."""
    jobs = _jobs_dir(runs_root)
    if not jobs.is_dir():
        return []
    out = []
    for path in sorted(jobs.glob("*.json"), reverse=True)[:limit]:
        try:
            out.append(_job_from(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def run_job(job_file: Path) -> int:
    """The wrapper: run the job's command, then record how it ended."""
    record = json.loads(job_file.read_text(encoding="utf-8"))
    record["pid"] = os.getpid()
    write_text_atomic(job_file, json.dumps(record, indent=2) + "\n")
    code = subprocess.call(record["command"], stdin=subprocess.DEVNULL)
    record.update(state="finished" if code == 0 else "failed", exit_code=code, ended_at=time.time())
    write_text_atomic(job_file, json.dumps(record, indent=2) + "\n")
    return code


if __name__ == "__main__":
    raise SystemExit(run_job(Path(sys.argv[1])))


__all__ = ["JOBS_DIR", "Job", "launch_run", "list_jobs", "start_job", "stratlab_command"]
