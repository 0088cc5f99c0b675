"""The one module of stratlab that touches Optuna's private names, each for a need its public API does not meet.

Everything else the optimiser does with Optuna goes through its public API: studies, ``ask``, ``get_trials``,
storages' ``get_n_trials`` / ``get_study_id_from_name`` / ``get_trial_id_from_study_id_trial_number`` /
``set_trial_state_values``, ``RDBStorage.record_heartbeat``, ``fail_stale_trials``. What is left, and why:

- ``tell_without_copy``: ``optuna.study._tell._tell_with_warning``, the body of ``Study.tell``. ``Study.tell`` then
  returns a deep copy of the finished trial, which nobody here reads and which costs about a twentieth of a trial.
- ``JournalOperation``: ``optuna.storages.journal._storage.JournalOperation``, the op codes of journal lines. Journal
  files written by past runs hold them as numbers: they are part of a run directory's format.
- ``HookedJournalStorage``: ``JournalStorage``'s ``_write_log``, ``_sync_with_backend``, ``_backend``, ``_thread_lock``
  and ``_replay_result`` (its ``worker_id`` and ``_last_created_trial_id_by_this_process``). ``JournalStorage`` appends
  every change at once and offers no way to write user attributes with a new trial unless it copies a template trial;
  holding a trial's parameter and attribute lines back until its result (``optimize/journal.py``) and tagging a trial
  on its creation line need its writing and reading steps, which this class turns into named hooks.

``tests/optimize/test_optuna_adapter.py`` checks each of these against the installed Optuna (present, same signature,
same op codes) and names the one that changed; it also keeps every other module of ``src/`` off Optuna's private
names.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal._storage import JournalOperation
from optuna.study._tell import _tell_with_warning
from optuna.trial import TrialState


def tell_without_copy(
    study: optuna.Study, trial: optuna.Trial, values: Sequence[float] | None = None, state: TrialState | None = None
) -> None:
    """``study.tell(trial, values, state)`` without building the deep copy of the finished trial it returns."""
    _tell_with_warning(study, trial, value_or_values=values, state=state)


class HookedJournalStorage(JournalStorage):
    """Optuna's journal storage with its writing and reading steps as named hooks for a subclass.

    ``write_entry`` is every write (called under the storage's lock), ``before_sync`` runs before the storage reads
    the lines other processes appended; ``entry``, ``append_entries``, ``lock`` and ``create_trial_with_user_attrs``
    name the internals a subclass needs."""

    def write_entry(self, op: JournalOperation, fields: dict[str, Any]) -> None:
        """Write one change (Optuna's way: append its line at once)."""
        self.append_entries([self.entry(op, fields)])

    def before_sync(self) -> None:
        """Runs before every read of new lines; nothing by default."""

    def entry(self, op: JournalOperation, fields: dict[str, Any]) -> dict[str, Any]:
        """One journal line as Optuna writes it: op code, this process's and thread's worker id, the fields."""
        return {"op_code": op, "worker_id": self._replay_result.worker_id, **fields}

    def append_entries(self, entries: list[dict[str, Any]]) -> None:
        self._backend.append_logs(entries)

    @property
    def lock(self) -> threading.Lock:
        """The lock Optuna holds around every read and write of this storage object."""
        return self._thread_lock

    def create_trial_with_user_attrs(self, study_id: int, user_attrs: Mapping[str, Any]) -> int:
        """A new RUNNING trial whose creation line carries ``user_attrs``; its trial id."""
        fields = {
            "study_id": study_id,
            "datetime_start": datetime.now(tz=UTC).isoformat(timespec="microseconds"),
            "user_attrs": dict(user_attrs),
        }
        with self._thread_lock:
            self._write_log(JournalOperation.CREATE_TRIAL, fields)
            self._sync_with_backend()
            trial_id: int = self._replay_result._last_created_trial_id_by_this_process
            return trial_id

    # Optuna's private steps, routed to the hooks above.

    def _write_log(self, op_code: int, extra_fields: dict[str, Any]) -> None:
        self.write_entry(JournalOperation(op_code), extra_fields)

    def _sync_with_backend(self) -> None:
        self.before_sync()
        super()._sync_with_backend()


__all__ = ["HookedJournalStorage", "JournalOperation", "tell_without_copy"]
