"""The Python 3.9-3.11 engine without a trace function: probes in measured code.

``sys.settrace`` makes every Python call of the process, framework and
standard library included, reach the trace function, even where it records
nothing: a thin request costs three times its instructions on 3.11. Here
only measured code pays. Its code objects are rewritten (``engine.rewrite``)
so that each line calls a probe (``engine.probes``) that adds the line to the
current request's collector, and the probe of a line already recorded for
this request costs a comparison.

Code is rewritten when its module is imported (the import hook of
``engine.imports``), and, at start, every live function of a measured file
gets the rewritten copy of its code (``__code__`` replaced; code nested in it
comes along). Module and class bodies run at import record into start-up,
decided while rewriting from where each body sits (see ``engine.scope``).

Code that never passes the import system (the ``__main__`` script, which the
interpreter compiles itself, and code an app runs with ``exec``) is seen
through the audit event ``exec``, just before it runs: the probed copies of
the functions and classes nested in it are put among its constants (the
compiled core's ``set_const``), so everything it defines is measured. Its own
top-level lines cannot take probes (its bytecode is about to run): the C
trace function records them on that thread until the first request begins
(they are start-up lines, run before the server serves), then retires. Not
covered: the rest of the lines of frames already running when the engine
starts (what they define from then on is: see ``_patch_running_code``), and
generators created before. The default engine on 3.9-3.11 with the compiled
core (``requestcov.engine.engine_kind``).
"""

from __future__ import annotations

import sys
import weakref
from types import CodeType, FunctionType
from typing import Any, Dict, List, Optional, Set, Tuple

from requestcov.context import current_collector, startup_collector, unrecorded_collector
from requestcov.engine.base import Engine, live_functions, warn_about_other_tracers
from requestcov.engine.core import compiled_core, report_core_error
from requestcov.engine.imports import InstrumentingFinder
from requestcov.engine.probes import PythonProbeHub, make_probe_hub
from requestcov.engine.rewrite import REWRITE_SUPPORTED, insert_probes
from requestcov.engine.scope import CO_OPTIMIZED, runs_at_import
from requestcov.engine.source import SourceMatcher
from requestcov.log import log_once

__all__ = ["ProbeEngine"]

#: The engine the process-wide exec audit hook serves (audit hooks cannot be
#: removed: the hook is added once, and does nothing while this is None).
_exec_hook_engine: "Optional[ProbeEngine]" = None


def _on_exec(code: CodeType) -> None:
    engine = _exec_hook_engine
    if engine is not None:
        try:
            engine.on_exec(code)
        except Exception as error:  # never let an error of ours reach the app
            report_core_error(error)


