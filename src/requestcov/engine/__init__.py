"""Engines that record which lines each request runs.

``sys.monitoring`` on Python 3.12+, probes in the bytecode of measured code on
3.9-3.11, and a ``sys.settrace`` tracer where neither can serve; all of them
fill the same per-request collectors (:mod:`requestcov.context`).
"""

from __future__ import annotations

import os
import sys

from requestcov.engine.base import Engine
from requestcov.engine.core import compiled_core
from requestcov.engine.source import SourceMatcher, canonical_path

__all__ = ["ENGINE_VARIABLE", "Engine", "SourceMatcher", "canonical_path", "engine_kind", "make_engine"]

#: ``REQUESTCOV_ENGINE=settrace`` asks for the trace-function engine on
#: 3.9-3.11 instead of the probes (to compare the two, or to rule the probes
#: out when something looks wrong); ``probes`` asks for the probes even with
#: the pure-Python core.
ENGINE_VARIABLE = "REQUESTCOV_ENGINE"

def engine_kind(*, branch: bool = False) -> str:
    """Which engine records here: ``"sysmon"``, ``"probes"`` or ``"settrace"``.

    One decision, read by :func:`make_engine` and by whoever must know
    whether requestcov needs the process's one trace hook (the pytest
    plugin, beside pytest-cov). Branch coverage uses the trace function on
    every version, as coverage.py does before Python 3.14: sys.monitoring's
    BRANCH events of 3.12 and 3.13 name instructions, not the line-to-line
    arcs coverage.py reports, and arcs need the previous line of each frame.
    The probes need the compiled core to see code run without an import (a
    ``__main__`` script, exec), so the pure-Python core keeps the trace
    function unless the probes are asked for by name.
    """
    if branch:
        return "settrace"
    if sys.version_info >= (3, 12):
        return "sysmon"
    wanted = os.environ.get(ENGINE_VARIABLE, "").strip().lower()
    if wanted == "settrace":
        return "settrace"
    if wanted == "probes" or compiled_core() is not None:
        return "probes"
    return "settrace"


def make_engine(matcher: SourceMatcher, *, branch: bool = False) -> Engine:
    """The fastest engine this interpreter supports for what is asked."""
    kind = engine_kind(branch=branch)
    if kind == "sysmon":
        from requestcov.engine.sysmon import MonitoringEngine

        return MonitoringEngine(matcher)
    if kind == "probes":
        from requestcov.engine.probes_engine import ProbeEngine

        return ProbeEngine(matcher)
    from requestcov.engine.settrace import TraceEngine

    return TraceEngine(matcher, branch=branch)
