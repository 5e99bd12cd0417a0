"""The Python 3.12+ engine: ``sys.monitoring`` with events only where we measure.

LINE events are set *locally* on the code objects of measured files, so code
outside them (the standard library, the framework, installed packages) runs at
full speed. A location that repeats within a request reports until every
request in flight has recorded it, then returns DISABLE; one that runs once
per request stays enabled, which is cheaper than enabling it again. When a
new request starts, the code objects with disabled locations are switched off
and on again, which enables their locations; unlike ``restart_events()``, that leaves every other code object
in the process alone, so the framework's code is not re-instrumented on each
request.

Lines of module and class bodies run at import (``engine.scope``) go to the
start-up collector, whatever request is current: a request that imports a
module lazily would otherwise own its module-level lines, and its record would
depend on whether it came first. Those lines have no other destination, so
their locations are disabled at their first event and never enabled again.

The callback is the compiled core's ``LineCallback`` when it was built (see
``engine.core``); ``_make_line_callback`` below is its pure-Python twin and
the reference for what it does.
"""

from __future__ import annotations

import dis
import sys
from collections import deque
from itertools import chain, starmap
from types import CodeType, FrameType
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

from requestcov.context import Collector, current_collector, startup_collector, tracking
from requestcov.engine.base import Engine, live_functions, warn_about_other_tracers
from requestcov.engine.core import compiled_core, report_core_error
from requestcov.engine.imports import InstrumentingFinder
from requestcov.engine.scope import CO_OPTIMIZED, runs_at_import
from requestcov.engine.source import SourceMatcher

__all__ = ["MonitoringEngine"]

#: Tool ids sys.monitoring leaves to tools other than debuggers (0), coverage.py
#: (1) and optimizers (5), in the order we try them.
_CANDIDATE_TOOL_IDS = (3, 4, 2)


def _gil_is_enabled() -> bool:
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


#: By code id, for module and class bodies: (the code, whether it runs at
#: import). The code is held so its id is not reused while the answer is kept.
Scopes = Dict[int, Tuple[CodeType, bool]]


def _make_line_callback(
    record_current: Callable[[], Collector], disable: Any, may_disable: bool, startup: Collector, scopes: Scopes,
) -> Callable:
    """Build the LINE callback with everything it touches bound as closure cells."""
    state = tracking
    optimized = CO_OPTIMIZED
    disable_at_import = disable if may_disable else None

    def on_line(code: CodeType, line: int) -> Any:
        try:
            if not code.co_flags & optimized:
                # A module or class body (functions, the hot path, stop at
                # the bit test above): when it runs at import its lines go to
                # start-up, their only destination, so its locations report
                # once and are disabled for good.
                scope = scopes.get(id(code))
                if scope is None:
                    scope = scopes[id(code)] = (code, runs_at_import(code))
                if scope[1]:
                    startup_lines = startup.lines
                    seen = startup_lines.get(code.co_filename)
                    if seen is None:
                        startup_lines[code.co_filename] = {line}
                    else:
                        seen.add(line)
                    return disable_at_import
            collector = record_current()
            lines = collector.lines
            key = code.co_filename
            # get() rather than try/except KeyError: the first line of each file
            # in each request would raise, and raising costs more than the rest
            # of this callback.
            seen = lines.get(key)
            if seen is None:
                lines[key] = {line}
                return None
            if line not in seen:
                seen.add(line)
                return None
            # The second event at this line of this file in this request (from
            # this location, or another code object on the same line, such as a
            # comprehension: either way the line is recorded). A location
            # that runs once per request is left enabled: disabling it would
            # cost more than its one event, since the next request must enable
            # it again, and that re-instruments its whole code object. Only
            # locations that repeat (loops, helpers called many times) are
            # worth disabling.
            if not may_disable:
                return None
            generation = state.generation
            for other in state.in_flight:
                if other is not collector:
                    seen = other.lines.get(key)
                    if seen is None or line not in seen:
                        return None
            # Noted before the check below, so a request starting after it finds
            # this code among those to enable again.
            state.disabled[id(code)] = code
            # Everything from this comparison to the return is free of calls and
            # backward jumps, the only places the interpreter switches threads: a
            # request that starts after the comparison enables locations again
            # only after our DISABLE is applied, and one that started before it
            # changed the generation and is refused here.
            if generation == state.generation:
                return disable
            return None
        except Exception as error:  # never let an error of ours reach the app
            report_core_error(error)
            return None

    return on_line


