"""One Keploy test set replayed in three orders gives the same records, the
same duplicate groups and the same minimal suite.

The app (``tests/apps/lazy_shop``) imports its ``rates`` module inside the
views that need it, so whichever test comes first runs that module's body and
class bodies; ``rates.tax_for`` fills a per-country cache on first use. Each
order runs a fresh server under ``requestcov run`` (werkzeug, threaded) with a
fresh store: the first through ``requestcov run --replay`` itself (Keploy's
natural order), the others sent in another order by the replay package's
sender, as ``--replay`` sends them. The module-level lines of ``rates`` must
be in the start-up record and in no request's; the cache entry each test fills
stays with that test (each asks for its own country).
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest

from requestcov.records import REQUEST, STARTUP, RequestRecord
from requestcov.replay import ReplayRequest, load_recordings
from requestcov.replay.sender import parse_app_url, send_requests
from requestcov.store import SQLiteStore
from tests.e2e.harness import clean_environment
from tests.support.scopes import import_time_lines
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

APP = Path(__file__).resolve().parents[1] / "apps" / "lazy_shop"
KEPLOY = APP / "keploy"
RATES = APP / "rates.py"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def _environment(port: int) -> Dict[str, str]:
    environment = clean_environment()
    environment["APP_PORT"] = str(port)
    return environment


def _requestcov(*arguments: str, cwd: Path = APP, env: Dict[str, str] = None, timeout: float = 120.0
                ) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "requestcov.cli", *arguments], cwd=str(cwd), env=env or clean_environment(),
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _replay_with_run(db: Path) -> None:
    """Keploy's own order, through the command a user runs."""
    port = free_port()
    completed = _requestcov(
        "run", "--replay", f"keploy:{KEPLOY}", "--url", f"http://127.0.0.1:{port}", "--db", str(db),
        "--", sys.executable, "app.py", env=_environment(port),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert not [line for line in completed.stdout.splitlines() if line.startswith("mismatch")], completed.stdout


def _replay_in_order(db: Path, requests: Sequence[ReplayRequest]) -> None:
    """Another order: the server under ``requestcov run``, the requests sent
    by the replay package's sender, the server stopped with SIGTERM."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "requestcov.cli", "run", "--db", str(db), "--", sys.executable, "app.py"],
        cwd=str(APP), env=_environment(port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(port):
            assert server.poll() is None, server.communicate()[0]
            assert time.monotonic() < deadline, "the server did not listen in time"
            time.sleep(0.1)
        results = send_requests(requests, parse_app_url(f"http://127.0.0.1:{port}"), timeout=30.0)
        assert [(result.request.test_id, result.status) for result in results] == [
            (request.test_id, request.expected_status) for request in requests
        ]
    finally:
        if server.poll() is None:
            server.terminate()
        output, _ = server.communicate(timeout=STOP_TIMEOUT)
    # requestcov ends a process stopped by SIGTERM with that signal, once written.
    assert server.returncode in (0, -15, 143), output
    assert "Traceback" not in output, output


def _records(db: Path) -> Tuple[Dict[str, Dict[str, List[int]]], List[RequestRecord]]:
    with SQLiteStore(db, create=False) as store:
        records = store.records(kinds=(REQUEST, STARTUP))
    requests = {f"{record.test_set}/{record.test_id}": record.lines for record in records if record.kind == REQUEST}
    return requests, [record for record in records if record.kind == STARTUP]


def _analyses(db: Path) -> Tuple[Any, Any]:
    dedup = _requestcov("dedup", "--json", "--db", str(db))
    assert dedup.returncode == 0, dedup.stderr
    minimize = _requestcov("minimize", "--json", "--db", str(db))
    assert minimize.returncode == 0, minimize.stderr
    suite = json.loads(minimize.stdout)
    # The order the kept tests are listed in is the output's business, not
    # the suite's: compared as sets.
    suite["keep"], suite["drop"] = sorted(suite["keep"]), sorted(suite["drop"])
    return json.loads(dedup.stdout), suite


def _lines_with(path: Path, text: str) -> List[int]:
    return [number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line]


def test_three_replay_orders_give_the_same_records_groups_and_suite(tmp_path: Path) -> None:
    requests = load_recordings("keploy", KEPLOY).requests
    assert len(requests) == 12
    natural = [request.test_id for request in requests]
    assert natural[:3] == ["test-1", "test-2", "test-3"] and natural[-1] == "test-12"
    shuffled = random.Random(14).sample(requests, len(requests))
    orders = {"natural": None, "reversed": list(reversed(requests)), "shuffled": shuffled}
    # Different tests import ``rates`` first: the order matters to the app.
    first_importer = [
        next(request.test_id for request in (order or requests) if request.target.startswith(("/rates", "/tax")))
        for order in orders.values()
    ]
    assert len(set(first_importer)) >= 2, first_importer

    outcomes = {}
    for name, order in orders.items():
        db = tmp_path / name / "requestcov.db"
        db.parent.mkdir()
        if order is None:
            _replay_with_run(db)
        else:
            _replay_in_order(db, order)
        outcomes[name] = (*_records(db), *_analyses(db))

    reference_lines, reference_startup, reference_groups, reference_suite = outcomes["natural"]
    assert sorted(reference_lines) == sorted(f"test-set-0/{test_id}" for test_id in natural)
    for name, (lines, startup, groups, suite) in outcomes.items():
        assert lines == reference_lines, name
        assert groups == reference_groups, name
        assert suite == reference_suite, name

        # The lazily imported module's module and class bodies are start-up code.
        rates_path = next(path for path in reference_lines["test-set-0/test-3"] if path.endswith("rates.py"))
        at_import = import_time_lines(RATES.read_text())
        startup_rates = set().union(*(record.lines.get(rates_path, []) for record in startup))
        assert at_import <= startup_rates, (name, sorted(at_import - startup_rates))
        for test, by_file in lines.items():
            assert not set(by_file.get(rates_path, [])) & at_import, (name, test)

    # Function-level first-use effects stay with their request: each tax
    # test asks for its own country, and fills that country's cache entry.
    (fill,) = _lines_with(RATES, "_computed[country] = Table().rate(country) / 100")
    rates_path = next(path for path in reference_lines["test-set-0/test-6"] if path.endswith("rates.py"))
    for test in ("test-6", "test-7", "test-9", "test-12"):
        assert fill in reference_lines[f"test-set-0/{test}"][rates_path], test

    # The groups are what the app's code says, and the lowest natural id is kept.
    groups = {(group["keep"], group["kind"]): group["drop"] for group in reference_groups["groups"]}
    assert groups[("test-set-0/test-1", "exact")] == ["test-set-0/test-2", "test-set-0/test-11"]
    assert groups[("test-set-0/test-3", "exact")] == ["test-set-0/test-4", "test-set-0/test-10"]
    assert groups[("test-set-0/test-6", "exact")] == ["test-set-0/test-7", "test-set-0/test-9", "test-set-0/test-12"]
    # /rates/DE adds nothing to /rates/XX (the default) and /tax/DE (the rate
    # of a listed country) together.
    assert reference_suite["keep"] == sorted(
        f"test-set-0/{test}" for test in ("test-1", "test-5", "test-6", "test-8")
    ), reference_suite
