"""A small, bounded load generator: keep-alive ``http.client`` connections on
threads, each request carrying its own test id, and the moment each one was
seen complete. Used by the load and fault tests."""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

__all__ = ["Completed", "LoadRun", "run_load"]

ID_HEADER = "KEPLOY-TEST-ID"


@dataclass(frozen=True)
class Completed:
    test_id: str
    path: str
    status: int
    #: time.monotonic() when the whole response had been read.
    at: float


@dataclass
class LoadRun:
    completed: List[Completed] = field(default_factory=list)
    #: Requests sent that got no complete response (the server went away).
    failed: int = 0
    elapsed: float = 0.0

    def by_id(self) -> Dict[str, Completed]:
        return {item.test_id: item for item in self.completed}


def run_load(
    host: str,
    port: int,
    paths: Sequence[str],
    *,
    total: int,
    connections: int,
    prefix: str = "load",
    time_limit: float = 120.0,
    stop: Optional[threading.Event] = None,
    on_progress: Optional[Callable[[int], None]] = None,
) -> LoadRun:
    """Send ``total`` GET requests over ``connections`` keep-alive connections,
    cycling through ``paths``; stops early at ``time_limit`` seconds or when
    ``stop`` is set. Request ``n`` has test id ``{prefix}-{n}``."""
    numbers = itertools.count()
    lock = threading.Lock()
    run = LoadRun()
    started = time.monotonic()
    deadline = started + time_limit
    stop = stop or threading.Event()

    def next_job() -> Optional[Tuple[str, str]]:
        with lock:
            number = next(numbers)
        if number >= total or stop.is_set() or time.monotonic() > deadline:
            return None
        return f"{prefix}-{number}", paths[number % len(paths)]

    def worker() -> None:
        connection: Optional[http.client.HTTPConnection] = None
        results: List[Completed] = []
        failed = 0
        while True:
            job = next_job()
            if job is None:
                break
            test_id, path = job
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(host, port, timeout=30)
                connection.request("GET", path, headers={ID_HEADER: test_id})
                response = connection.getresponse()
                response.read()
                results.append(Completed(test_id, path, response.status, time.monotonic()))
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException):
                failed += 1
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(0.01)
        if connection is not None:
            connection.close()
        with lock:
            run.completed.extend(results)
            run.failed += failed
            if on_progress is not None:
                on_progress(len(run.completed))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 35)
    run.elapsed = time.monotonic() - started
    return run
