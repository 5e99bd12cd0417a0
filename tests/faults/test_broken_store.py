"""A store that cannot be used never changes what the app answers.

Each case starts the Flask test app under werkzeug with a store that is
read-only, full, locked by another process, corrupt or of a newer schema, or
that is deleted or replaced while the app runs, and checks: every response
equals the app's answer without requestcov, requestcov says what is wrong in
one line (no traceback), and at exit the exact number of requests it did not
write; when given a fallback store, it records every request there instead,
and a store deleted or replaced goes on in the file now at its path.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import pytest
import requests

import requestcov
from requestcov.records import RequestRecord
from requestcov.store import SQLiteStore
from tests.support.readonly import read_only
from tests.support.servers import REPOSITORY, free_port, running_server, serve_command

pytestmark = pytest.mark.slow

PATHS = ["/hello", "/users/4", "/users/400", "/stream/3", "/boom", "/hello"]
ROUNDS = 4


def fetch(base_url: str, prefix: str, after_round: Optional[Callable[[int], None]] = None,
          rounds: int = ROUNDS) -> List[Tuple[int, Optional[str], bytes]]:
    """Every path, ``rounds`` times, with short pauses so the writer makes
    several batches; ``after_round(requests so far)`` after each round."""
    results = []
    for round_number in range(rounds):
        for number, path in enumerate(PATHS):
            response = requests.get(base_url + path, headers={"KEPLOY-TEST-ID": f"{prefix}-{round_number}-{number}"},
                                    timeout=30)
            results.append((response.status_code, response.headers.get("Content-Type"), response.content))
        time.sleep(0.15)
        if after_round is not None:
            after_round(len(results))
    return results


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> List[Tuple[int, Optional[str], bytes]]:
    folder = tmp_path_factory.mktemp("plain")
    port = free_port()
    with running_server(serve_command("flask", port, folder / "plain.db", "--plain"), port) as base_url:
        return fetch(base_url, "plain")


def serve(port: int, db: Path, *options: str) -> List[str]:
    return [sys.executable, "-m", "tests.faults.serve_faulty", str(port), str(db), *options]


def run_app(db: Path, *options: str, prefix: str = "faulty",
            after_round: Optional[Callable[[int], None]] = None,
            rounds: int = ROUNDS) -> Tuple[List[Tuple[int, Optional[str], bytes]], str]:
    port = free_port()
    output: List[str] = []
    with running_server(serve(port, db, *options), port, output=output) as base_url:
        responses = fetch(base_url, prefix, after_round, rounds)
    return responses, output[0]


Responses = List[Tuple[int, Optional[str], bytes]]


def run_app_through(db: Path, between: Callable[[], None], *options: str) -> Tuple[Responses, Responses, str]:
    """Requests (ids ``before-*``) until every one is in the store, then
    ``between()`` while the server runs on, then the same again (``after-*``)."""
    port = free_port()
    output: List[str] = []
    with running_server(serve(port, db, *options), port, output=output) as base_url:
        before = fetch(base_url, "before")
        wait_until_stored(db, "before-", len(before))
        between()
        after = fetch(base_url, "after")
    return before, after, output[0]


def wait_until_stored(db: Path, prefix: str, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with SQLiteStore(db, read_only=True) as store:
            found = sum(record.test_id.startswith(prefix) for record in store.records())
        if found == count:
            return
        assert time.monotonic() < deadline, f"{found} of {count} {prefix}* records written after {timeout} s"
        time.sleep(0.05)


def stored(db: Path, prefix: str = "faulty-") -> List[RequestRecord]:
    with SQLiteStore(db, create=False) as store:
        assert store.integrity_check() == "ok"
        return [record for record in store.records() if record.test_id.startswith(prefix)]


def ids_sent(prefix: str) -> List[str]:
    return sorted(f"{prefix}-{round_number}-{number}" for round_number in range(ROUNDS) for number in range(len(PATHS)))


def served(log: str) -> int:
    """Requests the server answered, by werkzeug's access log (the start-up probe too)."""
    return sum(line.startswith("127.0.0.1 - - [") for line in log.splitlines())


