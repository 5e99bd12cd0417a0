"""``report`` on a large store: records are read one at a time, ``--limit``
keeps only the first rows while the totals count every request, and a
terminal's stderr says how far the reading got."""

from __future__ import annotations

import os
import select
import sys
from pathlib import Path
from typing import Iterator, List

from requestcov.analysis.covered import StatementTable
from requestcov.commands._common import StderrProgress
from requestcov.records import RequestRecord
from requestcov.report.summary import summarize
from requestcov.store.lineset import decode_lines, encode_lines

SOURCE = "def view(value):\n    total = (value +\n             1)\n    return total\n\n\ndef other():\n    return 2\n"


def _records(path: str, count: int) -> List[RequestRecord]:
    """Ids in an order their natural order is not (test-10 before test-9)."""
    return [
        RequestRecord(test_id=f"test-{number}", method="GET", path=f"/items/{number}", route="/items/<n>",
                      status=200 if number % 3 else 404, start=float(number), pid=100 + number % 4,
                      lines={path: [1, 2, 3, 4] if number % 2 else [1, 7, 8]})
        for number in sorted(range(count), key=str)
    ]


def test_a_limit_keeps_the_first_rows_and_counts_every_request(tmp_path: Path) -> None:
    source = tmp_path / "views.py"
    source.write_text(SOURCE)
    records = _records(str(source), 25)
    whole = summarize(iter(records), {}, StatementTable())
    limited = summarize(iter(records), {}, StatementTable(), limit=7)

    assert [row.id for row in whole.rows][:3] == ["test-0", "test-1", "test-2"]
    assert limited.rows == whole.rows[:7]
    assert limited.totals == whole.totals
    assert (limited.hidden, whole.hidden) == (18, 0)
    assert whole.totals.requests == 25 and whole.totals.processes == 4
    # The multi-line statement counts once: def, total, return (odd ids); def, def, return (even ids).
    assert {row.statements for row in whole.rows} == {3}
    assert limited.request_fields and whole.request_fields


def test_the_records_are_consumed_as_they_come(tmp_path: Path) -> None:
    source = tmp_path / "views.py"
    source.write_text(SOURCE)
    handed: List[int] = []

    def one_at_a_time() -> Iterator[RequestRecord]:
        for number, record in enumerate(_records(str(source), 50)):
            handed.append(number)
            yield record

    summary = summarize(one_at_a_time(), {}, StatementTable(), limit=5)
    assert len(handed) == 50 and summary.totals.requests == 50 and len(summary.rows) == 5


def test_a_decoded_line_set_is_a_new_list_every_time() -> None:
    blob = encode_lines([3, 70, 900])
    first = decode_lines(blob)
    first.append(1000)
    assert decode_lines(blob) == [3, 70, 900]
    assert decode_lines(bytes(blob)) is not decode_lines(blob)


def test_progress_goes_to_a_terminal_only() -> None:
    records = [RequestRecord(test_id=f"t{number}") for number in range(3000)]
    primary, secondary = os.openpty()
    saved = sys.stderr
    try:
        with os.fdopen(secondary, "w", closefd=False) as terminal:
            sys.stderr = terminal
            progress = StderrProgress("report")
            progress.INTERVAL = 0.0
            assert progress.interactive
            assert len(list(progress.counting(iter(records)))) == 3000
            progress.done()
        shown = ""
        while select.select([primary], [], [], 1.0)[0]:
            shown += os.read(primary, 65536).decode()
    finally:
        sys.stderr = saved
        os.close(primary)
        os.close(secondary)
    assert "report: reading requests: 3,000" in shown and shown.endswith("\r\x1b[K")

    piped = StderrProgress("report")  # pytest's captured stderr is no terminal
    assert not piped.interactive
    assert len(list(piped.counting(iter(records)))) == 3000
