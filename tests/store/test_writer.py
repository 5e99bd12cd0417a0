"""The background writer on a real SQLite file: everything submitted is written
by ``flush``, a stuck store drops (and counts) instead of blocking requests."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Optional

from requestcov.records import RequestRecord
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
