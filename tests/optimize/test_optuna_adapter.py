"""Every private name of Optuna that stratlab uses, checked against the installed Optuna, and kept in one module.

``stratlab/optimize/_optuna.py`` is the only module allowed to touch Optuna's private names. When an Optuna release
renames, moves or changes one of them, a test here fails and says which, instead of a run failing halfway; and a
scan of ``src/`` fails when any other module reaches for one.
"""

from __future__ import annotations

import ast
import inspect
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.trial import TrialState

from stratlab.optimize import _optuna
from stratlab.optimize._optuna import HookedJournalStorage, JournalOperation, tell_without_copy
from stratlab.optimize.journal import FastJournalFile

SRC = Path(__file__).resolve().parents[2] / "src" / "stratlab"
ADAPTER = SRC / "optimize" / "_optuna.py"

# The op codes journal files hold as numbers: a run directory written earlier must still replay.
JOURNAL_OP_CODES = {
    "CREATE_STUDY": 0,
    "DELETE_STUDY": 1,
    "SET_STUDY_USER_ATTR": 2,
    "SET_STUDY_SYSTEM_ATTR": 3,
    "CREATE_TRIAL": 4,
    "SET_TRIAL_PARAM": 5,
    "SET_TRIAL_STATE_VALUES": 6,
    "SET_TRIAL_INTERMEDIATE_VALUE": 7,
    "SET_TRIAL_USER_ATTR": 8,
    "SET_TRIAL_SYSTEM_ATTR": 9,
}


def changed(name: str, what: str) -> str:
    return (
        f"Optuna {optuna.__version__} changed its private {name}: {what}; "
        "adapt stratlab/optimize/_optuna.py (the one place that uses it)"
    )


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_tell_with_warning_is_there_with_the_arguments_the_adapter_passes() -> None:
    from optuna.study import _tell

    name = "optuna.study._tell._tell_with_warning"
    assert hasattr(_tell, "_tell_with_warning"), changed(name, "it is gone")
    got = parameters(_tell._tell_with_warning)
    assert got[:2] == ["study", "trial"], changed(name, f"its first parameters are {got[:2]}")
    assert {"value_or_values", "state"} <= set(got), changed(name, f"its parameters are {got}")


def test_tell_without_copy_finishes_a_trial_as_tell_does() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    done, pruned = study.ask(), study.ask()
    tell_without_copy(study, done, [1.5, 2.5])
    tell_without_copy(study, pruned, state=TrialState.PRUNED)
    stored = study.get_trials(deepcopy=False)
    assert [(t.state, t.values) for t in stored] == [(TrialState.COMPLETE, [1.5, 2.5]), (TrialState.PRUNED, None)]


def test_the_journal_op_codes_are_the_numbers_journal_files_hold() -> None:
    name = "optuna.storages.journal._storage.JournalOperation"
    have = {op.name: op.value for op in JournalOperation}
    for op, code in JOURNAL_OP_CODES.items():
        assert have.get(op) == code, changed(name, f"{op} is {have.get(op)}, journal files hold {code}")


def test_journal_storage_still_has_the_steps_the_adapter_hooks_into() -> None:
    for method, expected in (("_write_log", ["self", "op_code", "extra_fields"]), ("_sync_with_backend", ["self"])):
        function = getattr(JournalStorage, method, None)
        assert function is not None, changed(f"JournalStorage.{method}", "it is gone")
        assert parameters(function) == expected, changed(f"JournalStorage.{method}", f"{parameters(function)}")


def test_journal_storage_still_has_the_state_the_adapter_reads(tmp_path: Path) -> None:
    storage = JournalStorage(FastJournalFile(tmp_path / "j.journal"))
    for attribute in ("_backend", "_thread_lock", "_replay_result"):
        assert hasattr(storage, attribute), changed(f"JournalStorage.{attribute}", "it is gone")
    assert isinstance(storage._backend, FastJournalFile), changed("JournalStorage._backend", "not the backend given")
    assert hasattr(storage._thread_lock, "acquire"), changed("JournalStorage._thread_lock", "not a lock")
    worker_id = storage._replay_result.worker_id
    assert isinstance(worker_id, str) and worker_id, changed("JournalStorage._replay_result.worker_id", "no id")
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    trial_id = storage.create_new_trial(study_id)
    last = getattr(storage._replay_result, "_last_created_trial_id_by_this_process", None)
    assert last == trial_id, changed(
        "JournalStorage._replay_result._last_created_trial_id_by_this_process", f"{last!r} after creating {trial_id}"
    )


class RecordingStorage(HookedJournalStorage):
    """Counts the hook calls, to see that Optuna's own writes and reads still go through the private steps."""

    def __init__(self, backend: FastJournalFile) -> None:
        self.written: list[tuple[JournalOperation, dict[str, Any]]] = []
        self.syncs = 0
        super().__init__(backend)

    def write_entry(self, op: JournalOperation, fields: dict[str, Any]) -> None:
        self.written.append((op, fields))
        super().write_entry(op, fields)

    def before_sync(self) -> None:
        self.syncs += 1


