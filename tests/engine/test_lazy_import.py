"""A module imported lazily inside a request: its module body and the class
bodies in it go to the start-up record, whichever request imports it.

Run in-process with the real engines, once per core, on fresh modules written
for each test (a module body runs once per process). coverage.py, run on the
same calls in a subprocess, is the oracle for what ran: the start-up record
and the requests' records together hold exactly its lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Dict, Iterator, Set, Tuple

import pytest

from requestcov.context import (
    begin_collecting,
    current_collector,
    end_collecting,
    startup_collector,
    tracking,
    unrecorded_collector,
)
from requestcov.engine import SourceMatcher, make_engine
from requestcov.engine.scope import runs_at_import
from tests.support.scopes import import_time_lines

LAZY_SOURCE = '''\
"""Imported by the first request that needs it."""
import os

RATES = {"DE": 19, "FR": 20}
TOTAL = 0
for _name in RATES:
    TOTAL += RATES[_name]


class Table:
    """Rates by country."""

    size = len(RATES)

    class Inner:
        depth = 2

    def lookup(self, key):
        return RATES[key]


class Marker: kind = "rates"  # one line: on 3.13+ its body's line comes as PY_START, no LINE event


_cache = {}


def cached_rate(key):
    if key not in _cache:
        _cache[key] = Table().lookup(key)
    return _cache[key]


def make_local():
    class Local:
        kind = "local"

    return Local.kind
'''

VIEWS_SOURCE = '''\
"""The views: the first one imports the lazy module."""


def first_view(key):
    import {lazy}

    return {lazy}.cached_rate(key), {lazy}.make_local()


def second_view(key):
    import importlib

    lazy = importlib.import_module("{lazy}")
    return lazy.cached_rate(key), lazy.make_local()
'''

ORACLE_SCRIPT = '''\
import sys
sys.path.insert(0, {folder!r})
import {views}
{views}.first_view("DE")
{views}.second_view("DE")
'''


def _line_of(source: str, text: str) -> int:
    (number,) = [index for index, line in enumerate(source.splitlines(), 1) if line.strip() == text]
    return number


@pytest.fixture
def modules(tmp_path: Path) -> Iterator[Tuple[Path, str, str]]:
    """A lazy module and the views that import it, under fresh names."""
    suffix = uuid.uuid4().hex[:12]
    lazy, views = f"lazy_{suffix}", f"views_{suffix}"
    (tmp_path / f"{lazy}.py").write_text(LAZY_SOURCE)
    (tmp_path / f"{views}.py").write_text(VIEWS_SOURCE.replace("{lazy}", lazy))
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path, lazy, views
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(lazy, None)
        sys.modules.pop(views, None)


def _request(function, *arguments) -> Dict[str, Set[int]]:
    collector, token = begin_collecting()
    try:
        function(*arguments)
    finally:
        end_collecting(collector, token)
    return {Path(filename).name: set(lines) for filename, lines in collector.lines.items()}


def _startup(folder: Path) -> Dict[str, Set[int]]:
    return {
        Path(filename).name: set(lines)
        for filename, lines in list(startup_collector.lines.items())
        if Path(filename).parent == folder
    }


def _coverage_py(folder: Path, views: str) -> Dict[str, Set[int]]:
    script = folder / "oracle_run.py"
    script.write_text(ORACLE_SCRIPT.format(folder=str(folder), views=views))
    data = folder / ".coverage"
    run = subprocess.run(
        [sys.executable, "-m", "coverage", "run", f"--data-file={data}", f"--source={folder}",
         f"--omit={script}", str(script)],
        capture_output=True, text=True, timeout=120, cwd=str(folder),
    )
    assert run.returncode == 0, run.stderr
    dump = subprocess.run(
        [sys.executable, "-c", "import coverage, json, sys, os; d = coverage.CoverageData(sys.argv[1]); d.read(); "
         "print(json.dumps({os.path.basename(f): sorted(d.lines(f) or []) for f in d.measured_files()}))", str(data)],
        capture_output=True, text=True, timeout=60,
    )
    assert dump.returncode == 0, dump.stderr
    return {name: set(lines) for name, lines in json.loads(dump.stdout).items()}


def test_a_lazy_import_goes_to_start_up_not_to_the_request(modules: Tuple[Path, str, str], core: str) -> None:
    folder, lazy, views = modules
    engine = make_engine(SourceMatcher([str(folder)]))
    engine.start()
    try:
        views_module = __import__(views)  # at start-up, as an app imports its views
        first = _request(views_module.first_view, "DE")
        second = _request(views_module.second_view, "DE")
        disabled = dict(tracking.disabled)
    finally:
        engine.stop()
    lazy_file = f"{lazy}.py"
    at_import = import_time_lines(LAZY_SOURCE)
    startup = _startup(folder)

    # Neither request holds a line of the lazy module's module or class bodies.
    assert not first[lazy_file] & at_import, sorted(first[lazy_file] & at_import)
    assert not second[lazy_file] & at_import, sorted(second[lazy_file] & at_import)
    # The start-up record does: module statements, the loop, both class bodies.
    assert at_import <= startup[lazy_file], sorted(at_import - startup[lazy_file])

    # Function bodies stay with the request that runs them; the cache is
    # filled by the first request only, a real effect of that request.
    fill = _line_of(LAZY_SOURCE, "_cache[key] = Table().lookup(key)")
    lookup = _line_of(LAZY_SOURCE, "return RATES[key]")
    local_class = _line_of(LAZY_SOURCE, 'kind = "local"')
    assert {fill, lookup, local_class} <= first[lazy_file]
    assert fill not in second[lazy_file] and lookup not in second[lazy_file]
    # A class body inside a function runs on every call: each request has it.
    assert local_class in second[lazy_file]
    assert _line_of(LAZY_SOURCE, "class Local:") in second[lazy_file]
    assert not (startup[lazy_file] & {fill, lookup, local_class})

    # The views' own lines: the import statement runs in each view.
    import_line = _line_of(VIEWS_SOURCE, "import {lazy}")
    assert import_line in first[f"{views}.py"]
    assert not startup[f"{views}.py"] & (first[f"{views}.py"] | second[f"{views}.py"])

    # Module and class bodies are never among the code enabled again per request.
    assert all(runs_at_import(code) is False for code in disabled.values())

    # Everything coverage.py saw, and nothing else, is in one of the records.
    expected = _coverage_py(folder, views)
    union = {name: startup.get(name, set()) | first.get(name, set()) | second.get(name, set()) for name in expected}
    assert union == expected
    assert expected[lazy_file]


def test_a_sampled_out_request_importing_lazily_still_fills_start_up(
    modules: Tuple[Path, str, str], core: str,
) -> None:
    """A request sampling leaves out runs against a collector nobody reads:
    the module it imports must not lose its start-up lines there."""
    folder, lazy, views = modules
    engine = make_engine(SourceMatcher([str(folder)]))
    engine.start()
    try:
        views_module = __import__(views)
        token = current_collector.set(unrecorded_collector)
        try:
            views_module.first_view("FR")
        finally:
            current_collector.reset(token)
        later = _request(views_module.second_view, "FR")
    finally:
        engine.stop()
    at_import = import_time_lines(LAZY_SOURCE)
    assert at_import <= _startup(folder)[f"{lazy}.py"]
    assert not later[f"{lazy}.py"] & at_import


def test_which_code_runs_at_import() -> None:
    source = textwrap.dedent('''\
        class Outer:
            class Nested:
                pass

        def function():
            class InFunction:
                pass
            return [item for item in ()], (item for item in ()), lambda: 1
        ''')
    module = compile(source, "example.py", "exec")
    outer = next(const for const in module.co_consts if getattr(const, "co_name", "") == "Outer")
    nested = next(const for const in outer.co_consts if getattr(const, "co_name", "") == "Nested")
    function = next(const for const in module.co_consts if getattr(const, "co_name", "") == "function")
    in_function = next(const for const in function.co_consts if getattr(const, "co_name", "") == "InFunction")
    assert runs_at_import(module) and runs_at_import(outer) and runs_at_import(nested)
    assert not runs_at_import(function)
    assert not any(runs_at_import(const) for const in function.co_consts if hasattr(const, "co_flags")
                   and const is not in_function)
    if sys.version_info >= (3, 11):
        assert not runs_at_import(in_function)
