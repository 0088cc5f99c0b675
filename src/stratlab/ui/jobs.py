"""Background work started from the UI: optimisation runs and data jobs, each a separate OS process.

A run is started as ``stratlab run start --no-live`` in its own session, so closing the browser, refreshing the page
or restarting the UI leaves it running; its state lives in its run directory. A data job (``data demo``,
``data download``) runs under a small wrapper (``python -m stratlab.ui.jobs <job file>``) that records the command's
exit code in the job file, atomically, so a page can tell "still running", "done" and "failed" apart after any
refresh. Job files and logs live in ``<runs root>/_jobs/``.

A running job can be cancelled: the wrapper is started in a session of its own, so its pid is its process group's id
and one signal to that group ends the wrapper and the command it runs. The pid is checked first (alive, and the
wrapper of this very job file, by its command line) so a recycled pid is never signalled. Every change of a job file
is a read-modify-write under an exclusive lock on ``<job>.lock``, so "cancelled" and the wrapper's own ending never
overwrite each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratlab.atomic_io import write_text_atomic
from stratlab.errors import ConfigError
from stratlab.optimize.context import RunRequest
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.runner import create_run, validate_workers
from stratlab.processes import pid_alive

JOBS_DIR = "_jobs"
JOB_MODULE = "stratlab.ui.jobs"
RUNNING, FINISHED, FAILED, DIED, CANCELLED = "running", "finished", "failed", "died", "cancelled"


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
    state: str  # running | finished | failed | died | cancelled
    exit_code: int | None
    log_path: Path
    pid: int | None = None

    @property
    def kind(self) -> str:
        """What the job does, from its command: ``demo``, ``download`` (``stratlab data <kind> ...``), or ``other``."""
        args = self.command[self.command.index("data") + 1 :] if "data" in self.command else []
        return args[0] if args and args[0] in {"demo", "download"} else "other"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _jobs_dir(runs_root: Path) -> Path:
    return runs_root / JOBS_DIR


@contextlib.contextmanager
def _locked(job_file: Path) -> Iterator[dict[str, Any]]:
    """The job's record, to change in place: written back atomically when the block ends, under the job's lock."""
    with job_file.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when its holder dies
        record: dict[str, Any] = json.loads(job_file.read_text(encoding="utf-8"))
        yield record
        write_text_atomic(job_file, json.dumps(record, indent=2) + "\n")


def start_job(runs_root: Path, title: str, args: list[str]) -> Job:
    """Start ``stratlab <args>`` in the background under the wrapper; returns its job record."""
    jobs = _jobs_dir(runs_root)
    jobs.mkdir(parents=True, exist_ok=True)
    job_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"_{os.getpid()}_{time.monotonic_ns() % 100000}"
    job_file = jobs / f"{job_id}.json"
    record = {
        "job_id": job_id, "title": title, "command": stratlab_command(*args), "started_at": time.time(),
        "state": RUNNING, "exit_code": None, "log": str(jobs / f"{job_id}.log"),
    }  # fmt: skip
    write_text_atomic(job_file, json.dumps(record, indent=2) + "\n")
    pid = _spawn(_wrapper_command(job_file), jobs / f"{job_id}.log")
    with _locked(job_file) as current:  # known at once, so the job can be cancelled before the wrapper writes it
        current.setdefault("pid", pid)
        record = dict(current)
    return _job_from(record)


def _wrapper_command(job_file: Path) -> list[str]:
    return [sys.executable, "-m", JOB_MODULE, str(job_file)]


def _job_from(record: dict[str, Any]) -> Job:
    state = str(record["state"])
    pid = int(record["pid"]) if record.get("pid") else None
    if state == RUNNING and pid is not None and not pid_alive(pid):
        state = DIED  # the wrapper was killed before it could record an exit code
    return Job(
        job_id=str(record["job_id"]), title=str(record["title"]), command=list(record["command"]),
        started_at=float(record["started_at"]), state=state, exit_code=record.get("exit_code"),
        log_path=Path(record["log"]), pid=pid,
    )  # fmt: skip


def list_jobs(runs_root: Path, limit: int = 10) -> list[Job]:
    """The newest jobs first (by start time); unreadable job files are skipped (a job being written is replaced
    atomically)."""
    jobs = _jobs_dir(runs_root)
    if not jobs.is_dir():
        return []
    out = []
    for path in jobs.glob("*.json"):
        try:
            out.append(_job_from(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(out, key=lambda job: (job.started_at, job.job_id), reverse=True)[:limit]


def _is_our_wrapper(pid: int, job_file: Path) -> bool:
    """True when ``pid`` is alive, leads its own process group and runs the wrapper of ``job_file`` (by its command
    line): never a process that merely got a recycled pid."""
    if not pid_alive(pid):
        return False
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        group = os.getpgid(pid)
    except (OSError, ProcessLookupError):
        return False
    wanted = [a.encode() for a in _wrapper_command(job_file)[1:]]  # the interpreter may be named differently
    return group == pid and arguments[1 : 1 + len(wanted)] == wanted


def cancel_job(runs_root: Path, job_id: str) -> Job:
    """Stop a running job: record it as cancelled, then end its wrapper's process group (the wrapper and the command
    it runs). Anything else (a finished job, an unknown id, a pid that is not this job's wrapper) is a one-line
    ``ConfigError`` and nothing is signalled."""
    if not job_id or "/" in job_id or job_id.startswith("."):
        raise ConfigError(f"{job_id!r} is not a job id")
    job_file = _jobs_dir(runs_root) / f"{job_id}.json"
    if not job_file.exists():
        raise ConfigError(f"job {job_id}: no such job under {_jobs_dir(runs_root)}")
    with _locked(job_file) as record:
        job = _job_from(record)
        if job.state != RUNNING:
            raise ConfigError(f"job {job.title}: {job.state}, not running: nothing to cancel")
        if job.pid is None or not _is_our_wrapper(job.pid, job_file):
            raise ConfigError(f"job {job.title}: its process {job.pid} is not this job's wrapper; nothing signalled")
        record.update(state=CANCELLED, ended_at=time.time())
        # Written before the signal: the wrapper, dying with its command, then has nothing to record.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(job.pid, signal.SIGTERM)
    return _job_from({**record, "state": CANCELLED})


def run_job(job_file: Path) -> int:
    """The wrapper: run the job's command, then record how it ended (unless it was cancelled meanwhile)."""
    with _locked(job_file) as record:
        record["pid"] = os.getpid()
        command = list(record["command"])
    code = subprocess.call(command, stdin=subprocess.DEVNULL)
    with _locked(job_file) as record:
        record["exit_code"] = code
        if record["state"] != CANCELLED:
            record.update(state=FINISHED if code == 0 else FAILED, ended_at=time.time())
    return code


if __name__ == "__main__":
    raise SystemExit(run_job(Path(sys.argv[1])))


__all__ = ["JOBS_DIR", "Job", "cancel_job", "launch_run", "list_jobs", "start_job", "stratlab_command"]
