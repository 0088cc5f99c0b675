"""Atomic file writes: a temp file next to the target, fsync, rename, fsync of the folder.

A reader sees the old file or the new one, never half of one. A writer killed mid-write leaves a hidden
``.<name>.<pid>.<token>.tmp`` behind; the next write into that folder removes it once that pid is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from stratlab.processes import pid_alive

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"


def sweep_orphan_temp_files(directory: Path) -> list[Path]:
    """Delete the temp files that a killed writer left in ``directory``; files of a live process are kept."""
    removed: list[Path] = []
    for tmp in directory.glob(f".*{TEMP_SUFFIX}"):
        parts = tmp.name.split(".")
        # .<name>.<pid>.<token>.tmp
        pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
        if pid is None or pid_alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the folder entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Open a temp file for binary writing that replaces ``path`` when the block ends without an error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for orphan in sweep_orphan_temp_files(path.parent):
        log.debug("removed %s, left by a writer that was killed", orphan)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")
    try:
        with tmp.open("wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_writer(path) as handle:
        handle.write(data)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


__all__ = ["TEMP_SUFFIX", "atomic_writer", "sweep_orphan_temp_files", "write_bytes_atomic", "write_text_atomic"]
