"""Fixtures for tests that drive the Streamlit UI in a real browser.

``ui_server``: ``stratlab ui`` as a real process on a free port of 127.0.0.1, with its own empty data root, runs root
and log folder, stopped (its whole process group, and whatever it spawned) after the test.
``browser_page``: a page of Debian's chromium (``/usr/bin/chromium``, installed with apt-get when missing and running
as root, else the test is skipped; on CI it fails instead) driven by Playwright's sync API, with a fresh profile.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.system_packages import APT, machine_lock, on_ci, run_install_step, running_as_root, tail

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Playwright

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
# Screenshots and other evidence of the browser tests (gitignored).
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
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


def require_chromium() -> Path:
    """Chromium (installed if need be) and Playwright; skip when impossible, fail on CI."""
    try:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError as exc:
            raise BrowserUnavailableError(
                f"the playwright package is not installed ({exc}); make setup installs it"
            ) from exc
        return ensure_chromium()
    except BrowserUnavailableError as exc:
        # On CI a missing browser must fail the run, or the browser tests would silently stop running there.
        if on_ci():
            pytest.fail(f"chromium is required on CI but unavailable: {exc}", pytrace=False)
        pytest.skip(f"the browser test cannot run here (not on CI, so skipped): {exc}")


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


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.read().strip() == b"ok")
    except (urllib.error.URLError, OSError):
        return False


def _pids_marked_with(marker: str) -> list[int]:
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


def _group_alive(group: int) -> bool:
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
                if _healthy(self.url):
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
            while (process.poll() is None or _group_alive(group)) and time.monotonic() < deadline:
                time.sleep(0.1)
            if process.poll() is None or _group_alive(group):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
                process.wait(timeout=SERVER_STOP_TIMEOUT_S)
        # Whatever outlived the group, e.g. optimisation runners the app started in sessions of their own: they all
        # carry the server's unique folder in their environment (STRATLAB_*_ROOT) or command line.
        for pid in _pids_marked_with(f"{self.base}{os.sep}"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


# -- fixtures ---------------------------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    # Fixture teardowns below look at the outcome of the test's call phase to save evidence of a failure.
    report: pytest.TestReport = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_REPORTS, {})
    return any(report.failed for report in reports.values())


@pytest.fixture
def ui_artifacts() -> Path:
    """tests/ui/artifacts/: screenshots and other evidence a browser test leaves for a human to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def ui_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[UIServer]:
    """``stratlab ui`` on a free port with empty data/runs/log folders of its own; yields once it is healthy."""
    server = UIServer(base=tmp_path / "ui-server")
    server.base.mkdir()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if _failed(request) and server.output_file.exists():
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(server.output_file, ARTIFACTS / f"{request.node.name}-server-output.log")


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    """/usr/bin/chromium, installed with apt-get if missing and we are root; otherwise skip (fail on CI)."""
    return require_chromium()


@pytest.fixture(scope="session")
def playwright_driver(chromium_executable: Path) -> Iterator[Playwright]:
    """Playwright's sync API, one driver per test process."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser_context(
    playwright_driver: Playwright, chromium_executable: Path, tmp_path: Path
) -> Iterator[BrowserContext]:
    """Headless chromium with a fresh profile of its own (a persistent context, so the profile dir is ours)."""
    context = playwright_driver.chromium.launch_persistent_context(
        user_data_dir=str(tmp_path / "chromium-profile"),
        executable_path=str(chromium_executable),
        headless=True,
        args=list(CHROMIUM_ARGS),
        accept_downloads=True,
        viewport=VIEWPORT,  # type: ignore[arg-type]
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def browser_page(browser_context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The context's page; a failed test leaves a screenshot of it in tests/ui/artifacts/<test>-failure.png."""
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    yield page
    if _failed(request):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failure.png"), full_page=True)
