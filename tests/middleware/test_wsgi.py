"""The WSGI middleware against werkzeug's real server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from requestcov.store import SQLiteStore
from tests.support.servers import free_port, running_server, serve_command

APPS = Path(__file__).resolve().parents[1] / "apps"


def fetch_all(base_url: str, paths) -> list:
    """Status, headers that matter, and body of each response, byte for byte."""
    results = []
    for path in paths:
        response = requests.get(base_url + path, headers={"KEPLOY-TEST-ID": path}, timeout=30)
        results.append((response.status_code, response.headers.get("Content-Type"), response.content))
    return results


#: Each WSGI exchange: the compiled core's and its Python twin.
CORES = pytest.mark.parametrize("core", ["compiled", "python"])


@CORES
def test_the_request_ends_when_the_server_closes_the_body(tmp_path: Path, core: str) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    with running_server(serve_command("plain", port, db), port, environment={"REQUESTCOV_CORE": core}) as base_url:
        assert requests.get(base_url + "/stream", headers={"KEPLOY-TEST-ID": "stream"}, timeout=30).text == "2\n1\nliftoff\n"
    record = {record.test_id: record for record in SQLiteStore(db).records()}["stream"]
    logic = str(APPS / "shop_logic.py")
    plain = str(APPS / "plain_wsgi.py")
    # The countdown generator runs while the server sends the body, and the
    # body's close() runs after: both belong to the request.
    assert record.lines[logic] == [47, 48, 49]
    close_line = next(number for number, text in enumerate(Path(plain).read_text().splitlines(), 1)
                      if "CLOSED.append" in text)
    assert close_line in record.lines[plain]
    assert record.status == 200


@CORES
def test_an_app_exception_reaches_the_server_unchanged_and_is_recorded_as_500(tmp_path: Path, core: str) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    with running_server(serve_command("plain", port, db), port, environment={"REQUESTCOV_CORE": core}) as base_url:
        response = requests.get(base_url + "/fail", headers={"KEPLOY-TEST-ID": "fail"}, timeout=30)
    assert response.status_code == 500  # werkzeug's own error page: the exception propagated
    record = {record.test_id: record for record in SQLiteStore(db).records()}["fail"]
    assert record.status == 500


#: What the recorder logs (once) when each part breaks.
FAULT_LOGGED = {"begin": "could not start recording a request", "finish": "could not finish recording a request",
                "writer": "could not prepare a record"}


@pytest.mark.parametrize("fault", sorted(FAULT_LOGGED))
@CORES
def test_a_failure_inside_requestcov_never_changes_a_response(fault: str, core: str, tmp_path: Path) -> None:
    paths = ["/hello", "/users/4", "/users/400", "/stream/3", "/boom", "/hello"]
    port = free_port()
    with running_server(serve_command("flask", port, tmp_path / "plain.db", "--plain"), port) as base_url:
        expected = fetch_all(base_url, paths)
    port = free_port()
    command = serve_command("flask", port, tmp_path / "faulty.db", "--fault", fault)
    log: list = []
    with running_server(command, port, environment={"REQUESTCOV_CORE": core}, output=log) as base_url:
        actual = fetch_all(base_url, paths)
    assert actual == expected
    # The fault did happen, on the way each core's requests take, and was logged once.
    assert "".join(log).count(FAULT_LOGGED[fault]) == 1, "".join(log)[-3000:]


def test_an_unusable_store_is_reported_once_and_the_app_keeps_serving(tmp_path: Path) -> None:
    unusable = tmp_path / "a-folder"
    (unusable / "requestcov.db").mkdir(parents=True)  # a directory where the database should be
    port = free_port()
    command = serve_command("flask", port, unusable / "requestcov.db")
    output: list = []
    with running_server(command, port, output=output) as base_url:
        assert [status for status, _, _ in fetch_all(base_url, ["/hello"] * 5)] == [200] * 5
    log = output[0]
    assert log.count("cannot open the requestcov store") == 1, log
    assert "Traceback" not in log


def test_header_names_are_configurable(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    environment = {"REQUESTCOV_ID_HEADER": "X-Test-Name", "REQUESTCOV_TEST_SET_HEADER": "X-Suite"}
    with running_server(serve_command("flask", port, db), port, environment=environment) as base_url:
        requests.get(base_url + "/users/4", headers={"X-Test-Name": "custom", "X-Suite": "suite-a"}, timeout=30)
        requests.get(base_url + "/users/4", headers={"KEPLOY-TEST-ID": "ignored"}, timeout=30)
    ids = [(record.test_set, record.test_id) for record in SQLiteStore(db).records() if record.path == "/users/4"]
    # (Two threads of the server: the first request's close() may come after the second's.)
    assert sorted(ids) == [("", "GET /users/4 #1"), ("suite-a", "custom")]


def test_keploy_headers_give_id_and_test_set_and_hostile_ids_are_cleaned(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    with running_server(serve_command("flask", port, db), port) as base_url:
        requests.get(base_url + "/hello", headers={"KEPLOY-TEST-ID": "test-1", "KEPLOY-TEST-SET-ID": "test-set-0"}, timeout=30)
        requests.get(base_url + "/hello", headers={"KEPLOY-TEST-ID": "test-1", "KEPLOY-TEST-SET-ID": "test-set-1"}, timeout=30)
        requests.get(base_url + "/hello", headers={"KEPLOY-TEST-ID": "evil\x1b[31m" + "x" * 500}, timeout=30)
        requests.get(base_url + "/users/4", headers={"KEPLOY-TEST-ID": "spaced\t", "KEPLOY-TEST-SET-ID": "set-2 "},
                     timeout=30)
    spaced = [record for record in SQLiteStore(db).records() if record.path == "/users/4"]
    assert [(record.test_set, record.test_id) for record in spaced] == [("set-2", "spaced")]
    records = [record for record in SQLiteStore(db).records() if record.path == "/hello" and record.test_set != "" or "evil" in record.test_id]
    # Sorted: a threaded server may end the second request before the first one's close().
    keys = sorted((record.test_set, record.test_id[:6]) for record in records)
    assert keys == [("", "evil[3"), ("test-set-0", "test-1"), ("test-set-1", "test-1")]
    hostile = next(record.test_id for record in records if "evil" in record.test_id)
    assert "\x1b" not in hostile and len(hostile) == 200


def test_a_response_sent_to_a_client_that_keeps_its_connection_open_is_recorded_at_shutdown(tmp_path: Path) -> None:
    """werkzeug reads a request's unread input before it calls close(), and
    blocks while the client keeps the socket open. The client has its whole
    response, so at SIGTERM the request must be recorded and the server must
    still exit promptly."""
    import socket
    import time

    db = tmp_path / "requestcov.db"
    port = free_port()
    started = 0.0
    with running_server(serve_command("flask", port, db), port):
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        client.sendall(
            b"GET /users/4 HTTP/1.1\r\nHost: 127.0.0.1\r\nKEPLOY-TEST-ID: held-open\r\n"
            b"Content-Length: 5\r\n\r\n12345"
        )
        response = b""
        while b'"kind":"even"' not in response:
            chunk = client.recv(65536)
            assert chunk, "server closed before answering"
            response += chunk
        started = time.monotonic()
    # running_server sent SIGTERM and waited while our socket stayed open.
    assert time.monotonic() - started < 15
    client.close()
    records = {record.test_id: record for record in SQLiteStore(db).records()}
    assert records["held-open"].status == 200 and records["held-open"].lines


def test_the_fallback_store_from_the_environment_takes_the_records(tmp_path: Path) -> None:
    unusable = tmp_path / "a-folder"
    (unusable / "requestcov.db").mkdir(parents=True)  # a directory where the database should be
    fallback = tmp_path / "fallback" / "requestcov.db"
    port = free_port()
    output: list = []
    environment = {"REQUESTCOV_FALLBACK_DB": str(fallback)}
    with running_server(serve_command("flask", port, unusable / "requestcov.db"), port,
                        environment=environment, output=output) as base_url:
        fetch_all(base_url, ["/users/4", "/users/7"])
    assert output[0].count("cannot open the requestcov store") == 1 and "Traceback" not in output[0]
    recorded = sorted(record.test_id for record in SQLiteStore(fallback).records() if record.path.startswith("/users"))
    assert recorded == ["/users/4", "/users/7"]
