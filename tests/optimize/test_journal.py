"""The journal file backend: whole lines only, concurrent writers, torn tails repaired, incremental reads."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from stratlab.optimize.journal import FastJournalFile


def _write_many(path: str, writer: int, count: int) -> None:
    journal = FastJournalFile(path)
    for i in range(count):
        journal.append_logs([{"writer": writer, "i": i, "pad": "x" * 200}, {"writer": writer, "i": i, "second": True}])


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
    journal.append_logs([{"n": 0}, {"n": 1}])
    with path.open("ab") as handle:
        handle.write(b'{"n": 2, "half')  # a writer killed mid-line
    reader = FastJournalFile(path)
    assert [log["n"] for log in reader.read_logs(0)] == [0, 1]
    journal.append_logs([{"n": 3}])
    assert path.read_bytes().endswith(b'{"n":3}\n') and b"half" not in path.read_bytes()
    assert [log["n"] for log in reader.read_logs(2)] == [3]
    assert [log["n"] for log in FastJournalFile(path).read_logs(0)] == [0, 1, 3]


def test_reads_are_incremental_and_a_fresh_reader_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    writer, reader = FastJournalFile(path), FastJournalFile(path)
    writer.append_logs([{"n": i} for i in range(5)])
    assert [log["n"] for log in reader.read_logs(0)] == [0, 1, 2, 3, 4]
    assert list(reader.read_logs(5)) == []  # nothing new
    writer.append_logs([{"n": 5}])
    assert [log["n"] for log in reader.read_logs(5)] == [5]
    assert [log["n"] for log in reader.read_logs(3)] == [3, 4, 5]  # asking for older lines re-reads
