"""A server ``requestcov run`` cannot wrap says so, once, while it runs; the
servers it records never do. Three real servers run at once under
``requestcov run`` into one store: the standard library's ``http.server``
(nothing to wrap), werkzeug (Flask's ``app.run()``) and uvicorn (FastAPI),
and a second werkzeug server that only ever gets a bare TCP probe, as a worker
of a multi-process server may under ``requestcov run --replay``.

What the unwrapped server ran for its requests is kept out of the start-up
record, so ``gaps`` does not count it as run, and ``report`` and ``gaps`` say
that a process served requests nobody recorded."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
import requests

from requestcov.launcher.watchdog import DELAY, UNSUPPORTED
from requestcov.records import SERVED_UNRECORDED
from requestcov.store import SQLiteStore
from tests.e2e.harness import (
    OMIT,
    REQUEST_TIMEOUT,
    SERVED,
    START_TIMEOUT,
    STOP_TIMEOUT,
    clean_environment,
    free_port,
    kill_group,
    lines_with,
    tool,
    wait_until_answering,
)

pytestmark = pytest.mark.slow

SERVERS = {
    "plain": lambda port: [sys.executable, "plain_http_server.py", str(port)],
    "werkzeug": lambda port: [sys.executable, "flask_server.py", str(port)],
    "uvicorn": lambda port: [tool("uvicorn"), "--port", str(port), "fastapi_server:app"],
    "probed": lambda port: [sys.executable, "flask_server.py", str(port)],
}
#: How long after its first connection the unwrapped server may take to speak up.
SPEAKS_WITHIN = DELAY + 30.0


def _requestcov(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "requestcov.cli", *arguments], capture_output=True, text=True,
                          timeout=60, env=clean_environment(), stdin=subprocess.DEVNULL)


def _warnings(log: Path) -> List[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if UNSUPPORTED in line]


def _probe(port: int, process: subprocess.Popen) -> None:
    """Connect and hang up, without a request, once the server listens."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2.0).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"port {port} never listened")


def test_only_the_server_requestcov_cannot_wrap_says_so(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    ports = {name: free_port() for name in SERVERS}
    logs = {name: tmp_path / f"{name}.log" for name in SERVERS}
    processes: Dict[str, subprocess.Popen] = {}
    try:
        # The recorded servers get their first connection before the unwrapped
        # one: by the time it speaks up, their own checks are done.
        for name, make_command in SERVERS.items():
            with logs[name].open("w") as output:
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "requestcov.cli", "run", "--db", str(db), "--omit", OMIT, "--",
                     *make_command(ports[name])],
                    cwd=str(SERVED), env=clean_environment(), stdout=output, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )
        _probe(ports["probed"], processes["probed"])
        for name in ("werkzeug", "uvicorn", "plain"):
            wait_until_answering(f"http://127.0.0.1:{ports[name]}", processes[name], logs[name])
        for name, path in (("werkzeug", "/users/4"), ("uvicorn", "/users/4"), ("plain", "/users/7")):
            response = requests.get(f"http://127.0.0.1:{ports[name]}{path}", timeout=REQUEST_TIMEOUT)
            assert response.status_code == 200, (name, response.text)
        deadline = time.monotonic() + SPEAKS_WITHIN
        while not _warnings(logs["plain"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        # Later connections do not repeat it.
        requests.get(f"http://127.0.0.1:{ports['plain']}/users/9", timeout=REQUEST_TIMEOUT)
        time.sleep(1.0)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(STOP_TIMEOUT)
            finally:
                kill_group(process.pid)

    (warning,) = _warnings(logs["plain"])
    assert warning.startswith("requestcov: process ") and "connections but recorded no request" in warning, warning
    assert "README's Record section" in warning and "requestcov.WSGIMiddleware" in warning
    for name in ("werkzeug", "uvicorn", "probed"):
        assert _warnings(logs[name]) == [], logs[name].read_text()

    logic = SERVED / "served_logic.py"
    (odd,) = lines_with(logic, 'kind = "odd"')
    (even,) = lines_with(logic, 'kind = "even"')
    with SQLiteStore(db, create=False) as store:
        records = store.records()
        startup = store.startup_records()
    served_by = {record.pid for record in records}
    assert len(served_by) == 2 and len(records) >= 4  # two probes, two requests
    (unrecorded,) = [record for record in startup if record.test_id == SERVED_UNRECORDED]
    assert unrecorded.pid not in served_by
    # What the unwrapped server ran for its requests, and nothing else.
    assert odd in unrecorded.lines[str(logic)] and even not in unrecorded.lines[str(logic)]
    (handler,) = lines_with(SERVED / "plain_http_server.py", "self.answer(200, served_logic.describe_user")
    assert handler in unrecorded.lines[str(SERVED / "plain_http_server.py")]
    (plain_startup,) = [record for record in startup if record.pid == unrecorded.pid and record.test_id == "startup"]
    assert odd not in plain_startup.lines.get(str(logic), [])
    assert lines_with(logic, "def describe_user")[0] in plain_startup.lines[str(logic)]

    gaps = _requestcov("gaps", "--db", str(db), "--json")
    assert gaps.returncode == 0, gaps.stderr
    missing = json.loads(gaps.stdout)["files"][str(logic)]["missing"]
    assert odd in missing and even not in missing
    for completed in (gaps, _requestcov("report", "--db", str(db))):
        assert completed.returncode == 0, completed.stderr
        assert "warning: 1 server process accepted connections but recorded no request" in completed.stderr
