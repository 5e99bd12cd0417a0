"""Teamscale's open Testwise Coverage format: per-test coverage that test-gap
and test-impact tools read.

The file is ``{"partial": false, "tests": [test, ...]}``, each test
``{"uniformPath", "sourcePath", "content", "duration", "result", "paths"}``,
``paths`` a list of ``{"path": folder, "files": [{"fileName", "coveredLines"}]}``
with ``coveredLines`` written as ranges (``"1-5,7"``) — the model of
Teamscale's own report writer (``com.teamscale.report.testwise.model``).

A test's ``uniformPath`` is ``test-set/test-id`` (the id alone when it has no
test set); the requests of one test are one entry, their durations summed and
their lines merged. Folders are given relative to the current directory when
the file is inside it, as Teamscale matches them against repository paths;
other files keep their absolute folder.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Set

from requestcov.records import SERVED_UNRECORDED, RequestRecord
from requestcov.store.atomic import atomic_text_output

__all__ = ["write_testwise", "line_ranges", "result_of", "uniform_path"]

#: pytest outcome -> Teamscale's ETestExecutionResult. An expected failure is
#: reported as skipped, as pytest's own JUnit XML does.
_PYTEST_RESULTS = {
    "passed": "PASSED", "xpassed": "PASSED", "skipped": "SKIPPED", "xfailed": "SKIPPED",
    "interrupted": "ERROR", "failed": "FAILURE",
}
#: How bad each result is: a test of several requests gets its worst one.
_SEVERITY = {"PASSED": 0, "SKIPPED": 1, "FAILURE": 2, "ERROR": 3}


def line_ranges(lines: Iterable[int]) -> str:
    """``[1, 2, 3, 5, 7, 8]`` -> ``"1-3,5,7-8"``."""
    parts: List[str] = []
    ordered = sorted(set(lines))
    index = 0
    while index < len(ordered):
        start = ordered[index]
        end = start
        while index + 1 < len(ordered) and ordered[index + 1] == end + 1:
            index += 1
            end = ordered[index]
        parts.append(str(start) if start == end else f"{start}-{end}")
        index += 1
    return ",".join(parts)


def _pytest_outcomes() -> Dict[int, str]:
    """The pytest plugin's status -> outcome map; the plugin's package needs
    pytest, which is not installed everywhere a store is exported."""
    try:
        from requestcov.pytest_plugin.outcomes import OUTCOMES
    except ImportError:
        return {}
    return OUTCOMES


def result_of(record: RequestRecord, outcomes: Optional[Dict[int, str]] = None) -> str:
    """The Testwise result of one record. Records of the pytest plugin (no
    HTTP method; their status is a pytest outcome, see
    :mod:`requestcov.pytest_plugin.outcomes`) map by outcome when pytest is
    installed; requests pass with a 2xx or 3xx answer, fail with any other,
    and are errors with none."""
    outcomes = _pytest_outcomes() if outcomes is None else outcomes
    if not record.method and record.status in outcomes:
        return _PYTEST_RESULTS[outcomes[record.status]]
    if record.status is None:
        return "ERROR"
    return "PASSED" if 200 <= record.status < 400 else "FAILURE"


def uniform_path(record: RequestRecord) -> str:
    return f"{record.test_set}/{record.test_id}" if record.test_set else record.test_id


def _folder_and_name(file_path: str, here: str) -> "tuple[str, str]":
    folder, name = os.path.split(file_path)
    try:
        relative = os.path.relpath(folder, here)
    except ValueError:  # pragma: no cover - another drive on Windows
        relative = folder
    if relative == ".":
        return "", name
    if not relative.startswith(".."):
        folder = relative
    return folder.replace(os.sep, "/"), name


def _paths(lines: Dict[str, Set[int]], here: str) -> List[dict]:
    folders: Dict[str, List[dict]] = {}
    for file_path in sorted(lines):
        if not lines[file_path]:
            continue
        folder, name = _folder_and_name(file_path, here)
        folders.setdefault(folder, []).append({"fileName": name, "coveredLines": line_ranges(lines[file_path])})
    return [{"path": folder, "files": files} for folder, files in sorted(folders.items())]


def _tests(records: Iterable[RequestRecord]) -> Iterator[Sequence[RequestRecord]]:
    """The records grouped by test; each test's records must come together
    (as :func:`requestcov.commands.export.natural_records` yields them)."""
    group: List[RequestRecord] = []
    for record in records:
        if record.test_id == SERVED_UNRECORDED:
            continue
        if group and record.key != group[0].key:
            yield group
            group = []
        group.append(record)
    if group:
        yield group


def _test_entry(group: Sequence[RequestRecord], here: str, outcomes: Dict[int, str]) -> dict:
    lines: Dict[str, Set[int]] = {}
    for record in group:
        for file_path, numbers in record.lines.items():
            lines.setdefault(file_path, set()).update(numbers)
    result = max((result_of(record, outcomes) for record in group), key=_SEVERITY.__getitem__)
    name = uniform_path(group[0])
    return {
        "uniformPath": name,
        # Teamscale's own writers give the uniform path here unless a test
        # runs code inherited from elsewhere; a recorded test has no source.
        "sourcePath": name,
        "content": None,
        "duration": round(sum(record.duration_ms for record in group) / 1000.0, 6),
        "result": result,
        "paths": _paths(lines, here),
    }


def write_testwise(records: Iterable[RequestRecord], path: "str | os.PathLike[str]",
                   here: Optional[str] = None) -> int:
    """Write a Testwise Coverage report, one test at a time so a large store
    never sits in memory; returns how many records went into it. ``here`` is
    the folder paths are made relative to (default: the current one)."""
    base = os.path.abspath(here or os.getcwd())
    outcomes = _pytest_outcomes()
    count = tests = 0
    with atomic_text_output(path) as output:
        output.write('{"partial": false, "tests": [')
        for group in _tests(records):
            output.write(",\n  " if tests else "\n  ")
            output.write(json.dumps(_test_entry(group, base, outcomes)))
            tests += 1
            count += len(group)
        output.write("\n]}\n" if tests else "]}\n")
    return count
