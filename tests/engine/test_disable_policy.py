"""Which locations the sys.monitoring engine disables, and that each request
still sees every line.

A line that runs once per request stays enabled (enabling it again for the
next request would re-instrument its whole code object); a line that repeats
within a request is disabled once every request in flight has it, and enabled
again when the next request starts.
"""

from __future__ import annotations

import os
import sys

import pytest

from requestcov.context import begin_collecting, end_collecting, tracking
from requestcov.engine import SourceMatcher, make_engine
from tests.apps import race_target, straight_target

pytestmark = pytest.mark.skipif(sys.version_info < (3, 12), reason="the sys.monitoring engine needs 3.12+")


@pytest.fixture
def engine(core: str):
    engine = make_engine(SourceMatcher([os.path.dirname(race_target.__file__)]))
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


def _one_request(function, *arguments) -> set:
    collector, token = begin_collecting()
    try:
        function(*arguments)
    finally:
        end_collecting(collector, token)
    return collector.lines.get(function.__code__.co_filename, set())


def test_lines_run_once_per_request_stay_enabled(engine) -> None:
    code = straight_target.straight.__code__
    first_line = code.co_firstlineno
    expected = {first_line + 1, first_line + 2, first_line + 3}
    for _ in range(20):
        assert _one_request(straight_target.straight, 21) == expected
        assert id(code) not in tracking.disabled


def test_repeating_lines_are_disabled_and_every_request_sees_them_again(engine) -> None:
    code = race_target.work.__code__
    expected = _one_request(race_target.work, 3)
    assert len(expected) == 7
    assert id(code) in tracking.disabled  # the loop's lines repeated
    for _ in range(50):
        assert _one_request(race_target.work, 3) == expected


def test_a_repeating_line_stays_enabled_while_another_request_has_not_seen_it(engine) -> None:
    code = race_target.work.__code__
    waiting, waiting_token = begin_collecting()  # in flight, has seen nothing yet
    try:
        running, token = begin_collecting()
        try:
            race_target.work(3)
        finally:
            end_collecting(running, token)
        assert id(code) not in tracking.disabled
        race_target.work(3)  # still charged to the waiting request: it must see every line
        assert waiting.lines.get(code.co_filename) == running.lines.get(code.co_filename)
    finally:
        end_collecting(waiting, waiting_token)
