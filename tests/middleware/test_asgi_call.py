"""Every way an ASGI app's call ends, recorded the same by the compiled call
and by its Python reference: returned, raised before or after its first
await, cancelled, swallowing its cancellation, closed by the server, an
awaitable that is not a coroutine; a header to clean, no test id, a scope
that is not HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


def _run(core: str, db: Path) -> Dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.middleware.asgi_scenarios", str(db)], cwd=str(REPOSITORY),
        env={**os.environ, "PYTHONPATH": str(REPOSITORY), "REQUESTCOV_CORE": core},
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Dict[str, Any]]:
    folder = tmp_path_factory.mktemp("asgi-call")
    return {core: _run(core, folder / f"{core}.db") for core in ("compiled", "python")}


def test_both_calls_end_every_request_alike(runs: Dict[str, Dict[str, Any]]) -> None:
    assert runs["compiled"]["compiled"] == "RequestPath" and runs["python"]["compiled"] is None
    assert runs["compiled"]["outcomes"] == runs["python"]["outcomes"]
    assert runs["compiled"]["records"] == runs["python"]["records"]


@pytest.mark.parametrize("core", ["compiled", "python"])
def test_each_ending_reaches_the_caller_and_the_store(runs: Dict[str, Dict[str, Any]], core: str) -> None:
    outcomes, records = runs[core]["outcomes"], {record["test_id"]: record for record in runs[core]["records"]}
    assert outcomes == {
        "ok": "returned None", "routed": "returned None", "raise": "raised KeyError",
        "cancelled": "raised CancelledError", "shielded": "returned None", "closed": "closed",
        "awaitable": "returned None", "sync-raise": "raised ValueError",
        "to-clean": "returned None", "untagged": "returned None", "lifespan": "raised KeyError",
    }
    statuses = {test_id: (record["route"], record["status"]) for test_id, record in records.items()}
    assert statuses == {
        "ok": (None, 200), "routed": ("/templated", 201), "raise": (None, 500), "cancelled": (None, 500),
        "shielded": (None, 200), "closed": (None, 500), "awaitable": (None, None), "sync-raise": (None, 500),
        "toclean": (None, 200), "GET / #1": (None, 200),
    }
    # Each request's own lines: the cancelled and the closed one stopped in
    # the same sleep; the shielded one went on to answer.
    assert records["cancelled"]["lines"] == records["closed"]["lines"]
    assert max(records["shielded"]["lines"]) > max(records["cancelled"]["lines"])
    assert records["ok"]["lines"] and records["raise"]["lines"] != records["ok"]["lines"]
