"""Checks of a framework integration's app run as a real server, beyond the
shared session (tests/e2e/checks.py): the test-control endpoint, and a
WebSocket, whose whole session is one request."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import requests

from requestcov.store import SQLiteStore
from tests.e2e.harness import lines_with
from tests.support.servers import running_server

__all__ = ["check_control_endpoint", "check_websocket"]

TOKEN = "s3cret-token-for-tests"


def check_control_endpoint(command: Sequence[str], port: int, db: Path) -> None:
    """The requests between start and end belong to the test; the control
    requests themselves are answered by requestcov, never recorded."""
    environment = {"REQUESTCOV_DB": str(db), "REQUESTCOV_CONTROL": "1", "REQUESTCOV_TOKEN": TOKEN}
    authorised = {"Authorization": f"Bearer {TOKEN}"}
    with running_server(command, port, environment=environment) as url:
        started = requests.post(url + "/requestcov/test/start/checkout%20flow?test_set=suite-a",
                                headers=authorised, timeout=30)
        requests.get(url + "/users/4", timeout=30)
        requests.get(url + "/users/6", headers={"KEPLOY-TEST-ID": "own-id"}, timeout=30)
        refused = requests.post(url + "/requestcov/test/end/checkout%20flow", timeout=30)
        ended = requests.post(url + "/requestcov/test/end/checkout%20flow", headers=authorised, timeout=30)
        requests.get(url + "/users/8", timeout=30)
    assert (started.status_code, refused.status_code, ended.status_code) == (200, 403, 200)
    assert started.json() == {"test": "checkout flow", "test_set": "suite-a", "state": "started"}
    with SQLiteStore(db, create=False) as store:
        records: Dict[str, object] = {record.path: record for record in store.records()}
    assert (records["/users/4"].test_set, records["/users/4"].test_id) == ("suite-a", "checkout flow")
    assert records["/users/6"].test_id == "own-id"
    assert records["/users/8"].test_id.startswith("GET /users/")
    assert not any(path.startswith("/requestcov/") for path in records)


def check_websocket(command: Sequence[str], cwd: Path, port: int, db: Path, app_file: str) -> None:
    """``command`` (the app's server, run under ``requestcov run``) serves a
    WebSocket at ``/echo`` that echoes each message: the session is one
    record, status 101, holding the lines each message ran."""
    import aiohttp

    async def talk() -> List[str]:
        async with aiohttp.ClientSession() as client:
            async with client.ws_connect(f"http://127.0.0.1:{port}/echo",
                                         headers={"KEPLOY-TEST-ID": "socket-1"}) as socket:
                answers = []
                for text in ("one", "two"):
                    await socket.send_str(text)
                    answers.append(await asyncio.wait_for(socket.receive_str(), 30))
                return answers

    launched = [sys.executable, "-m", "requestcov.cli", "run", "--db", str(db), "--source", str(cwd), "--",
                *command]
    with running_server(launched, port) as url:
        answers = asyncio.run(talk())
        requests.get(url + "/hello", headers={"KEPLOY-TEST-ID": "after-socket"}, timeout=30)
    assert answers == ["echo one", "echo two"]
    with SQLiteStore(db, create=False) as store:
        records = {record.test_id: record for record in store.records()}
    socket = records["socket-1"]
    assert (socket.status, socket.route, socket.path) == (101, "/echo", "/echo")
    echo_lines = lines_with(cwd / app_file, 'echo {message')
    assert echo_lines and set(echo_lines) <= set(_lines_of(socket.lines, app_file)), socket.lines
    assert not set(echo_lines) & set(_lines_of(records["after-socket"].lines, app_file))


def _lines_of(lines_by_path: Dict[str, List[int]], file_name: str) -> List[int]:
    return [line for path, lines in lines_by_path.items() if Path(path).name == file_name for line in lines]
