"""A small real project for ``pytest --requestcov``, and running pytest on it.

Each run is a fresh ``python -m pytest`` process (the interpreter running
the suite, so the engine under test is this interpreter's), in the
project's folder, with its own ini file so the suite's options stay out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Set

from coverage import CoverageData

from requestcov.records import STARTUP, RequestRecord
from requestcov.store import SQLiteStore

__all__ = [
    "NODE", "Runs", "write_project", "run_pytest", "line_of", "records_of", "startup_records_of", "coverage_contexts", "lines_of",
    "call_phase_contexts",
]

CALC = '''\
import threading


def add(a, b):
    if a < 0:
        return -1
    return a + b


def classify(n):
    if n < 0:
        return "negative"
    if n == 0:
        return "zero"
    return "positive"


def total(n):
    result = 0
    for i in range(n):
        result += i
    return result


def prepare():
    items = [1, 2, 3]
    return {"items": items}


def clean_up(state):
    state.clear()
    return None


def in_thread():
    box = []

    def work():
        box.append(total(4))

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    return box[0]


async def double(n):
    value = n * 2
    return value


async def open_resource():
    name = "resource"
    return name
'''

CONFTEST = '''\
import pytest

from shop import calc


@pytest.fixture
def prepared():
    state = calc.prepare()
    yield state
    calc.clean_up(state)
'''

TEST_CALC = '''\
import time

import pytest

from shop import calc


def test_add():
    assert calc.add(1, 2) == 3


@pytest.mark.parametrize("n", [1, 2, -3])
def test_classify(n):
    assert calc.classify(n) in ("positive", "negative")


def test_fails():
    assert calc.add(-1, 2) == 1


@pytest.mark.xfail(reason="known")
def test_expected_failure():
    assert calc.classify(0) == "positive"


def test_skips_inside():
    calc.total(2)
    pytest.skip("not today")


@pytest.mark.skip(reason="never runs")
def test_never_called():
    calc.total(100)


def test_with_fixture(prepared):
    assert calc.total(3) == 3
    assert prepared["items"]


def test_slow():
    time.sleep(0.2)
    assert calc.add(2, 2) == 4


def test_thread():
    assert calc.in_thread() == 6
'''

TEST_UNITTEST = '''\
import unittest

from shop import calc


class TestParts(unittest.TestCase):
    def test_parts(self):
        for n in (1, 2):
            with self.subTest(n=n):
                self.assertEqual(calc.classify(n), "positive")
        calc.total(2)
'''

TEST_ASYNC = '''\
import pytest

from shop import calc


@pytest.mark.asyncio
async def test_asyncio():
    assert await calc.double(2) == 4


@pytest.fixture(scope="module")
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
async def resource():
    # Module-scoped: anyio's runner task, made here during set-up, runs the
    # module's tests too, in the context of this set-up.
    yield await calc.open_resource()


@pytest.mark.anyio
async def test_anyio_first(resource):
    assert await calc.double(3) == 6


@pytest.mark.anyio
async def test_anyio_second(resource):
    assert calc.classify(await calc.double(-1)) == "negative"
'''

INI = '''\
[pytest]
pythonpath = .
asyncio_default_fixture_loop_scope = function
'''

class Runs(NamedTuple):
    """A recorded run of the project and coverage.py's run of it."""

    project: Path
    db: Path
    records: Dict[str, RequestRecord]
    #: coverage.py's lines of each test's call phase, by node id.
    oracle: Dict[str, Dict[str, Set[int]]]
    oracle_contexts: Dict[str, Dict[str, Set[int]]]
    output: str


#: Node ids of the project's tests, by short name.
NODE = {
    "add": "tests/test_calc.py::test_add",
    "classify1": "tests/test_calc.py::test_classify[1]",
    "classify2": "tests/test_calc.py::test_classify[2]",
    "classify-3": "tests/test_calc.py::test_classify[-3]",
    "fails": "tests/test_calc.py::test_fails",
    "xfail": "tests/test_calc.py::test_expected_failure",
    "skips": "tests/test_calc.py::test_skips_inside",
    "fixture": "tests/test_calc.py::test_with_fixture",
    "slow": "tests/test_calc.py::test_slow",
    "thread": "tests/test_calc.py::test_thread",
    "asyncio": "tests/test_async.py::test_asyncio",
    "anyio1": "tests/test_async.py::test_anyio_first",
    "anyio2": "tests/test_async.py::test_anyio_second",
    "subtests": "tests/test_unittest.py::TestParts::test_parts",
}


def write_project(folder: Path, extra_files: Optional[Dict[str, str]] = None) -> Path:
    files = {
        "pytest.ini": INI, "shop/__init__.py": "", "shop/calc.py": CALC, "tests/conftest.py": CONFTEST,
        "tests/test_calc.py": TEST_CALC, "tests/test_async.py": TEST_ASYNC,
        "tests/test_unittest.py": TEST_UNITTEST, **(extra_files or {}),
    }
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder


def run_pytest(project: Path, *arguments: str, timeout: float = 180.0,
               env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """pytest in ``project``, with none of this run's coverage settings
    (only those of ``env``)."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("REQUESTCOV_", "COV_CORE_", "PYTEST_", "COVERAGE_"))}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *arguments],
        cwd=str(project), env=environment, capture_output=True, text=True, timeout=timeout,
    )


def records_of(db: Path) -> Dict[str, RequestRecord]:
    """The store's test records by node id (each test recorded once)."""
    with SQLiteStore(db, read_only=True) as store:
        records = store.records()
    by_id = {record.test_id: record for record in records}
    assert len(by_id) == len(records), [record.test_id for record in records]
    return by_id


def startup_records_of(db: Path) -> List[RequestRecord]:
    with SQLiteStore(db, read_only=True) as store:
        return store.records((STARTUP,))


def coverage_contexts(data_file: Path) -> Dict[str, Dict[str, Set[int]]]:
    """coverage.py's lines per dynamic context: {context: {real path: lines}}."""
    data = CoverageData(basename=str(data_file))
    data.read()
    result: Dict[str, Dict[str, Set[int]]] = {}
    for path in data.measured_files():
        for line, contexts in data.contexts_by_lineno(path).items():
            for context in contexts:
                result.setdefault(context, {}).setdefault(os.path.realpath(path), set()).add(line)
    return result


def line_of(project: Path, text: str) -> int:
    """The number of the line of ``shop/calc.py`` that reads ``text``, stripped."""
    lines = (project / "shop" / "calc.py").read_text().splitlines()
    return [line.strip() for line in lines].index(text) + 1


def lines_of(record: RequestRecord) -> Dict[str, Set[int]]:
    return {os.path.realpath(path): set(lines) for path, lines in record.lines.items() if lines}


def call_phase_contexts(data_file: Path) -> Dict[str, Dict[str, Set[int]]]:
    """pytest-cov's ``--cov-context=test`` contexts of call phases (``NODEID|run``), by node id."""
    return {context[: -len("|run")]: lines for context, lines in coverage_contexts(data_file).items()
            if re.search(r"\|run$", context)}
