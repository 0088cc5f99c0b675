"""The journal file backend (whole lines only, concurrent writers, torn tails repaired, incremental reads) and the
storage that batches a trial's writes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import optuna
import pytest

from stratlab.errors import DataError
from stratlab.optimize.journal import FastJournalFile, TrialBatchingJournalStorage


def _write_many(path: str, writer: int, count: int) -> None:
    journal = FastJournalFile(path)
    for i in range(count):
        journal.append_logs(
            [{"op_code": 0, "writer": writer, "i": i, "pad": "x" * 200}, {"op_code": 0, "writer": writer, "i": i}]
        )


def test_concurrent_writers_leave_whole_lines_in_order_per_writer(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    FastJournalFile(path)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_many, args=(str(path), w, 300)) for w in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    logs = list(FastJournalFile(path).read_logs(0))
    assert len(logs) == 4 * 300 * 2
    for writer in range(4):
        mine = [log for log in logs if log["writer"] == writer]
        # Each append's two lines stay adjacent-in-order for that writer, and appends keep their order.
        assert [log["i"] for log in mine] == [i for i in range(300) for _ in range(2)]


def test_a_torn_tail_is_never_read_and_is_cut_by_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    journal = FastJournalFile(path)
    journal.append_logs([{"op_code": 0, "n": 0}, {"op_code": 0, "n": 1}])
    with path.open("ab") as handle:
        handle.write(b'{"n": 2, "half')  # a writer killed mid-line
    reader = FastJournalFile(path)
    assert [log["n"] for log in reader.read_logs(0)] == [0, 1]
    journal.append_logs([{"op_code": 0, "n": 3}])
    assert path.read_bytes().endswith(b'{"op_code":0,"n":3}\n') and b"half" not in path.read_bytes()
    assert [log["n"] for log in reader.read_logs(2)] == [3]
    assert [log["n"] for log in FastJournalFile(path).read_logs(0)] == [0, 1, 3]


def test_reads_are_incremental_and_a_fresh_reader_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    writer, reader = FastJournalFile(path), FastJournalFile(path)
    writer.append_logs([{"op_code": 0, "n": i} for i in range(5)])
    assert [log["n"] for log in reader.read_logs(0)] == [0, 1, 2, 3, 4]
    assert list(reader.read_logs(5)) == []  # nothing new
    writer.append_logs([{"op_code": 0, "n": 5}])
    assert [log["n"] for log in reader.read_logs(5)] == [5]
    assert [log["n"] for log in reader.read_logs(3)] == [3, 4, 5]  # asking for older lines re-reads


class CountingJournalFile(FastJournalFile):
    """The real backend, counting its appends."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.appends = 0

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self.appends += 1
        super().append_logs(logs)


def _one_trial(study: optuna.Study) -> None:
    trial = study.ask()
    x = trial.suggest_float("x", -1.0, 1.0)
    y = trial.suggest_int("y", 1, 100, log=True)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    trial.set_user_attr("n_trades", 7)
    study.tell(trial, [x * y, len(kind)])


def test_a_trial_takes_three_appends_and_reads_back_exactly_as_with_plain_journal_storage(tmp_path: Path) -> None:
    batched_backend = CountingJournalFile(tmp_path / "batched.journal")
    plain_backend = CountingJournalFile(tmp_path / "plain.journal")
    batched = TrialBatchingJournalStorage(batched_backend, {"worker": "host:1"})
    plain = optuna.storages.JournalStorage(plain_backend)
    for storage in (batched, plain):
        study = optuna.create_study(
            study_name="s", storage=storage, directions=["maximize", "minimize"],
            sampler=optuna.samplers.RandomSampler(seed=3),
        )  # fmt: skip
        for _ in range(20):
            _one_trial(study)
    assert batched_backend.appends - 1 == 20 * 3  # create, parameters + attribute, result (after the study)
    assert plain_backend.appends - 1 == 20 * 6  # create, one per parameter and attribute, result

    # A separate reader (another process would do the same) sees the same trials either way.
    def seen(path: Path) -> list[tuple[Any, ...]]:
        trials = optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(FastJournalFile(path))).trials
        return [(t.number, t.state, t.params, t.values, t.user_attrs.get("n_trades")) for t in trials]

    assert seen(tmp_path / "batched.journal") == seen(tmp_path / "plain.journal")
    # The worker tag is on the line that creates each trial, so a trial is never RUNNING without it.
    created = [log for log in FastJournalFile(tmp_path / "batched.journal").read_logs(0) if log["op_code"] == 4]
    assert len(created) == 20 and all(log["user_attrs"] == {"worker": "host:1"} for log in created)


def test_held_writes_are_appended_before_any_read(tmp_path: Path) -> None:
    backend = FastJournalFile(tmp_path / "j.journal")
    storage = TrialBatchingJournalStorage(backend)
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    trial.set_user_attr("note", "held")
    other = optuna.storages.JournalStorage(FastJournalFile(tmp_path / "j.journal"))
    assert other.get_all_trials(study._study_id)[0].params == {}  # still held: nothing read since
    assert storage.get_trial(trial._trial_id).params == trial.params  # a read appends what was held first
    reread = other.get_all_trials(study._study_id)[0]
    assert reread.params == trial.params and reread.user_attrs == {"note": "held"}


def test_a_line_that_is_not_an_entry_is_named_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "optuna.journal"
    journal = FastJournalFile(path)
    journal.append_logs([{"op_code": 0, "n": 0}])
    with path.open("ab") as handle:
        handle.write(b'{"n": 1}\n')  # JSON, but no entry: Optuna's replay would fail on it with a KeyError
    with pytest.raises(DataError, match=rf"{path}: line 2 is not a journal entry .*run repair --run-dir {tmp_path}"):
        list(FastJournalFile(path).read_logs(0))
