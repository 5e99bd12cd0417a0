"""Keploy's coverage-agent protocol against real multi-worker servers.

A stand-in for Keploy (tests/keploy/standin.py) listens on the data socket and
sends START/END on the control socket; between them plain ``requests`` calls
without test-id headers go to gunicorn (2 workers) or uvicorn (2 workers). The
payload of each test must be exactly the union of the store's records of that
test, and the store must hold one record per request with its test id and set.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import pytest
import requests

from requestcov.keploy.protocol import executed_lines
from requestcov.records import RequestRecord
from requestcov.records import TestKey as Key
from requestcov.store import SQLiteStore
from tests.e2e.harness import (
    OMIT, SERVED, STOP_TIMEOUT, clean_environment, free_port, kill_group, lines_with, tool, wait_until_answering,
)
from tests.keploy.standin import KeployStandIn, send_command
from tests.support.matrix import heavy
from tests.support.servers import stop

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets"), pytest.mark.slow, heavy]

REQUEST_TIMEOUT = 30.0
#: Longest path a Unix socket can have (108 bytes with the terminating zero).
_MAX_SOCKET_PATH = 100


@dataclass
class Agent:
    url: str
    db: Path
    control: Path
    data: Path
    log: Path
    process: subprocess.Popen
    #: Under requestcov run: whether the agent removed its socket and shared
    #: file once the server had stopped (looked at before the test kills
    #: what is left of the server's process group, the agent included).
    cleaned_up: Optional[bool] = None

    def records(self) -> List[RequestRecord]:
        with SQLiteStore(self.db, read_only=True) as store:
            return store.records()


@pytest.fixture
def socket_dir(tmp_path: Path) -> Iterator[Path]:
    """tmp_path, or a shorter folder when tmp_path is too long for a socket path."""
    if len(str(tmp_path / "control.sock")) <= _MAX_SOCKET_PATH:
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="rc-keploy-", dir="/tmp"))
    try:
        yield folder
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


@contextlib.contextmanager
def agent_server(command: Sequence[str], *, port: int, workdir: Path, sockets: Path,
                 launch: bool = True) -> Iterator[Agent]:
    """Serve ``command`` from tests/apps/served with the agent on: under
    ``requestcov run --keploy-agent`` (``launch``), or through the app's own
    adapter with ``REQUESTCOV_KEPLOY_AGENT=1``."""
    db, log = workdir / "requestcov.db", workdir / "server.log"
    control, data = sockets / "control.sock", sockets / "data.sock"
    environment = clean_environment()
    if launch:
        full = [sys.executable, "-m", "requestcov.cli", "run", "--db", str(db), "--omit", OMIT, "--keploy-agent",
                "--keploy-control-socket", str(control), "--keploy-data-socket", str(data), "--", *command]
    else:
        full = list(command)
        environment.update({
            "REQUESTCOV_DB": str(db), "REQUESTCOV_OMIT": OMIT, "REQUESTCOV_KEPLOY_AGENT": "1",
            "REQUESTCOV_KEPLOY_CONTROL_SOCKET": str(control), "REQUESTCOV_KEPLOY_DATA_SOCKET": str(data),
        })
    with log.open("w") as output:
        process = subprocess.Popen(full, cwd=str(SERVED), env=environment, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    agent = Agent(f"http://127.0.0.1:{port}", db, control, data, log, process)
    try:
        wait_until_answering(agent.url, process, log)
        yield agent
    finally:
        stop(process, STOP_TIMEOUT)
        if launch:
            agent.cleaned_up = all(gone(path) for path in (control, Path(f"{control}.state"),
                                                           Path(f"{control}.lock")))
        kill_group(process.pid)


def worker_pids(agent: Agent, pattern: str, count: int = 2, timeout: float = 30.0) -> List[int]:
    """The worker processes the server's log names (gunicorn's "Booting
    worker with pid: N", uvicorn's "Started server process [N]")."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [int(found) for found in re.findall(pattern, agent.log.read_text(errors="replace"))]
        if len(pids) >= count:
            return pids[:count]
        assert time.monotonic() < deadline, agent.log.read_text()
        time.sleep(0.05)


@contextlib.contextmanager
def only(worker: int, workers: Sequence[int]) -> Iterator[None]:
    """Every other worker stopped (SIGSTOP) while the block runs, so the
    requests sent in it are certainly served by ``worker``."""
    stopped = [pid for pid in workers if pid != worker]
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)


