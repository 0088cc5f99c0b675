"""A real, throwaway PostgreSQL server for tests: its own data dir, a free port on 127.0.0.1, gone afterwards.

The optimizer's shared storage is PostgreSQL in production, and SQLite hides exactly the behaviour that matters
there (concurrent writers, row locks, isolation), so tests that care start a genuine server instead of faking one.
The fixtures at the bottom are registered from ``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

import pytest

from tests.system_packages import APT, machine_lock, run_install_step, running_as_root, tail

if TYPE_CHECKING:
    import psycopg

OWNER = "postgres"
HOST = "127.0.0.1"
# Debian keeps the server binaries out of PATH, one folder per major version.
DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
NEEDED_BINARIES = ("initdb", "pg_ctl", "postgres")
# Shared by every process on the machine (xdist workers included), so only one of them runs apt/useradd at a time.
INSTALL_LOCK = Path(tempfile.gettempdir()) / "stratlab-postgres-install.lock"
INSTALL_TIMEOUT_S = 600
START_ATTEMPTS = 5
LOG_TAIL_LINES = 40
# Messages the postmaster logs when someone else took the port between our probe and its bind.
PORT_TAKEN = re.compile(r"could not bind|Address already in use|could not create any TCP/IP sockets")


class PostgresUnavailableError(RuntimeError):
    """No server binaries here and they could not be installed: an environment problem, not a test failure."""


class PostgresStartError(RuntimeError):
    """The binaries are there but the server did not come up; the message carries the server's log tail."""


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,); the newest major wins when several are installed.
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name)) or (0,)


def _has_all(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in NEEDED_BINARIES)


def find_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres of one and the same version, or None."""
    on_path = shutil.which("initdb")
    if on_path is not None:
        # Resolve symlinks (e.g. /usr/local/bin/initdb) so pg_ctl and postgres come from the same installation.
        bin_dir = Path(on_path).resolve().parent
        if _has_all(bin_dir):
            return bin_dir
    candidates = sorted(DEBIAN_PG_ROOT.glob("*/bin"), key=_version_key, reverse=True)
    return next((d for d in candidates if _has_all(d)), None)


def ensure_binaries() -> Path:
    """Find the server binaries, installing the distribution's ``postgresql`` package when they are missing."""
    found = find_bin_dir()
    if found is not None:
        return found
    if not running_as_root() or shutil.which("apt-get") is None:
        raise PostgresUnavailableError(
            "initdb/pg_ctl not found in PATH or /usr/lib/postgresql/*/bin, and installing them needs root and apt-get"
        )
    with machine_lock(INSTALL_LOCK):
        # Another worker may have finished the install while this one waited for the lock.
        found = find_bin_dir()
        if found is not None:
            return found
        run_install_step([*APT, "update"], PostgresUnavailableError, INSTALL_TIMEOUT_S)
        run_install_step(
            [*APT, "install", "-y", "--no-install-recommends", "postgresql"],
            PostgresUnavailableError,
            INSTALL_TIMEOUT_S,
        )
    found = find_bin_dir()
    if found is None:
        raise PostgresUnavailableError("apt-get install postgresql succeeded but initdb/pg_ctl are still not found")
    return found


def _owner_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(OWNER)
    return entry.pw_uid, entry.pw_gid


def ensure_owner_account() -> tuple[int, int]:
    """uid/gid of the ``postgres`` account, creating it if the package install did not (initdb refuses root)."""
    try:
        return _owner_ids()
    except KeyError:
        pass
    with machine_lock(INSTALL_LOCK):
        try:
            return _owner_ids()
        except KeyError:
            pass
        if shutil.which("useradd") is None:
            raise PostgresUnavailableError(f"running as root, no '{OWNER}' account and no useradd to create one")
        run_install_step(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/bin/sh", OWNER],
            PostgresUnavailableError,
            INSTALL_TIMEOUT_S,
        )
        return _owner_ids()


