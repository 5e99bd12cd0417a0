"""Every reading command, through the real command line, on files that are not
a store, on a store with no requests, and on real stores: a clear one-line
error (exit code 2 when the file is not a store), and the store's folder
exactly as it was, byte for byte and mtime for mtime, with no -wal or -shm
files left behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, List

import pytest

from requestcov.cli import main
from requestcov.records import STARTUP, RequestRecord
from requestcov.store import SQLiteStore
from tests.commands.conftest import run, suite
from tests.support.readonly import read_only
from tests.support.storefiles import VERSION_1_LINES, a_foreign_database, a_version_1_store, folder_state

#: Each reading command with the arguments it needs besides --db; what it
#: writes goes to ``out`` (a folder beside the store's, never inside it).
READING_COMMANDS: List[Callable[[Path], List[str]]] = [
    lambda out: ["report"],
    lambda out: ["dedup"],
    lambda out: ["minimize"],
    lambda out: ["gaps"],
    lambda out: ["hot"],
    lambda out: ["impact", "--diff-file", str(out / "change.patch"), "--repo", str(out)],
    lambda out: ["export", "-o", str(out / "export.yaml")],
    lambda out: ["export", "--format", "json", "-o", str(out / "export.json")],
    lambda out: ["export", "--format", "coverage", "-o", str(out / "export.coverage")],
    lambda out: ["html", "-o", str(out / "html")],
]
COMMAND_IDS = ["report", "dedup", "minimize", "gaps", "hot", "impact", "export-keploy", "export-json",
               "export-coverage", "html"]


@pytest.fixture
def out(tmp_path: Path, app_file: str) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "change.patch").write_text(
        f"--- a/{app_file}\n+++ b/{app_file}\n@@ -3 +3 @@\n-        return \"more\"\n+        return \"more!\"\n"
    )
    return folder


def _not_a_store(path: Path) -> None:
    path.write_text("id,lines\nt1,3\n")


@pytest.mark.parametrize("arguments", READING_COMMANDS, ids=COMMAND_IDS)
@pytest.mark.parametrize("make, message", [
    (lambda path: path.write_bytes(b""), "is not a requestcov store (the file is empty)"),
    (_not_a_store, "is not a requestcov store (not an SQLite database)"),
    (a_foreign_database, "is not a requestcov store (an SQLite database without its tables)"),
    (lambda path: None, "does not exist: record some requests first"),
], ids=["empty-file", "text-file", "foreign-database", "missing"])
def test_a_file_that_is_not_a_store_is_a_wrong_argument(tmp_path: Path, out: Path, arguments, make,
                                                        message: str) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    db = folder / "requestcov.db"
    make(db)
    before, written_before = folder_state(folder), sorted(out.iterdir())
    result = run(main, *arguments(out), "--db", str(db), expect=2)
    assert result.stderr.splitlines() == [f"Error: {db} {message}" + (
        ", or point --db (or REQUESTCOV_DB) at an existing store" if message.startswith("does not") else "")]
    assert result.stdout == ""
    assert folder_state(folder) == before
    assert sorted(out.iterdir()) == written_before


@pytest.mark.parametrize("arguments", READING_COMMANDS, ids=COMMAND_IDS)
def test_a_store_with_no_requests_says_so(tmp_path: Path, out: Path, arguments) -> None:
    db = tmp_path / "store" / "requestcov.db"
    with SQLiteStore(db) as store:  # start-up code ran, but no request came
        store.write([RequestRecord(test_id="startup", kind=STARTUP, lines={"/app/views.py": [1]})])
    before, written_before = folder_state(db.parent), sorted(out.iterdir())
    result = run(main, *arguments(out), "--db", str(db), expect=1)
    assert result.stderr.splitlines() == [f"Error: no requests recorded in {db}"]
    assert result.stdout == ""
    assert folder_state(db.parent) == before
    assert sorted(out.iterdir()) == written_before


@pytest.mark.parametrize("arguments", READING_COMMANDS, ids=COMMAND_IDS)
def test_reading_a_store_leaves_it_as_it_was(store: str, out: Path, arguments) -> None:
    folder = Path(store).parent
    before = folder_state(folder)
    assert sorted(before) == ["requestcov.db"]
    run(main, *arguments(out), "--db", store)
    assert folder_state(folder) == before


def test_a_store_being_written_is_read_whole_and_left_to_its_writer(tmp_path: Path, app_file: str) -> None:
    db = tmp_path / "store" / "requestcov.db"
    writer = SQLiteStore(db)
    try:
        writer.write(suite(app_file))  # committed to the WAL, not yet to the main file
        before = folder_state(db.parent)
        assert sorted(before) == ["requestcov.db", "requestcov.db-shm", "requestcov.db-wal"]
        report = json.loads(run(main, "report", "--db", str(db), "--json").stdout)
        assert len(report["requests"]) == len(suite(app_file))
        assert folder_state(db.parent)["requestcov.db"] == before["requestcov.db"]
        writer.write(suite(app_file))
    finally:
        writer.close()
    with SQLiteStore(db, read_only=True) as store:
        assert store.count() == 2 * len(suite(app_file))


@pytest.mark.parametrize("with_wal", [False, True], ids=["closed", "with-wal"])
def test_a_store_in_a_read_only_folder_is_reported(tmp_path: Path, app_file: str, with_wal: bool) -> None:
    db = tmp_path / "store" / "requestcov.db"
    writer = SQLiteStore(db)
    writer.write(suite(app_file))
    if not with_wal:
        writer.close()
    try:  # with the writer open, the folder holds a -wal, as a writer killed with -9 leaves it
        with read_only(db.parent):
            before = folder_state(db.parent)
            report = json.loads(run(main, "report", "--db", str(db), "--json").stdout)
            assert len(report["requests"]) == len(suite(app_file))
            run(main, "html", "--db", str(db), "-o", str(tmp_path / "html"))
            assert folder_state(db.parent) == before
    finally:
        if with_wal:
            writer.close()
    assert (tmp_path / "html" / "index.html").exists()


def test_a_version_1_store_is_reported_without_migrating_it(tmp_path: Path) -> None:
    db = tmp_path / "store" / "requestcov.db"
    a_version_1_store(db)
    before = folder_state(db.parent)
    export = tmp_path / "records.json"
    run(main, "export", "--format", "json", "--db", str(db), "-o", str(export))
    [record] = json.loads(export.read_text())["requests"]
    assert record["lines"] == {path: lines for path, lines in VERSION_1_LINES.items()}
    assert folder_state(db.parent) == before
