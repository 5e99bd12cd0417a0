"""Litestar under ``litestar run`` (uvicorn inside), recorded by ``requestcov run``:
the route is the template Litestar's router leaves in the scope (``path_template``),
sync handlers run on a worker thread and background tasks after the response
belong to their request."""

from __future__ import annotations

from typing import Dict

import pytest

from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests)
from tests.e2e.harness import SERVED, Spec, tool
from tests.support.matrix import heavy

pytest.importorskip("litestar")
pytestmark = [pytest.mark.slow, heavy]

SPECS = [
    Spec("hello", "GET", "/hello", 200, "/hello", runs=(("litestar_server.py", 'return "hello"'),)),
    Spec("user-even", "GET", "/users/4", 200, "/users/{user_id}",
         runs=(("served_logic.py", 'kind = "even"'),), skips=(("served_logic.py", 'kind = "odd"'),)),
    Spec("user-missing", "GET", "/users/500", 404, "/users/{user_id}",
         runs=(("litestar_server.py", "raise NotFoundException()"),), skips=(("served_logic.py", "def describe_user"),)),
    # A sync handler: Litestar runs it on a worker thread.
    Spec("sync-price-de", "GET", "/sync-price/DE", 200, "/sync-price/{country}", waiting_path="/sync-price/DE",
         runs=(("served_logic.py", "rate = 0.19"),), skips=(("served_logic.py", "rate = 0.20"),)),
    Spec("cart", "POST", "/cart/total", 200, "/cart/total",
         json={"items": [{"price": 3, "quantity": 2}, {"price": 5, "free": True}]},
         runs=(("served_logic.py", "continue"),)),
    # The audit runs as a background task, after the response is sent.
    Spec("order", "POST", "/orders/7", 200, "/orders/{order_id}",
         runs=(("served_logic.py", 'log.append(("order", message))'),),
         skips=(("served_logic.py", 'log.append(("other", message))'),)),
    Spec("stream", "GET", "/stream/3", 200, "/stream/{count}", runs=(("served_logic.py", 'yield "liftoff'),)),
    Spec("boom", "GET", "/boom", 500, "/boom", runs=(("litestar_server.py", 'raise RuntimeError("handler failed")'),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]

SERVERS: Dict[str, tuple] = {
    "litestar-run": (lambda port: [tool("litestar"), "--app", "litestar_server:app", "run", "--host", "127.0.0.1",
                                   "--port", str(port)], 2),
}

APP_ROOT = SERVED
#: A single-process server coverage.py measures alone.
ORACLE = SERVERS["litestar-run"][0]