def gone(path: Path, timeout: float = 10.0) -> bool:
    """Whether ``path`` disappears within ``timeout``: the agent removes its
    files once it sees the server's process end."""
    deadline = time.monotonic() + timeout
    while path.exists():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def get(url: str, headers: Optional[Dict[str, str]] = None) -> int:
    return requests.get(url, headers=headers or {}, timeout=REQUEST_TIMEOUT).status_code


def post(url: str, json: object = None) -> int:
    return requests.post(url, json=json, timeout=REQUEST_TIMEOUT).status_code


def run_tests(agent: Agent, keploy: KeployStandIn, tests: Dict[str, List[Callable[[], int]]],
              workers: Sequence[int] = ()) -> None:
    """For each test: START, its requests four at a time, END, as Keploy
    would. With ``workers``, the test's requests are dealt out to them in
    turn, each part sent while the other workers are stopped."""
    keploy.wait_for_agent()
    with ThreadPoolExecutor(max_workers=4) as pool:
        for test, calls in tests.items():
            assert keploy.start(test) == b"ACK\n"
            parts = [(calls[index::len(workers)], worker) for index, worker in enumerate(workers)] or [(calls, 0)]
            for part, worker in parts:
                with only(worker, workers) if workers else contextlib.nullcontext():
                    statuses = list(pool.map(lambda call: call(), part))
                assert all(status < 500 for status in statuses), statuses
            assert keploy.end(test) == b"ACK\n"


def check_payloads(agent: Agent, keploy: KeployStandIn, sent: Dict[str, int]) -> Dict[str, Dict[str, List[int]]]:
    """Each test's payload is the union of its records; each request has one record."""
    by_key: Dict[Key, List[RequestRecord]] = {}
    for record in agent.records():
        by_key.setdefault(record.key, []).append(record)
    payloads = {}
    for test, count in sent.items():
        key = Key(*test.rsplit("/", 1)) if "/" in test else Key("", test)
        records = by_key.get(key, [])
        assert len(records) == count, (test, [(r.path, r.pid) for r in records])
        payload = keploy.payload(test)
        assert payload == executed_lines(records)
        assert payload, test
        assert all(os.path.isabs(path) for path in payload)
        payloads[test] = payload
    return payloads


