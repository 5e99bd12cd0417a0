"""Engines that record which lines each request runs.

``sys.monitoring`` on Python 3.12+, a ``sys.settrace`` tracer before that; both
fill the same per-request collectors (:mod:`requestcov.context`).
"""

from __future__ import annotations

import os
import sys

from requestcov.engine.base import Engine
from requestcov.engine.source import SourceMatcher, canonical_path

__all__ = ["ENGINE_VARIABLE", "Engine", "SourceMatcher", "canonical_path", "make_engine"]

#: ``REQUESTCOV_ENGINE=probes`` asks for the bytecode-probes engine on 3.9-3.11
#: (engine.probes_engine; not the default yet).
ENGINE_VARIABLE = "REQUESTCOV_ENGINE"


def make_engine(matcher: SourceMatcher, *, branch: bool = False) -> Engine:
    """The fastest engine this interpreter supports for what is asked.

    Branch coverage uses the trace-function engine on every version, as
    coverage.py does before Python 3.14: sys.monitoring's BRANCH events of
    3.12 and 3.13 name instructions, not the line-to-line arcs coverage.py
    reports, and arcs need every line event, so locations cannot be disabled.
    """
    if branch:
        from requestcov.engine.settrace import TraceEngine

        return TraceEngine(matcher, branch=True)
    if os.environ.get(ENGINE_VARIABLE, "").strip().lower() == "probes" and (3, 9) <= sys.version_info < (3, 12):
        from requestcov.engine.probes_engine import ProbeEngine

        return ProbeEngine(matcher)
    if sys.version_info >= (3, 12):
        from requestcov.engine.sysmon import MonitoringEngine

        return MonitoringEngine(matcher)
    from requestcov.engine.settrace import TraceEngine

    return TraceEngine(matcher)
