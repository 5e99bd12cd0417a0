"""Which recorded tests a change touches, and which changed code no test runs.

Inputs are plain: changed lines per absolute path (from :mod:`diff`) and the
coverage index. Recorded paths may come from another machine or a container
(``/app/shop/cart.py`` while the diff says ``shop/cart.py``), so a changed file
not recorded under its absolute path is matched by its path suffix when
exactly one recorded file ends with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

import numpy as np

from requestcov.analysis.diff import FileChange
from requestcov.analysis.index import CoverageIndex
from requestcov.analysis.statements import UnparsableSource, parse_statements

__all__ = ["ImpactResult", "find_impact", "match_recorded_file"]


@dataclass
class ImpactResult:
    #: Index-tests that executed a changed line, in index order.
    tests: List[int]
    #: Changed lines each of those tests executed: test -> path -> lines.
    lines_hit: Dict[int, Dict[str, List[int]]]
    #: Changed executable lines no recorded test executed, per file.
    untested: Dict[str, List[int]]
    #: Absolute path -> changed lines considered.
    changed: Dict[str, List[int]]
    #: Changed files recorded under another path: changed path -> recorded path.
    matched_by_suffix: Dict[str, str]


def match_recorded_file(path: str, relative: str, recorded: Set[str],
                        by_suffix: Dict[str, List[str]]) -> Optional[str]:
    """The recorded file standing for a changed file, or None."""
    if path in recorded:
        return path
    normalized = os.path.normpath(path)
    if normalized in recorded:
        return normalized
    candidates = by_suffix.get(os.path.basename(relative), [])
    suffix = "/" + relative.replace(os.sep, "/").lstrip("/")
    found = [candidate for candidate in candidates if candidate.replace(os.sep, "/").endswith(suffix)]
    return found[0] if len(found) == 1 else None


def find_impact(index: CoverageIndex, changes: Dict[str, FileChange], root: str,
                exclude: Optional[str] = None, only_recorded: bool = False) -> ImpactResult:
    """Map each changed file under ``root`` to recorded coverage and statements."""
    recorded = set(index.files)
    by_suffix: Dict[str, List[str]] = {}
    for path in index.files:
        by_suffix.setdefault(os.path.basename(path), []).append(path)
    file_number = {path: number for number, path in enumerate(index.files)}
    covered_lines = index.covered_lines_by_file()
    # Line element id of every recorded (file, line), to mark changed lines.
    element_of: Dict[Tuple[int, int], int] = {}
    line_files = index.element_file[:index.line_element_count].tolist()
    line_numbers = index.element_line[:index.line_element_count].tolist()
    for element, (number, line) in enumerate(zip(line_files, line_numbers)):
        element_of[(number, line)] = element
    changed_elements: List[int] = []

    lines_hit: Dict[int, Dict[str, List[int]]] = {}
    untested: Dict[str, List[int]] = {}
    changed: Dict[str, List[int]] = {}
    matched_by_suffix: Dict[str, str] = {}
    for relative, change in sorted(changes.items()):
        absolute = os.path.normpath(os.path.join(root, relative))
        recorded_path = match_recorded_file(absolute, relative, recorded, by_suffix)
        if recorded_path is None and (only_recorded or not relative.endswith(".py")):
            continue
        if recorded_path is not None and recorded_path != absolute:
            matched_by_suffix[absolute] = recorded_path
        lines = set(change.lines)
        statements: Optional[Set[int]] = None
        parsed = None
        if not change.deleted and os.path.isfile(absolute):
            try:
                parsed = parse_statements(absolute, exclude)
            except (OSError, UnparsableSource):
                parsed = None
            if parsed is not None:
                statements = parsed.statements
                # A change inside a multi-line statement is a change of that statement.
                lines |= {parsed.first_line(line) for line in change.lines}
        changed[absolute] = sorted(change.lines)

        executed_lines: Set[int] = set()
        if recorded_path is not None:
            number = file_number[recorded_path]
            changed_elements.extend(
                element_of[(number, line)] for line in sorted(lines) if (number, line) in element_of)
            executed_lines = set(covered_lines.get(recorded_path, ()))
            if parsed is not None:
                executed_lines = parsed.translate(executed_lines)
        if statements is not None:
            not_run = sorted((lines & statements) - executed_lines)
            if not_run:
                untested[absolute] = not_run
    _record_hits(index, changed_elements, lines_hit)
    return ImpactResult(
        tests=sorted(lines_hit), lines_hit=lines_hit, untested=untested, changed=changed,
        matched_by_suffix=matched_by_suffix,
    )


def _record_hits(index: CoverageIndex, changed_elements: List[int],
                 lines_hit: Dict[int, Dict[str, List[int]]]) -> None:
    """Note which tests ran which changed lines, in one pass over all coverage."""
    if not changed_elements:
        return
    is_changed = np.zeros(index.element_count, dtype=bool)
    is_changed[changed_elements] = True
    positions = np.flatnonzero(is_changed[index.flat])
    owners = np.searchsorted(index.offsets, positions, side="right") - 1
    for position, test in zip(positions.tolist(), owners.tolist()):
        element = int(index.flat[position])
        path = index.files[int(index.element_file[element])]
        lines_hit.setdefault(test, {}).setdefault(path, []).append(int(index.element_line[element]))
