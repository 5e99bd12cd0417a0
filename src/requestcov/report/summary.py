"""What ``requestcov report`` shows: one row per request and the totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Optional, Set

from requestcov.records import RequestRecord

__all__ = ["RequestRow", "Totals", "Summary", "summarize"]


@dataclass(frozen=True)
class RequestRow:
    id: str
    test_set: str
    method: str
    route: Optional[str]
    path: str
    status: Optional[int]
    lines: int
    files: int
    duration_ms: float
    pid: int


@dataclass(frozen=True)
class Totals:
    requests: int
    #: Distinct measured files any request ran.
    files: int
    #: Distinct (file, line) pairs any request ran.
    lines: int
    processes: int


@dataclass(frozen=True)
class Summary:
    rows: List[RequestRow]
    totals: Totals

    def to_json(self) -> dict:
        return {"requests": [asdict(row) for row in self.rows], "totals": asdict(self.totals)}


def summarize(records: Iterable[RequestRecord]) -> Summary:
    rows: List[RequestRow] = []
    union: Dict[str, Set[int]] = {}
    pids: Set[int] = set()
    # The store keeps records in the order they were written, which changes
    # from one replay to the next: rows follow the ids' natural order
    # (test-2 before test-10), requests of one test by start time.
    for record in sorted(records, key=lambda record: (record.key.natural, record.start, record.record_id or 0)):
        rows.append(
            RequestRow(
                id=str(record.key), test_set=record.test_set, method=record.method, route=record.route,
                path=record.path, status=record.status, lines=record.line_count(),
                files=sum(1 for lines in record.lines.values() if lines),
                duration_ms=round(record.duration_ms, 3), pid=record.pid,
            )
        )
        pids.add(record.pid)
        for path, lines in record.lines.items():
            union.setdefault(path, set()).update(lines)
    totals = Totals(
        requests=len(rows), files=sum(1 for lines in union.values() if lines),
        lines=sum(len(lines) for lines in union.values()), processes=len(pids),
    )
    return Summary(rows, totals)
