"""Small helpers to write hand-built records in one line each."""

from __future__ import annotations

from typing import Dict, List, Optional

from requestcov.records import RequestRecord

APP = "/srv/app/app.py"
LIB = "/srv/app/lib.py"


def record(test_id: str, lines: List[int], *, other: Optional[List[int]] = None, test_set: str = "",
           method: str = "GET", route: Optional[str] = "/items", status: Optional[int] = 200,
           start: float = 0.0, duration_ms: float = 1.0, arcs: Optional[Dict] = None) -> RequestRecord:
    """A request covering ``lines`` of APP (and ``other`` lines of LIB)."""
    by_file = {APP: sorted(lines)} if lines else {}
    if other:
        by_file[LIB] = sorted(other)
    return RequestRecord(test_id=test_id, test_set=test_set, method=method, path="/items", route=route,
                         status=status, start=start, duration_ms=duration_ms, lines=by_file, arcs=arcs)
