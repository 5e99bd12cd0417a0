"""Reading a store changes nothing on disk: not the file, not its mtime, and no
-wal or -shm files appear; it reads what a live writer committed, works in a
read-only folder, reads an old schema as it is, and refuses what is not a store."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from requestcov.errors import StoreError
from requestcov.records import RequestRecord
from requestcov.store import SCHEMA_VERSION, NotAStoreError, SQLiteStore
from tests.support.readonly import read_only
from tests.support.storefiles import VERSION_1_LINES, a_foreign_database, a_version_1_store, folder_state


def _records(count: int, prefix: str = "test") -> list:
    return [RequestRecord(test_id=f"{prefix}-{number}", lines={"/app/a.py": [1, number + 2]}) for number in range(count)]


def _read_ids(path: Path) -> list:
    with SQLiteStore(path, read_only=True) as store:
        return [record.test_id for record in store.records()]


def test_a_closed_store_is_read_without_a_file_appearing_or_changing(store_path: Path) -> None:
    with SQLiteStore(store_path) as store:
        store.write(_records(3))
    before = folder_state(store_path.parent)
    assert sorted(before) == ["requestcov.db"]
    assert _read_ids(store_path) == ["test-0", "test-1", "test-2"]
    assert folder_state(store_path.parent) == before


def test_a_store_with_a_live_writer_is_read_whole_and_the_writer_goes_on(store_path: Path) -> None:
    writer = SQLiteStore(store_path)
    try:
        writer.write(_records(3))  # in the WAL, not yet in the main file
        before = folder_state(store_path.parent)
        assert sorted(before) == ["requestcov.db", "requestcov.db-shm", "requestcov.db-wal"]
        main_file = before["requestcov.db"]
        reader = SQLiteStore(store_path, read_only=True)
        records = reader.iter_records()
        assert next(records).test_id == "test-0"
        writer.write(_records(2, "later"))  # the reader keeps its snapshot
        assert [record.test_id for record in records] == ["test-1", "test-2"]
        reader.close()
        assert folder_state(store_path.parent)["requestcov.db"] == main_file
        assert _read_ids(store_path)[-2:] == ["later-0", "later-1"]
        writer.write(_records(1, "last"))
    finally:
        writer.close()
    assert _read_ids(store_path)[-1] == "last-0"
    assert sorted(folder_state(store_path.parent)) == ["requestcov.db"]


def test_a_writer_that_changes_the_file_under_an_immutable_read_fails_the_read(store_path: Path) -> None:
    with SQLiteStore(store_path) as store:
        store.write(_records(5))
    reader = SQLiteStore(store_path, read_only=True)  # no -wal: immutable, no locks
    records = reader.iter_records()
    next(records)
    with SQLiteStore(store_path) as writer:  # its close folds its WAL into the file
        writer.write(_records(50, "new"))
    with pytest.raises(StoreError, match="changed while it was read.*run the command again"):
        list(records)
    reader.close()


@pytest.mark.parametrize("live_wal", [False, True], ids=["closed", "with-wal"])
def test_a_store_in_a_read_only_folder_is_read(store_path: Path, live_wal: bool) -> None:
    writer = SQLiteStore(store_path)
    writer.write(_records(4))
    if not live_wal:
        writer.close()
    try:
        # With the writer open, the folder keeps a -wal holding the records,
        # as a writer killed with -9 leaves it.
        with read_only(store_path.parent):
            before = folder_state(store_path.parent)
            assert _read_ids(store_path) == [f"test-{number}" for number in range(4)]
            assert folder_state(store_path.parent) == before
    finally:
        if live_wal:
            writer.close()


def test_a_version_1_store_is_read_as_it_is(store_path: Path) -> None:
    a_version_1_store(store_path)
    before = folder_state(store_path.parent)
    with SQLiteStore(store_path, read_only=True) as store:
        [record] = store.records()
    assert record.lines == VERSION_1_LINES
    assert folder_state(store_path.parent) == before


def test_a_newer_schema_is_refused_without_touching_it(store_path: Path) -> None:
    SQLiteStore(store_path).close()
    connection = sqlite3.connect(store_path)
    connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    connection.commit()
    connection.close()
    before = folder_state(store_path.parent)
    with pytest.raises(StoreError, match="newer than this requestcov"):
        SQLiteStore(store_path, read_only=True)
    assert folder_state(store_path.parent) == before


@pytest.mark.parametrize("make, message", [
    (lambda path: path.write_bytes(b""), "is not a requestcov store (the file is empty)"),
    (lambda path: path.write_text("name,count\nfoo,1\n"), "is not a requestcov store (not an SQLite database)"),
    (lambda path: path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000), "is not a requestcov store"),
    (a_foreign_database, "is not a requestcov store (an SQLite database without its tables)"),
    (lambda path: path.mkdir(), "is not a requestcov store (it is a folder)"),
    (lambda path: None, "does not exist"),
], ids=["empty", "text", "bad-header", "foreign-database", "folder", "missing"])
def test_what_is_not_a_store_is_refused_and_left_alone(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "requestcov.db"
    make(path)
    before = folder_state(tmp_path)
    with pytest.raises(NotAStoreError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SQLiteStore(path, read_only=True)
    assert folder_state(tmp_path) == before
    assert sorted(item.name for item in tmp_path.iterdir()) == (["requestcov.db"] if path.exists() else [])


def test_a_path_with_uri_characters_is_the_path(tmp_path: Path) -> None:
    path = tmp_path / "odd?name#1 %41.db"
    with SQLiteStore(path) as store:
        store.write(_records(2))
    assert _read_ids(path) == ["test-0", "test-1"]
    assert sorted(item.name for item in tmp_path.iterdir()) == [path.name]


def test_a_pipe_is_refused_without_reading_it(tmp_path: Path) -> None:
    pipe = tmp_path / "requestcov.db"
    os.mkfifo(pipe)
    with pytest.raises(NotAStoreError, match="not a regular file"):
        SQLiteStore(pipe, read_only=True)


def test_a_store_opened_for_reading_refuses_to_write(store_path: Path) -> None:
    SQLiteStore(store_path).close()
    with SQLiteStore(store_path, read_only=True) as store:
        with pytest.raises(StoreError, match="opened for reading only"):
            store.write(_records(1))
