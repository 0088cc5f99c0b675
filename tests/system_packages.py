"""Installing a Debian package a test needs (PostgreSQL, chromium) once per machine, from any test process.

Every process on the machine (xdist workers included) takes the same file lock before running apt, so only one of
them installs at a time; the others wait and then find the package there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

LOG_TAIL_LINES = 40
# Wait for dpkg's own lock instead of failing if something else on the machine is using apt right now.
APT = ("apt-get", "-o", "DPkg::Lock::Timeout=300")


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1"}


def tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@contextlib.contextmanager
def machine_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_install_step(cmd: Sequence[str], error: type[Exception], timeout_s: float) -> None:
    """Run one install command without a terminal; any failure is ``error`` with the command's output tail."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(
            cmd, check=False, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=timeout_s
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise error(f"{shlex.join(cmd)} could not run: {exc}") from exc
    if done.returncode != 0:
        raise error(f"{shlex.join(cmd)} exited {done.returncode}:\n{tail(done.stdout + done.stderr)}")
