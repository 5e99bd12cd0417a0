"""Quart, recorded by ``requestcov run``: ``quart run`` and ``app.run()``
(both hand the app to ``hypercorn.asyncio.serve``) and ``hypercorn app:app``;
routes are named from the matched URL rule, as Flask's are."""

from __future__ import annotations

import sys
from typing import Dict

import pytest

pytest.importorskip("quart", reason="Quart does not install on this Python")

from tests.e2e.checks import *  # noqa: F401,F403,E402  (the shared tests)
from tests.e2e.harness import SERVED, Spec, tool  # noqa: E402
from tests.support.matrix import heavy

pytestmark = [pytest.mark.slow, heavy]

SPECS = [
    Spec("hello", "GET", "/hello", 200, "/hello", runs=(("quart_server.py", 'return "hello"'),)),
    Spec("user-even", "GET", "/users/4", 200, "/users/<int:user_id>",
         runs=(("served_logic.py", 'kind = "even"'),), skips=(("served_logic.py", 'kind = "odd"'),)),
    Spec("user-odd", "GET", "/users/7", 200, "/users/<int:user_id>",
         runs=(("served_logic.py", 'kind = "odd"'),), skips=(("served_logic.py", 'kind = "even"'),)),
    Spec("user-missing", "GET", "/users/500", 404, "/users/<int:user_id>",
         runs=(("quart_server.py", "abort(404)"),), skips=(("served_logic.py", "def describe_user"),)),
    Spec("price-de", "GET", "/price/DE", 200, "/price/<country>", waiting_path="/price/DE",
         runs=(("served_logic.py", "rate = 0.19"),), skips=(("served_logic.py", "rate = 0.20"),)),
    Spec("price-other", "GET", "/price/XX", 200, "/price/<country>", waiting_path="/price/XX",
         runs=(("served_logic.py", "rate = 0.0"),), skips=(("served_logic.py", "rate = 0.19"),)),
    Spec("cart", "POST", "/cart/total", 200, "/cart/total",
         json={"items": [{"price": 3, "quantity": 2}, {"price": 5, "free": True}]},
         runs=(("served_logic.py", "continue"), ("served_logic.py", 'result += item["price"]'))),
    # The async generator runs while Quart sends the body, after the view returned.
    Spec("stream", "GET", "/stream/3", 200, "/stream/<int:count>",
         runs=(("served_logic.py", 'yield "liftoff'), ("quart_server.py", "yield chunk.encode()"))),
    Spec("boom", "GET", "/boom", 500, "/boom", runs=(("quart_server.py", 'raise RuntimeError("handler failed")'),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]

#: name -> (command for a port, waiting groups: one process serves)
SERVERS: Dict[str, tuple] = {
    "quart-run": (lambda port: [tool("quart"), "--app", "quart_server", "run", "--port", str(port)], 2),
    "python-app-py": (lambda port: [sys.executable, "quart_server.py", str(port)], 2),
    "hypercorn": (lambda port: [tool("hypercorn"), "--bind", f"127.0.0.1:{port}", "quart_server:app"], 2),
}

#: Quart 0.23's runner ends with 3 after a stop by signal (its reloader's
#: word for "stopped on purpose"), with or without requestcov.
STOPPED_CODES = (3,)
APP_ROOT = SERVED
ORACLE = SERVERS["python-app-py"][0]
