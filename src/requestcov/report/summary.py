"""What ``requestcov report`` shows: one row per request and the totals.

Every count is of statements as :mod:`requestcov.analysis.covered` defines
them (coverage.py's, a multi-line statement counted once), so a request's
figure here is its figure in the HTML report, and the totals are
``requestcov gaps``' totals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Set

from requestcov.analysis.covered import StatementTable, tally
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
    #: Statements the request ran.
    statements: int
    files: int
    duration_ms: float
    pid: int


@dataclass(frozen=True)
class Totals:
    requests: int
    #: Distinct measured files any request or start-up ran.
    files: int
    #: Statements of those files (files without source here not counted).
    statements: int
    #: Statements any request ran.
    run_by_requests: int
    #: Statements only start-up code ran (imports, def lines, module constants).
    startup_only: int
    #: Statements nothing ran.
    missed: int
    #: Run (by requests or at start-up) as a share of statements: ``gaps``' and ``coverage report``'s total.
    percent: float
    percent_by_requests: float
    processes: int
    #: Files whose source is not here: their recorded lines are counted as lines.
    files_without_source: int
    #: False without start-up records (a dedupData.yaml): start-up code then counts as missed.
    startup_known: bool = True


@dataclass(frozen=True)
class Summary:
    rows: List[RequestRow]
    totals: Totals

    def to_json(self) -> dict:
        totals = asdict(self.totals)
        totals["percent"] = round(totals["percent"], 2)
        totals["percent_by_requests"] = round(totals["percent_by_requests"], 2)
        return {"requests": [asdict(row) for row in self.rows], "totals": totals}


def summarize(records: Iterable[RequestRecord], startup: Optional[Mapping[str, Iterable[int]]] = None,
              table: Optional[StatementTable] = None) -> Summary:
    """``startup`` maps paths to the lines start-up records ran; None when
    there are no start-up records to read (a dedupData.yaml)."""
    table = table or StatementTable()
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
                path=record.path, status=record.status, statements=table.count(record.lines),
                files=sum(1 for lines in record.lines.values() if lines),
                duration_ms=round(record.duration_ms, 3), pid=record.pid,
            )
        )
        pids.add(record.pid)
        for path, lines in record.lines.items():
            if lines:
                union.setdefault(path, set()).update(lines)
    counted = tally(union, startup, table)
    totals = Totals(
        requests=len(rows), files=sum(1 for item in counted.files if item.run),
        statements=counted.statements, run_by_requests=counted.by_requests, startup_only=counted.startup_only,
        missed=counted.missed, percent=counted.percent, percent_by_requests=counted.percent_by_requests,
        processes=len(pids), files_without_source=len(counted.skipped), startup_known=startup is not None,
    )
    return Summary(rows, totals)
