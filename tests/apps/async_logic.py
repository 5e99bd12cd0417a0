"""Async helpers of the FastAPI test app."""

import asyncio

_waiting = {}


async def rendezvous(name, parties=2, timeout=10.0):
    """Hold a task until ``parties`` tasks reached the same name."""
    # Branch-free on purpose: the first and the last to arrive run the same lines.
    entry = _waiting.setdefault(name, {"count": 0, "event": asyncio.Event()})
    entry["count"] += 1
    entry["event"].set() if entry["count"] >= parties else None
    await asyncio.wait_for(entry["event"].wait(), timeout)


def audit(log, message):
    if message.startswith("order"):
        log.append(("order", message))
    else:
        log.append(("other", message))
