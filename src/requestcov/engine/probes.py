"""The probes the rewriter puts into measured code, and what they share.

Each probe knows its file, its line and whether it records into start-up
(a module or class body run at import, see ``engine.scope``); called, it adds
its line to the current request's collector. It keeps the ``lines`` dict it
last added to, so a probe that fired for this request already does no more
than read the current collector and compare: a line run a thousand times in
one request is added once. The compiled ``_speedups.ProbeHub`` makes the
probes when it is there; :class:`PythonProbeHub` is its twin and the
reference.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Callable

from requestcov.context import Collector, current_collector, startup_collector, unrecorded_collector
from requestcov.engine.core import compiled_core, report_core_error

__all__ = ["PythonProbeHub", "make_probe_hub"]

_NOTHING_YET = object()


class PythonProbeHub:
    """Makes pure-Python probes: closures doing what ``_speedups.Probe`` does."""

    def __init__(
        self,
        context_var: "ContextVar[Collector]",
        unrecorded: Collector,
        startup: Collector,
        report: Callable[[BaseException], None],
    ) -> None:
        self.context_var = context_var
        self.unrecorded = unrecorded
        self.startup = startup
        self.report = report
        #: Not empty once stopped (a list, read by every probe without an attribute look-up).
        self._stopped: list = []

    def stop(self) -> None:
        """From now on every probe returns at once, recording nothing."""
        self._stopped.append(True)

    def probe(self, filename: str, line: int, startup: bool) -> Callable[[], None]:
        current = self.context_var.get
        unrecorded = self.unrecorded
        startup_collector_ = self.startup
        report = self.report
        stopped = self._stopped
        # The lines dict this probe added to last; never a collector's at first.
        stamp: object = _NOTHING_YET

        def probe() -> None:
            nonlocal stamp
            if stopped:
                return
            try:
                collector = startup_collector_ if startup else current()
                lines = collector.lines
                if lines is stamp or collector is unrecorded:
                    return
                seen = lines.get(filename)
                if seen is None:
                    lines[filename] = {line}
                else:
                    seen.add(line)
                stamp = lines
            except Exception as error:  # never let an error of ours reach the app
                report(error)

        probe.__qualname__ = f"requestcov probe {filename}:{line}"
        return probe


def make_probe_hub() -> Any:
    """The compiled hub when the compiled core is there, else the Python one.
    Either has ``probe(filename, line, startup)`` and ``stop()``."""
    speedups = compiled_core()
    if speedups is not None and hasattr(speedups, "ProbeHub"):
        hub = speedups.ProbeHub(
            current_collector, unrecorded_collector, startup_collector, report_core_error, Collector.lines,
        )
        return hub
    return PythonProbeHub(current_collector, unrecorded_collector, startup_collector, report_core_error)
