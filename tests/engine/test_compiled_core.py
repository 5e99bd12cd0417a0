"""The compiled core records what the pure-Python core records, and never
lets one of its own errors reach the app.

Run in-process with the real engines; the oracle tests
(``test_oracle.py``) compare both cores with coverage.py through real servers.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Dict, Set

import pytest

from requestcov.context import begin_collecting, current_collector, end_collecting
from requestcov.engine import ENGINE_VARIABLE, SourceMatcher, make_engine
from requestcov import log
from requestcov.engine.core import CORE_VARIABLE
from tests.apps import branchy_target, race_target, straight_target

SOURCE = os.path.dirname(race_target.__file__)


def _one_request(function, *arguments) -> Dict[str, Set[int]]:
    collector, token = begin_collecting()
    try:
        function(*arguments)
    finally:
        end_collecting(collector, token)
    return {filename: set(lines) for filename, lines in collector.lines.items()}


def _record_with(core: str, monkeypatch: pytest.MonkeyPatch) -> list:
    monkeypatch.setenv(CORE_VARIABLE, core)
    engine = make_engine(SourceMatcher([SOURCE]))
    engine.start()
    try:
        assert engine.core == ("compiled" if core == "compiled" else "Python")
        return [
            _one_request(race_target.work, 3),
            _one_request(straight_target.straight, 21),
            _one_request(branchy_target.classify, 3),
            _one_request(branchy_target.classify, 8),
            _one_request(branchy_target.classify, 3),
        ]
    finally:
        engine.stop()


def test_both_cores_record_the_same_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = _record_with("compiled", monkeypatch)
    python = _record_with("python", monkeypatch)
    assert compiled == python
    # Something was recorded, and the two calls of classify() with different
    # arguments took different lines, so the comparison has teeth.
    assert all(compiled)
    assert compiled[2] != compiled[3]
    assert compiled[2] == compiled[4]


def test_the_compiled_core_is_the_default_where_it_was_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CORE_VARIABLE, raising=False)
    engine = make_engine(SourceMatcher([SOURCE]))
    engine.start()
    try:
        assert engine.core == "compiled"
        assert engine.description.endswith("(compiled core)")
    finally:
        engine.stop()


def test_a_thread_started_after_the_engine_is_recorded(core: str) -> None:
    engine = make_engine(SourceMatcher([SOURCE]))
    engine.start()
    try:
        alone = _one_request(race_target.work, 3)
        results: list = []
        thread = threading.Thread(target=lambda: results.append(_one_request(race_target.work, 3)))
        thread.start()
        thread.join(30)
    finally:
        engine.stop()
    assert results == [alone]
    assert alone


def test_an_error_in_either_core_is_logged_once_and_the_app_runs_on(
    core: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """A collector that cannot hold lines makes every line event fail inside
    the core: the app's function must still return its own result."""
    monkeypatch.setattr(log, "_seen", set())  # this process may have logged it already

    class Broken:
        request = None
        lines = None  # not a dict: recording a line raises inside the core
        arcs: dict = {}
        tracers: dict = {}

    engine = make_engine(SourceMatcher([SOURCE]))
    engine.start()
    token = current_collector.set(Broken())  # type: ignore[arg-type]
    try:
        with caplog.at_level(logging.ERROR, logger="requestcov"):
            first = race_target.work(3)
            second = race_target.work(3)
    finally:
        current_collector.reset(token)
        engine.stop()
    assert first == second == race_target.work(3)
    failures = [record for record in caplog.records if "recording a line failed" in record.getMessage()]
    assert len(failures) == 1


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the trace-function engine runs on 3.9-3.11")
def test_settrace_of_gettrace_keeps_recording(core: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Debuggers and test tools save ``sys.gettrace()`` and put it back with
    ``sys.settrace``: the compiled tracer then runs as a Python trace
    function, and must go on recording."""
    monkeypatch.setenv(ENGINE_VARIABLE, "settrace")
    engine = make_engine(SourceMatcher([SOURCE]))
    engine.start()
    try:
        expected = _one_request(race_target.work, 3)
        sys.settrace(sys.gettrace())
        again = _one_request(race_target.work, 3)
    finally:
        engine.stop()
    assert again == expected
    assert expected
