"""The background writer on a real SQLite file: everything submitted is written
by ``flush``, a stuck store drops (and counts) instead of blocking requests, a
deleted store is started anew, and what was not written is counted exactly."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any, List, Optional

from requestcov.records import STARTUP, RequestRecord
from requestcov.store import SQLiteStore
from requestcov.store.writer import BackgroundWriter


def _record(number: int) -> RequestRecord:
    return RequestRecord(test_id=f"test-{number}", method="GET", path=f"/items/{number}", route="/items/<id>",
                         status=200, start=1.0, duration_ms=1.0, pid=1,
                         lines={"/app/items.py": [1, 2, number % 50 + 3]})


def test_a_burst_larger_than_the_queue_is_written_completely_and_in_order(tmp_path: Path) -> None:
    writer = BackgroundWriter(tmp_path / "store.db", lambda record: record, max_queued=100, batch_size=16)
    for number in range(1000):
        writer.submit(_record(number))
    assert writer.flush(timeout=60)
    writer.close()
    assert writer.written == 1000 and writer.dropped == 0
    with SQLiteStore(tmp_path / "store.db", create=False) as store:
        records = store.records()
    assert [record.test_id for record in records] == [f"test-{number}" for number in range(1000)]
    assert records[7].lines == {"/app/items.py": [1, 2, 10]}


def test_a_store_that_does_not_keep_up_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    release = threading.Event()

    def slow_convert(item: Any) -> Optional[RequestRecord]:
        release.wait(30)
        return item

    writer = BackgroundWriter(tmp_path / "store.db", slow_convert, max_queued=4, batch_size=2, put_timeout=0.1)
    for number in range(20):
        writer.submit(_record(number))
    assert writer.dropped > 0
    release.set()
    assert writer.flush(timeout=60)
    writer.close()
    assert writer.written + writer.dropped == 20
    with SQLiteStore(tmp_path / "store.db", create=False) as store:
        assert store.count() == writer.written


def _lines_of_ours(caplog: Any, pattern: str) -> List[str]:
    return [record.getMessage() for record in caplog.records if re.search(pattern, record.getMessage())]


def test_records_after_the_store_was_deleted_go_to_a_new_one(tmp_path: Path, caplog: Any) -> None:
    db = tmp_path / "store" / "store.db"
    writer = BackgroundWriter(db, lambda record: record)
    for number in range(5):
        writer.submit(_record(number))
    assert writer.flush(timeout=60)
    for path in db.parent.iterdir():
        path.unlink()
    for round_number in range(2):  # a second batch finds the new file in place: no second warning
        for number in range(10 + 10 * round_number, 20 + 10 * round_number):
            writer.submit(_record(number))
        assert writer.flush(timeout=60)
    writer.close()
    with SQLiteStore(db, read_only=True) as store:
        assert [record.test_id for record in store.records()] == [f"test-{number}" for number in range(10, 30)]
    assert len(_lines_of_ours(caplog, "was deleted while recording")) == 1
    assert writer.written == 25 and writer.dropped == 0


def test_every_request_not_written_is_counted_once_at_close(tmp_path: Path, caplog: Any) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    writer = BackgroundWriter(blocker / "store.db", lambda record: record, batch_size=4)
    for number in range(30):
        writer.submit(_record(number))
        if number == 3:
            assert writer.flush(timeout=60)  # the store has failed: the rest is dropped on submit
    writer.submit(RequestRecord(test_id="startup", kind=STARTUP))
    writer.close()
    writer.close()
    assert writer.failed is not None and writer.written == 0
    assert writer.dropped == 31 and writer.dropped_startup == 1
    assert _lines_of_ours(caplog, r"\d+ requests? not written") == [
        "requestcov: 30 requests not written, nor the start-up record (recording had stopped after the error above)"
    ]
    writer.submit(_record(99))  # a request a server finished while the process exits
    assert _lines_of_ours(caplog, r"\d+ requests? not written")[1:] == [
        "requestcov: 31 requests not written in all, counting requests finished after the writer closed, "
        "nor the start-up record (recording had stopped after the error above)"
    ]



def test_a_submit_that_close_overtook_between_its_check_and_its_put_is_written(tmp_path: Path) -> None:
    """A daemon serving thread finishes a request while the main thread
    exits: its submit found the writer open, then close() ran to its end
    (the thread stopped) before the put. The item is written all the same."""
    writer = BackgroundWriter(tmp_path / "store.db", lambda record: record)
    writer.submit(_record(1))
    queue = writer._queue
    real_put = queue.put

    def put_after_close(item: Any, timeout: Optional[float] = None) -> bool:
        queue.put = real_put  # type: ignore[method-assign]
        writer.close()
        return real_put(item, timeout)

    queue.put = put_after_close  # type: ignore[method-assign]
    writer.submit(_record(2))
    writer.submit(_record(3))  # after close: written on this thread
    with SQLiteStore(tmp_path / "store.db", create=False) as store:
        assert sorted(record.test_id for record in store.records()) == ["test-1", "test-2", "test-3"]
    assert writer.dropped == 0


def test_an_item_queued_after_the_writer_took_its_stop_is_written_by_close(tmp_path: Path) -> None:
    """The same race the other way round: the put lands after the thread
    took its stop marker, before close() returns."""
    writer = BackgroundWriter(tmp_path / "store.db", lambda record: record)
    writer.submit(_record(1))
    thread = writer._thread
    assert thread is not None
    real_join = thread.join

    def join_then_queue_late(timeout: Optional[float] = None) -> bool:
        ended = real_join(timeout)
        writer._queue.put(_record(2))
        return ended

    thread.join = join_then_queue_late  # type: ignore[method-assign]
    writer.close()
    with SQLiteStore(tmp_path / "store.db", create=False) as store:
        assert sorted(record.test_id for record in store.records()) == ["test-1", "test-2"]
    assert writer.dropped == 0


FORK_DURING_A_WRITE = """
import os, sqlite3, sys, threading, time
sys.path.insert(0, {repository!r})
from tests.store.test_writer import _record
from requestcov.store import SQLiteStore
from requestcov.store.writer import BackgroundWriter

