"""What the HTML report shows, computed once from the records.

Pages only format what is here. Recorded lines become covered statements
through :mod:`requestcov.analysis.covered`, and the totals are its
:func:`~requestcov.analysis.covered.tally`, so every figure (the total, each
file's, each test's and each endpoint's) is the one ``requestcov gaps``,
``requestcov report`` and ``coverage report`` on the export print. Start-up
code (imports, ``def`` lines) is its own category: run, but by no request.
Duplicates come from :func:`requestcov.analysis.dedup.find_duplicates` on the
same statements, so the report and ``requestcov dedup`` agree on which tests
are redundant.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from requestcov.analysis.covered import FileTally, StatementTable, Tally, fold_records, tally
from requestcov.analysis.dedup import SUBSUMED, DuplicateGroup, find_duplicates
from requestcov.analysis.index import build_index
from requestcov.records import RequestRecord
from requestcov.report.naming import PageNames
from requestcov.report.sources import SourceFile, load_source

__all__ = ["TestEntry", "CodePath", "EndpointEntry", "FileEntry", "ReportModel", "build_model",
           "DUPLICATE_SCOPE"]

#: Tests are compared for duplicates inside these groups, as ``requestcov dedup`` does by default.
DUPLICATE_SCOPE = ("endpoint", "status")
_NO_ENDPOINT = "(no endpoint recorded)"


@dataclass
class TestEntry:
    number: int
    label: str
    record: RequestRecord
    endpoint: str
    page: str
    endpoint_page: str = ""
    #: File number -> the statements it ran there.
    lines: Dict[int, Tuple[int, ...]] = field(default_factory=dict)
    duplicates: List[int] = field(default_factory=list)
    subsumed_by: List[int] = field(default_factory=list)
    subsumes: List[int] = field(default_factory=list)

    @property
    def line_count(self) -> int:
        return sum(len(lines) for lines in self.lines.values())


@dataclass
class CodePath:
    """Requests of one endpoint that ran exactly the same lines."""

    tests: List[int]
    line_count: int
    file_count: int


@dataclass
class EndpointEntry:
    name: str
    page: str
    tests: List[int] = field(default_factory=list)
    paths: List[CodePath] = field(default_factory=list)
    statuses: Dict[str, int] = field(default_factory=dict)
    #: File number -> statement lines any request of the endpoint ran.
    lines: Dict[int, Set[int]] = field(default_factory=dict)

    @property
    def line_count(self) -> int:
        return sum(len(lines) for lines in self.lines.values())


@dataclass
class FileEntry:
    number: int
    path: str
    display: str
    page: str
    source: SourceFile
    #: Statement -> numbers of the tests that ran it.
    line_tests: Dict[int, List[int]] = field(default_factory=dict)
    tests: List[int] = field(default_factory=list)
    #: The file's statements run by requests, only at start-up, and missed.
    tally: FileTally = field(default_factory=lambda: FileTally("", None))

    @property
    def covered(self) -> Set[int]:
        """Statements some request ran."""
        return self.tally.by_requests

    @property
    def startup_only(self) -> Set[int]:
        return self.tally.startup_only

    @property
    def missed(self) -> Set[int]:
        return self.tally.missed

    @property
    def statement_count(self) -> Optional[int]:
        return None if self.tally.statements is None else self.tally.statement_count

    @property
    def percent(self) -> Optional[float]:
        """Run by requests or at start-up, as ``gaps`` and ``coverage report`` count it."""
        return self.tally.percent if self.statement_count else None

    @property
    def percent_by_requests(self) -> Optional[float]:
        return self.tally.percent_by_requests if self.statement_count else None


@dataclass
class ReportModel:
    title: str
    tests: List[TestEntry]
    endpoints: List[EndpointEntry]
    files: List[FileEntry]
    duplicate_groups: List[DuplicateGroup]
    tally: Tally
    #: False when the records came without start-up records (a dedupData.yaml):
    #: start-up code then shows as missed, and the pages say so.
    startup_known: bool = True

    @property
    def statement_count(self) -> int:
        return self.tally.statements

    @property
    def covered_count(self) -> int:
        """Statements some request ran."""
        return self.tally.by_requests

    @property
    def startup_count(self) -> int:
        return self.tally.startup_only

    @property
    def missed_count(self) -> int:
        return self.tally.missed

    @property
    def percent(self) -> Optional[float]:
        """Run by requests or at start-up: ``gaps``' and ``coverage report``'s total."""
        return self.tally.percent if self.tally.statements else None

    @property
    def percent_by_requests(self) -> Optional[float]:
        return self.tally.percent_by_requests if self.tally.statements else None

    @property
    def redundant_tests(self) -> int:
        return sum(len(group.drop) for group in self.duplicate_groups)


def build_model(records: Sequence[RequestRecord], title: str = "requestcov report",
                exclude: Optional[str] = None,
                startup: Optional[Mapping[str, Iterable[int]]] = None) -> ReportModel:
    """``startup`` maps paths to the lines start-up records ran (none: a
    dedupData.yaml, whose start-up code then shows as missed)."""
    table = StatementTable(exclude)
    startup_known = startup is not None
    startup = {path: list(lines) for path, lines in (startup or {}).items() if lines}
    test_pages = PageNames("tests")
    file_pages = PageNames("files")
    endpoint_pages = PageNames("endpoints")

    paths = sorted({path for record in records for path, lines in record.lines.items() if lines} | set(startup))
    display_names = _display_names(paths)
    files = [
        FileEntry(number, path, display_names[path], file_pages.name(path, os.path.basename(path)),
                  load_source(path, table))
        for number, path in enumerate(paths)
    ]
    file_number = {entry.path: entry.number for entry in files}

    tests: List[TestEntry] = []
    endpoints: Dict[str, EndpointEntry] = {}
    for number, record in enumerate(records):
        label = str(record.key) or f"request {number + 1}"
        endpoint_name = record.endpoint or _NO_ENDPOINT
        test = TestEntry(number, label, record, endpoint_name,
                         test_pages.name(f"{record.test_set}\0{record.test_id}\0{number}", label))
        for path, recorded in record.lines.items():
            if not recorded:
                continue
            entry = files[file_number[path]]
            translated = tuple(table.fold(path, recorded))
            if not translated:
                continue
            test.lines[entry.number] = translated
            entry.tests.append(number)
            for line in translated:
                entry.line_tests.setdefault(line, []).append(number)
        tests.append(test)
        endpoint = endpoints.get(endpoint_name)
        if endpoint is None:
            endpoint = endpoints[endpoint_name] = EndpointEntry(
                endpoint_name, endpoint_pages.name(endpoint_name, endpoint_name)
            )
        endpoint.tests.append(number)
        test.endpoint_page = endpoint.page
        status = "none" if record.status is None else str(record.status)
        endpoint.statuses[status] = endpoint.statuses.get(status, 0) + 1
        for file_index, lines in test.lines.items():
            endpoint.lines.setdefault(file_index, set()).update(lines)

    counted = tally({entry.path: list(entry.line_tests) for entry in files}, startup, table)
    by_path = {item.path: item for item in counted.files}
    for entry in files:
        entry.tally = by_path[entry.path]
    groups = _attach_duplicates(records, tests, table)
    for endpoint in endpoints.values():
        endpoint.paths = _code_paths(tests, endpoint.tests)
    ordered_endpoints = sorted(endpoints.values(), key=lambda entry: (-len(entry.tests), entry.name))
    return ReportModel(title, tests, ordered_endpoints, files, groups, counted, startup_known)


def _display_names(paths: List[str]) -> Dict[str, str]:
    """Paths relative to the folder all measured files share, so the report
    reads ``app/views.py`` rather than a long absolute path."""
    if not paths:
        return {}
    try:
        root = os.path.commonpath([os.path.dirname(path) for path in paths])
    except ValueError:  # relative and absolute paths mixed, or several drives
        return {path: path for path in paths}
    return {path: os.path.relpath(path, root) if root not in ("", os.sep) else path for path in paths}


def _attach_duplicates(records: Sequence[RequestRecord], tests: List[TestEntry],
                       table: StatementTable) -> List[DuplicateGroup]:
    """Fill in each test's duplicates (same statements, same endpoint and
    status) and the subsumption the dedup analysis found; return its groups."""
    index = build_index(fold_records(records, table))
    buckets: Dict[Tuple[object, ...], List[int]] = {}
    for number, info in enumerate(index.tests):
        key = (info.endpoint, info.status, index.signatures[number])
        buckets.setdefault(key, []).append(number)
    for members in buckets.values():
        if len(members) > 1:
            for member in members:
                tests[member].duplicates = [other for other in members if other != member]
    result = find_duplicates(index, by=DUPLICATE_SCOPE, near=False)
    for group in result.groups:
        if group.kind == SUBSUMED:
            tests[group.keep].subsumes.extend(group.drop)
            for dropped in group.drop:
                tests[dropped].subsumed_by.append(group.keep)
    return result.groups


def _code_paths(tests: List[TestEntry], numbers: List[int]) -> List[CodePath]:
    by_lines: Dict[Tuple[Tuple[int, Tuple[int, ...]], ...], List[int]] = {}
    for number in numbers:
        signature = tuple(sorted(tests[number].lines.items()))
        by_lines.setdefault(signature, []).append(number)
    paths = [
        CodePath(members, sum(len(lines) for _, lines in signature), len(signature))
        for signature, members in by_lines.items()
    ]
    return sorted(paths, key=lambda path: (-len(path.tests), -path.line_count))
