"""Tornado under ``app.listen`` with ``asyncio.run`` and with ``IOLoop.current().start()``,
recorded by ``requestcov run`` without code changes, and with the one-line
adapter ``requestcov.tornado.record(app)`` without ``requestcov run``. A
request's record holds its handler's ``initialize``, a streamed body, its
``on_finish``, a response finished later from a loop callback and a request
body streamed to ``data_received``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest

from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests)
from tests.e2e.framework_checks import check_control_endpoint, check_websocket
from tests.e2e.harness import SERVED, Spec, free_port
from tests.support.matrix import heavy

pytest.importorskip("tornado")

pytestmark = [pytest.mark.slow, heavy]

SPECS = [
    Spec("hello", "GET", "/hello", 200, "/hello",
         runs=(("tornado_server.py", "self.greeting = greeting"), ("tornado_server.py", "self.write(self.greeting)"))),
    Spec("user-even", "GET", "/users/4", 200, "/users/{1}",
         runs=(("served_logic.py", 'kind = "even"'),), skips=(("served_logic.py", 'kind = "odd"'),)),
    Spec("user-odd", "GET", "/users/7", 200, "/users/{1}",
         runs=(("served_logic.py", 'kind = "odd"'),), skips=(("served_logic.py", 'kind = "even"'),)),
    Spec("user-missing", "GET", "/users/500", 404, "/users/{1}",
         runs=(("tornado_server.py", "raise tornado.web.HTTPError(404)"),),
         skips=(("served_logic.py", "def describe_user"),)),
    Spec("price-de", "GET", "/price/DE", 200, "/price/{country}", waiting_path="/price/DE",
         runs=(("served_logic.py", "rate = 0.19"),), skips=(("served_logic.py", "rate = 0.20"),)),
    Spec("price-other", "GET", "/price/XX", 200, "/price/{country}", waiting_path="/price/XX",
         runs=(("served_logic.py", "rate = 0.0"),), skips=(("served_logic.py", "rate = 0.19"),)),
    Spec("cart", "POST", "/cart/total", 200, "/cart/total",
         json={"items": [{"price": 3, "quantity": 2}, {"price": 5, "free": True}]},
         runs=(("served_logic.py", "continue"), ("served_logic.py", 'result += item["price"]'))),
    Spec("stream", "GET", "/stream/3", 200, "/stream/{1}",
         runs=(("served_logic.py", 'yield "liftoff'), ("tornado_server.py", "await self.flush()"))),
    # on_finish runs after the response is sent.
    Spec("order", "POST", "/orders/7", 200, "/orders/{1}",
         runs=(("served_logic.py", 'log.append(("order", message))'),),
         skips=(("served_logic.py", 'log.append(("other", message))'),)),
    # Finished from a loop callback after get() returned.
    Spec("later", "GET", "/later/3", 200, "/later/{1}",
         runs=(("tornado_server.py", "self.finish()"), ("served_logic.py", 'result += item["price"]'))),
    # The body goes to an async data_received, from the connection's task.
    Spec("upload", "PUT", "/upload", 200, "/upload", json={"items": list(range(50))},
         runs=(("tornado_server.py", "self.received += len(chunk)"), ("tornado_server.py", "self.received = 0"))),
    Spec("boom", "GET", "/boom", 500, "/boom", runs=(("tornado_server.py", 'raise RuntimeError("handler failed")'),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]

#: name -> (command for a port, waiting groups: one event loop per process)
SERVERS: Dict[str, Tuple[Callable[[int], List[str]], int]] = {
    "asyncio-run": (lambda port: [sys.executable, "tornado_server.py", str(port)], 2),
    "ioloop-start": (lambda port: [sys.executable, "tornado_server.py", str(port), "--ioloop"], 2),
    # The one-line adapter, without requestcov run (ADAPTED).
    "adapter": (lambda port: [sys.executable, "tornado_adapted.py", str(port)], 2),
}

ADAPTED = {"adapter"}
APP_ROOT = SERVED
ORACLE = lambda port: [sys.executable, "tornado_server.py", str(port)]  # noqa: E731


@pytest.mark.parametrize("pattern, route", [
    (r"/hello", "/hello"),
    (r"/users/(\d+)$", "/users/{1}"),
    (r"^/users/(\d+)/orders/([0-9a-f]+)", "/users/{1}/orders/{2}"),
    (r"/users/(?P<user_id>\d+)/posts/(?P<slug>[^/]+)", "/users/{user_id}/posts/{slug}"),
    (r"/static/(.*)", "/static/{1}"),
    (r"/files/report\.csv", "/files/report.csv"),
    # Too intricate to write with placeholders (Tornado's reverse_url gives up too).
    (r"/(?:en|de)/about", "/(?:en|de)/about"),
    (r"/a/((\d+)-(\d+))", "/a/((\\d+)-(\\d+))"),
])
def test_route_template(pattern: str, route: str) -> None:
    from requestcov.tornado import route_template

    assert route_template(pattern) == route


def test_the_test_control_endpoint(tmp_path: Path) -> None:
    port = free_port()
    check_control_endpoint([sys.executable, str(SERVED / "tornado_adapted.py"), str(port)], port,
                           tmp_path / "requestcov.db")


def test_a_websocket_session_is_one_request(tmp_path: Path) -> None:
    port = free_port()
    check_websocket([sys.executable, str(SERVED / "tornado_server.py"), str(port)], SERVED, port,
                    tmp_path / "requestcov.db", "tornado_server.py")
