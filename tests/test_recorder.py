"""The recorder's process-wide behaviour: start-up code, other tracers, exit."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import requests

from requestcov.store import SQLiteStore
from tests.support.servers import REPOSITORY, free_port, running_server, serve_command

APPS = REPOSITORY / "tests" / "apps"


def test_code_on_threads_outside_requests_goes_to_the_start_up_record(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    port = free_port()
    with running_server(serve_command("flask", port, db, "--background-thread"), port) as base_url:
        requests.get(base_url + "/price/DE", headers={"KEPLOY-TEST-ID": "price"}, timeout=30)
    with SQLiteStore(db) as store:
        startup = store.startup_records()
        price = {record.test_id: record for record in store.records()}["price"]
    logic = str(APPS / "shop_logic.py")
    # The background thread took the FR branch; the request took DE.
    french_rate_line = 23
    assert french_rate_line in startup[0].lines[logic]
    assert french_rate_line not in price.lines[logic]


def run_script(tmp_path: Path, body: str) -> dict:
    script = tmp_path / "scenario.py"
    script.write_text(textwrap.dedent(body))
    completed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=str(REPOSITORY),
        env={"PYTHONPATH": str(REPOSITORY), "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["stderr"] = completed.stderr
    return result


def run_beside_coverage_py(tmp_path: Path, *, branch: bool) -> dict:
    """One request through the WSGI middleware while coverage.py measures
    the process: which engine requestcov took, and what each of them saw."""
    return run_script(tmp_path, f"""
        import json, os
        if {branch!r}:
            os.environ["REQUESTCOV_BRANCH"] = "1"
        import coverage
        measurement = coverage.Coverage(data_file=None, source=[{str(APPS)!r}], config_file=False)
        measurement.start()
        import requestcov
        from tests.apps import plain_wsgi
        app = requestcov.WSGIMiddleware(plain_wsgi.app, source=[{str(APPS)!r}], db={str(tmp_path / "r.db")!r})
        environ = {{"REQUEST_METHOD": "GET", "PATH_INFO": "/stream", "HTTP_KEPLOY_TEST_ID": "t"}}
        body = app(environ, lambda status, headers, exc_info=None: None)
        chunks = list(body)
        body.close()
        measurement.stop()
        from requestcov.recorder import current_recorder
        engine = current_recorder().engine.name
        current_recorder().close()
        from requestcov.store import SQLiteStore
        records = SQLiteStore({str(tmp_path / "r.db")!r}).records()
        print(json.dumps({{
            "engine": engine,
            "chunks": len(chunks),
            "coverage_lines": sorted(measurement.get_data().lines({str(APPS / "shop_logic.py")!r}) or []),
            "requestcov_lines": [r.lines.get({str(APPS / "shop_logic.py")!r}) for r in records],
        }}))
    """)


def test_coverage_py_already_running_is_detected_and_keeps_working(tmp_path: Path) -> None:
    result = run_beside_coverage_py(tmp_path, branch=False)
    assert "is already active" in result["stderr"]
    assert result["chunks"] == 3
    # coverage.py was not broken: it still saw the countdown lines.
    assert {47, 48, 49} <= set(result["coverage_lines"])
    # The engine this interpreter picks by default needs no trace hook, and
    # beside coverage.py it keeps recording exactly.
    assert result["engine"] == ("sys.monitoring" if sys.version_info >= (3, 12) else "probes")
    assert result["requestcov_lines"] == [[47, 48, 49]]


def test_settrace_engine_steps_aside_for_coverage_py(tmp_path: Path) -> None:
    """The trace-function engine (branch coverage) cannot share the one trace
    hook: it says so and records nothing, and coverage.py keeps working."""
    result = run_beside_coverage_py(tmp_path, branch=True)
    assert result["engine"] == "settrace"
    assert "is already active" in result["stderr"] and "records nothing" in result["stderr"]
    assert result["chunks"] == 3
    assert {47, 48, 49} <= set(result["coverage_lines"])
    assert result["requestcov_lines"] in ([], [None])
