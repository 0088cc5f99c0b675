"""The throwaway PostgreSQL server: it answers, Optuna's shared storage survives two concurrent processes on it,
and nothing of it (files, port, process) is left behind."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa

from tests import pg_server
from tests.pg_server import PostgresServer, PostgresStartError, port_is_free, require_postgres

N_TRIALS_PER_PROCESS = 20

# One optimizing process. The file barrier makes both processes call create_study at the same instant, so
# load_if_exists really races, and then optimize side by side; the short sleep keeps the two runs overlapping.
WORKER = r"""
import sys, time
from pathlib import Path
import optuna

url, study_name, worker, barrier, n_trials = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]), int(sys.argv[5])
optuna.logging.set_verbosity(optuna.logging.WARNING)
(barrier / f"ready-{worker}").touch()
deadline = time.monotonic() + 60
while not (barrier / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("the test never opened the barrier")
    time.sleep(0.005)

study = optuna.create_study(
    study_name=study_name, storage=url, load_if_exists=True, directions=["maximize", "minimize"]
)

def objective(trial):
    trial.set_user_attr("worker", worker)
    x = trial.suggest_float("x", -1.0, 1.0)
    y = trial.suggest_int("y", 0, 10)
    time.sleep(0.02)
    return x + y, x * x

study.optimize(objective, n_trials=n_trials)
"""


@pytest.fixture
def postgres_binaries() -> Path:
    """For the tests that drive PostgresServer themselves: same skip/fail rule as the shared fixtures."""
    return require_postgres()


def test_server_answers_on_loopback(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar_one() == 1
            assert str(conn.execute(sa.text("select inet_server_addr()")).scalar_one()) == "127.0.0.1"
    finally:
        engine.dispose()


def test_fresh_database_is_empty_and_private(fresh_postgres_url: str, postgres_url: str) -> None:
    assert fresh_postgres_url != postgres_url
    engine = sa.create_engine(fresh_postgres_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def _wait_for(paths: list[Path], procs: list[subprocess.Popen[str]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        for proc in procs:
            if proc.poll() is not None:
                _, err = proc.communicate()
                pytest.fail(f"worker exited {proc.returncode} before the barrier:\n{err}")
        if time.monotonic() > deadline:
            pytest.fail("workers did not reach the barrier in time")
        time.sleep(0.01)


@pytest.mark.slow
def test_two_processes_share_one_study(fresh_postgres_url: str, tmp_path: Path) -> None:
    # Optuna's first connection creates its tables with a plain create_all, which is not safe to race: two processes
    # on an empty database fail with "pg_type_typname_nsp_index" / "relation already exists". So the schema is made
    # once up front, exactly as a coordinator must do before it starts workers.
    optuna.storages.RDBStorage(fresh_postgres_url).engine.dispose()

    study_name = "shared"
    # Files, not pipes: a chatty worker cannot block on a full pipe while the test waits on the other one.
    logs = {worker: (tmp_path / f"stderr-{worker}.txt").open("w") for worker in ("a", "b")}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                fresh_postgres_url,
                study_name,
                worker,
                str(tmp_path),
                str(N_TRIALS_PER_PROCESS),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for worker, log in logs.items()
    ]
    try:
        _wait_for([tmp_path / "ready-a", tmp_path / "ready-b"], procs)
        (tmp_path / "go").touch()
        for worker, proc in zip(("a", "b"), procs, strict=True):
            proc.wait(timeout=120)
            assert proc.returncode == 0, (tmp_path / f"stderr-{worker}.txt").read_text()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs.values():
            log.close()

    storage = optuna.storages.RDBStorage(fresh_postgres_url)
    try:
        trials = optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False)
        assert len(optuna.get_all_study_summaries(storage)) == 1
    finally:
        storage.engine.dispose()
    total = 2 * N_TRIALS_PER_PROCESS
    assert len(trials) == total
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(total))
    assert all(t.values is not None and len(t.values) == 2 for t in trials)

    by_worker = {w: [t for t in trials if t.user_attrs["worker"] == w] for w in ("a", "b")}
    assert {w: len(ts) for w, ts in by_worker.items()} == {"a": N_TRIALS_PER_PROCESS, "b": N_TRIALS_PER_PROCESS}
    # The two runs overlapped in time, so the storage really served concurrent writers.
    spans = {
        w: (
            min(t.datetime_start for t in ts if t.datetime_start),
            max(t.datetime_complete for t in ts if t.datetime_complete),
        )
        for w, ts in by_worker.items()
    }
    assert spans["a"][0] < spans["b"][1] and spans["b"][0] < spans["a"][1], spans


@pytest.mark.parametrize("body_fails", [False, True], ids=["clean-exit", "body-raises"])
@pytest.mark.usefixtures("postgres_binaries")
def test_context_manager_leaves_nothing_behind(body_fails: bool) -> None:
    server = PostgresServer(dbname="cleanup")
    seen: dict[str, object] = {}

    def use() -> None:
        engine: sa.Engine | None = None
        conn: sa.Connection | None = None
        try:
            with server:
                assert server.base_dir is not None and server.port is not None
                seen["base"], seen["port"] = server.base_dir, server.port
                assert (server.data_dir / "postmaster.pid").exists()
                assert not port_is_free(server.port)
                engine = sa.create_engine(server.url)
                # The connection stays open across the stop on purpose: an immediate stop must not wait for clients.
                conn = engine.connect()
                assert conn.execute(sa.text("select current_database()")).scalar_one() == "cleanup"
                if body_fails:
                    raise RuntimeError("the test body failed")
        finally:
            # Invalidated, not closed: close() would roll back on a server that is gone. And not left to the garbage
            # collector either: SQLAlchemy's finalizer then tries that rollback at a random point, and CPython 3.11.7
            # turns one landing inside pytest's ast.parse into "SystemError: AST constructor recursion depth mismatch".
            if conn is not None:
                conn.invalidate()
            if engine is not None:
                engine.dispose()

    if body_fails:
        with pytest.raises(RuntimeError, match="the test body failed"):
            use()
    else:
        use()
    base, port = seen["base"], seen["port"]
    assert isinstance(base, Path) and isinstance(port, int)
    assert not base.exists()
    assert port_is_free(port)
    assert server.base_dir is None


@pytest.mark.usefixtures("postgres_binaries")
def test_failed_start_reports_the_server_log_and_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args: str, **kwargs: str) -> str:
        path = real_mkdtemp(*args, **kwargs)
        created.append(Path(path))
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    server = PostgresServer(settings={"shared_buffers": "plenty"})
    with pytest.raises(PostgresStartError) as caught:
        server.start()
    # The reason comes from the postmaster's own log, not just pg_ctl's "could not start server".
    assert 'invalid value for parameter "shared_buffers"' in str(caught.value)
    assert len(created) == 1 and not created[0].exists()


def test_missing_binaries_are_installed_with_apt_as_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    installed = tmp_path / "15" / "bin"
    found: list[Path | None] = [None, None, installed]
    commands: list[list[str]] = []
    monkeypatch.setattr(pg_server, "find_bin_dir", lambda: found.pop(0))
    monkeypatch.setattr(pg_server, "running_as_root", lambda: True)
    monkeypatch.setattr(pg_server.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(pg_server, "INSTALL_LOCK", tmp_path / "install.lock")
    monkeypatch.setattr(pg_server, "run_install_step", lambda cmd, *_: commands.append(list(cmd)))

    assert pg_server.ensure_binaries() == installed
    assert [cmd[-1] for cmd in commands] == ["update", "postgresql"]
    assert commands[1][:1] == ["apt-get"] and "-y" in commands[1]


@pytest.mark.parametrize("ci", ["", "true"])
def test_unavailable_postgres_skips_locally_and_fails_on_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setattr(pg_server, "find_bin_dir", lambda: None)
    # Not root: nothing can be installed, which is the situation on a developer's laptop without PostgreSQL.
    monkeypatch.setattr(pg_server, "running_as_root", lambda: False)
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected, match="PostgreSQL"):
        require_postgres()
