"""A failure inside requestcov never changes an aiohttp or Tornado response:
the served apps with their one-line adapters, with begin, finish or the
writer made to raise (the faults of tests/support/serve.py), answer as
without requestcov, and the fault is logged once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
import requests

from tests.support.servers import free_port, running_server
from tests.support.matrix import heavy

pytestmark = [pytest.mark.slow, heavy]

#: (method, path, body): normal, streamed, failing, missing, finished from a callback.
REQUESTS = [
    ("GET", "/hello", None), ("GET", "/users/4", None), ("GET", "/users/400", None), ("GET", "/stream/3", None),
    ("POST", "/cart/total", {"items": [{"price": 3}]}), ("GET", "/boom", None), ("GET", "/no/such/page", None),
]
TORNADO_ONLY = [("GET", "/later/3", None)]

Answer = Tuple[int, Optional[str], bytes]


def _command(kind: str, port: int, db: Path, *extra: str) -> List[str]:
    return [sys.executable, "-m", "tests.faults.serve_framework_faulty", kind, str(port), str(db), *extra]


def _fetch_all(base_url: str, kind: str) -> List[Answer]:
    answers = []
    for method, path, body in REQUESTS + (TORNADO_ONLY if kind == "tornado" else []):
        response = requests.request(method, base_url + path, json=body, headers={"KEPLOY-TEST-ID": path},
                                    timeout=30)
        answers.append((response.status_code, response.headers.get("Content-Type"), response.content))
    return answers


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, List[Answer]]:
    folder = tmp_path_factory.mktemp("plain")
    answers = {}
    for kind in ("aiohttp", "tornado"):
        pytest.importorskip(kind)
        port = free_port()
        with running_server(_command(kind, port, folder / f"{kind}.db", "--plain"), port) as base_url:
            answers[kind] = _fetch_all(base_url, kind)
    return answers


@pytest.mark.parametrize("kind", ["aiohttp", "tornado"])
@pytest.mark.parametrize("fault", ["begin", "finish", "writer"])
def test_a_failure_inside_requestcov_never_changes_a_response(
    kind: str, fault: str, tmp_path: Path, expected: Dict[str, List[Answer]]
) -> None:
    port = free_port()
    output: List[str] = []
    with running_server(_command(kind, port, tmp_path / "faulty.db", "--fault", fault), port,
                        output=output) as base_url:
        actual = _fetch_all(base_url, kind)
    assert actual == expected[kind]
    # Each part that broke logged once, however many requests it broke.
    said = [line for line in output[0].splitlines() if "requestcov: could not" in line]
    assert said and len(said) == len(set(said)), output[0]
