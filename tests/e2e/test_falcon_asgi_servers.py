"""Falcon's ASGI app (``falcon.asgi.App``) under uvicorn, recorded by
``requestcov run``: the route is Falcon's ``req.uri_template``, named by the
``*_async`` methods of the same Falcon middleware component as for WSGI."""

from __future__ import annotations

from typing import Dict

import pytest

from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests)
from tests.e2e.harness import SERVED, Spec, tool
from tests.support.matrix import heavy

pytest.importorskip("falcon")
pytestmark = [pytest.mark.slow, heavy]

SPECS = [
    Spec("hello", "GET", "/hello", 200, "/hello", runs=(("falcon_asgi_server.py", 'resp.text = "hello"'),)),
    Spec("user-odd", "GET", "/users/7", 200, "/users/{user_id:int}",
         runs=(("served_logic.py", 'kind = "odd"'),), skips=(("served_logic.py", 'kind = "even"'),)),
    Spec("user-missing", "GET", "/users/500", 404, "/users/{user_id:int}",
         runs=(("falcon_asgi_server.py", "raise falcon.HTTPNotFound()"),),
         skips=(("served_logic.py", "def describe_user"),)),
    Spec("cart", "POST", "/cart/total", 200, "/cart/total",
         json={"items": [{"price": 3, "quantity": 2}, {"price": 5, "free": True}]},
         runs=(("served_logic.py", "continue"),)),
    # The async generator runs while the app sends the body.
    Spec("stream", "GET", "/stream/3", 200, "/stream/{count:int}",
         runs=(("served_logic.py", 'yield "liftoff'), ("falcon_asgi_server.py", "yield chunk.encode()"))),
    Spec("boom", "GET", "/boom", 500, "/boom",
         runs=(("falcon_asgi_server.py", 'raise RuntimeError("handler failed")'),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]

SERVERS: Dict[str, tuple] = {
    "uvicorn": (lambda port: [tool("uvicorn"), "--port", str(port), "falcon_asgi_server:app"], 0),
}

APP_ROOT = SERVED
#: A single-process server coverage.py measures alone.
ORACLE = lambda port: [tool("uvicorn"), "--loop", "asyncio", "--port", str(port),  # noqa: E731
                       "falcon_asgi_server:app"]
