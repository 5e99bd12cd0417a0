"""What requestcov's threads and queue do in a green process, printed as JSON.

Run as ``python -m tests.support.green_probe LIBRARY WHEN`` (LIBRARY: gevent
or eventlet; WHEN: ``before`` when requestcov is imported before the
monkey-patching, as under ``requestcov run``, ``after`` as in an app wired
by hand; ``trace`` for the trace-function engine's lines of greenlets):
monkey-patching cannot be undone, so each probe is a process.
:func:`run_probe` runs one from a test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

REPOSITORY = Path(__file__).resolve().parents[2]


def run_probe(library: str, mode: str) -> Dict[str, Any]:
    """The report of one probe, run in a process of its own (with this
    process's environment: REQUESTCOV_CORE picks the core). Skips the
    calling test when ``library`` is not installed."""
    import pytest

    if importlib.util.find_spec(library) is None:
        pytest.skip(f"{library} is not installed for Python {sys.version_info[0]}.{sys.version_info[1]}")
    completed = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "tests.support.green_probe", library, mode],
        capture_output=True, text=True, cwd=str(REPOSITORY), timeout=60, env=dict(os.environ),
    )
    assert completed.returncode == 0, completed.stderr
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def _patch(library: str) -> None:
    if library == "gevent":
        from gevent import monkey

        monkey.patch_all()
    else:
        import eventlet

        eventlet.monkey_patch()


def _in_hub(library: str, function: Callable[[], Any]) -> Any:
    """Run ``function`` in the hub's own greenlet, where nothing may switch
    (as a signal handler does when the signal arrives while the hub polls)."""
    outcome: List[Any] = []

    def run() -> None:
        try:
            outcome.append(function())
        except Exception as error:
            outcome.append(repr(error))

    if library == "gevent":
        import gevent

        gevent.get_hub().loop.run_callback(run)
    else:
        from eventlet import hubs

        hubs.get_hub().schedule_call_global(0, run)
    deadline = time.monotonic() + 10
    while not outcome and time.monotonic() < deadline:
        time.sleep(0.01)  # green: lets the hub run the callback
    return outcome[0] if outcome else "the hub never ran it"


def _spawn(library: str, function: Callable[[], Any]) -> Callable[[], None]:
    """Start a greenlet; returns a function that waits for it."""
    if library == "gevent":
        import gevent

        greenlet = gevent.spawn(function)
        return lambda: greenlet.join(10)
    import eventlet

    thread = eventlet.spawn(function)
    return lambda: thread.wait()


def probe(library: str, when: str) -> Dict[str, Any]:
    if when == "after":
        _patch(library)
    from requestcov import _threads
    from requestcov.store.batchqueue import BatchQueue

    if when == "before":
        _patch(library)
    import threading

    report: Dict[str, Any] = {"threads_are_green": _threads.threads_are_green()}
    lock = _threads.allocate_lock()
    report["lock_type"] = f"{type(lock).__module__}.{type(lock).__qualname__}"

    # The writer's thread: a thread of the operating system, not the hub's.
    os_ident = _threads._original("_thread", "get_ident")
    seen: Dict[str, Any] = {}
    thread = _threads.RealThread(lambda: seen.update(ident=os_ident()), on_error=lambda: None)
    thread.start()
    report["joined"] = thread.join(10)
    report["own_os_thread"] = seen.get("ident") not in (None, os_ident())

    # A greenlet waiting for room in a full queue lets the other greenlets run.
    queue = BatchQueue(2, room=1)
    queue.put("a")
    queue.put("b")
    ticks: List[float] = []
    put_result: List[bool] = []

    def producer() -> None:
        put_result.append(queue.put("c", timeout=10))

    def ticker() -> None:
        while not put_result:
            ticks.append(time.monotonic())
            time.sleep(0.01)

    def consumer() -> None:
        _threads.pause(0.3)  # a real thread: a real sleep
        queue.take(1)

    join_producer = _spawn(library, producer)
    join_ticker = _spawn(library, ticker)
    _threads.RealThread(consumer, on_error=lambda: None).start()
    started = time.monotonic()
    join_producer()
    join_ticker()
    report["put_after_room"] = put_result == [True] and time.monotonic() - started >= 0.25
    report["ticks_while_waiting"] = len(ticks)

    # Waiting for the writer from the hub itself (no switch possible there).
    queue.take(10)
    queue.done()
    queue.put("d")

    def slow_consumer() -> None:
        _threads.pause(0.2)
        queue.take(10)
        queue.done()

    _threads.RealThread(slow_consumer, on_error=lambda: None).start()
    report["wait_done_in_hub"] = _in_hub(library, lambda: queue.wait_done(10.0))
    report["pause_in_hub"] = _in_hub(library, lambda: _threads.pause(0.01))
    report["threading_is_green"] = not isinstance(threading.Lock(), type(lock))

    # Where a stop handler may run: the hub, the main greenlet, another OS thread.
    report["hub_seen_in_hub"] = _in_hub(library, _threads.in_green_hub)
    report["hub_seen_outside"] = _threads.in_green_hub()
    report["main_thread_seen"] = _threads.on_main_thread()
    elsewhere: List[bool] = []
    other = _threads.RealThread(lambda: elsewhere.append(_threads.on_main_thread()), on_error=lambda: None)
    other.start()
    other.join(10)
    report["main_thread_seen_elsewhere"] = elsewhere == [True]
    return report


def trace_probe(library: str) -> Dict[str, Any]:
    """Lines of greenlets recorded by the trace-function engine (the core
    REQUESTCOV_CORE picks) while another greenlet starts up as the writer
    would if it were green. Each request naps in the middle of its lines."""
    _patch(library)
    from requestcov.context import begin_collecting, end_collecting
    from requestcov.engine import SourceMatcher
    from requestcov.engine.settrace import TraceEngine
    from tests.apps import green_target

    engine = TraceEngine(SourceMatcher([green_target.__file__]))
    engine.start()
    lines: Dict[str, List[int]] = {}

    def request(name: str) -> None:
        engine.on_thread_start_request()
        collector, token = begin_collecting()
        try:
            green_target.nap_between(name)
        finally:
            end_collecting(collector, token)
        lines[name] = sorted(number for numbers in collector.lines.values() for number in numbers)

    try:
        joins = [_spawn(library, lambda name=name: request(name)) for name in ("one", "two", "three")]
        joins.append(_spawn(library, engine.on_writer_thread))
        for join in joins:
            join()
    finally:
        engine.stop()
    return {"core": engine.core, "lines": lines}


if __name__ == "__main__":
    if sys.argv[2] == "trace":
        print(json.dumps(trace_probe(sys.argv[1])))
    else:
        print(json.dumps(probe(sys.argv[1], sys.argv[2])))
