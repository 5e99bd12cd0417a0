"""A failure inside requestcov never changes an ASGI app's response: the
FastAPI test app under uvicorn, with begin, finish or the writer made to raise
(the faults of tests/support/serve.py), answers byte for byte as without requestcov."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
import requests

from tests.support.servers import free_port, running_server, serve_command

pytestmark = pytest.mark.slow

PATHS = ["/hello", "/users/4", "/users/400", "/stream/3", "/boom", "/hello"]
#: What each fault's one log line says.
FAULT_LOGGED = {"begin": "could not start recording a request", "finish": "could not finish recording a request",
                "writer": "could not prepare a record"}


def fetch_all(base_url: str) -> List[Tuple[int, Optional[str], bytes]]:
    results = []
    for path in PATHS:
        response = requests.get(base_url + path, headers={"KEPLOY-TEST-ID": path}, timeout=30)
        results.append((response.status_code, response.headers.get("Content-Type"), response.content))
    return results


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> List[Tuple[int, Optional[str], bytes]]:
    folder = tmp_path_factory.mktemp("plain-asgi")
    port = free_port()
    with running_server(serve_command("fastapi", port, folder / "plain.db", "--plain"), port) as base_url:
        return fetch_all(base_url)


@pytest.mark.parametrize("core", ["compiled", "python"])  # the compiled ASGI call and its reference
@pytest.mark.parametrize("fault", sorted(FAULT_LOGGED))
def test_a_failure_inside_requestcov_never_changes_an_asgi_response(fault: str, core: str, tmp_path: Path,
                                                                    expected) -> None:
    port = free_port()
    output: List[str] = []
    command = [sys.executable, "-m", "tests.faults.serve_faulty", str(port), str(tmp_path / "faulty.db"),
               "--kind", "fastapi", "--fault", fault]
    with running_server(command, port, environment={"REQUESTCOV_CORE": core}, output=output) as base_url:
        actual = fetch_all(base_url)
    assert actual == expected
    # The fault did happen, on the way each core's requests take, and was logged once.
    assert output[0].count(FAULT_LOGGED[fault]) == 1, output[0]
    assert f"injected fault in {fault}" in output[0]
