"""The checks every server session must pass, shared by the framework modules.

A framework module sets ``SPECS`` (the requests and what their records must
say), ``SERVERS`` (name -> (command for a port, how many groups of requests
wait for each other inside the handler: only threaded single-process servers
can)), ``APP_ROOT`` (the working folder, which is the measured source) and,
optionally, ``ORACLE`` (the command of one single-process server of the
framework, run without requestcov, for coverage.py to measure alone) and
``ADAPTED`` (the servers run as they are, without ``requestcov run``, whose
app records through its one-line adapter) and ``OMIT`` (the files neither
requestcov nor the oracle measures, comma-separated patterns; by default the
waiting helper), then imports everything here: each server is started once
(``tests/e2e/conftest.py`` parametrizes ``server_name``) and every check runs
on its session. A module with other needs defines its own ``session``,
``specs`` and ``app_root``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence

import pytest

from requestcov.store import read_dedup_yaml
from tests.e2e.harness import OMIT, Session, Spec, export_keploy, free_port, lines_with, run_oracle, run_session

__all__ = [
    "specs",
    "app_root",
    "session",
    "oracle_command",
    "test_server_stopped_cleanly",
    "test_every_request_recorded_once",
    "test_status_route_and_path",
    "test_lines_equal_solo_reference",
    "test_reference_lines_are_the_code_that_ran",
    "test_keploy_export_matches_store",
    "oracle_lines",
    "test_solo_lines_equal_coverage_py_alone",
]

@pytest.fixture(scope="module")
def specs(request: pytest.FixtureRequest) -> Sequence[Spec]:
    return request.module.SPECS


@pytest.fixture(scope="module")
def app_root(request: pytest.FixtureRequest) -> Path:
    return request.module.APP_ROOT


@pytest.fixture(scope="module")
def session(server_name: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Session:
    make_command, waiting_groups = request.module.SERVERS[server_name]
    port = free_port()
    return run_session(
        server_name, make_command(port), cwd=request.module.APP_ROOT, port=port, specs=request.module.SPECS,
        workdir=tmp_path_factory.mktemp(server_name), waiting_groups=waiting_groups,
        launch=server_name not in getattr(request.module, "ADAPTED", ()), omit=getattr(request.module, "OMIT", OMIT),
    )


@pytest.fixture(scope="module")
def oracle_command(request: pytest.FixtureRequest) -> tuple:
    oracle = getattr(request.module, "ORACLE", None)
    if oracle is None:
        pytest.skip("this module names no single-process server for coverage.py to measure")
    return oracle, request.module.APP_ROOT


#: Messages requestcov may print that do not mean something went wrong.
_EXPECTED_MESSAGES = ("requestcov: recording ",)


def _spec_named(specs: Sequence[Spec], name: str) -> Spec:
    return next(spec for spec in specs if spec.name == name)


def _file_named(record_lines: Dict[str, List[int]], file_name: str) -> List[int]:
    for path, lines in record_lines.items():
        if Path(path).name == file_name:
            return lines
    return []


def test_server_stopped_cleanly(session: Session, request: pytest.FixtureRequest) -> None:
    assert session.stopped_in_time, session.log_text()
    # 143 / -15: servers that end by SIGTERM after a clean shutdown (uvicorn);
    # a module adds the codes its servers end with after a stop (STOPPED_CODES).
    stopped_codes = (0, 143, -15, *getattr(request.module, "STOPPED_CODES", ()))
    assert session.returncode in stopped_codes, session.log_text()
    problems = [
        line for line in session.log_text().splitlines()
        if line.startswith("requestcov:") and not line.startswith(_EXPECTED_MESSAGES)
    ]
    assert problems == [], session.log_text()
    assert "Exception ignored" not in session.log_text(), session.log_text()


def test_every_request_recorded_once(session: Session) -> None:
    counts: Dict[str, int] = {}
    for record in session.records:
        counts[record.test_id] = counts.get(record.test_id, 0) + 1
    ours = {test_id: count for test_id, count in counts.items() if test_id in session.sent}
    missing = sorted(set(session.sent) - set(ours))
    repeated = sorted(test_id for test_id, count in ours.items() if count != 1)
    assert (missing, repeated) == ([], []), session.log_text()
    # Everything else is the readiness probe, which sends no test id.
    strays = [record for record in session.records if record.test_id not in session.sent]
    assert all(record.path == "/hello" and " #" in record.test_id for record in strays), strays


def test_status_route_and_path(session: Session, specs: Sequence[Spec]) -> None:
    for record in session.records:
        if record.test_id not in session.sent:
            continue
        spec = _spec_named(specs, session.sent[record.test_id])
        assert session.received[record.test_id] == spec.status, record.test_id
        assert (record.status, record.route, record.method) == (spec.status, spec.route, spec.method), record.test_id
        assert record.path == spec.path.split("?")[0], record.test_id


def test_lines_equal_solo_reference(session: Session) -> None:
    mismatched = []
    for record in session.records:
        spec_name = session.sent.get(record.test_id)
        if spec_name is None or record.test_id.startswith("solo-"):
            continue
        if record.lines != session.reference(spec_name).lines:
            mismatched.append((record.test_id, record.lines, session.reference(spec_name).lines))
    assert mismatched == []


def test_reference_lines_are_the_code_that_ran(session: Session, specs: Sequence[Spec], app_root: Path) -> None:
    for spec in specs:
        reference = session.reference(spec.name)
        for file_name, text in spec.runs:
            expected = lines_with(_find(app_root, file_name), text)
            assert expected, (file_name, text)
            assert set(expected) <= set(_file_named(reference.lines, file_name)), (spec.name, file_name, text)
        for file_name, text in spec.skips:
            unexpected = lines_with(_find(app_root, file_name), text)
            assert unexpected, (file_name, text)
            assert not set(unexpected) & set(_file_named(reference.lines, file_name)), (spec.name, file_name, text)
        for path in reference.lines:
            assert Path(path).name != "sync_point.py", "--omit was not applied"
            assert Path(path).is_relative_to(app_root), path


def _find(root: Path, file_name: str) -> Path:
    (path,) = [path for path in root.rglob(file_name) if "__pycache__" not in path.parts]
    return path


def test_keploy_export_matches_store(session: Session, tmp_path: Path) -> None:
    output = tmp_path / "dedupData.yaml"
    completed = export_keploy(session.db, output)
    assert completed.returncode == 0, completed.stderr
    exported = {record.test_id: record.lines for record in read_dedup_yaml(output)}
    assert exported == {record.test_id: record.lines for record in session.records}



@pytest.fixture(scope="module")
def oracle_lines(request: pytest.FixtureRequest, specs: Sequence[Spec],
                 tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Dict[str, List[int]]]:
    make_command, cwd = request.getfixturevalue("oracle_command")
    port = free_port()
    return run_oracle(make_command(port), cwd=cwd, port=port, specs=specs, workdir=tmp_path_factory.mktemp("oracle"),
                      omit=getattr(request.module, "OMIT", OMIT))


def test_solo_lines_equal_coverage_py_alone(session: Session, specs: Sequence[Spec],
                                            oracle_lines: Dict[str, Any]) -> None:
    """Each request's record holds exactly the lines coverage.py records for
    the same request sent alone to the same app without requestcov."""
    mismatched = []
    for spec in specs:
        recorded = {path: lines for path, lines in session.reference(spec.name).lines.items() if lines}
        expected = oracle_lines.get(f"solo-{spec.name}", {})
        if recorded != expected:
            mismatched.append((spec.name, recorded, expected))
    assert mismatched == [], mismatched