def test_gunicorn_sync_workers_share_one_control_socket(tmp_path: Path, socket_dir: Path) -> None:
    port = free_port()
    # A stale socket file of a killed run is replaced.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(socket_dir / "control.sock"))
    stale.close()
    command = [tool("gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "flask_server:app"]
    with KeployStandIn(socket_dir / "control.sock", socket_dir / "data.sock") as keploy:
        with agent_server(command, port=port, workdir=tmp_path, sockets=socket_dir) as agent:
            url = agent.url
            tests = {
                f"test-set-0/test-{number}": [
                    *(lambda user=user: get(f"{url}/users/{user}") for user in range(number, number + 5)),
                    lambda: get(f"{url}/stream/50"),
                ]
                for number in range(1, 4)
            }
            tests["test-set-1/test-1"] = [lambda: post(f"{url}/cart/total", {"items": [{"price": 2}]}),
                                          lambda: get(f"{url}/hello")]
            workers = worker_pids(agent, r"Booting worker with pid: (\d+)")
            run_tests(agent, keploy, tests, workers)
            after = get(f"{url}/users/77")  # after END: no test
            mode = os.stat(agent.control).st_mode & 0o777
        payloads = check_payloads(agent, keploy, {test: len(calls) for test, calls in tests.items()})
    assert after == 200 and mode == 0o600
    records = agent.records()
    for test in tests:  # every test had requests in both workers
        assert {record.pid for record in records if str(record.key) == test} == set(workers)
    (untagged,) = [record for record in records if record.path == "/users/77"]
    assert untagged.test_id.startswith("GET /users/")
    logic = SERVED / "served_logic.py"
    assert set(lines_with(logic, "result += item")) <= set(payloads["test-set-1/test-1"][str(logic)])
    assert not set(lines_with(logic, "result += item")) & set(payloads["test-set-0/test-1"].get(str(logic), []))
    # The agent took its socket and shared file away with it.
    assert agent.cleaned_up


def test_uvicorn_workers_and_background_tasks(tmp_path: Path, socket_dir: Path) -> None:
    port = free_port()
    command = [tool("uvicorn"), "--workers", "2", "--host", "127.0.0.1", "--port", str(port), "fastapi_server:app"]
    with KeployStandIn(socket_dir / "control.sock", socket_dir / "data.sock") as keploy:
        with agent_server(command, port=port, workdir=tmp_path, sockets=socket_dir) as agent:
            url = agent.url
            tests = {
                "test-set-0/test-1": [lambda: post(f"{url}/orders/7"), lambda: get(f"{url}/users/3")],
                "test-set-0/test-2": [lambda: get(f"{url}/sync-price/DE"), lambda: get(f"{url}/stream/5"),
                                      lambda: get(f"{url}/users/4")],
                # A bare id, as the list form names tests: no test set.
                "test-9": [lambda: get(f"{url}/users/9"), lambda: get(f"{url}/hello")],
            }
            workers = worker_pids(agent, r"Started server process \[(\d+)\]")
            run_tests(agent, keploy, tests, workers)
        payloads = check_payloads(agent, keploy, {test: len(calls) for test, calls in tests.items()})
    for test in tests:
        assert {record.pid for record in agent.records() if str(record.key) == test} == set(workers)
    logic = str(SERVED / "served_logic.py")
    # The background task runs after the response: END waited for its record.
    assert set(lines_with(SERVED / "served_logic.py", 'log.append(("order"')) <= set(payloads["test-set-0/test-1"][logic])
    assert agent.cleaned_up


def test_adapter_with_environment_gunicorn_threads(tmp_path: Path, socket_dir: Path) -> None:
    """No launcher: REQUESTCOV_KEPLOY_AGENT=1 and the Flask adapter; one worker
    process serves the socket for both, requests on every thread count."""
    port = free_port()
    command = [tool("gunicorn"), "-w", "2", "-k", "gthread", "--threads", "2", "-b", f"127.0.0.1:{port}",
               "flask_adapted:app"]
    with KeployStandIn(socket_dir / "control.sock", socket_dir / "data.sock") as keploy:
        with agent_server(command, port=port, workdir=tmp_path, sockets=socket_dir, launch=False) as agent:
            url = agent.url
            tests = {
                "test-set-0/test-1": [lambda: get(f"{url}/users/1"), lambda: get(f"{url}/users/2"),
                                      lambda: get(f"{url}/price/DE"), lambda: get(f"{url}/price/FR")],
                # A request naming its own test keeps it; one naming the
                # current test (as Keploy's replayer does) is counted in.
                "test-set-0/test-2": [
                    lambda: get(f"{url}/users/5"),
                    lambda: get(f"{url}/users/6", {"KEPLOY-TEST-ID": "own-test"}),
                    lambda: get(f"{url}/users/8", {"KEPLOY-TEST-ID": "test-2", "KEPLOY-TEST-SET-ID": "test-set-0"}),
                ],
            }
            run_tests(agent, keploy, tests)
            # END for a test that is not the current one: answered, nothing sent.
            assert keploy.end("test-set-0/test-77") == b"ACK\n"
        check_payloads(agent, keploy, {"test-set-0/test-1": 4, "test-set-0/test-2": 2})
    (own,) = [record for record in agent.records() if record.path == "/users/6"]
    assert own.key == Key("", "own-test")
    assert [json_id for json_id in keploy.ids()] == ["test-set-0/test-1", "test-set-0/test-2"]


def test_a_live_control_socket_is_not_taken_over(tmp_path: Path, socket_dir: Path) -> None:
    control = socket_dir / "control.sock"
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(control))
    other.listen(1)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "requestcov.cli", "run", "--db", str(tmp_path / "s.db"), "--keploy-agent",
             "--keploy-control-socket", str(control), "--", sys.executable, "-c", "print('server ran')"],
            capture_output=True, text=True, timeout=60, env=clean_environment(), cwd=str(tmp_path),
        )
    finally:
        other.close()
    assert completed.returncode == 1
    assert "another program already serves" in completed.stderr and str(control) in completed.stderr
    assert "server ran" not in completed.stdout
    assert control.exists()  # still the other program's


def test_socket_options_need_the_agent(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "requestcov.cli", "run", "--keploy-data-socket", str(tmp_path / "d.sock"), "--",
         sys.executable, "-c", "pass"],
        capture_output=True, text=True, timeout=60, env=clean_environment(), cwd=str(tmp_path),
    )
    assert completed.returncode == 2 and "only applies with --keploy-agent" in completed.stderr


