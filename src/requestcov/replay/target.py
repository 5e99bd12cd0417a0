"""Where a recorded request goes on the app being replayed to."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["request_target", "request_base_url"]


def request_target(url: str) -> str:
    """The path and query of a recorded URL; scheme, host and port are dropped
    because the replay sends to ``--url`` instead."""
    parts = urlsplit(url.strip())
    path = parts.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    return f"{path}?{parts.query}" if parts.query else path


def request_base_url(url: str) -> str:
    """``scheme://host:port`` of a recorded absolute URL, or "" when the URL
    names no http(s) host (or an invalid port), so a malformed URL never stops
    a replay that is given ``--url`` anyway."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return ""
    try:
        port = parts.port
    except ValueError:
        return ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"
