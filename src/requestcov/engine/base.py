"""What every engine offers, and the checks they share."""

from __future__ import annotations

import gc
import sys
from abc import ABC, abstractmethod
from types import FunctionType
from typing import Iterator, Optional

from requestcov.log import logger

__all__ = ["Engine", "live_functions", "other_tracer_description", "warn_about_other_tracers"]


class Engine(ABC):
    """Records executed lines into the current request's collector.

    ``start`` may raise; the recorder then logs once and the app runs unmeasured.
    """

    name = "engine"
    #: "compiled" when the code run per line is the C extension's, else "Python".
    core = "Python"

    @property
    def description(self) -> str:
        return f"{self.name} ({self.core} core)"

    @abstractmethod
    def start(self) -> None:
        """Begin recording in this process."""

    @abstractmethod
    def stop(self) -> None:
        """Stop recording and remove every hook the engine installed."""

    def on_writer_thread(self) -> None:
        """Called first thing on requestcov's writer thread."""

    #: Whether :meth:`on_thread_start_request` has anything to do: the
    #: recorder calls it only then (a Python call on every request otherwise).
    wants_thread_start = False

    def on_thread_start_request(self) -> None:
        """Called on the thread a request begins on, before its code runs,
        while :attr:`wants_thread_start` is true.

        The settrace engine uses it to cover threads that existed before it
        started; sys.monitoring needs nothing per thread.
        """


def other_tracer_description() -> Optional[str]:
    """Name the trace function or monitoring tool already active, if any."""
    tracer = sys.gettrace()
    if tracer is not None:
        owner = getattr(type(tracer), "__module__", "") or getattr(tracer, "__module__", "")
        return f"a trace function ({owner or type(tracer).__name__})"
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is not None:
        for tool_id in range(6):
            tool = monitoring.get_tool(tool_id)
            if tool is not None and tool != "requestcov":
                return f"the sys.monitoring tool {tool!r}"
    return None


def warn_about_other_tracers(engine_name: str) -> None:
    other = other_tracer_description()
    if other is not None:
        logger.warning(
            "requestcov: %s is already active; requestcov records with %s beside it",
            other, engine_name,
        )


def live_functions() -> Iterator[FunctionType]:
    """Every function object alive in the process: where code imported
    before an engine started is found (to instrument it, or to give it back)."""
    for candidate in gc.get_objects():
        if isinstance(candidate, FunctionType):
            yield candidate
