"""The optional test-control endpoint, for test runners that cannot set a header.

``POST /requestcov/test/start/{id}`` makes every request after it (without a
test-id header of its own) belong to test ``id``, until
``POST /requestcov/test/end/{id}``. It is off unless turned on, answers only
clients on the loopback interface unless told otherwise, and requires the
token in ``REQUESTCOV_TOKEN``, compared in constant time.

The active test is kept in a small file beside the store: a server's worker
processes share the store, and a control request reaches only one of them.
Each request checks the file's modification stamp, a single ``stat``.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Tuple
from urllib.parse import parse_qs, unquote

from requestcov.middleware.testid import clean_test_id

__all__ = ["CONTROL_PREFIX", "ActiveTest", "ControlEndpoint", "ControlResponse", "is_loopback"]

CONTROL_PREFIX = "/requestcov/test/"


def is_loopback(address: Optional[str]) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses."""
    if not address:
        return False
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(parsed, "ipv4_mapped", None)
    return bool(parsed.is_loopback or (mapped is not None and mapped.is_loopback))


class ActiveTest:
    """The test that requests without an id belong to, shared through a file."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".active-test")
        self._stamp: Optional[Tuple[int, int]] = None
        self._current: Optional[Tuple[str, str]] = None

    def current(self) -> Optional[Tuple[str, str]]:
        """(test id, test set), re-read only when the file changed."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            self._stamp = self._current = None
            return None
        stamp = (status.st_mtime_ns, status.st_size)
        if stamp != self._stamp:
            try:
                content = json.loads(self.path.read_text(encoding="utf-8"))
                self._current = (str(content["test_id"]), str(content.get("test_set", "")))
            except (OSError, ValueError, KeyError, TypeError):
                self._current = None
            self._stamp = stamp
        return self._current

    def start(self, test_id: str, test_set: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"test_id": test_id, "test_set": test_set}), encoding="utf-8")
        os.replace(temporary, self.path)

    def end(self, test_id: str) -> bool:
        """End the test if it is the active one; False when another (or none) is."""
        self._stamp = None
        active = self.current()
        if active is None or active[0] != test_id:
            return False
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self._stamp = self._current = None
        return True


@dataclass(frozen=True)
class ControlResponse:
    status: int
    body: dict

    @property
    def status_line(self) -> str:
        reasons = {200: "OK", 400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed",
                   409: "Conflict", 503: "Service Unavailable"}
        return f"{self.status} {reasons.get(self.status, 'Error')}"

    def encoded(self) -> bytes:
        return json.dumps(self.body).encode("utf-8")


class ControlEndpoint:
    def __init__(self, active: ActiveTest, token: Optional[str], allow_remote: bool) -> None:
        self.active = active
        self.token = token or None
        self.allow_remote = allow_remote

    def handle(
        self, method: str, path: str, query: str, client: Optional[str], header: Callable[[str], Optional[str]]
    ) -> ControlResponse:
        """Answer a request whose path starts with :data:`CONTROL_PREFIX`."""
        if not self.allow_remote and not is_loopback(client):
            return ControlResponse(403, {"error": "the test-control endpoint answers only on loopback"})
        if self.token is None:
            return ControlResponse(503, {"error": "set REQUESTCOV_TOKEN to use the test-control endpoint"})
        if not self._token_matches(header):
            return ControlResponse(403, {"error": "wrong or missing token"})
        if method.upper() != "POST":
            return ControlResponse(405, {"error": "use POST"})
        action, _, raw_id = path[len(CONTROL_PREFIX):].partition("/")
        test_id = clean_test_id(unquote(raw_id))
        if action not in ("start", "end") or not test_id:
            return ControlResponse(400, {"error": "use /requestcov/test/start/{id} or /requestcov/test/end/{id}"})
        if action == "start":
            test_set = clean_test_id((parse_qs(query).get("test_set") or [""])[0])
            self.active.start(test_id, test_set)
            return ControlResponse(200, {"test": test_id, "test_set": test_set, "state": "started"})
        if not self.active.end(test_id):
            return ControlResponse(409, {"error": f"test {test_id!r} is not the active test"})
        return ControlResponse(200, {"test": test_id, "state": "ended"})

    def _token_matches(self, header: Callable[[str], Optional[str]]) -> bool:
        given = header("x-requestcov-token")
        if given is None:
            authorization = header("authorization") or ""
            scheme, _, value = authorization.partition(" ")
            given = value.strip() if scheme.lower() == "bearer" else None
        if given is None or self.token is None:
            return False
        return hmac.compare_digest(given.encode("utf-8"), self.token.encode("utf-8"))
