"""Pyramid under ``pserve`` (PasteDeploy's ini file, waitress serving),
recorded by ``requestcov run``: the route is the pattern of the route URL
dispatch matched, named by a ``BeforeTraversal`` subscriber."""

from __future__ import annotations

import sys
from typing import Dict

import pytest

from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests)
from tests.e2e.harness import SERVED, Spec
from tests.support.matrix import heavy

pytest.importorskip("pyramid")
pytestmark = [pytest.mark.slow, heavy]

SPECS = [
    Spec("hello", "GET", "/hello", 200, "/hello", runs=(("pyramid_server.py", 'return Response("hello")'),)),
    Spec("user-even", "GET", "/users/4", 200, r"/users/{user_id:\d+}",
         runs=(("served_logic.py", 'kind = "even"'),), skips=(("served_logic.py", 'kind = "odd"'),)),
    Spec("user-missing", "GET", "/users/500", 404, r"/users/{user_id:\d+}",
         runs=(("pyramid_server.py", "raise HTTPNotFound()"),), skips=(("served_logic.py", "def describe_user"),)),
    Spec("price-de", "GET", "/price/DE", 200, "/price/{country}", waiting_path="/price/DE",
         runs=(("served_logic.py", "rate = 0.19"),), skips=(("served_logic.py", "rate = 0.20"),)),
    Spec("cart", "POST", "/cart/total", 200, "/cart/total",
         json={"items": [{"price": 3, "quantity": 2}, {"price": 5, "free": True}]},
         runs=(("served_logic.py", "continue"),)),
    # The chunks are made while the server sends the body, after the view returned.
    Spec("stream", "GET", "/stream/3", 200, "/stream/{count}",
         runs=(("served_logic.py", 'yield "liftoff'), ("pyramid_server.py", "chunk.encode()"))),
    Spec("boom", "GET", "/boom", 500, "/boom", runs=(("pyramid_server.py", 'raise RuntimeError("handler failed")'),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]

SERVERS: Dict[str, tuple] = {
    "pserve": (lambda port: [sys.executable, "-m", "pyramid.scripts.pserve", "pyramid_server.ini",
                             f"http_port={port}"], 2),
}

APP_ROOT = SERVED
#: A single-process server coverage.py measures alone.
ORACLE = lambda port: [sys.executable, "pyramid_server.py", str(port)]  # noqa: E731
