"""Every request a server answered is recorded, however the server is stopped.

A matrix of real servers under ``requestcov run`` (Werkzeug with and without
its reloader, ``flask run`` with and without ``--debug``, Django runserver with
and without autoreload, gunicorn sync, gthread and gevent, uvicorn with workers and
with ``--reload``, hypercorn, waitress, aiohttp's ``run_app``, ``python -m
aiohttp.web`` and gunicorn worker, Tornado under ``asyncio.run`` and
``IOLoop.start``) and ways to stop them (SIGTERM to the
process group and to the top process, SIGINT to the group once and twice
20 ms apart, SIGHUP, the app's own ``sys.exit`` SIGTERM handler). Each cell
sends a burst of requests with test ids, signals the server right after a
response arrived while more requests are on their way, waits for it to exit,
and checks that every request the client received a whole response for has
exactly one record.

Each server's cells run at once, on ports of their own. The matrix runs on
3.11 and on the newest Python (the interpreters that matter for the two
engines; :mod:`tests.support.matrix`); ``REQUESTCOV_FULL_MATRIX=1`` runs it on every interpreter.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pytest
import requests

from requestcov.store import SQLiteStore
from tests.support.matrix import heavy
from tests.e2e.harness import (
    DJANGO_SITE, SERVED, clean_environment, free_port, kill_group, tool, wait_until_answering,
)

pytestmark = [pytest.mark.slow, heavy]

#: Requests per cell, how many are answered before the signal, client threads.
REQUESTS = 36
SIGNAL_AFTER = 12
CLIENTS = 6
#: How long a server that a signal does not stop (gunicorn reloads on SIGHUP)
#: keeps running before the cell sends it SIGTERM.
STILL_RUNNING_AFTER = 4.0
STOP_TIMEOUT = 40.0


@dataclass(frozen=True)
class Server:
    command: Callable[[int], List[str]]
    cwd: Path = SERVED
    #: Stops that mean nothing for this server (and why, in SERVERS below).
    skip_stops: Tuple[str, ...] = ()
    #: Seconds to let it finish starting after it first answers (see ``wait_until_answering``).
    settle: float = 0.0


#: An app handler that raises SystemExit on an event loop's thread lands in
#: whichever request task runs at that moment; uvicorn and hypercorn treat it
#: as that request's error and serve on, with or without requestcov. ASGI apps
#: stop through the server's own handlers and the lifespan instead.
_ASYNCIO = ("own-exit-handler",)


#: gunicorn's master waits this long for workers to finish after a SIGTERM,
#: then kills them (30 s by default). A worker whose app raises SystemExit
#: mid-request (the app's own SIGTERM handler) has it caught by gunicorn as a
#: request error and serves on, so that cell always waits this out: 5 s keeps
#: the same ending (the master kills the workers) without 25 s of waiting.
_GUNICORN = (tool("gunicorn"), "--graceful-timeout", "5")

SERVERS: Dict[str, Server] = {
    "werkzeug": Server(lambda port: [sys.executable, "flask_server.py", str(port)]),
    "werkzeug-debug": Server(lambda port: [sys.executable, "flask_server.py", str(port), "--debug"]),
    "flask-run": Server(lambda port: [tool("flask"), "--app", "flask_server", "run", "--port", str(port)]),
    "flask-run-debug": Server(
        lambda port: [tool("flask"), "--app", "flask_server", "run", "--port", str(port), "--debug"]
    ),
    "runserver": Server(lambda port: [sys.executable, "manage.py", "runserver", str(port)], DJANGO_SITE),
    "runserver-noreload": Server(
        lambda port: [sys.executable, "manage.py", "runserver", "--noreload", str(port)], DJANGO_SITE
    ),
    "gunicorn-sync": Server(lambda port: [*_GUNICORN, "-w", "2", "-b", f"127.0.0.1:{port}", "flask_server:app"]),
    "gunicorn-gthread": Server(
        lambda port: [*_GUNICORN, "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}", "flask_server:app"]
    ),
    "gunicorn-gevent": Server(
        lambda port: [*_GUNICORN, "-w", "2", "-k", "gevent", "-b", f"127.0.0.1:{port}", "flask_server:app"]
    ),
    "uvicorn-workers": Server(
        lambda port: [tool("uvicorn"), "--workers", "2", "--port", str(port), "fastapi_server:app"],
        skip_stops=_ASYNCIO,
    ),
    "uvicorn-reload": Server(
        lambda port: [tool("uvicorn"), "--reload", "--port", str(port), "fastapi_server:app"], skip_stops=_ASYNCIO
    ),
    "hypercorn": Server(
        lambda port: [tool("hypercorn"), "-b", f"127.0.0.1:{port}", "fastapi_server:app"], skip_stops=_ASYNCIO
    ),
    "waitress": Server(lambda port: [tool("waitress-serve"), "--listen", f"127.0.0.1:{port}", "flask_server:app"]),
    # Sanic's manager, stopped before it saw its worker ready, never exits; a
    # second SIGINT makes it SIGKILL the whole process group ("Shutdown
    # interrupted. Killing."), which no process can answer by writing anything.
    "sanic": Server(
        lambda port: [tool("sanic"), "sanic_server:app", "--host", "127.0.0.1", "--port", str(port)],
        skip_stops=_ASYNCIO + ("sigint-twice",), settle=1.5,
    ),
    "sanic-single-process": Server(
        lambda port: [sys.executable, "sanic_server.py", str(port), "--single-process"], skip_stops=_ASYNCIO,
    ),
    # granian's main waits for a stopped worker with no limit by default, and a
    # WSGI worker stopped under load sometimes never ends (with or without
    # requestcov): it is killed after 5 s, as a deployment would have it, and
    # what the writer committed by then (all but the last 100 ms) is kept. An
    # ASGI worker can deadlock in granian's own signal handler when a second
    # SIGINT lands while the first one's shutdown callbacks run: its event loop
    # never runs again, so the requests it answered never finish.
    "granian-asgi": Server(
        lambda port: [tool("granian"), "--interface", "asgi", "--port", str(port), "--workers-kill-timeout", "5",
                      "fastapi_server:app"],
        skip_stops=_ASYNCIO + ("sigint-twice",),
    ),
    "granian-wsgi": Server(
        lambda port: [tool("granian"), "--interface", "wsgi", "--port", str(port), "--workers-kill-timeout", "5",
                      "flask_server:app"],
    ),
    "quart-run": Server(
        lambda port: [tool("quart"), "--app", "quart_server", "run", "--port", str(port)], skip_stops=_ASYNCIO,
    ),
    "aiohttp-run-app": Server(lambda port: [sys.executable, "aiohttp_server.py", str(port)]),
    "aiohttp-web": Server(
        lambda port: [sys.executable, "-m", "aiohttp.web", "-H", "127.0.0.1", "-P", str(port), "aiohttp_server:init"]
    ),
    "aiohttp-gunicorn": Server(
        lambda port: [tool("gunicorn"), "-w", "2", "-k", "aiohttp.GunicornWebWorker", "-b", f"127.0.0.1:{port}",
                      "aiohttp_server:app"]
    ),
    "tornado": Server(lambda port: [sys.executable, "tornado_server.py", str(port)]),
    "tornado-ioloop": Server(lambda port: [sys.executable, "tornado_server.py", str(port), "--ioloop"]),
}


def _group(signum: int) -> Callable[[int], None]:
    return lambda pid: os.killpg(pid, signum)


def _top(signum: int) -> Callable[[int], None]:
    return lambda pid: os.kill(pid, signum)


def _twice(signum: int) -> Callable[[int], None]:
    def send(pid: int) -> None:
        os.killpg(pid, signum)
        time.sleep(0.02)
        os.killpg(pid, signum)

    return send


#: stop name -> (how the signal is sent, the app installs its own SIGTERM handler)
STOPS: Dict[str, tuple] = {
    "sigterm-group": (_group(signal.SIGTERM), False),
    "sigterm-top": (_top(signal.SIGTERM), False),
    "sigint-group": (_group(signal.SIGINT), False),
    "sigint-twice": (_twice(signal.SIGINT), False),
    "sighup": (_top(signal.SIGHUP), False),
    "own-exit-handler": (_top(signal.SIGTERM), True),
}


@dataclass
class Cell:
    stop: str
    answered: List[str]
    records: Dict[str, int]
    exited: bool
    log: str

    def problems(self) -> List[str]:
        found = []
        lost = [test_id for test_id in self.answered if self.records.get(test_id, 0) == 0]
        twice = sorted(test_id for test_id, count in self.records.items() if count > 1)
        if not self.exited:
            found.append("the server did not stop")
        if lost:
            found.append(f"{len(lost)} of {len(self.answered)} answered requests not recorded: {lost[:8]}")
        if twice:
            found.append(f"recorded more than once: {twice[:8]}")
        if len(self.answered) < SIGNAL_AFTER:
            found.append(f"only {len(self.answered)} requests answered before the stop")
        return found


def _send(base_url: str, test_id: str) -> Optional[str]:
    """The test id when the whole response arrived, else None."""
    try:
        response = requests.get(f"{base_url}/users/{len(test_id)}", headers={"KEPLOY-TEST-ID": test_id},
                                timeout=10)
        response.content  # noqa: B018 - the whole body
    except requests.RequestException:
        return None
    return test_id if response.status_code == 200 else None


def _wait_for_exit(process: subprocess.Popen, timeout: float) -> bool:
    try:
        process.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def run_cell(server: Server, stop: str, workdir: Path) -> Cell:
    send_signal, own_handler = STOPS[stop]
    port = free_port()
    db = workdir / f"{stop}.db"
    log = workdir / f"{stop}.log"
    environment = clean_environment()
    if own_handler:
        environment["SERVED_OWN_SIGTERM_HANDLER"] = "sys-exit"
    command = [sys.executable, "-m", "requestcov.cli", "run", "--db", str(db), "--", *server.command(port)]
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=str(server.cwd), env=environment, stdout=output,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    answered: List[str] = []
    exited = False
    try:
        wait_until_answering(base_url, process, log, server.settle)
        signalled = threading.Event()
        lock = threading.Lock()

        def one(number: int) -> None:
            test_id = _send(base_url, f"r-{number}")
            if test_id is None:
                return
            with lock:
                answered.append(test_id)
                # Right after a response arrived, with more requests on their way.
                if len(answered) == SIGNAL_AFTER and not signalled.is_set():
                    signalled.set()
                    send_signal(process.pid)

        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(one, range(REQUESTS)))
        if not signalled.is_set():
            raise AssertionError(f"only {len(answered)} requests answered; the signal was never sent")
        exited = _wait_for_exit(process, STILL_RUNNING_AFTER)
        if not exited:  # a signal that does not stop this server (a reload): stop it now
            os.kill(process.pid, signal.SIGTERM)
            exited = _wait_for_exit(process, STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        time.sleep(0.5)  # workers that outlive their master get a moment, then the group goes
        kill_group(process.pid)
    counts: Dict[str, int] = {}
    if db.exists():
        with SQLiteStore(db, create=False) as store:
            for record in store.records():
                counts[record.test_id] = counts.get(record.test_id, 0) + 1
    return Cell(stop=stop, answered=answered, records=counts, exited=exited, log=log.read_text(errors="replace"))


def run_cells(server: Server, stops: Sequence[str], workdir: Path) -> List[Cell]:
    with ThreadPoolExecutor(len(stops)) as pool:
        return list(pool.map(lambda stop: run_cell(server, stop, workdir), stops))


@pytest.mark.parametrize("server_name", sorted(SERVERS))
def test_no_answered_request_is_lost_whatever_stops_the_server(server_name: str, tmp_path: Path) -> None:
    server = SERVERS[server_name]
    cells = run_cells(server, [stop for stop in sorted(STOPS) if stop not in server.skip_stops], tmp_path)
    failures = [(cell, problems) for cell in cells for problems in [cell.problems()] if problems]
    report = "\n\n".join(
        f"{server_name} / {cell.stop}: {'; '.join(problems)}\n--- server log (tail) ---\n{cell.log[-3000:]}"
        for cell, problems in failures
    )
    assert not failures, report


#: A record is committed within this long of its response (on the writer's
#: timer, or sooner once no new request comes).
DURABLE_WITHIN = 0.1


@pytest.mark.parametrize("server_name", ["werkzeug", "gunicorn-gthread"])
def test_an_app_that_ends_with_os_exit_loses_at_most_the_last_100_ms(server_name: str, tmp_path: Path) -> None:
    """``os._exit`` in the app's SIGTERM handler skips every flush at exit:
    only records committed while the server ran survive, and every request
    answered more than 100 ms before the signal must be among them."""
    server = SERVERS[server_name]
    port = free_port()
    db = tmp_path / "requestcov.db"
    log = tmp_path / "server.log"
    environment = clean_environment()
    environment["SERVED_OWN_SIGTERM_HANDLER"] = "os-exit"
    command = [sys.executable, "-m", "requestcov.cli", "run", "--db", str(db), "--", *server.command(port)]
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=str(server.cwd), env=environment, stdout=output,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    answered_at: Dict[str, float] = {}
    try:
        wait_until_answering(base_url, process, log)
        stop_sending = time.monotonic() + 1.5

        def client(number: int) -> None:
            sent = 0
            while time.monotonic() < stop_sending:
                test_id = _send(base_url, f"c{number}-{sent}")
                if test_id is not None:
                    answered_at[test_id] = time.monotonic()
                sent += 1

        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(client, number) for number in range(3)]
            while time.monotonic() < stop_sending - 0.5:
                time.sleep(0.05)
            signalled_at = time.monotonic()
            os.kill(process.pid, signal.SIGTERM)  # while the clients are still sending
            for future in futures:
                future.result(timeout=30)
        assert _wait_for_exit(process, STOP_TIMEOUT), log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        kill_group(process.pid)
    with SQLiteStore(db, create=False) as store:
        recorded = {record.test_id for record in store.records()}
    older = sorted(test_id for test_id, at in answered_at.items() if at < signalled_at - DURABLE_WITHIN)
    assert len(older) >= 10, f"only {len(older)} requests answered before the signal"
    lost = [test_id for test_id in older if test_id not in recorded]
    assert not lost, f"{len(lost)} of {len(older)} requests answered over 100 ms before os._exit were lost: {lost[:8]}"
