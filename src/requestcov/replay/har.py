"""Read a HAR file (what a browser's network panel saves) as requests to replay.

Each ``log.entries[]`` item gives ``request.method``, ``request.url``,
``request.headers`` and ``request.postData.text``, and ``response.status``.
The test id is ``har-N`` (N counts entries from 1), or the entry's ``_id`` or
``comment`` when the file has one, so ids stay stable when a HAR is re-saved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from requestcov.errors import InputError
from requestcov.middleware.testid import clean_test_id
from requestcov.replay.model import LoadedRequests, ReplayRequest
from requestcov.replay.target import request_base_url, request_target

__all__ = ["load_har"]

_REPLAYABLE_SCHEMES = ("http://", "https://")


def load_har(path: "str | Path", test_set: str = "") -> LoadedRequests:
    """The HTTP requests of a HAR file; entries that cannot be sent (``data:``
    URLs, malformed items) are skipped with a warning naming file and entry."""
    source = Path(path)
    try:
        with source.open("rb") as handle:
            document = json.load(handle)
    except OSError as error:
        raise InputError(f"cannot read {source}: {error.strerror or error}") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"{source}: not a HAR file, the JSON is invalid ({error})") from error
    except RecursionError as error:
        raise InputError(f"{source}: not a HAR file, the JSON is nested too deeply") from error
    log = document.get("log") if isinstance(document, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise InputError(f"{source}: not a HAR file (no log.entries list)")
    loaded = LoadedRequests()
    for number, entry in enumerate(entries, start=1):
        try:
            loaded.requests.append(_request(source, number, entry, test_set))
        except InputError as error:
            loaded.warnings.append(str(error))
    return loaded


def _request(source: Path, number: int, entry: Any, test_set: str) -> ReplayRequest:
    where = f"{source}: entry {number}"
    request = entry.get("request") if isinstance(entry, dict) else None
    if not isinstance(request, dict):
        raise InputError(f"{where} has no request; skipped")
    method = request.get("method")
    url = request.get("url")
    if not isinstance(method, str) or not method.strip() or not isinstance(url, str):
        raise InputError(f"{where}: the request needs a method and a url; skipped")
    if not url.lower().startswith(_REPLAYABLE_SCHEMES):
        raise InputError(f"{where}: {url[:40]!r} is not an http(s) URL; skipped")
    response = entry.get("response")
    return ReplayRequest(
        test_id=_test_id(entry, number),
        test_set=test_set,
        method=method.strip().upper(),
        target=_target(where, url),
        headers=_headers(where, request.get("headers")),
        body=_body(request.get("postData")),
        expected_status=_status(response.get("status") if isinstance(response, dict) else None),
        origin=where,
        base_url=request_base_url(url),
    )


def _target(where: str, url: str) -> str:
    try:
        return request_target(url)
    except ValueError as error:  # urlsplit: "http://[::1" is not a URL
        raise InputError(f"{where}: {url[:40]!r} is not a URL ({error}); skipped") from error


def _test_id(entry: Dict[str, Any], number: int) -> str:
    for key in ("_id", "comment"):
        value = entry.get(key)
        if isinstance(value, (str, int)) and clean_test_id(str(value)):
            return clean_test_id(str(value))
    return f"har-{number}"


def _headers(where: str, raw: Any) -> Tuple[Tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InputError(f"{where}: request.headers must be a list of name/value pairs; skipped")
    headers = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InputError(f"{where}: a request header has no name; skipped")
        name = item["name"]
        if name.startswith(":"):  # HTTP/2 pseudo-headers (:authority, :path) are not headers
            continue
        headers.append((name, str(item.get("value", ""))))
    return tuple(headers)


def _body(post_data: Any) -> bytes:
    if not isinstance(post_data, dict):
        return b""
    text = post_data.get("text")
    return text.encode("utf-8") if isinstance(text, str) else b""


def _status(raw: Any) -> Optional[int]:
    # A HAR says 0 (or -1) when the browser got no response at all.
    return raw if isinstance(raw, int) and raw > 0 else None
