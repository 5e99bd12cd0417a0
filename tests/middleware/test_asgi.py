"""The ASGI middleware under uvicorn on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from requestcov.store import SQLiteStore
from tests.support.servers import free_port, running_server, serve_command

APPS = Path(__file__).resolve().parents[1] / "apps"


def test_websocket_and_lifespan_pass_through_and_lifespan_code_is_start_up(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    with running_server(serve_command("fastapi", port, db), port) as base_url:
        with connect(f"ws://127.0.0.1:{port}/echo", open_timeout=10, close_timeout=10) as websocket:
            websocket.send("ping")
            assert websocket.recv(timeout=10) == "PING"
        assert requests.get(base_url + "/users/4", headers={"KEPLOY-TEST-ID": "after-websocket"}, timeout=30).ok
    with SQLiteStore(db) as store:
        requests_recorded = store.records()
        startup = store.startup_records()
    # WebSocket traffic makes no request record; HTTP requests around it do.
    assert all(record.path != "/echo" for record in requests_recorded)
    assert "after-websocket" in {record.test_id for record in requests_recorded}
    # The lifespan handler ran before any request: its lines are start-up
    # lines, never charged to a request.
    logic = str(APPS / "shop_logic.py")
    total_lines = {38, 39, 40, 42, 43}  # total() of one priced item
    assert len(startup) == 1 and total_lines <= set(startup[0].lines[logic])
    assert all(not (total_lines & set(record.lines.get(logic, []))) for record in requests_recorded)


@pytest.mark.parametrize("core", ["compiled", "python"])  # each ASGI send: the compiled core's and its twin
def test_route_templates_and_statuses_are_recorded(tmp_path: Path, core: str) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    with running_server(serve_command("fastapi", port, db), port, environment={"REQUESTCOV_CORE": core}) as base_url:
        requests.get(base_url + "/users/4", headers={"KEPLOY-TEST-ID": "found"}, timeout=30)
        requests.get(base_url + "/users/400", headers={"KEPLOY-TEST-ID": "missing"}, timeout=30)
        requests.get(base_url + "/nowhere", headers={"KEPLOY-TEST-ID": "no-route"}, timeout=30)
    records = {record.test_id: record for record in SQLiteStore(db).records()}
    assert (records["found"].route, records["found"].status) == ("/users/{user_id}", 200)
    assert (records["missing"].route, records["missing"].status) == ("/users/{user_id}", 404)
    assert (records["no-route"].route, records["no-route"].status) == (None, 404)
    assert records["found"].method == "GET" and records["found"].path == "/users/4"
    assert records["found"].duration_ms > 0 and records["found"].pid > 0
