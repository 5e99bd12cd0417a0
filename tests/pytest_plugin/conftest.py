"""The recorded run and coverage.py's run of the test project, made once
and read by the tests of both modules."""

from __future__ import annotations

import pytest

from tests.pytest_plugin.project import (
    Runs, call_phase_contexts, coverage_contexts, records_of, run_pytest, write_project,
)


@pytest.fixture(scope="package")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    project = write_project(tmp_path_factory.mktemp("project"))
    db = project / "store" / "unit.db"
    recorded = run_pytest(project, "--requestcov", "--requestcov-db", str(db))
    assert recorded.returncode == 1, recorded.stdout + recorded.stderr  # test_fails fails
    measured = run_pytest(project, "--cov=.", "--cov-context=test", "--cov-report=")
    assert measured.returncode == 1, measured.stdout + measured.stderr
    return Runs(project, db, records_of(db), call_phase_contexts(project / ".coverage"),
                coverage_contexts(project / ".coverage"), recorded.stdout)
