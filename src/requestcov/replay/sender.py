"""Send recorded requests to a running app, with the test id in a header.

The standard library's :mod:`http.client` is enough and keeps the command free
of extra dependencies; it also does what a replay wants and a browser-like
client would not: no redirects followed (a recorded 302 is compared as a 302),
no proxy from the environment, headers sent as recorded, repeats included.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence
from urllib.parse import urlsplit

from requestcov.config import DEFAULT_ID_HEADER, DEFAULT_TEST_SET_HEADER
from requestcov.errors import InputError
from requestcov.replay.model import FAILED, MATCHED, MISMATCHED, UNCHECKED, ReplayRequest, ReplayResult

__all__ = ["AppAddress", "parse_app_url", "send_requests", "send_one", "LAST_TESTCASE_HEADER"]

#: What Keploy's replayer adds to the last test of each test set.
LAST_TESTCASE_HEADER = "KEPLOY-LAST-TESTCASE"

#: Headers that describe one hop or one body encoding: the client sets them
#: for the connection it makes, recorded values would be wrong.
_NOT_FORWARDED = frozenset({
    "host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailer",
    "upgrade", "proxy-connection", "proxy-authorization", "expect",
})
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class AppAddress:
    """The running app, from ``--url``: requests keep their path and query and
    get this scheme, host and port (and path prefix, when the app is mounted
    below one)."""

    scheme: str
    host: str
    port: int
    prefix: str = ""


def parse_app_url(url: str) -> AppAddress:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--url must look like http://127.0.0.1:8000, not {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise InputError(f"--url {url!r} has an invalid port ({error})") from error
    return AppAddress(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))


def send_one(
    request: ReplayRequest,
    address: AppAddress,
    *,
    timeout: float,
    id_header: str = DEFAULT_ID_HEADER,
    test_set_header: str = DEFAULT_TEST_SET_HEADER,
) -> ReplayResult:
    """Send one request and compare the answer's status with the recorded one."""
    connection: http.client.HTTPConnection
    if address.scheme == "https":
        connection = http.client.HTTPSConnection(
            address.host, address.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(address.host, address.port, timeout=timeout)
    skipped_names = {id_header.lower(), test_set_header.lower(), LAST_TESTCASE_HEADER.lower()} | _NOT_FORWARDED
    started = time.perf_counter()
    try:
        connection.putrequest(request.method, address.prefix + request.target, skip_accept_encoding=True)
        for name, value in request.headers:
            if name.lower() not in skipped_names:
                connection.putheader(name, value)
        connection.putheader(id_header, request.test_id)
        if request.test_set:
            connection.putheader(test_set_header, request.test_set)
        if request.last_in_set:
            connection.putheader(LAST_TESTCASE_HEADER, "true")
        if request.body or request.method in _METHODS_WITH_BODY:
            connection.putheader("Content-Length", str(len(request.body)))
        connection.endheaders(request.body or None)
        response = connection.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException, ValueError) as error:
        return ReplayResult(
            request, FAILED, elapsed_ms=(time.perf_counter() - started) * 1000.0, error=_describe(error)
        )
    finally:
        connection.close()
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    if request.expected_status is None:
        outcome = UNCHECKED
    else:
        outcome = MATCHED if status == request.expected_status else MISMATCHED
    return ReplayResult(request, outcome, status=status, elapsed_ms=elapsed_ms)


def send_requests(
    requests: Sequence[ReplayRequest],
    address: AppAddress,
    *,
    timeout: float = 10.0,
    concurrency: int = 1,
    id_header: str = DEFAULT_ID_HEADER,
    test_set_header: str = DEFAULT_TEST_SET_HEADER,
    on_result: Optional[Callable[[ReplayResult], None]] = None,
) -> List[ReplayResult]:
    """Send every request, ``concurrency`` at a time; results come back in the
    order of ``requests`` whatever order they finished in. ``on_result`` sees
    each one as it finishes, on the calling thread."""
    if concurrency < 1:
        raise InputError(f"--concurrency must be at least 1, not {concurrency}")

    def send(request: ReplayRequest) -> ReplayResult:
        return send_one(request, address, timeout=timeout, id_header=id_header, test_set_header=test_set_header)

    if concurrency == 1:
        results = []
        for request in requests:
            result = send(request)
            if on_result is not None:
                on_result(result)
            results.append(result)
        return results
    slots: List[Optional[ReplayResult]] = [None] * len(requests)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="requestcov-replay") as pool:
        futures = {pool.submit(send, request): index for index, request in enumerate(requests)}
        for future in as_completed(futures):
            result = future.result()
            slots[futures[future]] = result
            if on_result is not None:
                on_result(result)
    return [result for result in slots if result is not None]


def _describe(error: BaseException) -> str:
    if isinstance(error, socket.timeout):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]

