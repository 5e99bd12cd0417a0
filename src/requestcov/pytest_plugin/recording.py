"""One record per test: the lines its call phase ran.

A test begins as a request begins (:meth:`Recorder.begin`) when pytest calls
it, and stops collecting when the call returns; its record is queued once
the call's report is made, with the outcome as its status (see
:mod:`~requestcov.pytest_plugin.outcomes`) and the call's duration.
Collection, fixtures' setup and teardown, and everything between tests go
to the process's start-up record.

pytest runs one test at a time in a process, so everything that runs while
a test is called belongs to it, as coverage.py's per-test contexts have it:
also code in a thread the test starts, and an async test run in a context
made before the test began (anyio's runner task, which outlives tests while
a wider-scoped async fixture holds it). Both see the context's default
collector, the start-up one; while a test runs, that collector's line sets
*are* the test's (see :class:`StartupCharged`).

An error of ours is logged once and the test runs on, unrecorded.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Generator, Optional, Tuple

import pytest

from requestcov.context import Collector, restore_collector, startup_collector
from requestcov.log import log_once
from requestcov.pytest_plugin.options import Settings
from requestcov.pytest_plugin.outcomes import INTERRUPTED, status_of
from requestcov.recorder import ActiveRequest, Recorder

__all__ = ["StartupCharged", "TestRecording", "route_of"]


class StartupCharged:
    """While active, lines recorded into the start-up collector go to ``collector``.

    The engines look up ``collector.lines`` (and ``arcs``) at each event, so
    pointing the start-up collector's dicts at the test's charges the test
    from every context that holds no collector of its own. The settrace
    engine's per-file tracer cache is emptied both ways, so no cached tracer
    outlives the switch (a frame already running keeps the tracer it has).
    """

    __slots__ = ("collector", "_saved")

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self._saved: Optional[Tuple[Dict[str, Any], Dict[str, Any]]] = None

    def start(self) -> None:
        self._saved = (startup_collector.lines, startup_collector.arcs)
        startup_collector.lines = self.collector.lines
        startup_collector.arcs = self.collector.arcs
        startup_collector.tracers = {}

    def stop(self) -> None:
        if self._saved is None:
            return
        startup_collector.lines, startup_collector.arcs = self._saved
        startup_collector.tracers = {}
        self._saved = None


def route_of(item: pytest.Item) -> str:
    """The test without its parameters, ``tests/test_a.py::test_add`` for
    ``tests/test_a.py::test_add[1-2]``: the analyses' endpoint, so ``dedup``
    compares the cases of one parametrized test with each other."""
    name, original = item.name, getattr(item, "originalname", None)
    if original and name != original and item.nodeid.endswith(name):
        return item.nodeid[: len(item.nodeid) - len(name)] + original
    return item.nodeid


class _Running:
    __slots__ = ("request", "charged", "started", "elapsed")

    def __init__(self, request: ActiveRequest, charged: StartupCharged) -> None:
        self.request = request
        self.charged = charged
        self.started = time.perf_counter()
        self.elapsed: Optional[float] = None


class TestRecording:
    """The pytest plugin of a process that runs tests (not an xdist controller)."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, recorder: Recorder, settings: Settings) -> None:
        self.recorder = recorder
        self.settings = settings
        #: Tests called but not yet recorded, by node id.
        self._running: Dict[str, _Running] = {}
        self.recorded = 0

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, None]:
        running = self._begin(item)
        outcome = yield
        if running is None:
            return
        try:
            self._stop_collecting(running)
        except Exception as problem:
            log_once("pytest-stop", "requestcov: cannot end test %s (%s)", item.nodeid, problem)
        raised = outcome.excinfo[1] if outcome.excinfo else None
        if isinstance(raised, (KeyboardInterrupt, pytest.exit.Exception)):
            # No report follows: pytest stops the session right here.
            self._finish(item.nodeid, INTERRUPTED)

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Generator[None, Any, None]:
        outcome = yield
        running = self._running.get(item.nodeid)
        # A subtest's report (pytest's subtests, unittest's subTest) comes
        # while the test is still being called: the test's own comes after.
        if call.when != "call" or running is None or running.elapsed is None:
            return
        try:
            status: Optional[int] = status_of(outcome.get_result())
        except BaseException:  # the report itself failed: pytest says so
            status = None
        self._finish(item.nodeid, status)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        """A call whose report never came (a plugin's makereport failed)
        is still recorded, without a status."""
        if nodeid in self._running:
            self._finish(nodeid, None)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        """After the session's fixtures are torn down: the start-up record
        is complete, and the terminal summary can say what was written."""
        for nodeid in list(self._running):
            self._finish(nodeid, INTERRUPTED)
        try:
            self.recorder.flush()
        except Exception as error:  # never break the run
            log_once("pytest-flush", "requestcov: writing the records failed (%s)", error)

    def pytest_unconfigure(self) -> None:
        """Stop recording now rather than at exit: nothing is in flight to
        wait for, and code run after the session is nobody's."""
        try:
            self.recorder.close(drain_timeout=0.0)
        except Exception as error:
            log_once("pytest-close", "requestcov: closing the recorder failed (%s)", error)

    # -- the steps -----------------------------------------------------------

    def _begin(self, item: pytest.Item) -> Optional[_Running]:
        try:
            request = self.recorder.begin(method="", path=item.nodeid, test_id=item.nodeid,
                                          test_set=self.settings.test_set)
            request.route = route_of(item)
            charged = StartupCharged(request.collector)
            charged.start()
        except Exception as error:
            log_once("pytest-begin", "requestcov: cannot record test %s (%s); it runs unrecorded", item.nodeid, error)
            return None
        running = self._running[item.nodeid] = _Running(request, charged)
        return running

    @staticmethod
    def _stop_collecting(running: _Running) -> None:
        """The call is over: nothing from here on is the test's. (The record
        waits for the report, which tells the outcome.)"""
        running.elapsed = time.perf_counter() - running.started
        running.charged.stop()
        restore_collector(running.request.token)
        running.request.token = None

    def _finish(self, nodeid: str, status: Optional[int]) -> None:
        running = self._running.pop(nodeid, None)
        if running is None:
            return
        try:
            if running.elapsed is None:
                self._stop_collecting(running)
            # The record's duration is the call's alone, not the report's
            # making (a failure's traceback can take longer than the test).
            running.request.started_counter = time.perf_counter() - (running.elapsed or 0.0)
            self.recorder.finish(running.request, status=status)
            self.recorded += 1
        except Exception as error:
            log_once("pytest-finish", "requestcov: cannot record test %s (%s)", nodeid, error)