def as_owner(cmd: Sequence[str]) -> list[str]:
    """``cmd`` run as the ``postgres`` account from root: runuser where util-linux has it, else su."""
    if shutil.which("runuser") is not None:
        return ["runuser", "-u", OWNER, "--", *cmd]
    if shutil.which("su") is not None:
        # -s: the account's login shell may be nologin.
        return ["su", OWNER, "-s", "/bin/sh", "-c", shlex.join(cmd)]
    raise PostgresUnavailableError("running as root but neither runuser nor su is there to drop to the postgres user")


def require_postgres() -> Path:
    """Binaries (installed if need be) and, as root, the account to run them; skip when impossible, fail on CI."""
    try:
        bin_dir = ensure_binaries()
        if running_as_root():
            ensure_owner_account()
            as_owner(["true"])
    except PostgresUnavailableError as exc:
        # On CI a missing server must fail the run, or the PostgreSQL tests would silently stop running there.
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail(f"PostgreSQL is required on CI but unavailable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL cannot run here (not on CI, so skipped): {exc}")
    return bin_dir


def _scratch_parent() -> Path:
    """Where the temp dir goes: the postgres account must be able to reach it, which e.g. /root/tmp would not allow."""
    parent = Path(tempfile.gettempdir())
    if not running_as_root():
        return parent
    for folder in [parent, *parent.parents]:
        if not folder.stat().st_mode & stat.S_IXOTH:
            return Path("/tmp")
    return parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Nobody listens on the port and it can be bound again (SO_REUSEADDR, as the postmaster itself binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.settimeout(1)
        if client.connect_ex((HOST, port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


class PostgresServer:
    """Start a private PostgreSQL on a free port of 127.0.0.1 with one database; stop it and delete every file after.

    Durability is switched off (fsync, synchronous commit, full page writes): the data dies with the test anyway,
    and it makes the server several times faster on slow CI disks.
    """

    def __init__(
        self, dbname: str = "stratlab", max_connections: int = 100, settings: Mapping[str, str] | None = None
    ) -> None:
        self.dbname = dbname
        self.max_connections = max_connections
        self.settings = dict(settings or {})
        self.port: int | None = None
        self.base_dir: Path | None = None
        self.bin_dir: Path | None = None
        self._as_root = running_as_root()

    # -- paths -------------------------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._base / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base / "sock"

    @property
    def log_file(self) -> Path:
        return self._base / "postgres.log"

    @property
    def _base(self) -> Path:
        if self.base_dir is None:
            raise RuntimeError("the server has not been started")
        return self.base_dir

    # -- urls --------------------------------------------------------------------------------------------------

    def url_for(self, dbname: str) -> str:
        if self.port is None:
            raise RuntimeError("the server has not been started")
        return f"postgresql+psycopg://{OWNER}@{HOST}:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the database created at start."""
        return self.url_for(self.dbname)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.bin_dir = ensure_binaries()
        owner = ensure_owner_account() if self._as_root else None
        self.base_dir = Path(tempfile.mkdtemp(prefix="stratlab-pg-", dir=_scratch_parent()))
        try:
            self.socket_dir.mkdir()
            if owner is not None:
                # initdb and postgres refuse to run as root, so the postgres account must own the whole tree.
                for path in (self.base_dir, self.socket_dir):
                    os.chown(path, *owner)
            self._initdb()
            self._start_on_free_port()
            self.create_database(self.dbname)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Idempotent; also called when start() failed half-way, so it only assumes what exists."""
        base, self.base_dir = self.base_dir, None
        if base is None:
            return
        data = base / "data"
        try:
            if (data / "postmaster.pid").exists() and self.bin_dir is not None:
                # Immediate: no checkpoint, no waiting for clients; the data is thrown away anyway.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._run(
                        [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w"],
                        cwd=base,
                        timeout=60,
                    )
            self._kill_leftover(data)
        finally:
            shutil.rmtree(base, ignore_errors=True)

    @staticmethod
    def _kill_leftover(data: Path) -> None:
        # pg_ctl stop normally removes the pid file; if it is still there, the postmaster must not outlive the tests.
        try:
            pid = int((data / "postmaster.pid").read_text().splitlines()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return
        # Only if that pid is still our postmaster, not an unrelated process that got the number since.
        if str(data).encode() in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    # -- steps -------------------------------------------------------------------------------------------------

    def _initdb(self) -> None:
        assert self.bin_dir is not None
        cmd = [
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-A",
            "trust",
            "-U",
            OWNER,
            "-E",
            "UTF8",
            # The C locale exists on every machine; a LANG naming an ungenerated locale would make initdb fail.
            "--locale=C",
            "--no-sync",
        ]
        done = self._run(cmd, cwd=self._base, timeout=120)
        if done.returncode != 0:
            raise PostgresStartError(f"initdb exited {done.returncode}:\n{tail(done.stdout + done.stderr)}")

    def _server_options(self, port: int) -> list[str]:
        settings = {
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": str(self.max_connections),
            **self.settings,
        }
        options = ["-h", HOST, "-p", str(port), "-k", str(self.socket_dir), "-F"]
        for name, value in settings.items():
            options += ["-c", f"{name}={value}"]
        return options

    def _start_on_free_port(self) -> None:
        assert self.bin_dir is not None
        for attempt in range(1, START_ATTEMPTS + 1):
            port = free_port()
            self.log_file.unlink(missing_ok=True)
            cmd = [
                str(self.bin_dir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                # pg_ctl hands -o to a shell, hence the quoting.
                "-o",
                shlex.join(self._server_options(port)),
            ]
            done = self._run(cmd, cwd=self._base, timeout=90)
            if done.returncode == 0:
                self.port = port
                return
            log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            if PORT_TAKEN.search(log) and attempt < START_ATTEMPTS:
                # Another process grabbed the port between our probe and the postmaster's bind: try another one.
                time.sleep(0.1)
                continue
            raise PostgresStartError(
                f"PostgreSQL did not start on {HOST}:{port} (pg_ctl exited {done.returncode}).\n"
                f"pg_ctl said:\n{tail(done.stdout + done.stderr)}\n"
                f"server log ({self.log_file}) ends with:\n{tail(log) or '<empty>'}"
            )

    def _run(self, cmd: Sequence[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
        # PG* variables of the caller (PGDATA, PGPORT, ...) would silently redirect the tools; LC_ALL=C keeps
        # locale warnings out of the captured output.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        argv = as_owner(cmd) if self._as_root else list(cmd)
        # cwd inside the temp dir: the postgres account cannot enter root's home, and the tools warn if it stays there.
        return subprocess.run(
            argv,
            check=False,
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )

    # -- databases ---------------------------------------------------------------------------------------------

    def _admin_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        import psycopg

        return psycopg.connect(
            host=HOST, port=self.port, user=OWNER, dbname="postgres", autocommit=True, connect_timeout=10
        )

    def create_database(self, dbname: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        from psycopg import sql

        with self._admin_connection() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        return self.url_for(dbname)

    def drop_database(self, dbname: str) -> None:
        """Drop a database even if a test leaked open connections to it (FORCE terminates them)."""
        from psycopg import sql

        with self._admin_connection() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


# -- fixtures (registered from tests/conftest.py) ------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One server per test process (each xdist worker gets its own); started only if a test asks for it."""
    require_postgres()
    # A server that does not come up despite the binaries is a real failure (PostgresStartError), never a skip.
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL of the session's database on the worker's throwaway server."""
    return postgres_server.url


@pytest.fixture
def fresh_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database per test on the shared server, so tests never see each other's studies."""
    dbname = f"t_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(dbname)
    yield url
    with contextlib.suppress(Exception):
        postgres_server.drop_database(dbname)