class MonitoringEngine(Engine):
    """Records lines through ``sys.monitoring`` under a tool id of its own."""

    name = "sys.monitoring"

    def __init__(self, matcher: SourceMatcher) -> None:
        self.matcher = matcher
        self.tool_id: Optional[int] = None
        #: Code objects given LINE events, by id; held, so no id is reused.
        self._instrumented: Dict[int, CodeType] = {}
        #: By code id: the two set_local_events calls (off, on) that enable
        #: its disabled locations again, built once.
        self._toggles: Dict[int, Tuple[Tuple[int, CodeType, int], ...]] = {}
        self._finder: Optional[InstrumentingFinder] = None
        self._line_event = 0
        #: By code id: the line PY_START records, for code objects whose
        #: first line gets no LINE event (3.13+).
        self._first_lines: Dict[int, int] = {}
        #: Module and class bodies: whether each runs at import (shared with
        #: the compiled callback, which fills it the same way).
        self._scopes: Scopes = {}

    def start(self) -> None:
        monitoring = sys.monitoring  # type: ignore[attr-defined]
        warn_about_other_tracers(self.name)
        for tool_id in _CANDIDATE_TOOL_IDS:
            if monitoring.get_tool(tool_id) is None:
                monitoring.use_tool_id(tool_id, "requestcov")
                self.tool_id = tool_id
                break
        else:
            raise RuntimeError("every free sys.monitoring tool id is taken by other tools")
        self._line_event = monitoring.events.LINE
        monitoring.register_callback(self.tool_id, self._line_event, self._line_callback())
        tracking.disabled = {}
        tracking.on_request_start = self._enable_disabled_locations
        self._instrument_loaded_code()
        self._finder = InstrumentingFinder(self.matcher, self.instrument)
        self._finder.install()
        self._catch_code_run_without_import()

    def _line_callback(self) -> Callable:
        """The compiled callback when there is one, else the Python one."""
        may_disable = _gil_is_enabled()
        speedups = compiled_core()
        if speedups is None:
            self.core = "Python"
            return _make_line_callback(
                current_collector.get, sys.monitoring.DISABLE, may_disable, startup_collector, self._scopes,  # type: ignore[attr-defined]
            )
        self.core = "compiled"
        return speedups.LineCallback(  # type: ignore[no-any-return]
            current_collector, tracking, sys.monitoring.DISABLE, may_disable, report_core_error,  # type: ignore[attr-defined]
            startup_collector, self._scopes, runs_at_import,
        )

    def _catch_code_run_without_import(self) -> None:
        """Measured code that never passes the import system, and the first
        line of one-line functions on 3.13+.

        The script ``python app.py`` runs as ``__main__`` (compiled after we
        started, so neither the garbage collector nor the import hook can see
        it), and an app may ``exec`` code it compiled itself. A global PY_START
        event sees each code object as it first runs; the callback instruments
        it when it is measured (its LINE events then start with this very
        frame, so the module's own lines are recorded) and returns DISABLE,
        which switches PY_START off for that code object: one call per code
        object in the life of the process.

        From 3.13 on, a function whose body shares the line of its start
        (``lambda: x``, ``def f(): return 1``) gets no LINE event for that
        line, as it never moves to a new line; coverage.py's trace function
        reports it on every call. For those code objects (see
        :func:`_line_without_event`) PY_START stays on and records the line.
        """
        monitoring = sys.monitoring  # type: ignore[attr-defined]
        disable = monitoring.DISABLE
        instrumented = self._instrumented
        first_lines = self._first_lines
        is_measured = self.matcher.is_measured_code
        instrument = self.instrument
        record_current = current_collector.get
        scopes = self._scopes
        optimized = CO_OPTIMIZED

        def on_start(code: CodeType, offset: int) -> Any:
            try:
                key = id(code)
                if key not in instrumented:
                    if not is_measured(code):
                        return disable
                    instrument(code)
                line = first_lines.get(key)
                if line is None:
                    return disable
                collector = startup_collector
                if code.co_flags & optimized:
                    collector = record_current()
                else:
                    scope = scopes.get(key)
                    if scope is None:
                        scope = scopes[key] = (code, runs_at_import(code))
                    if not scope[1]:
                        collector = record_current()
                lines = collector.lines
                seen = lines.get(code.co_filename)
                if seen is None:
                    lines[code.co_filename] = {line}
                else:
                    seen.add(line)
            except Exception as error:  # never let an error of ours reach the app
                report_core_error(error)
            return None

        monitoring.register_callback(self.tool_id, monitoring.events.PY_START, on_start)
        monitoring.set_events(self.tool_id, monitoring.events.PY_START)

    def stop(self) -> None:
        if self.tool_id is None:
            return
        monitoring = sys.monitoring  # type: ignore[attr-defined]
        monitoring.set_events(self.tool_id, 0)
        monitoring.register_callback(self.tool_id, monitoring.events.PY_START, None)
        if self._finder is not None:
            self._finder.uninstall()
        for code in self._instrumented.values():
            monitoring.set_local_events(self.tool_id, code, 0)
        monitoring.register_callback(self.tool_id, self._line_event, None)
        monitoring.free_tool_id(self.tool_id)
        tracking.on_request_start = None
        self._instrumented.clear()
        self._toggles.clear()
        self._first_lines.clear()
        self._scopes.clear()
        tracking.disabled = {}
        self.tool_id = None

    def _enable_disabled_locations(self) -> None:
        """Switch LINE events off and on for each code object with a disabled
        location, which enables all its locations again.

        Called under the tracking lock. The calls run from C through
        ``starmap``, with no bytecode between them, so no other thread runs
        while a code object is between "off" and "on" and misses a line.
        """
        disabled = tracking.disabled
        if not disabled:
            return
        tracking.disabled = {}
        calls = chain.from_iterable(map(self._toggles.__getitem__, disabled))
        deque(starmap(sys.monitoring.set_local_events, calls), maxlen=0)  # type: ignore[attr-defined]

    def instrument(self, code: CodeType) -> None:
        """Turn events on for a measured code object and everything nested in it."""
        monitoring = sys.monitoring  # type: ignore[attr-defined]
        pending = [code]
        while pending:
            current = pending.pop()
            if id(current) in self._instrumented and self._instrumented[id(current)] is current:
                continue
            if not self.matcher.is_measured_code(current):
                continue
            key = id(current)
            self._instrumented[key] = current
            first_line = _line_without_event(current)
            if first_line is not None:
                self._first_lines[key] = first_line
            self._toggles[key] = ((self.tool_id, current, 0), (self.tool_id, current, self._line_event))
            monitoring.set_local_events(self.tool_id, current, self._line_event)
            pending.extend(const for const in current.co_consts if isinstance(const, CodeType))

    def _instrument_loaded_code(self) -> None:
        """Code imported before we started: functions still alive, and the code
        of frames running now (the ``__main__`` module that is creating the app
        holds the functions it has not defined yet)."""
        for code in _loaded_code_objects():
            self.instrument(code)


_RESUME = dis.opmap.get("RESUME")


def _line_without_event(code: CodeType) -> Optional[int]:
    """On 3.13+, the line of the instruction after ``RESUME`` when it is
    ``RESUME``'s own line: the interpreter sends no LINE event for it."""
    if sys.version_info < (3, 13) or _RESUME is None:
        return None
    raw = code.co_code
    resume_at = next((offset for offset in range(0, len(raw), 2) if raw[offset] == _RESUME), None)
    if resume_at is None or resume_at + 2 >= len(raw):
        return None
    resume_line = body_line = None
    for start, end, line in code.co_lines():
        if start <= resume_at < end:
            resume_line = line
        if start <= resume_at + 2 < end:
            body_line = line
            break
    return body_line if body_line is not None and body_line == resume_line else None


def _loaded_code_objects() -> Iterable[CodeType]:
    for function in live_functions():
        yield function.__code__
    for frame in sys._current_frames().values():
        walker: Optional[FrameType] = frame
        while walker is not None:
            yield walker.f_code
            walker = walker.f_back
