"""Driving the UI from outside: ``stratlab ui`` as a real process (``UIServer``) and Debian's chromium with the flags
this project uses, shared by the browser tests (``conftest.py``) and ``benchmarks/ui.py``. No pytest in here.

Nothing here touches the network beyond 127.0.0.1: Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.system_packages import APT, machine_lock, run_install_step, running_as_root, tail

HOST = "127.0.0.1"
CHROMIUM = Path("/usr/bin/chromium")
# Documented in DEVELOPERS.md ("Browser test"); keep both in step.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)
VIEWPORT = {"width": 1440, "height": 1000}
DEFAULT_TIMEOUT_MS = 30_000
# Shared by every process on the machine (xdist workers included), so only one of them runs apt at a time.
INSTALL_LOCK = Path(tempfile.gettempdir()) / "stratlab-chromium-install.lock"
INSTALL_TIMEOUT_S = 900
SERVER_START_TIMEOUT_S = 60
SERVER_STOP_TIMEOUT_S = 15
START_ATTEMPTS = 5
LOG_TAIL_LINES = 40


class BrowserUnavailableError(RuntimeError):
    """No chromium or no Playwright here and they could not be provided: an environment problem, not a failure."""


class UIServerStartError(RuntimeError):
    """``stratlab ui`` did not answer its health check; the message carries the server's output tail."""


# -- chromium ---------------------------------------------------------------------------------------------------------


def _chromium_present() -> bool:
    return os.access(CHROMIUM, os.X_OK)


def ensure_chromium() -> Path:
    """Debian's chromium, installing the distribution's ``chromium`` package when it is missing."""
    if _chromium_present():
        return CHROMIUM
    if not running_as_root() or shutil.which("apt-get") is None:
        raise BrowserUnavailableError(f"{CHROMIUM} not found, and installing it needs root and apt-get")
    with machine_lock(INSTALL_LOCK):
        # Another worker may have finished the install while this one waited for the lock.
        if _chromium_present():
            return CHROMIUM
        run_install_step([*APT, "update"], BrowserUnavailableError, INSTALL_TIMEOUT_S)
        # With recommends: they bring the fonts the screenshots need.
        run_install_step([*APT, "install", "-y", "chromium"], BrowserUnavailableError, INSTALL_TIMEOUT_S)
    if not _chromium_present():
        raise BrowserUnavailableError(f"apt-get install chromium succeeded but {CHROMIUM} is still not there")
    return CHROMIUM


# -- the stratlab ui server -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _stratlab_executable() -> str:
    # The console script of the interpreter running the tests (the project's venv), else whatever is on PATH.
    beside = Path(sys.executable).parent / "stratlab"
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("stratlab")
    if found is None:
        raise UIServerStartError(f"no stratlab console script next to {sys.executable} or on PATH")
    return found


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.read().strip() == b"ok")
    except (urllib.error.URLError, OSError):
        return False


def pids_marked_with(marker: str) -> list[int]:
    """Processes whose command line or environment mentions ``marker`` (a folder unique to one server)."""
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    needle = marker.encode()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "cmdline").read_bytes() or needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
    return found


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class UIServer:
    """``stratlab ui`` on ``url``; everything it writes stays under ``base``."""

    base: Path
    url: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_root(self) -> Path:
        return self.base / "data"

    @property
    def runs_root(self) -> Path:
        return self.base / "runs"

    @property
    def log_dir(self) -> Path:
        return self.base / "logs"

    @property
    def output_file(self) -> Path:
        """The server's stdout and stderr."""
        return self.base / "server-output.log"

    def outputtail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            return tail(self.output_file.read_text(errors="replace"), lines)
        except OSError:
            return ""

    def env(self) -> dict[str, str]:
        # The developer's own STRATLAB_* settings (storage URL, roots) must not leak into the server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRATLAB_")}
        env.update(
            STRATLAB_DATA_ROOT=str(self.data_root),
            STRATLAB_RUNS_ROOT=str(self.runs_root),
            STRATLAB_LOG_DIR=str(self.log_dir),
            STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
            STREAMLIT_SERVER_HEADLESS="true",
            PYTHONUNBUFFERED="1",
        )
        return env

    def command(self, port: int) -> list[str]:
        return [
            _stratlab_executable(),
            "ui",
            "--host",
            HOST,
            "--port",
            str(port),
            "--data-root",
            str(self.data_root),
            "--runs-root",
            str(self.runs_root),
        ]

    def start(self) -> None:
        for folder in (self.data_root, self.runs_root, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, START_ATTEMPTS + 1):
            port = free_port()
            self.url = f"http://{HOST}:{port}"
            with self.output_file.open("wb") as output:
                # Own session: stop() signals the whole group (streamlit and anything it forks), never the tests.
                self.process = subprocess.Popen(
                    self.command(port),
                    cwd=self.base,
                    env=self.env(),
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while time.monotonic() < deadline:
                if healthy(self.url):
                    return
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
            code = self.process.poll()
            self.stop()
            tail = self.outputtail()
            if code is not None and "already in use" in tail and attempt < START_ATTEMPTS:
                # Someone took the port between our probe and streamlit's bind: try another one.
                continue
            state = f"exited {code}" if code is not None else f"no health answer within {SERVER_START_TIMEOUT_S} s"
            raise UIServerStartError(
                f"{shlex.join(self.command(port))} {state}.\nits output ends with:\n{tail or '<empty>'}"
            )

    def stop(self) -> None:
        """Idempotent: SIGTERM to the server's process group (``stratlab ui`` and the streamlit it runs), SIGKILL to
        what is left of it after a grace period, then to anything it started elsewhere."""
        process, self.process = self.process, None
        if process is not None:
            group = process.pid  # start_new_session: the group's id is the leader's pid
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGTERM)
            deadline = time.monotonic() + SERVER_STOP_TIMEOUT_S
            # The leader (reaped by poll) may go first; streamlit, still in the group, shuts down a moment later.
            while (process.poll() is None or group_alive(group)) and time.monotonic() < deadline:
                time.sleep(0.1)
            if process.poll() is None or group_alive(group):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
                process.wait(timeout=SERVER_STOP_TIMEOUT_S)
        # Whatever outlived the group, e.g. optimisation runners the app started in sessions of their own: they all
        # carry the server's unique folder in their environment (STRATLAB_*_ROOT) or command line.
        for pid in pids_marked_with(f"{self.base}{os.sep}"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
