"""Whether a process of this machine is still running, and the lock that keeps one process per state directory,
for workers, runners, research loops and background jobs."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import TextIO

from stratlab.errors import DataError


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` runs; an exited process its parent has not reaped yet (a zombie) still answers
    ``kill(pid, 0)`` and counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in {"Z", "X"}


def hold_process_lock(directory: Path, file_name: str, busy: str) -> TextIO:
    """The lock of the one process working in ``directory`` (``flock`` on ``file_name``, released when the process
    ends or the returned file is closed, so a killed holder never leaves it stale). A second process gets one
    ``DataError`` line: ``busy`` with ``{pid}`` replaced by the holder's process id."""
    directory.mkdir(parents=True, exist_ok=True)
    handle = (directory / file_name).open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise DataError(busy.replace("{pid}", holder)) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def lock_holder(directory: Path, file_name: str) -> int | None:
    """The process id holding ``directory``'s lock, or None when no live process holds it."""
    path = directory / file_name
    if not path.exists():
        return None
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


__all__ = ["hold_process_lock", "lock_holder", "pid_alive"]
