"""The JSON export: every request record, plus the start-up code, for machines."""

from __future__ import annotations

import json
import os
from typing import Dict, Iterable, Optional, Set, Tuple

from requestcov.records import SERVED_UNRECORDED, RequestRecord
from requestcov.store.atomic import atomic_text_output

__all__ = ["write_json", "request_to_json"]


def request_to_json(record: RequestRecord) -> dict:
    entry = {
        "id": record.test_id,
        "test_set": record.test_set,
        "method": record.method,
        "path": record.path,
        "route": record.route,
        "status": record.status,
        "pid": record.pid,
        "start": record.start,
        "duration_ms": round(record.duration_ms, 3),
        "lines": {path: list(lines) for path, lines in sorted(record.lines.items())},
    }
    if record.arcs is not None:
        entry["arcs"] = {path: [list(arc) for arc in arcs] for path, arcs in sorted(record.arcs.items())}
    # The version of each file it ran; a file missing here is of unknown version.
    entry["versions"] = {
        path: {"sha256": version.sha256, "commit": version.commit, "repository": version.repo}
        for path, version in sorted(record.versions.items())
    }
    return entry


def write_json(
    requests: Iterable[RequestRecord], startup: Iterable[RequestRecord], path: "str | os.PathLike[str]",
    exclude: Optional[str] = None,
) -> int:
    """Write ``{"requests": [...], "startup": {"pids": [...], "lines": {...}},
    "served_unrecorded": {...}, "statements": {...}}``.

    Each request's ``lines`` are its recorded lines (a multi-line statement may
    show several). Requests are written one at a time so a large store never
    sits in memory; start-up lines are merged across processes, since every
    worker of a server imports the same code. ``served_unrecorded`` holds what
    servers ran for requests nobody recorded, kept apart from start-up since
    nothing counts it as run. ``statements`` gives the totals and per-file
    figures ``requestcov gaps`` prints (:mod:`requestcov.analysis.covered`).
    """
    from requestcov.analysis.covered import StatementTable, tally

    count = 0
    union: Dict[str, Set[int]] = {}
    with atomic_text_output(path) as output:
        output.write('{"requests": [')
        for record in requests:
            output.write(",\n  " if count else "\n  ")
            output.write(json.dumps(request_to_json(record), sort_keys=False))
            for file_path, lines in record.lines.items():
                union.setdefault(file_path, set()).update(lines)
            count += 1
        merged: Dict[str, Tuple[Set[int], Dict[str, Set[int]]]] = {
            "startup": (set(), {}), SERVED_UNRECORDED: (set(), {}),
        }
        for record in startup:
            pids, by_file = merged[SERVED_UNRECORDED if record.test_id == SERVED_UNRECORDED else "startup"]
            pids.add(record.pid)
            for file_path, lines in record.lines.items():
                by_file.setdefault(file_path, set()).update(lines)
        parts = {
            name: {"pids": sorted(pids), "lines": {p: sorted(lines) for p, lines in sorted(by_file.items())}}
            for name, (pids, by_file) in merged.items()
        }
        counted = tally(union, merged["startup"][1], StatementTable(exclude))
        statements = counted.to_json()
        statements["files"] = {
            item.path: {
                "statements": item.statement_count if item.statements is not None else None,
                "run_by_requests": len(item.by_requests), "startup_only": len(item.startup_only),
                "missed": len(item.missed), "missing": sorted(item.missed),
                **({"skipped": item.problem} if item.statements is None else {}),
            }
            for item in counted.files
        }
        output.write("\n], \"startup\": " + json.dumps(parts["startup"])
                     + ", \"served_unrecorded\": " + json.dumps(parts[SERVED_UNRECORDED])
                     + ", \"statements\": " + json.dumps(statements) + "}\n")
    return count
