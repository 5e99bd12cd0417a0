"""The test-control endpoint: off by default, loopback only, token required."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from requestcov.middleware.control import is_loopback
from requestcov.store import SQLiteStore
from tests.support.servers import free_port, running_server, serve_command

TOKEN = "s3cret-token-for-tests"
CONTROL_ON = {"REQUESTCOV_CONTROL": "1", "REQUESTCOV_TOKEN": TOKEN}


def ids_by_path(db: Path, path: str) -> list:
    return [record.test_id for record in SQLiteStore(db).records() if record.path == path]


def test_when_off_the_control_paths_are_the_apps_own(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    with running_server(serve_command("flask", port, db), port, environment={"REQUESTCOV_TOKEN": TOKEN}) as url:
        response = requests.post(url + "/requestcov/test/start/t1", headers={"X-Requestcov-Token": TOKEN}, timeout=30)
        requests.get(url + "/users/4", timeout=30)
    assert response.status_code == 404 and "Not Found" in response.text  # Flask's page, not ours
    assert ids_by_path(db, "/users/4") == ["GET /users/4 #1"]
    assert not (db.parent / "requestcov.db.active-test").exists()


@pytest.mark.parametrize("kind", ["flask", "fastapi"])
def test_requests_between_start_and_end_belong_to_the_test(kind: str, tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    authorised = {"Authorization": f"Bearer {TOKEN}"}
    with running_server(serve_command(kind, port, db), port, environment=CONTROL_ON) as url:
        started = requests.post(url + "/requestcov/test/start/checkout%20flow?test_set=suite-a",
                                headers=authorised, timeout=30)
        requests.get(url + "/users/4", timeout=30)
        requests.get(url + "/users/6", headers={"KEPLOY-TEST-ID": "own-id"}, timeout=30)  # its own id wins
        requests.get(url + "/users/8", timeout=30)
        wrong_end = requests.post(url + "/requestcov/test/end/another", headers=authorised, timeout=30)
        ended = requests.post(url + "/requestcov/test/end/checkout%20flow", headers=authorised, timeout=30)
        requests.get(url + "/users/10", timeout=30)
    assert started.status_code == 200 and started.json() == {"test": "checkout flow", "test_set": "suite-a",
                                                             "state": "started"}
    assert wrong_end.status_code == 409
    assert ended.status_code == 200
    records = {record.path: record for record in SQLiteStore(db).records()}
    assert (records["/users/4"].test_set, records["/users/4"].test_id) == ("suite-a", "checkout flow")
    assert (records["/users/8"].test_set, records["/users/8"].test_id) == ("suite-a", "checkout flow")
    assert records["/users/6"].test_id == "own-id"
    assert records["/users/10"].test_id.startswith("GET /users/")
    # Control requests are answered by requestcov and never recorded.
    assert not any(path.startswith("/requestcov/") for path in records)


def test_wrong_or_missing_token_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    with running_server(serve_command("flask", port, db), port, environment=CONTROL_ON) as url:
        missing = requests.post(url + "/requestcov/test/start/t1", timeout=30)
        wrong = requests.post(url + "/requestcov/test/start/t1", headers={"X-Requestcov-Token": TOKEN + "x"}, timeout=30)
        wrong_scheme = requests.post(url + "/requestcov/test/start/t1", headers={"Authorization": f"Basic {TOKEN}"},
                                     timeout=30)
        not_post = requests.get(url + "/requestcov/test/start/t1", headers={"X-Requestcov-Token": TOKEN}, timeout=30)
        requests.get(url + "/users/4", timeout=30)
    assert [missing.status_code, wrong.status_code, wrong_scheme.status_code, not_post.status_code] == [403, 403, 403, 405]
    assert ids_by_path(db, "/users/4") == ["GET /users/4 #1"]


def test_without_a_configured_token_every_control_request_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    output: list = []
    with running_server(serve_command("flask", port, db), port, environment={"REQUESTCOV_CONTROL": "1"},
                        output=output) as url:
        refused = requests.post(url + "/requestcov/test/start/t1", headers={"X-Requestcov-Token": ""}, timeout=30)
    assert refused.status_code == 503 and "REQUESTCOV_TOKEN" in refused.json()["error"]
    assert output[0].count("REQUESTCOV_TOKEN is not set") == 1


def test_the_active_test_reaches_every_process_writing_to_the_store(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    first, second = free_port(), free_port()
    authorised = {"X-Requestcov-Token": TOKEN}
    with running_server(serve_command("flask", first, db), first, environment=CONTROL_ON) as first_url:
        with running_server(serve_command("flask", second, db), second, environment=CONTROL_ON) as second_url:
            requests.post(first_url + "/requestcov/test/start/shared", headers=authorised, timeout=30)
            requests.get(second_url + "/users/4", timeout=30)
            requests.post(second_url + "/requestcov/test/end/shared", headers=authorised, timeout=30)
            requests.get(first_url + "/users/6", timeout=30)
    assert ids_by_path(db, "/users/4") == ["shared"]
    assert ids_by_path(db, "/users/6") == ["GET /users/6 #1"]


@pytest.mark.parametrize(
    "address, expected",
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("10.0.0.1", False), ("192.168.1.5", False), ("::ffff:10.0.0.1", False), ("2001:db8::1", False),
     ("", False), (None, False), ("not-an-address", False)],
)
def test_only_loopback_addresses_count_as_loopback(address, expected) -> None:
    assert is_loopback(address) is expected
