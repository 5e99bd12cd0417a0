"""The test-control endpoint on a framework integration's app, run as a real
server: the requests between start and end belong to the test, and the
control requests themselves are answered by requestcov, never recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence

import requests

from requestcov.store import SQLiteStore
from tests.support.servers import running_server

__all__ = ["check_control_endpoint"]

TOKEN = "s3cret-token-for-tests"


def check_control_endpoint(command: Sequence[str], port: int, db: Path) -> None:
    environment = {"REQUESTCOV_DB": str(db), "REQUESTCOV_CONTROL": "1", "REQUESTCOV_TOKEN": TOKEN}
    authorised = {"Authorization": f"Bearer {TOKEN}"}
    with running_server(command, port, environment=environment) as url:
        started = requests.post(url + "/requestcov/test/start/checkout%20flow?test_set=suite-a",
                                headers=authorised, timeout=30)
        requests.get(url + "/users/4", timeout=30)
        requests.get(url + "/users/6", headers={"KEPLOY-TEST-ID": "own-id"}, timeout=30)
        refused = requests.post(url + "/requestcov/test/end/checkout%20flow", timeout=30)
        ended = requests.post(url + "/requestcov/test/end/checkout%20flow", headers=authorised, timeout=30)
        requests.get(url + "/users/8", timeout=30)
    assert (started.status_code, refused.status_code, ended.status_code) == (200, 403, 200)
    assert started.json() == {"test": "checkout flow", "test_set": "suite-a", "state": "started"}
    with SQLiteStore(db, create=False) as store:
        records: Dict[str, object] = {record.path: record for record in store.records()}
    assert (records["/users/4"].test_set, records["/users/4"].test_id) == ("suite-a", "checkout flow")
    assert records["/users/6"].test_id == "own-id"
    assert records["/users/8"].test_id.startswith("GET /users/")
    assert not any(path.startswith("/requestcov/") for path in records)
