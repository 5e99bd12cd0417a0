"""The compiled request path (``_speedups.RequestPath``) against its Python
twin: ``begin_collecting`` + ``ActiveRequest`` for a request's begin, and
``end_collecting`` for its end, as ``Recorder.begin`` and ``finish`` use them."""

from __future__ import annotations

import contextvars
import gc
import threading
import time
import weakref
from typing import Iterator, List

import pytest

from requestcov import recorder as recorder_module
from requestcov.context import Collector, begin_collecting, current_collector, end_collecting, tracking
from requestcov.engine.core import compiled_core
from requestcov.recorder import ActiveRequest


@pytest.fixture
def path() -> Iterator[object]:
    speedups = compiled_core()
    assert speedups is not None, "the compiled core (requestcov.engine._speedups) was not built"
    restart, disabled = tracking.on_request_start, tracking.disabled
    yield recorder_module._compiled_request_path()
    tracking.on_request_start, tracking.disabled = restart, disabled


def python_begin(test_id: str, test_set: str, method: str, path: str) -> ActiveRequest:
    """What ``Recorder.begin`` does with the pure-Python core."""
    collector, token = begin_collecting()
    request = ActiveRequest(collector, token, test_id, test_set, method, path, time.time(), time.perf_counter())
    collector.request = request
    return request


def python_end(request: ActiveRequest) -> None:
    """What ``Recorder.finish`` does with the pure-Python core, after queueing."""
    end_collecting(request.collector, request.token)
    request.token = None
    request.collector.request = None


SLOTS = recorder_module._REQUEST_SLOTS


def test_begin_makes_the_request_the_python_twin_makes(path) -> None:
    before = current_collector.get()
    generation = tracking.generation
    twin = python_begin("t-1", "set-a", "GET", "/items")
    wall, counter = time.time(), time.perf_counter()
    request = path.begin("t-1", "set-a", "GET", "/items")
    wall_after, counter_after = time.time(), time.perf_counter()
    try:
        assert type(request) is ActiveRequest and type(request.collector) is Collector
        for name in SLOTS:
            if name in ("collector", "token", "start", "started_counter"):
                continue
            assert getattr(request, name) == getattr(twin, name), name
        # The clocks of time.time() and time.perf_counter(), which the writer and finish() read.
        assert wall <= request.start <= wall_after and counter <= request.started_counter <= counter_after
        collector = request.collector
        assert collector.request is request and (collector.lines, collector.arcs, collector.tracers) == ({}, {}, {})
        assert current_collector.get() is collector
        assert tracking.in_flight[-2:] == (twin.collector, collector)
        assert tracking.generation == generation + 2
        assert request.finished is False and request.unwritten == [True]
    finally:
        path.end(request)
        python_end(twin)
    assert current_collector.get() is before
    assert twin.collector not in tracking.in_flight and request.collector not in tracking.in_flight
    assert request.token is None and request.collector.request is None
    assert twin.token is None and twin.collector.request is None


def test_nested_requests_end_in_any_order(path) -> None:
    outer = path.begin("outer", "", "GET", "/a")
    inner = path.begin("inner", "", "GET", "/b")
    assert current_collector.get() is inner.collector
    path.end(outer)  # ended first, from the context it began in but not its innermost
    assert tracking.in_flight[-1:] == (inner.collector,) and outer.collector not in tracking.in_flight
    path.end(inner)
    assert inner.collector not in tracking.in_flight


def test_end_from_another_context_is_quiet_and_still_takes_it_out_of_flight(path) -> None:
    began_in = contextvars.copy_context()
    request = began_in.run(path.begin, "t", "", "GET", "/")
    contextvars.copy_context().run(path.end, request)
    assert request.collector not in tracking.in_flight and request.token is None
    # Still current where it began, as after end_collecting.
    assert began_in[current_collector] is request.collector