def test_optunas_writes_and_reads_go_through_the_hooks(tmp_path: Path) -> None:
    storage = RecordingStorage(FastJournalFile(tmp_path / "j.journal"))
    study = optuna.create_study(storage=storage, study_name="s")
    syncs = storage.syncs
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    study.tell(trial, 0.5)
    ops = [op for op, _ in storage.written]
    assert ops[0] == JournalOperation.CREATE_STUDY, changed("JournalStorage._write_log", f"not called: {ops}")
    assert {JournalOperation.CREATE_TRIAL, JournalOperation.SET_TRIAL_PARAM} <= set(ops), changed(
        "JournalStorage._write_log", f"Optuna's writes bypass it: {ops}"
    )
    assert storage.syncs > syncs, changed("JournalStorage._sync_with_backend", "reads no longer call it")
    # What the hooks wrote is what a fresh reader replays.
    reread = optuna.load_study(study_name="s", storage=JournalStorage(FastJournalFile(tmp_path / "j.journal")))
    assert [(t.params, t.values) for t in reread.trials] == [({"x": trial.params["x"]}, [0.5])]


def test_a_trial_created_with_user_attrs_is_running_with_them_from_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    storage = HookedJournalStorage(FastJournalFile(path))
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    first = storage.create_new_trial(study_id)
    tagged = storage.create_trial_with_user_attrs(study_id, {"worker": "host:7"})
    assert tagged != first
    assert storage.get_trial(tagged).number == 1
    assert storage.get_trial(tagged).state == TrialState.RUNNING
    assert storage.get_trial(tagged).user_attrs == {"worker": "host:7"}
    creation_lines = [e for e in FastJournalFile(path).read_logs(0) if e["op_code"] == JOURNAL_OP_CODES["CREATE_TRIAL"]]
    assert creation_lines[-1]["user_attrs"] == {"worker": "host:7"}
    assert isinstance(storage.lock, type(threading.Lock()))


# no other module touches Optuna's private names ---------------------------------------------------------------


@cache
def optunas_private_names() -> frozenset[str]:
    """Every ``_name`` (not dunder) Optuna's own source uses as an attribute, method or class."""
    names: set[str] = set()
    for path in Path(optuna.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                names.add(node.name)
    return frozenset(n for n in names if n.startswith("_") and not n.startswith("__"))


def is_private_path(dotted: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split("."))


def private_optuna_imports(tree: ast.Module) -> tuple[bool, list[str]]:
    """Whether the module imports Optuna at all, and its imports of a private Optuna module or name."""
    uses_optuna, uses = False, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "optuna":
            uses_optuna = True
            dotted = [node.module or "", *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            dotted = [alias.name for alias in node.names if alias.name.split(".")[0] == "optuna"]
            uses_optuna = uses_optuna or bool(dotted)
        else:
            continue
        private = [name for name in dotted if is_private_path(name)]
        if private:  # the first is enough: a private module makes every name imported from it private too
            uses.append(f"line {node.lineno}: import {private[0]}")
    return uses_optuna, uses


def private_optuna_uses(path: Path) -> list[str]:
    """Where a module imports from a private Optuna module or a private Optuna name, reads an attribute Optuna keeps
    private, or overrides one of its private methods (checked in modules that import Optuna)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    uses_optuna, uses = private_optuna_imports(tree)
    if not uses_optuna:
        return []
    private = optunas_private_names()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in private:
            uses.append(f"line {node.lineno}: .{node.attr}")
        if isinstance(node, ast.ClassDef):
            overrides = [item for item in node.body if isinstance(item, ast.FunctionDef) and item.name in private]
            uses += [f"line {item.lineno}: overrides {item.name}" for item in overrides]
    return uses


def test_only_the_adapter_touches_optunas_private_names() -> None:
    offenders = {
        str(path.relative_to(SRC)): uses
        for path in sorted(SRC.rglob("*.py"))
        if path != ADAPTER and (uses := private_optuna_uses(path))
    }
    assert not offenders, f"Optuna private names outside optimize/_optuna.py (move them there): {offenders}"


def test_the_scan_sees_each_kind_of_private_use(tmp_path: Path) -> None:
    """The scan above would pass on anything if it saw nothing: the adapter itself must show every kind."""
    uses = " ".join(private_optuna_uses(ADAPTER))
    expected_kinds = ("import optuna.storages.journal._storage", "import optuna.study._tell", "._replay_result")
    for expected in (*expected_kinds, "overrides _write_log"):
        assert expected in uses, f"the scan misses {expected!r}: {uses}"
    plain = tmp_path / "plain.py"
    plain.write_text("import optuna\n\ndef f(study):\n    return study._storage, study.trials\n")
    assert private_optuna_uses(plain) == ["line 4: ._storage"]
    assert _optuna.__all__ == ["HookedJournalStorage", "JournalOperation", "tell_without_copy"]
