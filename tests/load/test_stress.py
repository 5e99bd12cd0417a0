"""A bounded stress run: gunicorn (4 workers x 4 threads, Flask) and uvicorn
(2 workers, FastAPI) under ``requestcov run``, 64 keep-alive connections.

Checks: no record lost (every request the client saw complete is stored
exactly once, by id), none mixed up (each request's lines equal the lines of
the same request sent alone), and worker memory flat. The default sends 4,000
requests in all so the suite stays quick on two cores;
``REQUESTCOV_LOAD_FULL=1`` sends the full 20,000.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest
import requests

from requestcov.store import SQLiteStore
from tests.e2e.harness import free_port
from tests.support.matrix import heavy
from tests.load.launched import gunicorn, launched, rss_mb, uvicorn, workers
from tests.load.loadgen import run_load

pytestmark = [pytest.mark.slow, heavy]

TOTAL = 20_000 if os.environ.get("REQUESTCOV_LOAD_FULL") == "1" else 4_000
CONNECTIONS = 64
PATHS = ["/hello", "/users/4", "/users/7", "/users/500"]
#: Growth of a worker's resident memory over the run that still counts as flat.
MAX_RSS_GROWTH_MB = 30.0

SERVERS: Dict[str, Callable[[int], List[str]]] = {
    "gunicorn-4x4-flask": lambda port: gunicorn(port, workers=4, threads=4),
    "uvicorn-2-fastapi": lambda port: uvicorn(port, workers=2),
}


def _rss(pids: List[int]) -> Dict[int, float]:
    return {pid: rss_mb(pid) for pid in pids}


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_stress(name: str, tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    per_server = TOTAL // len(SERVERS)
    with launched(SERVERS[name](port), db, port, tmp_path / "server.log") as server:
        for path in PATHS:
            requests.get(base_url + path, headers={"KEPLOY-TEST-ID": f"solo-{path}"}, timeout=30)
        # Warm every worker up before the first memory sample.
        run_load("127.0.0.1", port, PATHS, total=400, connections=CONNECTIONS, prefix="warm", time_limit=60)
        time.sleep(0.5)
        pids = workers(server.pid)
        before = _rss(pids)
        run = run_load("127.0.0.1", port, PATHS, total=per_server, connections=CONNECTIONS, prefix="load",
                       time_limit=150)
        after = _rss(pids)
    print(f"\n{name}: {len(run.completed)} requests in {run.elapsed:.1f} s "
          f"({len(run.completed) / run.elapsed:.0f}/s), {run.failed} failed; worker RSS MB "
          + ", ".join(f"{before[pid]:.0f}->{after[pid]:.0f}" for pid in pids))
    assert len(run.completed) == per_server and run.failed == 0
    with SQLiteStore(db, create=False) as store:
        assert store.integrity_check() == "ok"
        records = store.records()
    by_id = {record.test_id: record for record in records}
    counts = Counter(record.test_id for record in records)
    solo: Dict[str, Tuple[int, Dict[str, List[int]]]] = {
        path: (by_id[f"solo-{path}"].status, by_id[f"solo-{path}"].lines) for path in PATHS
    }
    assert all(lines for _, lines in solo.values())
    lost = [item.test_id for item in run.completed if counts[item.test_id] != 1]
    assert lost == [], f"{len(lost)} requests lost or stored twice"
    mixed = [item.test_id for item in run.completed
             if (by_id[item.test_id].status, by_id[item.test_id].lines) != solo[item.path]]
    assert mixed == [], f"{len(mixed)} requests with lines of another request, e.g. {mixed[:3]}"
    grown = {pid: after[pid] - before[pid] for pid in pids if after[pid] - before[pid] > MAX_RSS_GROWTH_MB}
    assert grown == {}, grown
