"""Bottle through the generic WSGI middleware: ``python app.py`` on Bottle's
own wsgiref server, and gunicorn. Routes come from a Bottle plugin."""

from __future__ import annotations

import sys
from typing import Dict

import pytest

from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests)
from tests.e2e.harness import SERVED, Spec, tool

pytestmark = pytest.mark.slow

SPECS = [
    Spec("hello", "GET", "/hello", 200, "/hello", runs=(("bottle_server.py", 'return "hello"'),)),
    Spec("user-even", "GET", "/users/4", 200, "/users/<user_id:int>",
         runs=(("served_logic.py", 'kind = "even"'),), skips=(("served_logic.py", 'kind = "odd"'),)),
    Spec("user-missing", "GET", "/users/500", 404, "/users/<user_id:int>",
         runs=(("bottle_server.py", "bottle.abort(404)"),), skips=(("served_logic.py", "def describe_user"),)),
    Spec("price-fr", "GET", "/price/FR", 200, "/price/<country>",
         runs=(("served_logic.py", "rate = 0.20"),), skips=(("served_logic.py", "rate = 0.19"),)),
    Spec("cart", "POST", "/cart/total", 200, "/cart/total",
         json={"items": [{"price": 3, "quantity": 2}, {"price": 5, "free": True}]},
         runs=(("served_logic.py", "continue"),)),
    Spec("boom", "GET", "/boom", 500, "/boom", runs=(("bottle_server.py", 'raise RuntimeError("handler failed")'),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]

SERVERS: Dict[str, tuple] = {
    "python-app-py": (lambda port: [sys.executable, "bottle_server.py", str(port)], 0),
    "gunicorn": (lambda port: [tool("gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "bottle_server:app"], 0),
}


APP_ROOT = SERVED
#: A single-process server coverage.py measures alone.
ORACLE = SERVERS["python-app-py"][0]
