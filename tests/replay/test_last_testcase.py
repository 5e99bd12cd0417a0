"""``requestcov replay`` marks the last test of each Keploy test set with
``KEPLOY-LAST-TESTCASE: true``, as Keploy's replayer does; a real server on
loopback records the headers of every request it receives."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterator, List

from click.testing import CliRunner

from requestcov.commands.replay import command
from tests.replay.test_keploy_replay import keploy_test, write_test


@contextmanager
def header_recorder() -> Iterator["tuple[str, List[Dict[str, str]]]"]:
    """A server answering 200 to anything; yields its URL and the headers of
    each request it got, in order."""
    received: List[Dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received.append({name.lower(): value for name, value in self.headers.items()})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def make_sets(folder: Path) -> Path:
    keploy = folder / "keploy"
    for test_set, names in (("test-set-0", ["test-1", "test-2", "test-10"]), ("test-set-1", ["test-1"]),
                            ("test-set-2", ["test-1", "test-2"])):
        for name in names:
            # A recorded KEPLOY-LAST-TESTCASE is not replayed as it was.
            headers = {"Accept": "*/*", "KEPLOY-LAST-TESTCASE": "true"} if name == "test-1" else None
            write_test(keploy, test_set, name, keploy_test(name, "GET", f"http://localhost:8080/{name}", 200,
                                                           headers=headers))
    return keploy


def last_flags(received: List[Dict[str, str]]) -> List["tuple[str, str, str]"]:
    return [(headers["keploy-test-set-id"], headers["keploy-test-id"], headers.get("keploy-last-testcase", ""))
            for headers in received]


def test_the_last_test_of_each_set_says_so(tmp_path: Path) -> None:
    keploy = make_sets(tmp_path)
    with header_recorder() as (url, received):
        result = CliRunner().invoke(command, ["keploy", str(keploy), "--url", url])
    assert result.exit_code == 0, result.output
    assert last_flags(received) == [
        ("test-set-0", "test-1", ""), ("test-set-0", "test-2", ""), ("test-set-0", "test-10", "true"),
        ("test-set-1", "test-1", "true"),
        ("test-set-2", "test-1", ""), ("test-set-2", "test-2", "true"),
    ]


def test_with_a_limit_the_last_test_sent_of_a_set_says_so(tmp_path: Path) -> None:
    keploy = make_sets(tmp_path)
    with header_recorder() as (url, received):
        result = CliRunner().invoke(command, ["keploy", str(keploy), "--url", url, "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert last_flags(received) == [("test-set-0", "test-1", ""), ("test-set-0", "test-2", "true")]
