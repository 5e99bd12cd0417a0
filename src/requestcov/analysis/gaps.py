"""Code no recorded request executed.

For every file the recordings touched: its executable statements (as
coverage.py counts them, see :mod:`requestcov.analysis.covered`), the ones
requests ran, the ones only start-up code ran (never "missed": imports and
``def`` lines run before any request), the ones nothing ran, the percentage
``coverage report`` prints on requestcov's export, and the functions nothing
ever entered — usually the most useful line of the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import List, Optional, Set, Tuple

from requestcov.analysis.covered import StatementTable, Tally, percent, tally
from requestcov.analysis.statements import FunctionSpan

__all__ = ["FileGaps", "GapsResult", "find_gaps", "line_ranges", "format_ranges"]


@dataclass
class FileGaps:
    path: str
    statements: int
    #: Statements run, by requests or at start-up (what ``coverage report`` counts as run).
    executed: int
    #: Statements some request ran.
    by_requests: int
    #: Statements only start-up code ran.
    startup_only: int
    #: Statements nothing ran.
    missing: List[int]
    #: Functions none of whose body lines ran.
    functions_never_entered: List[FunctionSpan]
    ranges: List[Tuple[int, int]]

    @property
    def percent(self) -> float:
        return percent(self.executed, self.statements)

    @property
    def percent_by_requests(self) -> float:
        return percent(self.by_requests, self.statements)


@dataclass
class GapsResult:
    files: List[FileGaps]
    #: (path, reason) of measured files that could not be analysed.
    skipped: List[Tuple[str, str]]
    #: The same figures, file by file, as every other report counts them.
    tally: Tally

    @property
    def statements(self) -> int:
        return self.tally.statements

    @property
    def executed(self) -> int:
        return self.tally.run

    @property
    def by_requests(self) -> int:
        return self.tally.by_requests

    @property
    def startup_only(self) -> int:
        return self.tally.startup_only

    @property
    def missed(self) -> int:
        return self.tally.missed

    @property
    def percent(self) -> float:
        return self.tally.percent

    @property
    def percent_by_requests(self) -> float:
        return self.tally.percent_by_requests


def find_gaps(covered: Mapping[str, Iterable[int]], exclude: Optional[str] = None,
              startup: Optional[Mapping[str, Iterable[int]]] = None,
              table: Optional[StatementTable] = None) -> GapsResult:
    """Compare ``covered`` (path -> lines some request ran) and ``startup``
    (path -> lines start-up code ran) with each file's statements. Files that
    are gone or are not Python are skipped with a reason."""
    table = table or StatementTable(exclude)
    counted = tally(covered, startup, table)
    files: List[FileGaps] = []
    for item in counted.files:
        parsed = table.parsed(item.path)
        if parsed is None:
            continue
        ran = item.run
        missing = sorted(item.missed)
        never_entered = [
            function for function in parsed.functions
            if function.line not in parsed.excluded
            and not any(line in ran for line in range(function.body_start, function.body_end + 1))
            and any(line in parsed.statements for line in range(function.body_start, function.body_end + 1))
        ]
        files.append(FileGaps(
            path=item.path, statements=item.statement_count, executed=len(ran),
            by_requests=len(item.by_requests), startup_only=len(item.startup_only), missing=missing,
            functions_never_entered=_outermost(never_entered),
            ranges=line_ranges(sorted(parsed.statements), missing),
        ))
    return GapsResult(files=files, skipped=counted.skipped, tally=counted)


def _outermost(functions: List[FunctionSpan]) -> List[FunctionSpan]:
    """Leave out functions nested in another function already listed."""
    result: List[FunctionSpan] = []
    for function in functions:
        if not any(outer.body_start <= function.line <= outer.body_end for outer in result):
            result.append(function)
    return result


def line_ranges(statements: Sequence[int], missing: Sequence[int]) -> List[Tuple[int, int]]:
    """Runs of missing statements with no executed statement between them
    (blank lines and comments do not break a run), as coverage.py groups them."""
    missing_set: Set[int] = set(missing)
    ranges: List[Tuple[int, int]] = []
    start = end = None
    for line in statements:
        if line in missing_set:
            if start is None:
                start = line
            end = line
        elif start is not None:
            ranges.append((start, end))  # type: ignore[arg-type]
            start = end = None
    if start is not None:
        ranges.append((start, end))  # type: ignore[arg-type]
    return ranges


def format_ranges(ranges: Sequence[Tuple[int, int]]) -> str:
    """``[(12, 15), (20, 20)]`` -> ``"12-15, 20"``."""
    return ", ".join(str(start) if start == end else f"{start}-{end}" for start, end in ranges)
