"""aiohttp under ``web.run_app`` (``python app.py``), ``python -m aiohttp.web``
and gunicorn's ``aiohttp.GunicornWebWorker``, recorded by ``requestcov run``
without code changes, and with the one-line adapter ``requestcov.aiohttp.setup(app)``
without ``requestcov run``. A request's record holds its middlewares, its
``on_response_prepare`` handler and the body a handler streams itself."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest

from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests)
from tests.e2e.framework_checks import check_control_endpoint, check_websocket
from tests.e2e.harness import SERVED, Session, Spec, free_port, lines_with, tool
from tests.support.matrix import heavy

pytest.importorskip("aiohttp")

pytestmark = [pytest.mark.slow, heavy]

#: Lines every request of the app runs, around its handler.
_AROUND = (("aiohttp_server.py", 'response.headers["X-Served-By"]'), ("aiohttp_server.py", '"X-Stamped"'))

SPECS = [
    Spec("hello", "GET", "/hello", 200, "/hello",
         runs=(("aiohttp_server.py", 'return web.Response(text="hello")'), *_AROUND)),
    Spec("user-even", "GET", "/users/4", 200, "/users/{user_id}",
         runs=(("served_logic.py", 'kind = "even"'),), skips=(("served_logic.py", 'kind = "odd"'),)),
    Spec("user-odd", "GET", "/users/7", 200, "/users/{user_id}",
         runs=(("served_logic.py", 'kind = "odd"'),), skips=(("served_logic.py", 'kind = "even"'),)),
    Spec("user-missing", "GET", "/users/500", 404, "/users/{user_id}",
         runs=(("aiohttp_server.py", "raise web.HTTPNotFound()"),), skips=(("served_logic.py", "def describe_user"),)),
    Spec("price-de", "GET", "/price/DE", 200, "/price/{country}", waiting_path="/price/DE",
         runs=(("served_logic.py", "rate = 0.19"),), skips=(("served_logic.py", "rate = 0.20"),)),
    Spec("price-other", "GET", "/price/XX", 200, "/price/{country}", waiting_path="/price/XX",
         runs=(("served_logic.py", "rate = 0.0"),), skips=(("served_logic.py", "rate = 0.19"),)),
    Spec("cart", "POST", "/cart/total", 200, "/cart/total",
         json={"items": [{"price": 3, "quantity": 2}, {"price": 5, "free": True}]},
         runs=(("served_logic.py", "continue"), ("served_logic.py", 'result += item["price"]'))),
    # The handler streams the body itself, after prepare().
    Spec("stream", "GET", "/stream/3", 200, "/stream/{count}",
         runs=(("served_logic.py", 'yield "liftoff'), ("aiohttp_server.py", "await response.write(chunk.encode())"))),
    # A sub-app's route, with its prefix.
    Spec("order", "POST", "/shop/orders/7", 200, "/shop/orders/{order_id}",
         runs=(("served_logic.py", 'log.append(("order", message))'),),
         skips=(("served_logic.py", 'log.append(("other", message))'),)),
    Spec("boom", "GET", "/boom", 500, "/boom", runs=(("aiohttp_server.py", 'raise RuntimeError("handler failed")'),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]

#: name -> (command for a port, waiting groups: one event loop per process)
SERVERS: Dict[str, Tuple[Callable[[int], List[str]], int]] = {
    "run-app": (lambda port: [sys.executable, "aiohttp_server.py", str(port)], 2),
    "python-m-aiohttp-web": (
        lambda port: [sys.executable, "-m", "aiohttp.web", "-H", "127.0.0.1", "-P", str(port), "aiohttp_server:init"],
        2,
    ),
    "gunicorn-worker": (
        lambda port: [tool("gunicorn"), "-w", "2", "-k", "aiohttp.GunicornWebWorker", "-b", f"127.0.0.1:{port}",
                      "aiohttp_server:app"],
        0,
    ),
    # The one-line adapter, without requestcov run (ADAPTED).
    "adapter-run-app": (lambda port: [sys.executable, "aiohttp_adapted.py", str(port)], 2),
}

ADAPTED = {"adapter-run-app"}
APP_ROOT = SERVED
ORACLE = lambda port: [sys.executable, "aiohttp_server.py", str(port)]  # noqa: E731


def test_handler_lines_are_never_startup_lines(session: Session) -> None:
    """What runs for a request is the request's, never the process's start-up
    (with ``python -m aiohttp.web`` it was, before aiohttp was recorded)."""
    handler_lines = set(lines_with(SERVED / "aiohttp_server.py", 'return web.Response(text="hello")'))
    for startup in session.startup:
        for path, lines in startup.lines.items():
            if Path(path).name == "aiohttp_server.py":
                assert not handler_lines & set(lines), startup.test_id


def test_every_worker_records(session: Session) -> None:
    """Each gunicorn worker imports the app after the fork, under the bootstrap:
    each wrote its start-up record (the adapter starts recording only after
    the import)."""
    importers = {
        record.pid for record in session.startup
        if any(Path(path).name == "aiohttp_server.py" for path in record.lines)
    }
    assert len(importers) == {"gunicorn-worker": 2, "adapter-run-app": 0}.get(session.name, 1)


def test_the_test_control_endpoint(tmp_path: Path) -> None:
    port = free_port()
    check_control_endpoint([sys.executable, str(SERVED / "aiohttp_adapted.py"), str(port)], port,
                           tmp_path / "requestcov.db")


def test_a_websocket_session_is_one_request(tmp_path: Path) -> None:
    port = free_port()
    check_websocket([sys.executable, str(SERVED / "aiohttp_server.py"), str(port)], SERVED, port,
                    tmp_path / "requestcov.db", "aiohttp_server.py")
