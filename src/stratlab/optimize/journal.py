"""A journal file for Optuna's ``JournalStorage`` that costs microseconds per write instead of an fsync.

Optuna's own file backend fsyncs every append; a trial makes about ten appends (one per sampled parameter, user
attribute and result), so on this workload it spends most of its time waiting for the disk. Here appends take an
exclusive ``flock`` and write all their lines with one ``write`` call, without fsync: a worker killed at any moment
leaves either whole lines or (in the rare case of a partial write) a torn last line, which the next writer cuts off
under the lock before appending, and readers never parse. What this gives up is durability against a machine crash
or power loss, which a research run survives by re-running the trials it lost.

Reads are incremental: each process remembers how far it has read (line count and byte offset), so following the
journal costs only the new lines.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from optuna.storages.journal import BaseJournalBackend


class FastJournalFile(BaseJournalBackend):
    """JSON lines, appended under ``flock`` without fsync, read incrementally."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=True)
        self._lines_read = 0
        self._offset = 0

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        if log_number_from < self._lines_read:
            # A reader asking for older lines than it has seen (a fresh storage object): start over.
            self._lines_read, self._offset = 0, 0
        logs: list[dict[str, Any]] = []
        if log_number_from >= self._lines_read and self.path.stat().st_size == self._offset:
            return logs  # nothing new: most reads in a worker's loop end here without opening the file
        with self.path.open("rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            try:
                handle.seek(self._offset)
                data = handle.read()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        complete = data[: data.rfind(b"\n") + 1]  # a torn last line is not a log (yet)
        for line in complete.splitlines():
            if self._lines_read >= log_number_from and line:
                logs.append(json.loads(line))
            self._lines_read += 1
        self._offset += len(complete)
        return logs

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        payload = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode("utf-8")
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                self._cut_torn_tail(fd)
                written = 0
                while written < len(payload):
                    written += os.write(fd, payload[written:])
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @staticmethod
    def _cut_torn_tail(fd: int) -> None:
        size = os.fstat(fd).st_size
        if size == 0:
            return
        last = os.pread(fd, 1, size - 1)
        if last == b"\n":
            return
        # A writer died mid-line: drop the partial line so the next one starts clean.
        window = min(size, 1 << 20)
        tail = os.pread(fd, window, size - window)
        cut = tail.rfind(b"\n")
        os.ftruncate(fd, size - window + cut + 1 if cut >= 0 else size - window)


__all__ = ["FastJournalFile"]
