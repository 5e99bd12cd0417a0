"""Each request, run alone, gets exactly the lines coverage.py records for it.

coverage.py is the reference implementation of "which lines ran": if requestcov
disagrees with it on any request of the test apps, requestcov is wrong. The
requests go through real servers (werkzeug's threaded server, uvicorn) on
127.0.0.1; coverage.py measures the same requests in a separate process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import pytest
import requests

from requestcov.store import SQLiteStore
from tests.conftest import coverage_oracle
from tests.support.servers import free_port, running_server, serve_command

FLASK_REQUESTS = [
    {"id": "hello", "method": "GET", "path": "/hello"},
    {"id": "user-even", "method": "GET", "path": "/users/4"},
    {"id": "user-odd", "method": "GET", "path": "/users/7"},
    {"id": "user-missing", "method": "GET", "path": "/users/400"},
    {"id": "cart", "method": "POST", "path": "/cart/total",
     "json": {"items": [{"price": 2, "quantity": 3}, {"price": 5, "free": True}]}},
    {"id": "price-de", "method": "GET", "path": "/price/DE"},
    {"id": "price-other", "method": "GET", "path": "/price/US"},
    {"id": "stream", "method": "GET", "path": "/stream/3"},
    {"id": "meet-alone", "method": "GET", "path": "/meet/alone/2?parties=1"},
    {"id": "boom", "method": "GET", "path": "/boom"},
    # An exception caught in measured code: coverage.py skips the handler's
    # entry event (PUSH_EXC_INFO), which requestcov must match.
    {"id": "quantity-valid", "method": "GET", "path": "/quantity/3"},
    {"id": "quantity-caught", "method": "GET", "path": "/quantity/many"},
    # Two files with identical functions: their code objects compare equal.
    {"id": "twins", "method": "GET", "path": "/twins"},
    # A lambda and a one-line def, called again by a later request.
    {"id": "one-liners", "method": "GET", "path": "/one-liners/3"},
    {"id": "one-liners-again", "method": "GET", "path": "/one-liners/4"},
]

FASTAPI_REQUESTS = [
    {"id": "hello", "method": "GET", "path": "/hello"},
    {"id": "user-even", "method": "GET", "path": "/users/4"},
    {"id": "user-odd", "method": "GET", "path": "/users/7"},
    {"id": "user-missing", "method": "GET", "path": "/users/400"},
    {"id": "sync-price", "method": "GET", "path": "/sync-price/DE"},
    {"id": "order-with-background-task", "method": "POST", "path": "/orders/5"},
    {"id": "meet-alone", "method": "GET", "path": "/ameet/alone/3?parties=1"},
]


def record_solo(kind: str, specs: List[dict], db: Path, *extra: str) -> Dict[str, Dict[str, List[int]]]:
    """Send each request alone, one after the other, to a recording server."""
    port = free_port()
    with running_server(serve_command(kind, port, db, *extra), port) as base_url:
        for spec in specs:
            response = requests.request(
                spec["method"], base_url + spec["path"], json=spec.get("json"),
                headers={"KEPLOY-TEST-ID": spec["id"]}, timeout=30,
            )
            response.content
    records = {record.test_id: record for record in SQLiteStore(db).records()}
    return {spec["id"]: records[spec["id"]].lines for spec in specs}


@pytest.mark.parametrize("kind, specs", [("flask", FLASK_REQUESTS), ("fastapi", FASTAPI_REQUESTS)])
def test_every_request_matches_coverage_py(kind: str, specs: List[dict], tmp_path: Path, core: str) -> None:
    recorded = record_solo(kind, specs, tmp_path / "requestcov.db")
    expected = coverage_oracle(kind, specs)
    for spec in specs:
        assert recorded[spec["id"]] == expected[spec["id"]], spec["id"]
    # The comparison means something only if requests ran measured code.
    assert all(recorded[spec["id"]] for spec in specs)
    if kind == "flask":
        twin_files = sorted(path.rsplit("/", 1)[-1] for path in recorded["twins"])
        assert twin_files == ["flask_app.py", "twin_a.py", "twin_b.py"]


@pytest.mark.parametrize("kind, specs", [("flask", FLASK_REQUESTS), ("fastapi", FASTAPI_REQUESTS)])
def test_branch_coverage_matches_coverage_py_arcs(kind: str, specs: List[dict], tmp_path: Path) -> None:
    """With --branch each request's arcs equal coverage.py's --branch arcs,
    generators and coroutines (resumes and yields) and caught exceptions included."""
    db = tmp_path / "requestcov.db"
    record_solo(kind, specs, db, "--branch")
    records = {record.test_id: record for record in SQLiteStore(db).records()}
    expected = coverage_oracle(kind, specs, branch=True)
    for spec in specs:
        arcs = records[spec["id"]].arcs
        assert arcs is not None
        recorded = {path: [list(arc) for arc in file_arcs] for path, file_arcs in arcs.items() if file_arcs}
        assert recorded == expected[spec["id"]], spec["id"]
        # Lines stay what line coverage records: every line an arc reaches.
        assert records[spec["id"]].lines == {
            path: sorted({number for arc in file_arcs for number in arc if number > 0})
            for path, file_arcs in arcs.items()
        }
