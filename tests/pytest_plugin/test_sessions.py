"""``pytest --requestcov`` beside other ways pytest runs: xdist workers,
an interrupted session, pytest-cov in the same run, the plugin turned off."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict

import pytest

from requestcov.pytest_plugin.outcomes import INTERRUPTED, PASSED
from tests.support.matrix import heavy
from tests.pytest_plugin.project import (
    NODE, Runs, call_phase_contexts, line_of, lines_of, records_of, run_pytest, startup_records_of, write_project,
)

pytestmark = [pytest.mark.slow, heavy]


@pytest.fixture
def project(runs: Runs) -> Path:
    return runs.project


def test_xdist_workers_write_one_store(runs: Runs, tmp_path: Path) -> None:
    """Each test recorded once, with the lines it has when run in one process."""
    spread = tmp_path / "spread.db"
    workers = run_pytest(runs.project, "-n", "2", "--requestcov", "--requestcov-db", str(spread),
                         "--requestcov-set", "unit")
    assert workers.returncode == 1, workers.stdout + workers.stderr
    assert f"{len(NODE)} tests recorded into {spread} (test set 'unit')" in workers.stdout
    expected, recorded = runs.records, records_of(spread)
    assert set(recorded) == set(expected) == set(NODE.values())
    for node_id, record in recorded.items():
        assert record.test_set == "unit"
        assert lines_of(record) == lines_of(expected[node_id]), node_id
    # Each worker collected the tests (its start-up record); the controller, which runs none, records nothing.
    startups = startup_records_of(spread)
    assert len(startups) == 2 and len({record.pid for record in startups}) == 2
    assert {record.pid for record in recorded.values()} <= {record.pid for record in startups}


INTERRUPTED_TESTS = '''\
import os
import signal

from shop import calc


def test_before():
    assert calc.add(1, 1) == 2


def test_interrupted():
    calc.classify(5)
    os.kill(os.getpid(), signal.SIGINT)
    calc.total(50)


def test_after():
    calc.total(3)
'''


def test_ctrl_c_keeps_what_ran(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", {"tests/test_stop.py": INTERRUPTED_TESTS})
    (project / "tests" / "test_calc.py").unlink()
    (project / "tests" / "test_async.py").unlink()
    stopped = run_pytest(project, "--requestcov")
    db = project / ".requestcov" / "requestcov.db"  # the default store, where pytest was started
    assert stopped.returncode == 2 and "KeyboardInterrupt" in stopped.stdout, stopped.stdout + stopped.stderr
    records = records_of(db)
    assert set(records) == {"tests/test_stop.py::test_before", "tests/test_stop.py::test_interrupted"}
    assert records["tests/test_stop.py::test_before"].status == PASSED
    interrupted = records["tests/test_stop.py::test_interrupted"]
    assert interrupted.status == INTERRUPTED
    calc = str((project / "shop" / "calc.py").resolve())
    assert line_of(project, 'return "positive"') in lines_of(interrupted)[calc]
    assert line_of(project, "result += i") not in lines_of(interrupted)[calc]  # after the signal
    assert len(startup_records_of(db)) == 1


def test_beside_pytest_cov(project: Path, tmp_path: Path) -> None:
    """Both measure, each as it would alone: the records equal coverage.py's
    contexts of the very same run."""
    db = tmp_path / "together.db"
    both = run_pytest(project, "--requestcov", "--requestcov-db", str(db), "--cov=.", "--cov-context=test",
                      "--cov-report=")
    assert both.returncode == 1, both.stdout + both.stderr
    assert "requestcov and pytest-cov both measure this run" in both.stdout + both.stderr
    oracle = call_phase_contexts(project / ".coverage")
    records = records_of(db)
    assert set(records) == set(oracle) == set(NODE.values())
    for node_id, record in records.items():
        assert lines_of(record) == oracle[node_id], node_id


SETTRACE_ENGINES = [pytest.param({"REQUESTCOV_BRANCH": "1"}, "branch coverage", id="branch")]
if sys.version_info < (3, 12):
    SETTRACE_ENGINES.append(pytest.param({"REQUESTCOV_ENGINE": "settrace"}, "settrace engine", id="settrace"))


@pytest.mark.parametrize(("env", "engine"), SETTRACE_ENGINES)
def test_refused_beside_pytest_cov_on_settrace(project: Path, tmp_path: Path, env: Dict[str, str],
                                               engine: str) -> None:
    """Where requestcov needs the one trace hook, it says so and records nothing."""
    db = tmp_path / "refused.db"
    refused = run_pytest(project, "--requestcov", "--requestcov-db", str(db), "--cov=.", "--cov-report=", env=env)
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "--requestcov cannot record while pytest-cov (--cov) measures this run" in refused.stderr
    assert f"requestcov's {engine} needs sys.settrace" in refused.stderr
    assert not db.exists()


def test_off_unless_asked(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", {"tests/test_async.py": ""})
    quiet = run_pytest(project, "-k", "test_add")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "requestcov:" not in quiet.stdout and not (project / ".requestcov").exists()
    blocked = run_pytest(project, "-p", "no:requestcov", "--requestcov", "-k", "test_add")
    assert blocked.returncode == 4 and "unrecognized arguments: --requestcov" in blocked.stderr
    assert not (project / ".requestcov").exists()
