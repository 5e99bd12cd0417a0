"""Where a recorded request goes on the app being replayed to."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["request_target"]


def request_target(url: str) -> str:
    """The path and query of a recorded URL; scheme, host and port are dropped
    because the replay sends to ``--url`` instead."""
    parts = urlsplit(url.strip())
    path = parts.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    return f"{path}?{parts.query}" if parts.query else path
