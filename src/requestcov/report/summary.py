"""What ``requestcov report`` shows: one row per request and the totals.

Every count is of statements as :mod:`requestcov.analysis.covered` defines
them (coverage.py's, a multi-line statement counted once), so a request's
figure here is its figure in the HTML report, and the totals are
``requestcov gaps``' totals.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterator
from dataclasses import asdict, dataclass
from operator import itemgetter
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from requestcov.analysis.covered import StatementTable, tally
from requestcov.records import KeyedRecord, RequestRecord, TestKey, natural_test_key
from requestcov.store.sqlite import RequestRow as StoreRow

__all__ = ["RequestRow", "Totals", "Summary", "summarize", "summarize_keyed", "summarize_rows"]


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
    #: The requests shown, in the ids' natural order: all of them, or the
    #: first ``limit`` when :func:`summarize` was given one.
    rows: List[RequestRow]
    totals: Totals
    #: Whether any request (shown or not) has a method, route, path or
    #: status: a dedupData.yaml has none, and its table leaves those columns out.
    request_fields: bool = True

    @property
    def hidden(self) -> int:
        """Requests counted in the totals but not in :attr:`rows`."""
        return self.totals.requests - len(self.rows)

    def to_json(self) -> dict:
        totals = asdict(self.totals)
        totals["percent"] = round(totals["percent"], 2)
        totals["percent_by_requests"] = round(totals["percent_by_requests"], 2)
        return {"requests": [asdict(row) for row in self.rows], "totals": totals}


def summarize(records: Iterable[RequestRecord], startup: Optional[Mapping[str, Iterable[int]]] = None,
              table: Optional[StatementTable] = None, limit: Optional[int] = None) -> Summary:
    """``startup`` maps paths to the lines start-up records ran; None when
    there are no start-up records to read (a dedupData.yaml).

    Records are read one at a time and not kept: a store of a million
    requests is summarised in the memory of its rows (of its first
    ``limit`` rows when a limit is given, the totals still counting every
    request)."""
    return summarize_keyed(((None, record) for record in records), startup, table, limit)


def summarize_keyed(keyed: Iterable[KeyedRecord],
                    startup: Optional[Mapping[str, Iterable[int]]] = None,
                    table: Optional[StatementTable] = None, limit: Optional[int] = None,
                    ran: Optional[Mapping[str, Iterable[int]]] = None) -> Summary:
    """:func:`summarize` from (line-set key, record) pairs, as
    :meth:`~requestcov.store.SQLiteStore.iter_keyed_records` reads them:
    the lines of each key are counted, and added to the totals, once (a key
    of None stands for its record alone).

    ``ran``: the lines all the records ran, per file, when the caller has
    added them up already (a store's distinct line sets, see
    :func:`~requestcov.analysis.lineunion.line_union`); else added up here."""
    table = table or StatementTable()
    union: Dict[str, Set[int]] = {}
    pids: Set[int] = set()
    seen = {"requests": 0, "fields": False}
    #: Line-set key -> (statements, files) of its records: computed once.
    figures_of: Dict[Hashable, Tuple[int, int]] = {}
    counted_sets: Set[Hashable] = set()

    def order(pair: KeyedRecord) -> Tuple[Any, ...]:
        """The store keeps records in the order they were written, which
        changes from one replay to the next: rows follow the ids' natural
        order (test-2 before test-10), requests of one test by start time."""
        record = pair[1]
        return (natural_test_key(record.test_set, record.test_id), record.start, record.record_id or 0)

    def row_of(pair: KeyedRecord) -> RequestRow:
        key, record = pair
        figures = None if key is None else figures_of.get(key)
        if figures is None:
            figures = (table.count(record.lines), sum(1 for lines in record.lines.values() if lines))
            if key is not None:
                figures_of[key] = figures
        return RequestRow(
            id=str(record.key), test_set=record.test_set, method=record.method, route=record.route,
            path=record.path, status=record.status, statements=figures[0], files=figures[1],
            duration_ms=round(record.duration_ms, 3), pid=record.pid,
        )

    def counted(keyed: Iterable[KeyedRecord]) -> Iterator[KeyedRecord]:
        """Each pair, once its record's share of the totals is taken."""
        for pair in keyed:
            key, record = pair
            seen["requests"] += 1
            if not seen["fields"] and (record.method or record.route or record.path or record.status is not None):
                seen["fields"] = True
            pids.add(record.pid)
            if ran is None and (key is None or key not in counted_sets):
                if key is not None:
                    counted_sets.add(key)
                for path, lines in record.lines.items():
                    if lines:
                        union.setdefault(path, set()).update(lines)
            yield pair

    if limit is None:
        ordered = [(order(pair), row_of(pair)) for pair in counted(keyed)]
        ordered.sort(key=itemgetter(0))
        rows = [row for _, row in ordered]
        del ordered
    else:
        rows = [row_of(pair) for pair in heapq.nsmallest(limit, counted(keyed), key=order)]
    return Summary(rows, _totals(int(seen["requests"]), union if ran is None else ran, startup, table, len(pids)),
                   request_fields=bool(seen["fields"]))


