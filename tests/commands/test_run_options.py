"""`requestcov run --branch --sample-rate --sample` reach the server's recorder."""

from __future__ import annotations

import sys
from pathlib import Path

import requests

from requestcov.store import SQLiteStore
from tests.support.servers import free_port, running_server


def test_branch_and_sampling_options_reach_the_server(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    command = [
        sys.executable, "-m", "requestcov.cli", "run", "--quiet", "--source", "tests/apps", "--db", str(db),
        "--branch", "--sample-rate", "0", "--sample", "GET /users/*=1", "--",
        sys.executable, "-m", "tests.support.serve", "flask", str(port), str(tmp_path / "unused.db"), "--plain",
    ]
    with running_server(command, port, probe_path="/hello") as base_url:
        requests.get(base_url + "/price/DE", headers={"KEPLOY-TEST-ID": "with-id"}, timeout=30)
        requests.get(base_url + "/price/DE", timeout=30)           # sample rate 0: not recorded
        requests.get(base_url + "/users/4", timeout=30)            # rule rate 1: recorded
    records = {record.test_id: record for record in SQLiteStore(db).records()}
    assert set(records) == {"with-id", "GET /users/<int:user_id> #1"}
    arcs = records["with-id"].arcs
    assert arcs is not None and any(arc[0] < 0 for file_arcs in arcs.values() for arc in file_arcs)


def test_a_malformed_sampling_value_in_the_environment_leaves_the_app_serving(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    command = [sys.executable, "-m", "tests.support.serve", "flask", str(port), str(db)]
    output: list = []
    with running_server(command, port, environment={"REQUESTCOV_SAMPLE": "GET /x=lots"}, output=output) as base_url:
        assert requests.get(base_url + "/users/4", timeout=30).json() == {"id": 4, "kind": "even"}
    assert "the rate of sampling rule 'GET /x=lots' is not a number" in output[0]
    assert "Traceback" not in output[0]
