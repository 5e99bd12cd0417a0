"""Start and stop real servers on 127.0.0.1 for the tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import requests

REPOSITORY = Path(__file__).resolve().parents[2]


# A port the kernel hands out for port 0 lies in its ephemeral range, where
# every client connection of the suite also takes its local port: between the
# probe letting the port go and the server binding it, a client (or the other
# xdist worker) could take it, and the server would fail with "address already
# in use". The ports given here lie below that range (from 32768 in Linux's
# default), in a band of this test process's own (one per xdist worker, up to
# eight, and one outside xdist), handed out in turn, so no two servers and no
# client are ever given the same one.
_PORT_BANDS_START = 10000
_PORT_BAND_SIZE = 2500
_PORT_BANDS = 9  # 10000-32499
_next_port: Optional[int] = None
#: Tests start servers from several threads at once (the stop matrix's cells).
_port_lock = threading.Lock()


def _band_start() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    number = int(worker[2:]) + 1 if worker.startswith("gw") and worker[2:].isdigit() else 0
    return _PORT_BANDS_START + (number % _PORT_BANDS) * _PORT_BAND_SIZE


def free_port() -> int:
    """A loopback port no other server or client of the suite will be given."""
    global _next_port
    start = _band_start()
    with _port_lock:
        if _next_port is None:
            _next_port = start + (os.getpid() % _PORT_BAND_SIZE)
        for _ in range(_PORT_BAND_SIZE):
            port = _next_port
            _next_port = start + (port - start + 1) % _PORT_BAND_SIZE
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError(f"no free port in 127.0.0.1:{start}-{start + _PORT_BAND_SIZE - 1}")


def wait_until_answering(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode} before answering:\n{output}")
        try:
            requests.get(url, timeout=1.0)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen, timeout: float = 20.0) -> int:
    """SIGTERM, as a process manager would; SIGKILL only if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


@contextlib.contextmanager
def running_server(command: Sequence[str], port: int, *, probe_path: str = "/hello",
                   environment: Optional[dict] = None, output: Optional[List[str]] = None) -> Iterator[str]:
    """Run ``command`` until the block ends; yields the base URL. When
    ``output`` is given, the server's combined output is appended to it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), env.get("PYTHONPATH")]))
    env.update(environment or {})
    process = subprocess.Popen(
        list(command), cwd=str(REPOSITORY), env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(base_url + probe_path, process)
        yield base_url
    finally:
        stop(process)
        if process.stdout:
            if output is not None:
                output.append(process.stdout.read())
            process.stdout.close()


def serve_command(kind: str, port: int, db: Path, *extra: str) -> List[str]:
    return [sys.executable, "-m", "tests.support.serve", kind, str(port), str(db), *extra]