def test_disabled_locations_are_enabled_again_under_the_lock_only_when_there_are_some(path) -> None:
    calls: List[bool] = []

    def restart() -> None:
        calls.append(tracking.lock._is_owned())  # type: ignore[attr-defined]
        tracking.disabled = {}

    tracking.on_request_start = restart
    tracking.disabled = {}
    path.end(path.begin("none-disabled", "", "GET", "/"))
    assert calls == []
    tracking.disabled = {1: compile("1", "x", "eval")}
    path.end(path.begin("one-disabled", "", "GET", "/"))
    assert calls == [True]


def test_a_failing_restart_leaves_nothing_in_flight_or_current(path) -> None:
    def restart() -> None:
        raise RuntimeError("cannot enable")

    before = current_collector.get()
    in_flight = tracking.in_flight
    tracking.on_request_start = restart
    tracking.disabled = {1: compile("1", "x", "eval")}
    with pytest.raises(RuntimeError, match="cannot enable"):
        path.begin("t", "", "GET", "/")
    assert current_collector.get() is before and tracking.in_flight == in_flight
    assert not tracking.lock._is_owned()  # type: ignore[attr-defined]


def test_requests_begun_and_ended_on_many_threads_leave_none_in_flight(path) -> None:
    in_flight = tracking.in_flight
    errors: List[BaseException] = []

    def serve(index: int) -> None:
        try:
            for number in range(300):
                request = path.begin(f"{index}-{number}", "", "GET", "/")
                assert current_collector.get() is request.collector
                assert request.collector in tracking.in_flight
                path.end(request)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=serve, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert tracking.in_flight == in_flight


@pytest.mark.parametrize("side", ["compiled", "python"])
def test_an_ended_request_is_freed_without_the_garbage_collector(path, side: str) -> None:
    begin, end = (path.begin, path.end) if side == "compiled" else (python_begin, python_end)
    gc.disable()
    try:
        request = begin("t", "", "GET", "/")
        collector = weakref.ref(request.collector)
        end(request)
        del request
        assert collector() is None
    finally:
        gc.enable()


def test_slots_the_classes_do_not_have_are_refused_at_once() -> None:
    speedups = compiled_core()
    assert speedups is not None

    class NoSlots:
        pass

    tracking_slots = recorder_module._TRACKING_SLOTS
    with pytest.raises(TypeError, match="not a slot"):
        speedups.RequestPath(
            tracking, tracking_slots, current_collector, NoSlots, recorder_module._COLLECTOR_SLOTS, ActiveRequest,
            SLOTS, time.time, time.perf_counter,
        )
    with pytest.raises(TypeError, match="tuple of 14"):
        speedups.RequestPath(
            tracking, tracking_slots, current_collector, Collector, recorder_module._COLLECTOR_SLOTS, ActiveRequest,
            SLOTS[:-1], time.time, time.perf_counter,
        )
    with pytest.raises(TypeError, match="not a slot"):  # tracking read at its slots: only a Tracking will do
        speedups.RequestPath(
            NoSlots(), tracking_slots, current_collector, Collector, recorder_module._COLLECTOR_SLOTS, ActiveRequest,
            SLOTS, time.time, time.perf_counter,
        )
    with pytest.raises(TypeError, match="tuple of 5"):
        speedups.RequestPath(
            tracking, tracking_slots[:-1], current_collector, Collector, recorder_module._COLLECTOR_SLOTS,
            ActiveRequest, SLOTS, time.time, time.perf_counter,
        )


def test_end_refuses_what_begin_did_not_make(path) -> None:
    with pytest.raises(TypeError):
        path.end(object())


class Queued:
    """The writer's side of a request's end: each finished tuple submitted."""

    def __init__(self, fails: bool = False) -> None:
        self.items: List[tuple] = []
        self.fails = fails

    def __call__(self, finished: tuple) -> None:
        if self.fails:
            raise SystemExit(0)  # an app's signal handler, raising in the middle of the queueing
        self.items.append(finished)


class PythonRecorder:
    """What ``Recorder.finish`` reads of its recorder, with the pure-Python core."""

    def __init__(self, submit: Queued, pid: int) -> None:
        self.writer = type("Writer", (), {"submit": staticmethod(submit)})()
        self.pid = pid


