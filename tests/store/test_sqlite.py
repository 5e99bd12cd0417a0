"""The SQLite store: round trips, many writer processes at once, schema versions."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from requestcov.errors import StoreError
from requestcov.records import STARTUP, RequestRecord
from requestcov.store import SCHEMA_VERSION, SQLiteStore
from tests.support.storefiles import VERSION_1_LINES, a_version_1_store


def make_record(number: int, **changes) -> RequestRecord:
    fields = dict(
        test_id=f"test-{number}", test_set="test-set-0", method="GET", path=f"/items/{number}",
        route="/items/<id>", status=200, start=1700000000.0 + number, duration_ms=1.5, pid=4242,
        lines={"/app/views.py": [1, 2, number + 10], "/app/models.py": [5]},
    )
    fields.update(changes)
    return RequestRecord(**fields)


def test_records_come_back_as_written(store_path: Path) -> None:
    written = [make_record(1), make_record(2, status=404, route=None, test_set="")]
    with SQLiteStore(store_path) as store:
        store.write(written)
    with SQLiteStore(store_path, create=False) as store:
        read = store.records()
    for original, copy in zip(written, read):
        original.record_id = copy.record_id
        assert copy == original
    assert [record.record_id for record in read] == sorted(record.record_id for record in read)


@pytest.mark.parametrize("count", [1, 31, 32, 33, 64, 65, 200])
def test_rows_written_many_to_a_statement_come_back_in_order(store_path: Path, count: int) -> None:
    """The new rows of a batch go in groups of 32 a statement, the rest one
    statement run a row, their ids given by SQLite: every row comes back,
    in order, with the id ``write`` returned, around a start-up record
    (written apart) and across batches."""
    batches = [[make_record(number) for number in range(count)],
               [make_record(count + 1), make_record(0, kind=STARTUP, test_id="startup"),
                *(make_record(number) for number in range(count + 2, 2 * count + 2))]]
    with SQLiteStore(store_path) as store:
        ids = [row_id for batch in batches for row_id in store.write(batch)]
        read = store.records() + store.startup_records()
    written = [record for batch in batches for record in batch if record.kind != STARTUP]
    written += [record for batch in batches for record in batch if record.kind == STARTUP]
    assert sorted(record.record_id for record in read) == sorted(ids) == list(range(1, len(ids) + 1))
    for original, copy in zip(written, read):
        original.record_id = copy.record_id
        assert copy == original


def test_a_tests_records_are_found_among_the_rows_written_after_the_mark(store_path: Path) -> None:
    """What the Keploy agent asks at the end of a test: the test's rows
    written after the newest row at its start, however many rows the store
    holds, and none of an earlier run of the same test id."""
    with SQLiteStore(store_path) as store:
        assert store.newest_request_id() == 0
        store.write([make_record(1), make_record(2), make_record(1, start=1.0)])
        mark = store.newest_request_id()
        assert mark == 3
        [again, _] = store.write([make_record(1), make_record(3)])
        assert [record.record_id for record in store.test_records("test-set-0", "test-1", after_id=mark)] == [again]
        assert len(store.test_records("test-set-0", "test-1")) == 3
        assert len(store.test_records("test-set-0", "test-1", since=1700000000.5)) == 2
        assert store.test_records("other-set", "test-1") == []
    with SQLiteStore(store_path, read_only=True) as reader:
        assert reader.newest_request_id() == 5
        assert [record.test_id for record in reader.test_records("test-set-0", "test-3", after_id=mark)] == ["test-3"]


def test_store_uses_wal_and_records_its_schema_version(store_path: Path) -> None:
    SQLiteStore(store_path).close()
    connection = sqlite3.connect(store_path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    version = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    assert int(version) == SCHEMA_VERSION


def test_empty_line_sets_and_large_line_numbers_survive(store_path: Path) -> None:
    record = make_record(1, lines={"/app/empty.py": [], "/app/big.py": [1, 50_000]})
    with SQLiteStore(store_path) as store:
        store.write([record])
        assert store.records()[0].lines == {"/app/empty.py": [], "/app/big.py": [1, 50_000]}


def test_arcs_survive_with_negative_entry_and_exit_lines(store_path: Path) -> None:
    arcs = {"/app/views.py": [(-3, 4), (4, 5), (5, 4), (5, -3), (70_000, 70_001)]}
    record = make_record(1, arcs=arcs)
    with SQLiteStore(store_path) as store:
        store.write([record, make_record(2)])
        with_arcs, without = store.records()
    assert with_arcs.arcs == arcs
    assert without.arcs is None


def test_start_up_records_are_kept_apart_from_requests(store_path: Path) -> None:
    with SQLiteStore(store_path) as store:
        store.write([make_record(1), RequestRecord(test_id="startup", kind=STARTUP, lines={"/app/a.py": [1]})])
        assert [record.test_id for record in store.records()] == ["test-1"]
        assert [record.lines for record in store.startup_records()] == [{"/app/a.py": [1]}]


def test_a_store_of_a_newer_schema_is_refused_clearly(store_path: Path) -> None:
    SQLiteStore(store_path).close()
    connection = sqlite3.connect(store_path)
    connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    connection.commit()
    connection.close()
    with pytest.raises(StoreError, match="newer than this requestcov"):
        SQLiteStore(store_path)


def test_a_version_1_store_is_migrated_with_its_lines_intact(store_path: Path) -> None:
    a_version_1_store(store_path)
    with SQLiteStore(store_path) as store:
        [record] = store.records()
        store.write([make_record(2)])
        assert len(store.records()) == 2
    assert record.lines == VERSION_1_LINES
    connection = sqlite3.connect(store_path)
    assert connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)


def test_a_file_that_is_not_a_database_is_refused_clearly(tmp_path: Path) -> None:
    not_a_database = tmp_path / "requestcov.db"
    not_a_database.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the requestcov store"):
        SQLiteStore(not_a_database)


def test_reading_a_missing_store_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist: record some requests first"):
        SQLiteStore(tmp_path / "missing.db", create=False)


def _write_from_process(path: str, worker: int, count: int) -> None:
    store = SQLiteStore(path)
    for number in range(count):
        generated = RequestRecord(test_id="", method="GET", path="/hello", pid=worker, start=float(number))
        named = make_record(number, test_id=f"worker-{worker}-{number}", pid=worker)
        store.write([generated, named])
    store.close()


def test_many_processes_write_at_once_and_nothing_is_lost(store_path: Path) -> None:
    workers, per_worker = 4, 60
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_write_from_process, args=(str(store_path), worker, per_worker))
        for worker in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    with SQLiteStore(store_path, create=False) as store:
        records = store.records()
        assert store.integrity_check() == "ok"
    assert len(records) == workers * per_worker * 2
    generated = sorted(record.test_id for record in records if record.test_id.startswith("GET /hello"))
    # Generated ids are numbered by the store across processes: unique, no gaps.
    expected = sorted(f"GET /hello #{number}" for number in range(1, workers * per_worker + 1))
    assert generated == expected
    named = [record for record in records if record.test_id.startswith("worker-")]
    assert all(record.lines == make_record(int(record.test_id.rsplit("-", 1)[1])).lines for record in named)
    # Every worker wrote the same sets at the same time: each is kept once
    # (one per number, and the empty one of the generated records).
    connection = sqlite3.connect(store_path)
    assert connection.execute("SELECT count(*) FROM line_set").fetchone()[0] == per_worker + 1
    connection.close()


def _open_together(paths: "list[str]", barrier: "multiprocessing.synchronize.Barrier", worker: int) -> None:
    for path in paths:
        barrier.wait(20)
        with SQLiteStore(path, busy_timeout=20.0) as store:
            store.write([make_record(worker, test_id=f"opener-{worker}", pid=worker)])


def test_processes_opening_a_new_store_at_the_same_moment_all_get_in(tmp_path: Path) -> None:
    # The switch to WAL on a new file does not wait for a lock: gunicorn's
    # workers, all opening the store on their first request, once got
    # "database is locked" and stopped recording.
    workers, rounds = 8, 5
    paths = [str(tmp_path / f"round-{number}" / "requestcov.db") for number in range(rounds)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    processes = [context.Process(target=_open_together, args=(paths, barrier, worker)) for worker in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [process.exitcode for process in processes] == [0] * workers
    for path in paths:
        with SQLiteStore(path, create=False) as store:
            assert sorted(record.test_id for record in store.records()) == sorted(
                f"opener-{worker}" for worker in range(workers)
            )
        connection = sqlite3.connect(path)
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        connection.close()
