"""The ways an ASGI app's call can end, each driven in-process on a real
recorder and store; run as ``python -m tests.middleware.asgi_scenarios DB``
(with ``REQUESTCOV_CORE`` choosing the core), it prints one JSON line: each
scenario's outcome as the caller saw it, and the records of the store.

The apps are ``tests/apps/asgi_endings.py``, the only lines measured: this
driver calls them in its own context, as no server would, and its lines
are nobody's.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, Dict, List

import requestcov
from requestcov.recorder import current_recorder
from requestcov.store import SQLiteStore
from tests.apps import asgi_endings
from tests.apps.asgi_endings import app, not_a_coroutine


def scope_of(path: str, test_id: str) -> Dict[str, Any]:
    headers = [(b"host", b"127.0.0.1")]
    if test_id:
        headers.append((b"Keploy-Test-Id", test_id.encode("latin-1")))
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers}


async def receive() -> Dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Dict[str, Any]) -> None:
    pass


async def call(middleware: Any, path: str, test_id: str) -> str:
    try:
        result = await middleware(scope_of(path, test_id), receive, send)
    except BaseException as error:  # noqa: B902 - the outcome is what is compared
        return f"raised {type(error).__name__}"
    return f"returned {result!r}"


async def cancelled(middleware: Any, path: str, test_id: str) -> str:
    task = asyncio.ensure_future(call(middleware, path, test_id))
    await asyncio.sleep(0.05)
    task.cancel()
    try:
        return await task
    except asyncio.CancelledError:
        return "cancelled"


def closed(middleware: Any, path: str, test_id: str) -> str:
    """The server drops the call mid-way: its coroutine is closed."""
    coroutine = middleware(scope_of(path, test_id), receive, send)
    coroutine.send(None)  # to asyncio.sleep's first yield
    coroutine.close()
    return "closed"


async def scenarios() -> Dict[str, str]:
    middleware = requestcov.ASGIMiddleware(app, source=[asgi_endings.__file__], db=sys.argv[1])
    plain = requestcov.ASGIMiddleware(not_a_coroutine)
    outcomes = {
        "ok": await call(middleware, "/", "ok"),
        "routed": await call(middleware, "/routed", "routed"),
        "raise": await call(middleware, "/raise", "raise"),
        "cancelled": await cancelled(middleware, "/slow", "cancelled"),
        "shielded": await cancelled(middleware, "/shielded", "shielded"),
        "closed": closed(middleware, "/slow", "closed"),
        "awaitable": await call(plain, "/", "awaitable"),
        "sync-raise": await call(plain, "/sync-raise", "sync-raise"),
        "to-clean": await call(middleware, "/", "to\x01clean"),
        "untagged": await call(middleware, "/", ""),
        "lifespan": await call(middleware_for_lifespan(middleware), "/", "lifespan"),
    }
    return outcomes


def middleware_for_lifespan(middleware: Any) -> Any:
    async def lifespan_call(scope: Dict[str, Any], receive_: Any, send_: Any) -> Any:
        return await middleware({"type": "lifespan", "asgi": {"version": "3.0"}}, lifespan_receive, send_)

    return lifespan_call


async def lifespan_receive() -> Dict[str, Any]:
    raise RuntimeError("no lifespan here")


def main() -> None:
    outcomes = asyncio.run(scenarios())
    recorder = current_recorder()
    assert recorder is not None
    recorder.flush()
    with SQLiteStore(sys.argv[1]) as store:
        records: List[Dict[str, Any]] = [
            {"test_id": record.test_id, "path": record.path, "route": record.route, "status": record.status,
             "lines": sorted(line for lines in record.lines.values() for line in lines)}
            for record in store.records()
        ]
    print(json.dumps({"outcomes": outcomes, "records": sorted(records, key=lambda record: record["test_id"]),
                      "compiled": type(recorder._path).__name__ if recorder._path is not None else None}))


if __name__ == "__main__":
    main()