def summarize_rows(rows: Iterable[StoreRow], figures: Callable[[List[Optional[int]]], Mapping[int, Tuple[int, int]]],
                   ran: Mapping[str, Iterable[int]], startup: Optional[Mapping[str, Iterable[int]]] = None,
                   table: Optional[StatementTable] = None, limit: Optional[int] = None) -> Summary:
    """:func:`summarize_keyed` of a store's request rows
    (:meth:`~requestcov.store.SQLiteStore.request_rows`), no record made:
    ``ran`` holds the lines all of them ran (their line sets' union), and
    ``figures(set_keys)`` gives the (statements, files) of the line sets of
    the rows shown (:func:`~requestcov.analysis.lineunion.set_figures`),
    asked once, after the rows are chosen: a store of a million requests
    shown 20 at a time folds the lines of 20."""
    table = table or StatementTable()
    pids: Set[int] = set()
    seen = {"requests": 0, "fields": False}

    def order(row: StoreRow) -> Tuple[Any, ...]:
        return (natural_test_key(row[3], row[2]), row[8], row[0] or 0)

    def counted(rows: Iterable[StoreRow]) -> Iterator[StoreRow]:
        for row in rows:
            seen["requests"] += 1
            if not seen["fields"] and (row[4] or row[6] or row[5] or row[7] is not None):
                seen["fields"] = True
            pids.add(row[10])
            yield row

    chosen = sorted(counted(rows), key=order) if limit is None else heapq.nsmallest(limit, counted(rows), key=order)
    figures_of = figures([row[12] for row in chosen if row[12] is not None])
    shown = [
        RequestRow(id=str(TestKey(row[3], row[2])), test_set=row[3], method=row[4], route=row[6], path=row[5],
                   status=row[7], statements=figures_of[row[12]][0] if row[12] is not None else 0,
                   files=figures_of[row[12]][1] if row[12] is not None else 0,
                   duration_ms=round(row[9], 3), pid=row[10])
        for row in chosen
    ]
    del chosen
    return Summary(shown, _totals(int(seen["requests"]), ran, startup, table, len(pids)),
                   request_fields=bool(seen["fields"]))


def _totals(requests: int, ran: Mapping[str, Iterable[int]], startup: Optional[Mapping[str, Iterable[int]]],
            table: StatementTable, processes: int) -> Totals:
    totals_of = tally(ran, startup, table)
    return Totals(
        requests=requests, files=sum(1 for item in totals_of.files if item.run),
        statements=totals_of.statements, run_by_requests=totals_of.by_requests,
        startup_only=totals_of.startup_only, missed=totals_of.missed, percent=totals_of.percent,
        percent_by_requests=totals_of.percent_by_requests, processes=processes,
        files_without_source=len(totals_of.skipped), startup_known=startup is not None,
    )