class ProbeEngine(Engine):
    """Records lines through probes inserted into measured code objects."""

    name = "probes"

    def __init__(self, matcher: SourceMatcher) -> None:
        self.matcher = matcher
        self._hub: Any = None
        self._finder: Optional[InstrumentingFinder] = None
        #: id(original) -> (original, probed): originals held, so no id is reused.
        self._copies: Dict[int, "tuple[CodeType, CodeType]"] = {}
        #: ids of probed copies, never probed again.
        self._probed: Dict[int, CodeType] = {}
        #: Code objects run through exec whose constants were probed, held.
        self._exec_patched: Dict[int, CodeType] = {}
        self._set_const: Any = None
        #: The C tracer over top-level lines run through exec before the
        #: first request, and the files it traces.
        self._bridge: Any = None
        self._bridge_files: Set[str] = set()
        self._requests_began = False
        #: Until the first request, which retires the bridge.
        self.wants_thread_start = True
        #: Functions given probed code at the start, to give back at the stop.
        self._patched: "List[Tuple[weakref.ref[FunctionType], CodeType, CodeType]]" = []

    def start(self) -> None:
        if not REWRITE_SUPPORTED:
            raise RuntimeError("the probes engine knows the bytecode of Python 3.9-3.11 only")
        warn_about_other_tracers(self.name)
        self._hub = make_probe_hub()
        self.core = "Python" if isinstance(self._hub, PythonProbeHub) else "compiled"
        self._patch_live_functions()
        self._finder = InstrumentingFinder(self.matcher, self.instrument_module)
        self._finder.install()
        self._watch_exec()
        self._patch_running_code()

    def _watch_exec(self) -> None:
        global _exec_hook_engine
        speedups = compiled_core()
        if speedups is None or not hasattr(speedups, "set_const"):
            log_once("probes-exec", "requestcov: with the pure-Python core the probes engine does not "
                     "measure code run without an import (a __main__ script, exec)")
            return
        self._set_const = speedups.set_const
        if _exec_hook_engine is None:
            speedups.add_exec_hook(_on_exec)
        _exec_hook_engine = self

    def on_exec(self, code: CodeType) -> None:
        """Called just before ``code`` runs through exec (the ``__main__``
        script, exec of a string or code object, every module import): gives
        measured code that was not probed probed functions and classes."""
        if id(code) in self._probed or not self.matcher.is_measured_code(code):
            return
        known = self._exec_patched.get(id(code))
        if known is code:
            return
        self._exec_patched[id(code)] = code
        startup = runs_at_import(code)
        if startup and not self._requests_began:
            self._bridge_top_level(code)
        self._probe_constants(code, startup)

    def _probe_constants(self, code: CodeType, startup: bool) -> None:
        """Give ``code`` (about to run, or running) the probed copies of the
        functions and classes nested in it, in its own constants: what it
        defines from now on is measured. A class body nested in code run at
        import runs at import too."""
        for index, const in enumerate(code.co_consts):
            if isinstance(const, CodeType):
                probed = self.probed(const, startup and not (const.co_flags & CO_OPTIMIZED))
                if probed is not const:
                    self._set_const(code, index, probed)

    def _patch_running_code(self) -> None:
        """Code already running when the engine starts cannot take probes, but
        what it defines after this point can: the rest of a module whose body
        starts the recorder (``app.wsgi_app = WSGIMiddleware(...)`` above the
        views), an app factory that installs the middleware before it defines
        its routes. Their nested code objects get probed copies in place."""
        if self._set_const is None:
            return
        for frame in sys._current_frames().values():
            while frame is not None:
                code = frame.f_code
                if id(code) not in self._probed and self.matcher.is_measured_code(code):
                    self._probe_constants(code, runs_at_import(code, frame))
                frame = frame.f_back

    def _bridge_top_level(self, code: CodeType) -> None:
        """Trace the top-level lines of a ``__main__`` script (or of module
        code run with exec) on this thread until the first request begins.

        Its bytecode is about to run and cannot take probes; its lines are
        start-up lines, nearly all of them run before the server serves (a
        trace function costs every frame of the thread the settrace floor,
        which is why it is retired at the first request)."""
        speedups = compiled_core()
        if speedups is None or sys.gettrace() is not None:
            return
        if self._bridge is None:
            files = self._bridge_files
            self._bridge = speedups.LineTracer(
                files.__contains__, current_collector, unrecorded_collector, report_core_error,
                startup_collector, {}, runs_at_import,
            )
        self._bridge_files.add(code.co_filename)
        self._bridge.install()

    def on_thread_start_request(self) -> None:
        """The first request retires the bridge over top-level lines: every
        thread that traces with it drops it at its next event."""
        if not self._requests_began:
            self._requests_began = True
            self.wants_thread_start = False
            self._retire_bridge()

    def _retire_bridge(self) -> None:
        bridge = self._bridge
        if bridge is not None:
            bridge.retire()
            if sys.gettrace() is bridge:
                sys.settrace(None)

    def stop(self) -> None:
        """Make every probe inert, uninstall the import hook, and give the
        functions patched at the start their own code back.

        Quick, with no walk over the process's objects: a process usually
        stops recording as it exits, from a signal handler while its server
        still answers requests, and every moment spent here is one in which
        a request can be answered and then lost with the process. Code
        probed since (imported later, or defined by probed code) keeps its
        probes, which now return at once."""
        global _exec_hook_engine
        if self._hub is not None:
            self._hub.stop()
        self._retire_bridge()
        if _exec_hook_engine is self:
            _exec_hook_engine = None
        if self._finder is not None:
            self._finder.uninstall()
            self._finder = None
        patched, self._patched = self._patched, []
        for function_ref, original, probed in patched:
            function = function_ref()
            if function is not None and function.__code__ is probed:
                function.__code__ = original

    def instrument_module(self, code: CodeType) -> CodeType:
        """The probed copy of a module's code, just loaded by the import system."""
        return self.probed(code, startup=True)

    def probed(self, code: CodeType, startup: bool) -> CodeType:
        """The probed copy of ``code`` (made once), or ``code`` itself when it
        is not measured, already probed, or cannot be rewritten (logged once:
        that code then runs unmeasured)."""
        if id(code) in self._probed or not self.matcher.is_measured_code(code):
            return code
        known = self._copies.get(id(code))
        if known is not None and known[0] is code:
            return known[1]
        try:
            return insert_probes(code, self._hub.probe, startup, self._remember)
        except Exception as error:  # never let an error of ours reach the app
            log_once("probes-rewrite", "requestcov: could not insert probes into %s (%s): %r; "
                     "its lines are not recorded", code.co_filename, code.co_name, error)
            return code

    def _remember(self, original: CodeType, probed: CodeType) -> None:
        self._copies[id(original)] = (original, probed)
        self._probed[id(probed)] = probed

    def _patch_live_functions(self) -> None:
        """Functions of measured files that exist already (imported before we
        started) run the probed copy of their code from their next call on."""
        for function in live_functions():
            code = function.__code__
            if id(code) in self._probed or not self.matcher.is_measured_code(code):
                continue
            probed = self.probed(code, startup=False)
            if probed is not code:
                function.__code__ = probed
                self._patched.append((weakref.ref(function), code, probed))
