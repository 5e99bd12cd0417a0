"""Code no recorded request executed.

For every file the recordings touched: its executable statements (as
coverage.py counts them), the ones no request ran, the same percentage
``coverage report`` prints for the same traffic, and the functions no request
ever entered — usually the most useful line of the report.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

from requestcov.analysis.statements import FunctionSpan, UnparsableSource, exclusion_regex, parse_statements

__all__ = ["FileGaps", "GapsResult", "find_gaps", "line_ranges", "format_ranges"]


@dataclass
class FileGaps:
    path: str
    statements: int
    executed: int
    missing: List[int]
    #: Functions none of whose body lines ran.
    functions_never_entered: List[FunctionSpan]
    ranges: List[Tuple[int, int]]

    @property
    def percent(self) -> float:
        return 100.0 * self.executed / self.statements if self.statements else 100.0


@dataclass
class GapsResult:
    files: List[FileGaps]
    #: (path, reason) of measured files that could not be analysed.
    skipped: List[Tuple[str, str]]

    @property
    def statements(self) -> int:
        return sum(item.statements for item in self.files)

    @property
    def executed(self) -> int:
        return sum(item.executed for item in self.files)

    @property
    def percent(self) -> float:
        return 100.0 * self.executed / self.statements if self.statements else 100.0


def find_gaps(covered: Dict[str, Iterable[int]], exclude: Optional[str] = None) -> GapsResult:
    """Compare ``covered`` (path -> lines some request ran) with each file's
    statements. Files that are gone or are not Python are skipped with a reason."""
    if exclude is None:
        exclude = exclusion_regex()
    files: List[FileGaps] = []
    skipped: List[Tuple[str, str]] = []
    for path in sorted(covered):
        if not os.path.isfile(path):
            skipped.append((path, "file no longer exists"))
            continue
        try:
            parsed = parse_statements(path, exclude)
        except OSError as error:
            skipped.append((path, f"cannot read it: {error.strerror or error}"))
            continue
        except UnparsableSource as error:
            skipped.append((path, f"not parsable as Python: {error}"))
            continue
        ran = parsed.translate(covered[path])
        executed = parsed.statements & ran
        missing = sorted(parsed.statements - ran)
        never_entered = [
            function for function in parsed.functions
            if function.line not in parsed.excluded
            and not any(line in ran for line in range(function.body_start, function.body_end + 1))
            and any(line in parsed.statements for line in range(function.body_start, function.body_end + 1))
        ]
        files.append(FileGaps(
            path=path, statements=len(parsed.statements), executed=len(executed), missing=missing,
            functions_never_entered=_outermost(never_entered),
            ranges=line_ranges(sorted(parsed.statements), missing),
        ))
    return GapsResult(files=files, skipped=skipped)


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
