"""A journal file for Optuna's ``JournalStorage`` that costs microseconds per write instead of an fsync.

Optuna's own file backend fsyncs every append; a trial makes about ten appends (one per sampled parameter, user
attribute and result), so on this workload it spends most of its time waiting for the disk. Here appends take an
exclusive ``flock`` and write all their lines with one ``write`` call, without fsync: a worker killed at any moment
leaves either whole lines or (in the rare case of a partial write) a torn last line, which the next writer cuts off
under the lock before appending, and readers never parse. What this gives up is durability against a machine crash
or power loss, which a research run survives by re-running the trials it lost.

Reads are incremental: each process remembers how far it has read (line count and byte offset), so following the
journal costs only the new lines. A whole line that is not a journal entry (a damaged disk block, an edit by hand) is
a one-line ``DataError`` naming the file and the line; ``repair_journal`` (``stratlab run repair``) keeps a copy of
the file and cuts it before that line.

``TrialBatchingJournalStorage`` cuts the number of appends per trial from about ten to three: a trial's parameter
and user-attribute writes are held back and appended together with the next write or before the next read, and a
new trial can carry its user attributes (the worker's tag) from its first line.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from optuna.distributions import BaseDistribution, distribution_to_json
from optuna.storages.journal import BaseJournalBackend
from optuna.trial import FrozenTrial

from stratlab.errors import DataError
from stratlab.optimize._optuna import HookedJournalStorage, JournalOperation


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
                entry = parse_entry(line)
                if entry is None:
                    raise DataError(
                        f"{self.path}: line {self._lines_read + 1} is not a journal entry ({_preview(line)}); "
                        f"`stratlab run repair --run-dir {self.path.parent}` keeps a copy of the file and cuts it "
                        "before that line"
                    )
                logs.append(entry)
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


def parse_entry(line: bytes) -> dict[str, Any] | None:
    """One journal line as Optuna's entry, or None when it is not one."""
    try:
        entry = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(entry, dict) or entry.get("op_code") not in _OP_CODES:
        return None  # an unknown op code would fail deep inside Optuna's replay ("Should not reach")
    return entry


_OP_CODES = frozenset(int(op) for op in JournalOperation)


def _preview(line: bytes, width: int = 40) -> str:
    text = line[:width].decode("utf-8", errors="replace")
    return repr(text + ("..." if len(line) > width else ""))


@dataclass(frozen=True)
class JournalRepair:
    """What ``repair_journal`` did: lines kept, lines cut from the first bad one on, and where the copy is."""

    kept_lines: int
    cut_lines: int
    first_bad_line: int | None
    backup: Path | None


def repair_journal(path: Path, now: datetime | None = None) -> JournalRepair:
    """Cut the journal before its first line that is not an entry, after copying the whole file next to it.

    Lines after a bad one are cut too: entries refer to trials by the order of creation, so dropping one line in the
    middle could attach later entries to the wrong trial. The trials those lines finished are run again on resume.
    A torn last line (a writer killed mid-line) is not damage: the next append cuts it anyway."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        complete = data[: data.rfind(b"\n") + 1]
        offset, first_bad = 0, None
        lines = complete.splitlines(keepends=True)
        for number, line in enumerate(lines, start=1):
            if line.strip() and parse_entry(line) is None:
                first_bad = number
                break
            offset += len(line)
        if first_bad is None:
            return JournalRepair(kept_lines=len(lines), cut_lines=0, first_bad_line=None, backup=None)
        stamp = (now or datetime.now(tz=UTC)).strftime("%Y%m%dT%H%M%SZ")
        backup = path.with_name(f"{path.name}.{stamp}.bak")
        try:
            copy = backup.open("xb")  # never replaces an earlier copy
        except FileExistsError:
            raise DataError(f"{backup} exists (a repair in the same second): run the repair again") from None
        with copy:
            copy.write(data)
            copy.flush()
            os.fsync(copy.fileno())
        os.ftruncate(fd, offset)
        os.fsync(fd)
        return JournalRepair(
            kept_lines=first_bad - 1, cut_lines=len(lines) - first_bad + 1, first_bad_line=first_bad, backup=backup
        )
    finally:
        os.close(fd)  # releases the lock


class TrialBatchingJournalStorage(HookedJournalStorage):
    """Optuna's journal storage, with a trial's parameter and user-attribute writes appended in one go.

    Sampling a parameter or setting a user attribute does not read the journal, so those writes can wait: they are
    appended with the next write (the trial's result) or just before the next read, in their original order. No
    reader can tell the difference except by timing, and a worker that dies loses only writes of a trial that
    was still RUNNING, which is failed as an orphan anyway. Validation of a held write (a trial finished meanwhile)
    surfaces at that later call.

    ``new_trial_user_attrs`` are written with every new trial's creation line, so a trial is never RUNNING in the
    journal without them (the worker tag that lets another worker fail it if its worker dies).
    """

    def __init__(self, backend: BaseJournalBackend, new_trial_user_attrs: Mapping[str, Any] | None = None) -> None:
        self._held: list[dict[str, Any]] = []  # set first: Optuna's constructor already reads the journal
        self.new_trial_user_attrs = dict(new_trial_user_attrs or {})
        super().__init__(backend)

    def write_entry(self, op: JournalOperation, fields: dict[str, Any]) -> None:
        held, self._held = self._held, []
        self.append_entries([*held, self.entry(op, fields)])

    def before_sync(self) -> None:
        self.flush()

    def flush(self) -> None:
        """Append the held writes now (also done before every read and with every other write)."""
        if self._held:
            held, self._held = self._held, []
            self.append_entries(held)

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is not None or not self.new_trial_user_attrs:
            return super().create_new_trial(study_id, template_trial)
        return self.create_trial_with_user_attrs(study_id, self.new_trial_user_attrs)

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: BaseDistribution
    ) -> None:
        fields = {
            "trial_id": trial_id,
            "param_name": param_name,
            "param_value_internal": param_value_internal,
            "distribution": distribution_to_json(distribution),
        }
        with self.lock:
            self._held.append(self.entry(JournalOperation.SET_TRIAL_PARAM, fields))

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        fields = {"trial_id": trial_id, "user_attr": {key: value}}
        with self.lock:
            self._held.append(self.entry(JournalOperation.SET_TRIAL_USER_ATTR, fields))


__all__ = ["FastJournalFile", "JournalRepair", "TrialBatchingJournalStorage", "parse_entry", "repair_journal"]