writer = BackgroundWriter({db!r}, lambda record: record)
writer.submit(_record(1))
assert writer.flush(30)
blocker = sqlite3.connect({db!r}, isolation_level=None, check_same_thread=False)
blocker.execute("BEGIN IMMEDIATE")  # another process's write: the writer waits inside SQLite
writer.submit(_record(2))
deadline = time.monotonic() + 20
while not writer._in_sqlite.locked():
    assert time.monotonic() < deadline, "the writer never began its write"
    time.sleep(0.01)
threading.Timer(0.5, blocker.rollback).start()
forked = time.monotonic()
pid = os.fork()
if pid == 0:
    # The child's own writer and a connection of the app's both work.
    writer.submit(_record(3))
    writer.flush(30)
    sqlite3.connect({db!r}).execute("SELECT count(*) FROM meta").fetchone()
    os._exit(0)
waited = time.monotonic() - forked
_, status = os.waitpid(pid, 0)
assert writer.flush(30)
print(waited, status)
"""


def test_a_fork_waits_until_the_writer_thread_is_out_of_sqlite(tmp_path: Path) -> None:
    """A child forked while the writer thread is inside SQLite inherits
    SQLite's mutexes locked by a thread it does not have, and hangs on its
    first use of a database: the fork waits for the write to end."""
    import subprocess
    import sys

    from tests.support.servers import REPOSITORY

    db = tmp_path / "store.db"
    script = tmp_path / "fork_during_a_write.py"
    script.write_text(FORK_DURING_A_WRITE.format(repository=str(REPOSITORY), db=str(db)))
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=90,
                               cwd=str(REPOSITORY))
    assert completed.returncode == 0, completed.stderr
    waited, status = completed.stdout.split()
    assert float(waited) >= 0.4 and status == "0", completed.stdout
    with SQLiteStore(db, create=False) as store:
        assert sorted(record.test_id for record in store.records()) == ["test-1", "test-2", "test-3"]
