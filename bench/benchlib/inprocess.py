"""Requests sent straight through the WSGI/ASGI interface, no sockets.

This isolates the recorder's cost: no network stack, no server, no client
sharing the two cores. Each rotation of the request mix is timed as a unit.
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
from typing import Any, Callable, List, Sequence, Tuple

from benchlib.mix import MIX, Spec


def wsgi_environ(spec: Spec, test_id: str) -> dict:
    environ = {
        "REQUEST_METHOD": spec.method, "SCRIPT_NAME": "", "PATH_INFO": spec.path,
        "QUERY_STRING": spec.query, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1",
        "HTTP_KEPLOY_TEST_ID": test_id, "CONTENT_LENGTH": str(len(spec.body)),
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(spec.body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if spec.body:
        environ["CONTENT_TYPE"] = "application/json"
    return environ


def call_wsgi(app: Callable, spec: Spec, test_id: str) -> int:
    status: List[str] = []

    def start_response(line: str, headers: list, exc_info: Any = None) -> Callable:
        status.append(line)
        return lambda data: None

    body = app(wsgi_environ(spec, test_id), start_response)
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return int(status[0].split(" ", 1)[0])


async def call_asgi(app: Callable, spec: Spec, test_id: str) -> int:
    headers = [(b"host", b"127.0.0.1"), (b"keploy-test-id", test_id.encode())]
    if spec.body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(spec.body)).encode())]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": spec.method,
        "scheme": "http", "path": spec.path, "raw_path": spec.path.encode(), "root_path": "",
        "query_string": spec.query.encode(), "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }
    sent = False
    status: List[int] = []

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": spec.body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


def run(app: Callable, interface: str, *, warmup: int, requests: int, max_seconds: float,
        first_id: int = 0, test_ids: bool = True, mix: Sequence[Spec] = MIX,
        after_warmup: Callable[[], Any] = lambda: None) -> Tuple[List[float], int]:
    """Send ``warmup`` then up to ``requests`` requests of ``mix`` (stopping
    early after ``max_seconds``); return the per-request time of each timed
    rotation of the mix, in seconds, and the number of timed requests.
    ``after_warmup`` runs between the two."""
    rotations = max(1, requests // len(mix))
    warm_rotations = max(1, warmup // len(mix))
    prefix = "bench" if test_ids else ""
    if interface == "wsgi":
        return _run_wsgi(app, mix, warm_rotations, rotations, max_seconds, first_id, prefix, after_warmup)
    return asyncio.run(_run_asgi(app, mix, warm_rotations, rotations, max_seconds, first_id, prefix, after_warmup))


def _check(status: int, spec: Spec) -> None:
    if status != spec.expect:
        raise RuntimeError(f"{spec.method} {spec.target} answered {status}, not {spec.expect}")


def _run_wsgi(app: Callable, mix: Sequence[Spec], warm: int, rotations: int, max_seconds: float,
              first_id: int, prefix: str, after_warmup: Callable[[], Any]):
    clock = time.perf_counter
    number = first_id
    for _ in range(warm):
        for spec in mix:
            number += 1
            _check(call_wsgi(app, spec, f"warm-{number}" if prefix else ""), spec)
    after_warmup()
    samples: List[float] = []
    deadline = clock() + max_seconds
    for _ in range(rotations):
        started = clock()
        for spec in mix:
            number += 1
            _check(call_wsgi(app, spec, f"{prefix}-{number}" if prefix else ""), spec)
        samples.append((clock() - started) / len(mix))
        if clock() > deadline:
            break
    return samples, len(samples) * len(mix)


async def _run_asgi(app: Callable, mix: Sequence[Spec], warm: int, rotations: int, max_seconds: float,
                    first_id: int, prefix: str, after_warmup: Callable[[], Any]):
    clock = time.perf_counter
    number = first_id
    for _ in range(warm):
        for spec in mix:
            number += 1
            _check(await call_asgi(app, spec, f"warm-{number}" if prefix else ""), spec)
    after_warmup()
    samples: List[float] = []
    deadline = clock() + max_seconds
    for _ in range(rotations):
        started = clock()
        for spec in mix:
            number += 1
            _check(await call_asgi(app, spec, f"{prefix}-{number}" if prefix else ""), spec)
        samples.append((clock() - started) / len(mix))
        if clock() > deadline:
            break
    return samples, len(samples) * len(mix)
