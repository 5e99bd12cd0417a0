"""Nothing finished is lost when a worker dies, whatever the way.

* ``kill -9`` of a gunicorn worker under load: every request the client saw
  complete more than a second before the kill is in the store (the writer
  batches for 50 ms, so only its last batch can be lost), the database passes
  ``PRAGMA integrity_check``, and the next run appends to it.
* SIGTERM of gunicorn and uvicorn under load: every request the client saw
  complete is stored, exactly once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Dict, List

import pytest

from requestcov.records import RequestRecord
from requestcov.store import SQLiteStore
from tests.e2e.harness import free_port
from tests.support.matrix import heavy
from tests.load.launched import gunicorn, launched, uvicorn, workers
from tests.load.loadgen import LoadRun, run_load

pytestmark = [pytest.mark.slow, heavy]

PATHS = ["/hello", "/users/4", "/users/7", "/users/500"]


def stored(db: Path) -> List[RequestRecord]:
    with SQLiteStore(db, create=False) as store:
        assert store.integrity_check() == "ok"
        return store.records()


def _load_in_background(port: int, prefix: str, stop: threading.Event) -> "tuple[threading.Thread, Dict[str, LoadRun]]":
    result: Dict[str, LoadRun] = {}

    def load() -> None:
        result["run"] = run_load("127.0.0.1", port, PATHS, total=100_000, connections=8, prefix=prefix,
                                 time_limit=30.0, stop=stop)

    thread = threading.Thread(target=load)
    thread.start()
    return thread, result


def _a_worker_with_records(master: int, db: Path, timeout: float = 10.0) -> int:
    """A live worker that has records in the store already. The kernel may
    hand every connection of the load to one worker; killing the idle one
    would test nothing."""
    deadline = time.monotonic() + timeout
    while True:
        written = {record.pid for record in stored(db)} if db.exists() else set()
        candidates = [pid for pid in workers(master) if pid in written]
        if candidates or time.monotonic() > deadline:
            assert candidates, "no worker wrote a record under load"
            return candidates[0]
        time.sleep(0.2)


def test_kill_9_of_a_gunicorn_worker_loses_at_most_the_last_batch(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    with launched(gunicorn(port, workers=2, threads=2), db, port, tmp_path / "server.log") as server:
        stop = threading.Event()
        thread, result = _load_in_background(port, "before", stop)
        time.sleep(2.0)
        victim = _a_worker_with_records(server.pid, db)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        time.sleep(1.5)  # the master starts a new worker; the load goes on
        stop.set()
        thread.join(60)
        assert not thread.is_alive()
    run = result["run"]
    records = stored(db)
    counts = Counter(record.test_id for record in records)
    assert not [test_id for test_id, count in counts.items() if count > 1]
    assert any(record.pid == victim for record in records), "the killed worker had written nothing"
    missing = [item for item in run.completed if item.test_id not in counts]
    too_old = [item for item in missing if item.at < killed_at - 1.0]
    assert too_old == [], (len(too_old), len(missing), len(run.completed))
    assert len(run.completed) > 200
    # The next run appends to the same store.
    port = free_port()
    with launched(gunicorn(port, workers=2), db, port, tmp_path / "server-again.log"):
        again = run_load("127.0.0.1", port, PATHS, total=40, connections=4, prefix="after")
    after = stored(db)
    assert len(after) >= len(records) + 40
    assert {record.test_id for record in after} >= set(counts) | {item.test_id for item in again.completed}


@pytest.mark.parametrize("command", [
    lambda port: gunicorn(port, workers=2, threads=4),
    lambda port: uvicorn(port, workers=2),
], ids=["gunicorn", "uvicorn"])
def test_sigterm_under_load_loses_nothing_the_client_saw_complete(
    tmp_path: Path, command: Callable[[int], List[str]]
) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    stop = threading.Event()
    with launched(command(port), db, port, tmp_path / "server.log") as server:
        thread, result = _load_in_background(port, "term", stop)
        time.sleep(2.0)
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        stop.set()
        thread.join(60)
    run = result["run"]
    completed = [item.test_id for item in run.completed]
    records = [record for record in stored(db) if record.test_id.startswith("term-")]
    stored_counts = Counter(record.test_id for record in records)
    assert len(completed) > 100
    assert [test_id for test_id in completed if stored_counts[test_id] != 1] == []
    assert (tmp_path / "server.log").read_text().count("Traceback") == 0
