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

Selected with ``REQUESTCOV_ENGINE=probes``; not the default yet. Not covered
yet (see /work/notes/probes-status.md): frames already running when it
starts, a ``__main__`` script compiled by the interpreter itself, code an app
compiles with ``exec``; a settrace fallback for those is the next step.
"""

from __future__ import annotations

import gc
from types import CodeType, FunctionType
from typing import Any, Dict, Optional

from requestcov.engine.base import Engine, warn_about_other_tracers
from requestcov.engine.imports import InstrumentingFinder
from requestcov.engine.probes import PythonProbeHub, make_probe_hub
from requestcov.engine.rewrite import REWRITE_SUPPORTED, insert_probes
from requestcov.engine.source import SourceMatcher
from requestcov.log import log_once

__all__ = ["ProbeEngine"]


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

    def start(self) -> None:
        if not REWRITE_SUPPORTED:
            raise RuntimeError("the probes engine knows the bytecode of Python 3.9-3.11 only")
        warn_about_other_tracers(self.name)
        self._hub = make_probe_hub()
        self.core = "Python" if isinstance(self._hub, PythonProbeHub) else "compiled"
        self._patch_live_functions()
        self._finder = InstrumentingFinder(self.matcher, self.instrument_module)
        self._finder.install()

    def stop(self) -> None:
        """Uninstall the import hook and give live functions their code back."""
        if self._finder is not None:
            self._finder.uninstall()
            self._finder = None
        originals = {id(probed): original for original, probed in self._copies.values()}
        for candidate in gc.get_objects():
            if isinstance(candidate, FunctionType):
                original = originals.get(id(candidate.__code__))
                if original is not None and candidate.__code__ is self._probed.get(id(candidate.__code__)):
                    candidate.__code__ = original

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
        for candidate in gc.get_objects():
            if not isinstance(candidate, FunctionType):
                continue
            code = candidate.__code__
            if id(code) in self._probed or not self.matcher.is_measured_code(code):
                continue
            probed = self.probed(code, startup=False)
            if probed is not code:
                candidate.__code__ = probed
