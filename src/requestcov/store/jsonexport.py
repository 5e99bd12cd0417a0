"""The JSON export: every request record, plus the start-up code, for machines."""

from __future__ import annotations

import json
import os
from typing import Dict, Iterable, List, Set

from requestcov.records import RequestRecord
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
    requests: Iterable[RequestRecord], startup: Iterable[RequestRecord], path: "str | os.PathLike[str]"
) -> int:
    """Write ``{"requests": [...], "startup": {"pids": [...], "lines": {...}}}``.

    Requests are written one at a time so a large store never sits in memory;
    start-up lines are merged across processes, since every worker of a server
    imports the same code.
    """
    count = 0
    with atomic_text_output(path) as output:
        output.write('{"requests": [')
        for record in requests:
            output.write(",\n  " if count else "\n  ")
            output.write(json.dumps(request_to_json(record), sort_keys=False))
            count += 1
        startup_lines: Dict[str, Set[int]] = {}
        pids: List[int] = []
        for record in startup:
            pids.append(record.pid)
            for file_path, lines in record.lines.items():
                startup_lines.setdefault(file_path, set()).update(lines)
        merged = {"pids": sorted(set(pids)), "lines": {p: sorted(l) for p, l in sorted(startup_lines.items())}}
        output.write("\n], \"startup\": " + json.dumps(merged) + "}\n")
    return count
