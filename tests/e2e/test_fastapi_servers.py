"""FastAPI under uvicorn (one worker, and two spawned workers) and hypercorn, recorded by
``requestcov run``: async endpoints, sync endpoints run in the threadpool and
background tasks run after the response all belong to their request."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest

from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests)
from tests.e2e.harness import SERVED, Session, Spec, tool

pytestmark = pytest.mark.slow

SPECS = [
    Spec("hello", "GET", "/hello", 200, "/hello", runs=(("fastapi_server.py", 'return {"message": "hello"}'),)),
    Spec("user-even", "GET", "/users/4", 200, "/users/{user_id}",
         runs=(("served_logic.py", 'kind = "even"'),), skips=(("served_logic.py", 'kind = "odd"'),)),
    Spec("user-odd", "GET", "/users/7", 200, "/users/{user_id}",
         runs=(("served_logic.py", 'kind = "odd"'),), skips=(("served_logic.py", 'kind = "even"'),)),
    Spec("user-missing", "GET", "/users/500", 404, "/users/{user_id}",
         runs=(("fastapi_server.py", "raise HTTPException(status_code=404)"),),
         skips=(("served_logic.py", "def describe_user"),)),
    # A sync endpoint: FastAPI runs it on a threadpool thread.
    Spec("sync-price-de", "GET", "/sync-price/DE", 200, "/sync-price/{country}", waiting_path="/sync-price/DE",
         runs=(("served_logic.py", "rate = 0.19"),), skips=(("served_logic.py", "rate = 0.20"),)),
    Spec("sync-price-fr", "GET", "/sync-price/FR", 200, "/sync-price/{country}", waiting_path="/sync-price/FR",
         runs=(("served_logic.py", "rate = 0.20"),), skips=(("served_logic.py", "rate = 0.19"),)),
    # The audit runs as a background task, after the response is sent.
    Spec("order", "POST", "/orders/7", 200, "/orders/{order_id}",
         runs=(("served_logic.py", 'log.append(("order", message))'),),
         skips=(("served_logic.py", 'log.append(("other", message))'),)),
    Spec("stream", "GET", "/stream/3", 200, "/stream/{count}", runs=(("served_logic.py", 'yield "liftoff'),)),
    Spec("boom", "GET", "/boom", 500, "/boom", runs=(("fastapi_server.py", 'raise RuntimeError("handler failed")'),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]

SERVERS: Dict[str, tuple] = {
    "uvicorn": (lambda port: [tool("uvicorn"), "--port", str(port), "fastapi_server:app"], 2),
    "hypercorn": (lambda port: [tool("hypercorn"), "--bind", f"127.0.0.1:{port}", "fastapi_server:app"], 2),
    "uvicorn-2-workers": (
        lambda port: [tool("uvicorn"), "--workers", "2", "--port", str(port), "fastapi_server:app"], 0,
    ),
}


APP_ROOT = SERVED
#: A single-process server coverage.py measures alone, on asyncio's own loop
#: (the oracle sees requests in Python's socket reads, which uvloop skips).
ORACLE = lambda port: [tool("uvicorn"), "--loop", "asyncio", "--port", str(port), "fastapi_server:app"]
#: On every interpreter (the rest on 3.11 and the newest).
LIGHT = ("uvicorn", "uvicorn-2-workers")


def test_every_worker_records(session: Session) -> None:
    """Spawned workers get the environment and the bootstrap: each one that
    imported the app wrote its start-up record."""
    importers = {
        record.pid for record in session.startup
        if any(Path(path).name == "fastapi_server.py" for path in record.lines)
    }
    assert len(importers) == (2 if session.name == "uvicorn-2-workers" else 1)
