"""coverage.py alone in a served app's process: the oracle of the e2e tests.

Put on ``PYTHONPATH`` (by :func:`tests.e2e.harness.run_oracle`) with
``ORACLE_DATA`` set, it starts coverage.py at interpreter start and switches
its context to the test id of each request as the server reads the request's
bytes off the socket (``socket.recv``/``recv_into``, which every pure-Python
server and asyncio's own loop use; uvloop reads in C, so it is kept out of
the oracle's process). Requests are sent one at a time, so each context
holds exactly the lines one request ran. Data is saved at each switch, so the
request before a final marker request is on disk whatever way the server
stops. requestcov never runs in this process.
"""

import os
import re
import socket
import sys
import threading

import coverage

_ID = re.compile(rb"\r\nkeploy-test-id:[ \t]*([^\r\n]*)", re.IGNORECASE)


def _start() -> None:
    measurement = coverage.Coverage(
        data_file=os.environ["ORACLE_DATA"], data_suffix=True, config_file=False,
        source=[os.getcwd()], omit=[pattern for pattern in os.environ.get("ORACLE_OMIT", "").split(",") if pattern],
    )
    measurement.start()
    lock = threading.Lock()

    def seen(data: bytes) -> None:
        if b"\r\n" not in data:
            return
        match = _ID.search(data)
        if match is not None:
            with lock:
                measurement.switch_context(match.group(1).decode("latin-1").strip())
                measurement.save()

    original_recv = socket.socket.recv
    original_recv_into = socket.socket.recv_into

    def recv(self, *args, **kwargs):
        data = original_recv(self, *args, **kwargs)
        seen(data)
        return data

    def recv_into(self, buffer, *args, **kwargs):
        count = original_recv_into(self, buffer, *args, **kwargs)
        if count:
            seen(bytes(memoryview(buffer)[:count]))
        return count

    socket.socket.recv = recv
    socket.socket.recv_into = recv_into


if os.environ.get("ORACLE_DATA"):
    # uvloop reads sockets in C, where the context switch cannot see them:
    # servers that pick it when installed (uvicorn, Litestar's runner, Sanic)
    # fall back to asyncio's own loop here.
    sys.modules["uvloop"] = None  # type: ignore[assignment]
    _start()