def finishers(path) -> Iterator[tuple]:
    compiled_queue, python_queue = Queued(), Queued()
    path.set_finish(compiled_queue, 4242, "request")
    yield path.begin, path.finish, compiled_queue
    python_recorder = PythonRecorder(python_queue, 4242)
    yield python_begin, lambda request, **status: recorder_module.Recorder.finish(
        python_recorder, request, **status), python_queue


def test_finish_queues_once_then_ends_the_request_as_the_python_twin_does(path) -> None:
    before = current_collector.get()
    for begin, finish, queued in finishers(path):
        request = begin("t", "", "GET", "/items")
        started = time.perf_counter()
        finish(request, status=201)
        took_ms = (time.perf_counter() - started) * 1000.0
        finish(request, status=500)  # ended: nothing more
        assert len(queued.items) == 1
        item_request, duration_ms, pid, kind = queued.items[0]
        assert item_request is request and (pid, kind) == (4242, "request")
        assert 0.0 <= duration_ms <= took_ms + (started - request.started_counter) * 1000.0
        assert request.status == 201 and request.finished and request.unwritten == [True]
        assert request.token is None and request.collector.request is None
        assert request.collector not in tracking.in_flight and current_collector.get() is before


def test_a_request_finished_without_status_keeps_the_one_it_has(path) -> None:
    for begin, finish, queued in finishers(path):
        request = begin("t", "", "GET", "/")
        request.status = 404
        finish(request)
        assert request.status == 404 and len(queued.items) == 1


def test_a_sampled_out_request_is_ended_without_being_queued(path) -> None:
    before = current_collector.get()
    for _, finish, queued in finishers(path):
        token = current_collector.set(Collector())
        request = ActiveRequest(Collector(), token, "", "", "GET", "/", 0.0, 0.0, recorded=False)
        finish(request, status=200)
        assert queued.items == [] and request.finished and request.token is None
        assert current_collector.get() is before


def test_a_queueing_cut_short_leaves_the_request_unfinished_and_in_flight(path) -> None:
    """An exception out of the writer's submit (an app's SystemExit) goes on,
    and the request is still there to be queued: by a second call, or by the
    stop that raised it."""
    for begin, finish, queued in finishers(path):
        request = begin("t", "", "GET", "/")
        queued.fails = True
        with pytest.raises(SystemExit):
            finish(request)
        assert not request.finished and request.collector in tracking.in_flight and queued.items == []
        queued.fails = False
        finish(request)
        assert len(queued.items) == 1 and request.finished and request.collector not in tracking.in_flight


def test_a_request_ended_while_it_was_queued_is_not_ended_twice(path) -> None:
    """The submit may run Python code (a full queue waits, a signal handler
    ends what is in flight): a request it ended meanwhile is left as it is."""
    submitted: List[tuple] = []

    def submit_and_end_it(finished: tuple) -> None:
        submitted.append(finished)
        if len(submitted) == 1:
            path.finish(finished[0])  # queued once more, then ended, inside the first queueing

    path.set_finish(submit_and_end_it, 1, "request")
    request = path.begin("t", "", "GET", "/")
    path.finish(request)
    assert len(submitted) == 2 and request.finished and request.token is None
    assert request.collector not in tracking.in_flight


def test_finish_is_called_as_recorder_finish_is(path) -> None:
    request = path.begin("t", "", "GET", "/")
    try:
        with pytest.raises(RuntimeError, match="set_finish"):
            path.finish(request)
        path.set_finish(Queued(), 1, "request")
        with pytest.raises(TypeError):
            path.finish(request, 200)  # status is keyword-only
        with pytest.raises(TypeError):
            path.finish(request, code=200)
        with pytest.raises(TypeError):
            path.finish(object())
        with pytest.raises(TypeError):
            path.set_finish(Queued(), "1", "request")
        assert not request.finished
    finally:
        path.end(request)
