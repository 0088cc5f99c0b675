"""Fixtures for tests that drive the Streamlit UI in a real browser.

``ui_server``: ``stratlab ui`` as a real process on a free port of 127.0.0.1, with its own empty data root, runs root
and log folder, stopped (its whole process group, and whatever it spawned) after the test.
``browser_page``: a page of Debian's chromium (``/usr/bin/chromium``, installed with apt-get when missing and running
as root, else the test is skipped; on CI it fails instead) driven by Playwright's sync API, with a fresh profile.
Nothing here touches the network beyond 127.0.0.1: Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import built_once, run_cli
from tests.system_packages import on_ci
from tests.ui.browser import (
    CHROMIUM_ARGS,
    DEFAULT_TIMEOUT_MS,
    VIEWPORT,
    BrowserUnavailableError,
    UIServer,
    ensure_chromium,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Playwright

# Screenshots and other evidence of the browser tests (gitignored).
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


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


PERIOD = ["--start", "2025-01-01", "--end", "2025-03-31"]  # a test part with enough trades to crown a champion


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


@pytest.fixture(scope="session")
def finished_runs(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Two small finished runs (so Compare has something), made by the CLI a user would run; made once per test
    run (``built_once``) and only read (a test that changes or damages a run copies it first)."""

    def make(folder: Path) -> None:
        for label, strategies in (("first", "ma_cross,stochastic"), ("second", "ma_cross")):
            result = run_cli(
                "optimize", "--source", "demo", "--symbol", "BTC", *PERIOD, "--strategies", strategies,
                "--max-trials", "12", "--workers", "1", "--no-live", "--sampler", "random", "--dd-threshold", "100",
                "--data-root", str(demo_root), "--label", label, env={"STRATLAB_RUNS_ROOT": str(folder / "runs")},
            )  # fmt: skip
            assert result.returncode == 0, result.stderr

    runs_root = built_once(tmp_path_factory, "finished-runs", make) / "runs"
    return runs_root, sorted((p.name for p in runs_root.iterdir() if p.is_dir()), reverse=True)