def test_end_waits_for_a_request_still_running_and_drops_what_is_no_command(tmp_path: Path,
                                                                           socket_dir: Path) -> None:
    """A request of the test that has not answered yet when END comes is
    waited for, and its lines are in the payload. Lines that are no command
    are dropped unanswered, as Keploy's agents drop them."""
    port = free_port()
    command = [sys.executable, "flask_server.py", str(port)]  # werkzeug, a thread per request
    with KeployStandIn(socket_dir / "control.sock", socket_dir / "data.sock") as keploy:
        with agent_server(command, port=port, workdir=tmp_path, sockets=socket_dir) as agent:
            keploy.wait_for_agent()
            assert send_command(agent.control, "HELLO test-1") == b""
            assert send_command(agent.control, "START") == b""
            assert send_command(agent.control, "START test-set-0/") == b""
            with ThreadPoolExecutor(max_workers=3) as pool:
                assert keploy.start("test-set-0/slow") == b"ACK\n"
                # Held in its handler until a second party reaches the same rendezvous.
                held = pool.submit(get, f"{agent.url}/price/DE?group=slow&parties=2")
                time.sleep(0.5)
                ended = pool.submit(keploy.end, "test-set-0/slow")
                time.sleep(0.5)
                assert not ended.done() and not held.done()
                # The second party names a test of its own: not counted in.
                assert get(f"{agent.url}/price/FR?group=slow&parties=2", {"KEPLOY-TEST-ID": "other"}) == 200
                assert held.result(REQUEST_TIMEOUT) == 200
                assert ended.result(REQUEST_TIMEOUT) == b"ACK\n"
            assert get(f"{agent.url}/users/3") == 200
        payloads = check_payloads(agent, keploy, {"test-set-0/slow": 1})
    logic = SERVED / "served_logic.py"
    lines = set(payloads["test-set-0/slow"][str(logic)])
    assert set(lines_with(logic, "rate = 0.19")) <= lines and not set(lines_with(logic, "rate = 0.20")) & lines
    (record,) = [record for record in agent.records() if record.path == "/users/3"]
    assert record.test_id.startswith("GET /users/")


def test_a_test_run_again_and_a_store_begun_anew_mid_test(tmp_path: Path, socket_dir: Path) -> None:
    """The agent finds a test's records among the rows written since the
    test began: a test id run a second time gets only its second run's
    lines, and a test during which the store was deleted (the writer begins
    a new one, with ids from 1 again) still gets its own."""
    port = free_port()
    command = [sys.executable, "flask_server.py", str(port)]
    with KeployStandIn(socket_dir / "control.sock", socket_dir / "data.sock") as keploy:
        with agent_server(command, port=port, workdir=tmp_path, sockets=socket_dir) as agent:
            url = agent.url
            run_tests(agent, keploy, {"test-set-0/test-1": [lambda: post(f"{url}/cart/total", {"items": [{"price": 2}]}),
                                                            lambda: get(f"{url}/users/1")]})
            run_tests(agent, keploy, {"test-set-0/test-1": [lambda: get(f"{url}/hello")]})
            assert keploy.start("test-set-0/test-2") == b"ACK\n"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{agent.db}{suffix}").unlink(missing_ok=True)
            assert get(f"{url}/users/2") == 200 and get(f"{url}/hello") == 200
            assert keploy.end("test-set-0/test-2") == b"ACK\n"
            second_store = agent.records()
        assert keploy.ids() == ["test-set-0/test-1", "test-set-0/test-1", "test-set-0/test-2"]
        first_run, second_run = [json.loads(data)["executedLinesByFile"] for data in keploy.raw[:2]]
        after_deletion = keploy.payload("test-set-0/test-2")
    logic, server = str(SERVED / "served_logic.py"), str(SERVED / "flask_server.py")
    assert set(lines_with(SERVED / "served_logic.py", "result += item")) <= set(first_run[logic])
    assert logic not in second_run and set(lines_with(SERVED / "flask_server.py", 'return "hello"')) <= set(second_run[server])
    assert [record.path for record in second_store] == ["/users/2", "/hello"]
    assert after_deletion == executed_lines(second_store)
    assert after_deletion[logic] and not set(lines_with(SERVED / "served_logic.py", "result += item")) & set(after_deletion[logic])
