"""The Python 3.9-3.11 engine: a trace function that is cheap where we do not measure.

The global trace function runs on every frame start; for a code object outside
the measured source it returns None (one cached dict look-up), so the frame
runs without line events. For measured code it returns the current request's
local trace function for that file, which adds each line to the file's set.

Frames of module and class bodies run at import (``engine.scope``) record
into the start-up collector, whatever request is current, so a lazy import
does not make the record of the request that happens to trigger it.

With the compiled core (see ``engine.core``) a C trace function does the same
without a Python call per frame or line, and turns line events off in each
frame outside the measured source. Branch coverage keeps the Python tracer.
"""

from __future__ import annotations

import sys
import threading
from types import CodeType, FrameType
from typing import Any, Callable, Dict, Optional, Tuple

from requestcov._threads import in_spawned_greenlet
from requestcov.context import Collector, current_collector, startup_collector, unrecorded_collector
from requestcov.engine.arcs import arc_tracer, entry_line
from requestcov.engine.base import Engine, other_tracer_description
from requestcov.engine.core import compiled_core, report_core_error
from requestcov.engine.scope import runs_at_import
from requestcov.engine.source import SourceMatcher
from requestcov.log import logger

__all__ = ["TraceEngine"]


def _local_tracer(lines: "set[int]") -> Callable:
    add = lines.add

    def trace_lines(frame: FrameType, event: str, arg: Any) -> Callable:
        if event == "line":
            add(frame.f_lineno)
        return trace_lines

    return trace_lines


class TraceEngine(Engine):
    """Records lines with ``sys.settrace`` on every thread."""

    wants_thread_start = True

    name = "settrace"

    def __init__(self, matcher: SourceMatcher, *, branch: bool = False) -> None:
        self.matcher = matcher
        self.branch = branch
        #: The decision for each code object seen, by ``id()``: its file, the
        #: code object itself when it is measured, and whether it runs at
        #: import (its lines then go to start-up).
        self._measured: Dict[int, Tuple[str, Optional[CodeType], bool]] = {}
        #: The compiled tracer's cache of the last, for module and class
        #: bodies only: by ``id()``, (the code, whether it runs at import).
        self._scopes: Dict[int, Tuple[CodeType, bool]] = {}
        self._global_trace: Optional[Callable] = None
        #: The compiled trace function, when there is one (lines only: arcs
        #: need the previous line of each frame, which the Python tracer keeps).
        self._compiled: Optional[Any] = None
        self.stepped_aside = False

    def start(self) -> None:
        other = other_tracer_description()
        if other is not None and sys.gettrace() is not None:
            # Replacing another trace function would silently break it (a
            # debugger, coverage.py): step aside instead.
            self.stepped_aside = True
            logger.warning(
                "requestcov: %s is already active; on Python %d.%d requestcov cannot record "
                "beside it and records nothing in this process",
                other, *sys.version_info[:2],
            )
            return
        speedups = None if self.branch else compiled_core()
        if speedups is not None:
            self.core = "compiled"
            self._compiled = speedups.LineTracer(
                self.matcher.is_measured_file, current_collector, unrecorded_collector, report_core_error,
                startup_collector, self._scopes, runs_at_import,
            )
            # A Python function on each new thread's first call puts the
            # compiled one in its place there.
            self._global_trace = self._install_compiled
            threading.settrace(self._global_trace)
            self._compiled.install()
            return
        self._global_trace = self._make_global_trace()
        threading.settrace(self._global_trace)
        sys.settrace(self._global_trace)

    def _install_compiled(self, frame: FrameType, event: str, arg: Any) -> None:
        # Read once: stop() may clear it on another thread while a thread
        # started just before runs this, and an error here would reach the app.
        compiled = self._compiled
        if compiled is not None:
            compiled.install()
        return None

    def stop(self) -> None:
        if self._global_trace is None:
            return
        threading.settrace(None)  # type: ignore[arg-type]
        if sys.gettrace() in (self._global_trace, self._compiled):
            sys.settrace(None)
        self._global_trace = None
        self._compiled = None

    def on_writer_thread(self) -> None:
        """requestcov's own threads need no tracing (threading.settrace
        reaches them too): every call there would pay for the trace function.

        The trace function belongs to the OS thread. Were the writer a
        greenlet (``threading`` patched by a green library requestcov does
        not know), it would share it with every request of the worker, and
        clearing it would lose each line those requests run after their next
        switch: then it stays.
        """
        if not in_spawned_greenlet():
            sys.settrace(None)

    def on_thread_start_request(self) -> None:
        """Threads that existed before we started have no trace function yet."""
        if self._global_trace is not None and sys.gettrace() is None:
            if self._compiled is not None:
                self._compiled.install()
            else:
                sys.settrace(self._global_trace)

    def _make_global_trace(self) -> Callable:
        # Keyed by id(): hashing a code object hashes its constants and
        # names on every call, up to a few hundred nanoseconds on each frame
        # of the whole process. An id can be reused once its code object is
        # gone, so the file is kept beside the decision and checked: the
        # decision depends on the file alone, and measured code objects are
        # kept alive by the decision itself, so their ids are never reused
        # (which matters for the one answer that depends on the code object
        # itself: whether it runs at import).
        measured: Dict[int, Tuple[str, Optional[CodeType], bool]] = self._measured
        is_measured_code = self.matcher.is_measured_code
        current = current_collector.get
        unrecorded = unrecorded_collector
        startup = startup_collector
        branch = self.branch

        def global_trace(frame: FrameType, event: str, arg: Any) -> Optional[Callable]:
            try:
                code = frame.f_code
                filename = code.co_filename
                known = measured.get(id(code))
                if known is None or known[0] != filename:
                    if is_measured_code(code):
                        known = measured[id(code)] = (filename, code, runs_at_import(code, frame))
                    else:
                        known = measured[id(code)] = (filename, None, False)
                if known[1] is None:
                    return None
                collector: Collector
                if known[2]:
                    collector = startup
                else:
                    collector = current()
                    if collector is unrecorded:
                        return None
                if branch:
                    # Arcs need the previous line of this very frame: one tracer per frame.
                    lines = collector.lines.get(filename)
                    if lines is None:
                        lines = collector.lines[filename] = set()
                    arcs = collector.arcs.get(filename)
                    if arcs is None:
                        arcs = collector.arcs[filename] = set()
                    return arc_tracer(lines, arcs, entry_line(frame))
                tracer = collector.tracers.get(filename)
                if tracer is None:
                    lines = collector.lines.get(filename)
                    if lines is None:
                        lines = collector.lines[filename] = set()
                    tracer = collector.tracers[filename] = _local_tracer(lines)
                return tracer
            except Exception as error:  # never let an error of ours reach the app
                report_core_error(error)
                return None

        return global_trace
