"""The probe itself, compiled and pure Python: where a line goes, and the stamp that makes a
probe that fired for this request cost a comparison."""

from __future__ import annotations

import contextvars
import pickle
import sys
from typing import Any, List

import pytest

from requestcov.context import Collector, current_collector, startup_collector, unrecorded_collector
from requestcov.engine.core import compiled_core
from requestcov.engine.probes import PythonProbeHub

pytestmark = pytest.mark.skipif(not (3, 9) <= sys.version_info < (3, 12), reason="probes are for Python 3.9-3.11")


def make_hub(kind: str, report: Any) -> Any:
    if kind == "python":
        return PythonProbeHub(current_collector, unrecorded_collector, startup_collector, report)
    speedups = compiled_core()
    assert speedups is not None, "the compiled core was not built"
    return speedups.ProbeHub(current_collector, unrecorded_collector, startup_collector, report, Collector.lines)


@pytest.fixture(params=["compiled", "python"])
def hub_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def in_request(function: Any) -> Collector:
    """Run ``function`` in a fresh context whose current collector is a new one."""
    collector = Collector()

    def run() -> None:
        current_collector.set(collector)
        function()

    contextvars.copy_context().run(run)
    return collector


def test_a_probe_adds_its_line_to_each_request_once(hub_kind: str) -> None:
    errors: List[BaseException] = []
    hub = make_hub(hub_kind, errors.append)
    probe = hub.probe("app.py", 7, False)
    other = hub.probe("app.py", 9, False)

    def run() -> None:
        for _ in range(3):
            probe()
        other()

    first, second = in_request(run), in_request(probe)
    assert first.lines == {"app.py": {7, 9}}
    assert second.lines == {"app.py": {7}}
    # Alternating requests: the stamp changes, nothing is lost.
    third = in_request(lambda: (probe(), in_request(probe), probe()))
    assert third.lines == {"app.py": {7}}
    assert errors == []


def test_a_stopped_hub_makes_every_probe_inert(hub_kind: str) -> None:
    """What the engine's stop relies on: no probe of the hub records, made
    before the stop or after, in a request or at start-up."""
    errors: List[BaseException] = []
    hub = make_hub(hub_kind, errors.append)
    probe, startup_probe = hub.probe("app.py", 7, False), hub.probe("app.py", 1, True)
    assert in_request(probe).lines == {"app.py": {7}}
    hub.stop()
    later = hub.probe("app.py", 8, False)
    startup_before = {name: set(lines) for name, lines in startup_collector.lines.items()}
    assert in_request(lambda: (probe(), later(), startup_probe())).lines == {}
    assert startup_collector.lines == startup_before
    assert "app.py" not in startup_collector.lines or 1 not in startup_collector.lines["app.py"]
    assert errors == []


def test_startup_probes_and_unrecorded_requests(hub_kind: str) -> None:
    errors: List[BaseException] = []
    hub = make_hub(hub_kind, errors.append)
    at_import = hub.probe("module.py", 1, True)
    in_function = hub.probe("module.py", 2, False)
    saved = startup_collector.lines
    startup_collector.lines = {}
    try:
        request = in_request(lambda: (at_import(), in_function()))
        assert request.lines == {"module.py": {2}}
        assert startup_collector.lines == {"module.py": {1}}
        # The pytest plugin swaps the start-up collector's dict: the stamp is the dict.
        startup_collector.lines = {}
        at_import()
        assert startup_collector.lines == {"module.py": {1}}
    finally:
        startup_collector.lines = saved

    def unrecorded() -> None:
        current_collector.set(unrecorded_collector)
        in_function()

    contextvars.copy_context().run(unrecorded)
    assert "module.py" not in unrecorded_collector.lines
    assert errors == []


class NotACollector:
    lines = "not a dict"


def test_an_error_is_reported_not_raised(hub_kind: str) -> None:
    errors: List[BaseException] = []
    hub = make_hub(hub_kind, errors.append)
    probe = hub.probe("app.py", 3, False)

    def run() -> None:
        current_collector.set(NotACollector())  # type: ignore[arg-type]
        assert probe() is None
        assert probe() is None

    contextvars.copy_context().run(run)
    assert errors and all(isinstance(error, (TypeError, AttributeError)) for error in errors)
    if hub_kind == "compiled":
        assert len(errors) == 1  # once per hub


def test_a_pickled_probe_is_a_no_op() -> None:
    speedups = compiled_core()
    assert speedups is not None
    probe = make_hub("compiled", lambda error: None).probe("app.py", 3, False)
    restored = pickle.loads(pickle.dumps(probe))
    assert restored() == 0