def not_written(log: str) -> int:
    """The count requestcov logs at exit."""
    [count] = re.findall(r"requestcov: (\d+) requests? not written", log)
    return int(count)


#: The files of the requestcov the servers run (this checkout's src/requestcov,
#: or an installed copy): a traceback frame in one of them is a traceback of ours.
OUR_PACKAGE = Path(requestcov.__file__).resolve().parent
_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+', re.MULTILINE)


def is_our_file(path: str) -> bool:
    """By the frame's file, not by a name in the text: the folder a clone
    sits in may well be called requestcov too."""
    resolved = Path(path).resolve()
    return resolved == OUR_PACKAGE or OUR_PACKAGE in resolved.parents


def no_traceback_of_ours(log: str, rounds: int = ROUNDS) -> bool:
    """The app's /boom tracebacks (Flask logs them, one a round) are
    expected; none may come from requestcov."""
    return log.count("Traceback") == rounds and not any(is_our_file(match["path"]) for match in _FRAME.finditer(log))


def test_a_traceback_is_ours_by_its_frames_files_whatever_the_clone_is_called() -> None:
    flask_file = REPOSITORY / ".venvs" / "py3.11" / "lib" / "python3.11" / "site-packages" / "flask" / "app.py"
    app_traceback = (
        "Traceback (most recent call last):\n"
        f'  File "{flask_file}", line 1, in wsgi_app\n'
        '  File "/home/me/requestcov/.venv/lib/python3.11/site-packages/werkzeug/serving.py", line 1, in run\n'
        f'  File "{REPOSITORY / "tests" / "apps" / "flask_app.py"}", line 9, in boom\n'
        "RuntimeError: boom\n"
    )
    ours = f'Traceback (most recent call last):\n  File "{OUR_PACKAGE / "store" / "writer.py"}", line 1, in _run\n'
    assert no_traceback_of_ours(app_traceback * ROUNDS)
    assert not no_traceback_of_ours(app_traceback * (ROUNDS - 1) + ours)


def assert_one_clear_error(log: str, text: str, rounds: int = ROUNDS) -> None:
    """``text`` once, and at most one more line of ours: the count at exit."""
    assert no_traceback_of_ours(log, rounds), log
    assert log.count(text) == 1, log
    assert sum("requestcov:" in line and "recording" not in line.split("requestcov:")[1][:11]
               for line in log.splitlines()) <= 2, log


def a_store_with_records(db: Path) -> None:
    with SQLiteStore(db) as store:
        store.write([RequestRecord(test_id=f"old-{number}", lines={"/a.py": [1, 2]}) for number in range(20)])


# -- read-only folders ------------------------------------------------------


def test_a_new_store_in_a_read_only_folder(tmp_path: Path, expected) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    with read_only(folder):
        responses, log = run_app(folder / "requestcov.db")
    assert responses == expected
    assert_one_clear_error(log, "cannot open the requestcov store")


def test_an_existing_store_in_a_read_only_folder_falls_back(tmp_path: Path, expected) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    a_store_with_records(folder / "requestcov.db")
    fallback = tmp_path / "fallback.db"
    with read_only(folder):
        responses, log = run_app(folder / "requestcov.db", "--fallback", str(fallback))
    assert responses == expected
    assert_one_clear_error(log, "recording goes on in")
    assert len(stored(fallback)) == len(expected)


# -- full disk, lock, corruption, schema -------------------------------------


