"""ASGI apps whose calls end every way one can (see
``tests/middleware/asgi_scenarios.py``): returning, raising before or after
the first await, sleeping until cancelled, swallowing the cancellation, an
awaitable that is not a coroutine. Only these lines are measured there."""

from __future__ import annotations

import asyncio
from typing import Any, Dict


class Gate:
    """An awaitable of our own (not a coroutine), as some frameworks return."""

    def __await__(self) -> Any:
        yield from asyncio.sleep(0).__await__()
        return "through the gate"


async def app(scope: Dict[str, Any], receive: Any, send: Any) -> Any:
    path = scope["path"]
    if path == "/raise":
        raise KeyError("the app failed")
    if path == "/slow":
        await asyncio.sleep(30)
    if path == "/shielded":
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass  # the app swallows the cancellation and answers all the same
    scope["route"] = type("Route", (), {"path": "/templated"})() if path == "/routed" else None
    await send({"type": "http.response.start", "status": 201 if path == "/routed" else 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})
    return "returned"


def not_a_coroutine(scope: Dict[str, Any], receive: Any, send: Any) -> Any:
    if scope["path"] == "/sync-raise":
        raise ValueError("raised before any await")
    return answer_later(send)


def answer_later(send: Any) -> Gate:
    asyncio.get_event_loop().call_soon(lambda: None)
    return Gate()
