"""Real servers on 127.0.0.1 under a bounded load.

gunicorn (one gthread worker, 4 threads, so connections are kept alive; one
thread for the naive middleware, which breaks under threads) serves
the WSGI apps and uvicorn (one process) the ASGI app. The load generator is a
separate small Python client: a fixed number of requests spread over a few
keep-alive connections, each timed, with an overall deadline, so every run is
bounded in count and time and touches nothing but loopback.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional

from benchlib import BENCH_DIR, modes
from benchlib.mix import TEST_ID_HEADER, Spec

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _server_command(app: str, mode: str, port: int) -> List[str]:
    interface = modes.APPS[app][1]
    # Concurrent coverage.Coverage objects in one process break each other
    # (tracebacks from coverage's _should_trace, failed requests), so the
    # naive middleware gets a single-threaded worker: the only way it works.
    threads = "1" if mode == "naive" else "4"
    if interface == "asgi":
        return [sys.executable, "-m", "uvicorn", "benchlib.served:application", "--host", HOST,
                "--port", str(port), "--no-access-log", "--log-level", "warning", "--lifespan", "off"]
    return [sys.executable, "-m", "gunicorn", "benchlib.served:application", "--bind", f"{HOST}:{port}",
            "--workers", "1", "--worker-class", "gthread", "--threads", threads, "--log-level", "warning",
            "--graceful-timeout", "20"]


def _wait_until_ready(port: int, process: subprocess.Popen, probe: Spec, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request(probe.method, probe.target, body=probe.body or None)
            if connection.getresponse().status == probe.expect:
                connection.close()
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not answer in time")


class LoadResult:
    def __init__(self) -> None:
        self.latencies: List[float] = []
        self.errors = 0
        self.lock = threading.Lock()


def generate_load(port: int, requests: int, concurrency: int, deadline_seconds: float,
                  id_prefix: str, mix: List[Spec], test_ids: bool = True) -> Dict[str, Any]:
    """Send ``requests`` requests over ``concurrency`` keep-alive connections;
    without ``test_ids`` they carry no test-id header, like production traffic."""
    result = LoadResult()
    counter = iter(range(requests))
    counter_lock = threading.Lock()
    deadline = time.monotonic() + deadline_seconds

    def client() -> None:
        connection: Optional[http.client.HTTPConnection] = None
        while time.monotonic() < deadline:
            with counter_lock:
                number = next(counter, None)
            if number is None:
                break
            spec = mix[number % len(mix)]
            headers = {TEST_ID_HEADER: f"{id_prefix}-{number}"} if test_ids else {}
            if spec.body:
                headers["Content-Type"] = "application/json"
            started = time.perf_counter()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(HOST, port, timeout=30)
                connection.request(spec.method, spec.target, body=spec.body or None, headers=headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == spec.expect
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException):
                ok = False
                if connection is not None:
                    connection.close()
                connection = None
            elapsed = time.perf_counter() - started
            with result.lock:
                if ok:
                    result.latencies.append(elapsed)
                else:
                    result.errors += 1
        if connection is not None:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies = sorted(result.latencies)
    count = len(latencies)

    def percentile(fraction: float) -> float:
        return latencies[min(count - 1, int(fraction * count))] if count else float("nan")

    return {"completed": count, "errors": result.errors, "seconds": wall,
            "throughput": count / wall if wall else 0.0,
            "p50_s": percentile(0.50), "p99_s": percentile(0.99)}


def measure(app: str, mode: str, *, requests: int, warmup: int, concurrency: int,
            deadline_seconds: float) -> Dict[str, Any]:
    """Start the server for ``app`` in ``mode``, load it, stop it."""
    workdir = tempfile.mkdtemp(prefix="bench-server-")
    port = _free_port()
    environ = dict(os.environ, BENCH_APP=app, BENCH_MODE=mode, BENCH_WORKDIR=workdir,
                   PYTHONPATH=BENCH_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log_path = os.path.join(workdir, "server.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(_server_command(app, mode, port), cwd=workdir, env=environ,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        mix = modes.mix_for(app)
        _wait_until_ready(port, process, mix[0])
        test_ids = modes.sends_test_ids(mode)
        generate_load(port, warmup, concurrency, deadline_seconds, "warm", mix, test_ids)
        result = generate_load(port, requests, concurrency, deadline_seconds, "bench", mix, test_ids)
    finally:
        _stop(process)
    result["recorded"] = _count_recorded(mode, workdir)
    if result["errors"]:
        with open(log_path, "rb") as log:
            result["server_log_tail"] = log.read()[-2000:].decode("utf-8", "replace")
    return result


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _count_recorded(mode: str, workdir: str) -> Optional[int]:
    """How many requests the mode wrote down, to show it really recorded."""
    if mode.startswith("requestcov"):
        path = os.path.join(workdir, "requestcov.db")
        if not os.path.exists(path):
            return 0
        with sqlite3.connect(path) as connection:
            return connection.execute("SELECT COUNT(*) FROM request WHERE kind = 'request'").fetchone()[0]
    if mode == "naive":
        return modes._naive_facts(workdir)["records_written"]
    return None