def test_a_full_disk_stops_recording_keeps_what_was_written_and_counts_the_rest(tmp_path: Path, expected) -> None:
    db = tmp_path / "requestcov.db"
    a_store_with_records(db)
    # Recorded once already, so the store holds the files' versions and its
    # tables their first pages: each batch of the run below adds to the WAL
    # what one of this run's later rounds added, and the "disk" is full once
    # two or three have gone in.
    wal = db.with_name(db.name + "-wal")
    wal_sizes: List[int] = []

    def measure(requests_so_far: int) -> None:
        wait_until_stored(db, "earlier-", requests_so_far)
        wal_sizes.append(wal.stat().st_size)

    run_app(db, prefix="earlier", after_round=measure)
    per_round = (wal_sizes[-1] - wal_sizes[0]) // (len(wal_sizes) - 1)
    # Not below the 32 KiB of the WAL's index file, which must be written whole.
    limit = max(32 + per_round * 5 // 2, 36_000)
    # Rounds enough to fill it twice over, and two more: a round adds little
    # to the WAL where its requests repeat line sets already stored, and less
    # still on a loaded machine, where the writer commits several in one batch.
    rounds = max(ROUNDS, 2 * ((limit - 32) // per_round) + 3)
    started = time.time()
    responses, log = run_app(db, "--file-size-limit", str(limit), rounds=rounds)
    calibration = f"WAL sizes {wal_sizes}, limit {limit}, rounds {rounds}, final WAL {wal.stat().st_size if wal.exists() else 'removed'}"
    one_round = expected[: len(expected) // ROUNDS]
    assert responses == one_round * rounds, calibration
    assert_one_clear_error(log, "recording stops in this process", rounds)
    assert "full" in log or "disk" in log, log
    written = stored(db)
    assert 0 < len(written) < len(responses), (len(written), calibration, log)
    # Every request the server answered is in the store or in the count:
    # the batch that failed and every one after it, the probe included.
    in_store = [record for record in stored(db, "") if record.start >= started]  # this run's, the probe's too
    assert not_written(log) == served(log) - len(in_store), log
    assert "nor the start-up record" in log, log


def test_a_store_locked_longer_than_the_busy_timeout(tmp_path: Path, expected) -> None:
    db = tmp_path / "requestcov.db"
    a_store_with_records(db)
    holder = sqlite3.connect(str(db), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        responses, log = run_app(db, "--busy-timeout", "0.3")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert responses == expected
    assert_one_clear_error(log, "database is locked")
    assert stored(db) == []
    assert not_written(log) == served(log), log


def test_a_locked_store_falls_back_without_losing_a_request(tmp_path: Path, expected) -> None:
    db = tmp_path / "requestcov.db"
    fallback = tmp_path / "elsewhere" / "fallback.db"
    a_store_with_records(db)
    holder = sqlite3.connect(str(db), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        responses, log = run_app(db, "--busy-timeout", "0.3", "--fallback", str(fallback))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert responses == expected
    assert_one_clear_error(log, "recording goes on in")
    assert sorted(record.test_id for record in stored(fallback)) == sorted(
        f"faulty-{round_number}-{number}" for round_number in range(ROUNDS) for number in range(len(PATHS))
    )


def _garbage(db: Path) -> None:
    db.write_bytes(os.urandom(64 * 1024))


def _damaged_pages(db: Path) -> None:
    a_store_with_records(db)
    size = db.stat().st_size
    with db.open("r+b") as handle:  # keep the header page, scramble the rest
        handle.seek(4096)
        handle.write(os.urandom(size - 4096))


def _newer_schema(db: Path) -> None:
    a_store_with_records(db)
    connection = sqlite3.connect(str(db), isolation_level=None)
    connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    connection.close()  # the last connection folds the WAL into the file


@pytest.mark.parametrize("damage, message", [
    (_garbage, "cannot open the requestcov store"),
    (_damaged_pages, "requestcov: "),
    (_newer_schema, "newer than this requestcov understands"),
], ids=["garbage", "damaged-pages", "newer-schema"])
@pytest.mark.parametrize("with_fallback", [False, True], ids=["alone", "fallback"])
def test_an_unreadable_store(tmp_path: Path, expected, damage: Callable[[Path], None], message: str,
                             with_fallback: bool) -> None:
    db = tmp_path / "requestcov.db"
    damage(db)
    before = db.read_bytes()
    fallback = tmp_path / "fallback.db"
    options = ["--fallback", str(fallback)] if with_fallback else []
    responses, log = run_app(db, *options)
    assert responses == expected
    assert no_traceback_of_ours(log), log
    assert message in log, log
    assert db.read_bytes() == before  # a damaged store is left as it was, for whoever looks into it
    if with_fallback:
        assert len(stored(fallback)) == len(expected)
    else:
        assert not fallback.exists()


# -- a store deleted or replaced while recording -------------------------------


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_store_deleted_while_recording_is_started_anew(tmp_path: Path, expected, what: str) -> None:
    folder = tmp_path / "store"
    db = folder / "requestcov.db"

    def delete() -> None:
        if what == "file":  # the -wal and -shm left behind belong to the deleted file
            db.unlink()
        else:
            shutil.rmtree(folder)

    before, after, log = run_app_through(db, delete)
    assert before == expected and after == expected
    assert_one_clear_error(log, f"the store {db} was deleted while recording; recording goes on in a new {db}",
                           rounds=2 * ROUNDS)
    assert "not written" not in log, log
    recorded = [record.test_id for record in stored(db, "")]
    assert sorted(test_id for test_id in recorded if test_id.startswith("after-")) == ids_sent("after")
    assert not any(test_id.startswith("before-") for test_id in recorded), recorded


def test_a_store_rotated_while_recording_goes_on_in_the_file_now_at_its_path(tmp_path: Path, expected) -> None:
    db = tmp_path / "requestcov.db"
    rotated = tmp_path / "requestcov-1.db"
    replacement = tmp_path / "new.db"
    a_store_with_records(replacement)

    def rotate() -> None:
        db.rename(rotated)
        replacement.rename(db)

    before, after, log = run_app_through(db, rotate)
    assert before == expected and after == expected
    assert_one_clear_error(log, f"the store {db} was replaced while recording; recording goes on in the file now at",
                           rounds=2 * ROUNDS)
    # The file now at the path has its own records and every later one; the
    # old WAL (which SQLite names after the path) was not read into it.
    assert sorted(record.test_id for record in stored(db, "")) == sorted(
        [f"old-{number}" for number in range(20)] + ids_sent("after"))
    # The file rotated away keeps what was written to it, WAL included.
    assert sorted(record.test_id for record in stored(rotated, "before-")) == ids_sent("before")
    assert stored(rotated, "after-") == []


def test_a_store_replaced_by_something_else_stops_recording_and_counts_the_rest(tmp_path: Path, expected) -> None:
    db = tmp_path / "requestcov.db"
    garbage = tmp_path / "garbage"
    garbage.write_bytes(os.urandom(64 * 1024))
    content = garbage.read_bytes()
    before, after, log = run_app_through(db, lambda: garbage.replace(db))
    assert before == expected and after == expected
    assert_one_clear_error(log, f"the store {db} was replaced while recording, and cannot open", rounds=2 * ROUNDS)
    assert db.read_bytes() == content
    assert not_written(log) == len(after), log


def test_under_uvicorn_the_count_comes_when_the_lifespan_ends(tmp_path: Path) -> None:
    """The recorder starts with the first request, after uvicorn took SIGTERM:
    uvicorn then dies of its re-raised signal without closing the recorder,
    so the count is logged when the lifespan ends."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    port = free_port()
    output: List[str] = []
    with running_server(serve_command("fastapi", port, blocker / "requestcov.db"), port, output=output) as base_url:
        sent = len(fetch(base_url, "faulty"))
    log = output[0]
    assert log.count("cannot create the folder") == 1, log
    # Every request is counted: those sent here, and the start-up probe (or
    # the few probes a slow start may take).
    assert 1 <= not_written(log) - sent <= 5, log
