"""Sanic on its own server (the ``sanic`` command and ``app.run()``, each with
its worker manager and a worker process, and ``single_process=True``) and
under uvicorn, recorded by ``requestcov run``; and the one-line adapter
``requestcov.sanic.RequestCov(app)`` on Sanic's server and under uvicorn
without the launcher, and under the launcher, which must not record twice; and
the test-control endpoint answered on Sanic's server."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List

import pytest

pytest.importorskip("sanic", reason="Sanic does not install on this Python")

from tests.e2e.checks import *  # noqa: F401,F403,E402  (the shared tests)
from tests.e2e.framework_checks import check_control_endpoint  # noqa: E402
from tests.e2e.harness import SERVED, Session, Spec, free_port, run_session, tool  # noqa: E402
from tests.support.matrix import heavy

pytestmark = [pytest.mark.slow, heavy]

SPECS = [
    Spec("hello", "GET", "/hello", 200, "/hello", runs=(("sanic_server.py", 'return text("hello")'),)),
    Spec("user-even", "GET", "/users/4", 200, "/users/<user_id:int>",
         runs=(("served_logic.py", 'kind = "even"'),), skips=(("served_logic.py", 'kind = "odd"'),)),
    Spec("user-odd", "GET", "/users/7", 200, "/users/<user_id:int>",
         runs=(("served_logic.py", 'kind = "odd"'),), skips=(("served_logic.py", 'kind = "even"'),)),
    Spec("user-missing", "GET", "/users/500", 404, "/users/<user_id:int>",
         runs=(("sanic_server.py", 'raise NotFound("no such user")'),),
         skips=(("served_logic.py", "def describe_user"),)),
    # Sanic types every parameter in its templates: <country> is <country:str>.
    Spec("price-de", "GET", "/price/DE", 200, "/price/<country:str>", waiting_path="/price/DE",
         runs=(("served_logic.py", "rate = 0.19"),), skips=(("served_logic.py", "rate = 0.20"),)),
    Spec("price-fr", "GET", "/price/FR", 200, "/price/<country:str>", waiting_path="/price/FR",
         runs=(("served_logic.py", "rate = 0.20"),), skips=(("served_logic.py", "rate = 0.19"),)),
    Spec("cart", "POST", "/cart/total", 200, "/cart/total",
         json={"items": [{"price": 3, "quantity": 2}, {"price": 5, "free": True}]},
         runs=(("served_logic.py", "continue"), ("served_logic.py", 'result += item["price"]'))),
    # The handler sends the body itself, chunk by chunk.
    Spec("stream", "GET", "/stream/3", 200, "/stream/<count:int>",
         runs=(("served_logic.py", 'yield "liftoff'), ("sanic_server.py", "await response.send(chunk)"))),
    Spec("boom", "GET", "/boom", 500, "/boom", runs=(("sanic_server.py", 'raise RuntimeError("handler failed")'),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]


def _sanic(target: str, *options: str):
    return lambda port: [tool("sanic"), target, "--host", "127.0.0.1", "--port", str(port), "--no-access-logs",
                         *options]


@dataclass(frozen=True)
class Case:
    command: Callable[[int], List[str]]
    #: Groups of requests that wait for each other in the handler (one process serves).
    waiting_groups: int = 2
    #: Under ``requestcov run``; else the app records through the adapter alone.
    launch: bool = True
    #: Seconds the server is left to finish starting after it first answers:
    #: Sanic's worker manager, stopped before it saw its worker report ready,
    #: waits for it forever (with or without requestcov).
    settle: float = 0.0


#: Sanic's manager starting its worker processes.
MANAGED = 1.5

CASES: Dict[str, Case] = {
    "sanic": Case(_sanic("sanic_server:app"), settle=MANAGED),
    "python-app-py": Case(lambda port: [sys.executable, "sanic_server.py", str(port)], settle=MANAGED),
    "python-app-py-single-process": Case(
        lambda port: [sys.executable, "sanic_server.py", str(port), "--single-process"],
    ),
    "uvicorn": Case(lambda port: [tool("uvicorn"), "--port", str(port), "sanic_server:app"]),
    "adapter-sanic": Case(_sanic("sanic_adapted:app"), launch=False, settle=MANAGED),
    "adapter-uvicorn": Case(lambda port: [tool("uvicorn"), "--port", str(port), "sanic_adapted:app"], launch=False),
    "adapter-under-requestcov-run": Case(_sanic("sanic_adapted:app", "--single-process")),
}
SERVERS = {name: (case.command, case.waiting_groups) for name, case in CASES.items()}

APP_ROOT = SERVED
#: coverage.py alone sees requests in Python's socket reads: Sanic served by
#: uvicorn on asyncio's own loop (Sanic's server would run on uvloop).
ORACLE = lambda port: [tool("uvicorn"), "--loop", "asyncio", "--port", str(port), "sanic_server:app"]


@pytest.fixture(scope="module")
def session(server_name: str, tmp_path_factory: pytest.TempPathFactory) -> Session:
    case = CASES[server_name]
    port = free_port()
    return run_session(
        server_name, case.command(port), cwd=SERVED, port=port, specs=SPECS,
        workdir=tmp_path_factory.mktemp(server_name), waiting_groups=case.waiting_groups, launch=case.launch,
        settle=case.settle,
    )


def test_every_worker_records(session: Session) -> None:
    """Sanic's worker processes get the launcher's bootstrap (or run the
    adapter again as they import the app): each one that imported the app
    wrote its start-up record, and the requests came from the workers."""
    importers = {
        record.pid for record in session.startup
        if any(Path(path).name == "sanic_server.py" for path in record.lines)
    }
    serving = {record.pid for record in session.records}
    assert serving
    if session.name in IMPORTERS:
        assert serving <= importers, (serving, importers)
        assert len(importers) == IMPORTERS[session.name], importers


#: The processes that import the app under requestcov run: the sanic command
#: imports it to find it, then the worker does; ``python sanic_server.py``
#: runs it, and every process ``multiprocessing`` spawns for it (the worker and
#: Sanic's shared-state manager) runs the script again as ``__mp_main__``.
IMPORTERS = {"sanic": 2, "python-app-py": 3, "python-app-py-single-process": 1, "uvicorn": 1}


def test_the_test_control_endpoint(tmp_path: Path) -> None:
    port = free_port()
    check_control_endpoint([sys.executable, str(SERVED / "sanic_adapted.py"), str(port)], port,
                           tmp_path / "requestcov.db")
