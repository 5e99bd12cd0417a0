"""Falcon's WSGI app (``falcon.App``) under gunicorn's threaded worker,
recorded by ``requestcov run``: the route is Falcon's ``req.uri_template``,
named by a Falcon middleware component."""

from __future__ import annotations

from typing import Dict

import pytest

from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests)
from tests.e2e.harness import SERVED, Spec, tool
from tests.support.matrix import heavy

pytest.importorskip("falcon")
pytestmark = [pytest.mark.slow, heavy]

SPECS = [
    Spec("hello", "GET", "/hello", 200, "/hello", runs=(("falcon_server.py", 'resp.text = "hello"'),)),
    Spec("user-even", "GET", "/users/4", 200, "/users/{user_id:int}",
         runs=(("served_logic.py", 'kind = "even"'),), skips=(("served_logic.py", 'kind = "odd"'),)),
    Spec("user-missing", "GET", "/users/500", 404, "/users/{user_id:int}",
         runs=(("falcon_server.py", "raise falcon.HTTPNotFound()"),),
         skips=(("served_logic.py", "def describe_user"),)),
    Spec("price-de", "GET", "/price/DE", 200, "/price/{country}", waiting_path="/price/DE",
         runs=(("served_logic.py", "rate = 0.19"),), skips=(("served_logic.py", "rate = 0.20"),)),
    Spec("cart", "POST", "/cart/total", 200, "/cart/total",
         json={"items": [{"price": 3, "quantity": 2}, {"price": 5, "free": True}]},
         runs=(("served_logic.py", "continue"),)),
    # The chunks are made while the server sends the body, after the responder returned.
    Spec("stream", "GET", "/stream/3", 200, "/stream/{count:int}",
         runs=(("served_logic.py", 'yield "liftoff'), ("falcon_server.py", "chunk.encode()"))),
    Spec("boom", "GET", "/boom", 500, "/boom", runs=(("falcon_server.py", 'raise RuntimeError("handler failed")'),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]

SERVERS: Dict[str, tuple] = {
    "gunicorn-gthread": (
        lambda port: [tool("gunicorn"), "-w", "1", "--threads", "8", "-b", f"127.0.0.1:{port}", "falcon_server:app"],
        2,
    ),
}

APP_ROOT = SERVED
#: A single-process server coverage.py measures alone.
ORACLE = lambda port: [tool("waitress-serve"), "--listen", f"127.0.0.1:{port}", "falcon_server:app"]  # noqa: E731
