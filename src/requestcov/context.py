"""Which request a line belongs to.

Each request gets a :class:`Collector`, made current through a ``ContextVar``:
threads of a threaded server each have their own context, and every asyncio
task runs in a copy of the context it was created in, so concurrent requests
never write into each other's collector. Code running outside any request
(imports, start-up, background threads) lands in the process's start-up
collector; so do the module and class bodies of a module imported inside a
request, which the engines send there whatever collector is current
(``engine.scope``), so that no request's record depends on coming first.

The engines also need to know which collectors are *in flight*, because a
location may stop reporting (``sys.monitoring.DISABLE``) only once every
request in flight has seen it. :data:`tracking` holds that set together with a
generation number; see :func:`begin_collecting` for the ordering that keeps the
engine's disable decision free of races.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar, Token
from types import CodeType
from typing import Callable, Dict, Optional, Set, Tuple

__all__ = [
    "Collector",
    "Tracking",
    "tracking",
    "current_collector",
    "startup_collector",
    "unrecorded_collector",
    "begin_collecting",
    "end_collecting",
    "restore_collector",
]


class Collector:
    """Lines seen by one request, one set per file, keyed by the file name
    the code was compiled with (``co_filename``).

    That name is an attribute of the code object the engine already holds, a
    string whose hash is cached, so the hot path does no path work; the
    writer thread maps names to canonical paths later. Line numbers are the
    file's, so one set serves every code object of the file and the writer
    has nothing to merge. (Not ``id(code)``, nor the code object: code objects
    compare equal when only their file differs.)
    """

    __slots__ = ("lines", "arcs", "tracers", "request", "__weakref__")

    def __init__(self) -> None:
        #: The recorder's ActiveRequest this collector belongs to, if any.
        self.request: object = None
        self.lines: Dict[str, Set[int]] = {}
        #: With branch coverage: (from line, to line) arcs as coverage.py
        #: records them, negative numbers entering or leaving a code object.
        self.arcs: Dict[str, Set[Tuple[int, int]]] = {}
        #: Per-file local trace functions of the settrace engine, cached so a
        #: frame start costs no allocation.
        self.tracers: Dict[str, Callable] = {}


class Tracking:
    """The collectors in flight and a generation bumped whenever one is added.

    ``in_flight`` is an immutable tuple replaced whole, so the engine can read
    it without a lock while requests start and end on other threads.
    """

    __slots__ = ("in_flight", "generation", "lock", "on_request_start", "disabled")

    def __init__(self) -> None:
        self.in_flight: Tuple[Collector, ...] = ()
        self.generation = 0
        # Re-entrant: a response body closed by the garbage collector may end
        # a request on a thread that is inside begin_collecting already.
        self.lock = threading.RLock()
        #: Set by the engine, called under ``lock`` when ``disabled`` holds a
        #: code object: re-enables every disabled location so the new request
        #: sees every line it runs.
        self.on_request_start: Optional[Callable[[], None]] = None
        #: Code objects with a location disabled since the last request start,
        #: by id: only these need re-enabling.
        self.disabled: Dict[int, CodeType] = {}


tracking = Tracking()
startup_collector = Collector()
#: Current for requests that sampling leaves unrecorded; never read, never in
#: flight, so it never holds a location enabled.
unrecorded_collector = Collector()
current_collector: ContextVar[Collector] = ContextVar("requestcov_collector", default=startup_collector)


def begin_collecting() -> Tuple[Collector, "Token[Collector]"]:
    """Make a new collector current and in flight.

    The order matters. The engine reads ``generation`` first, then
    ``in_flight``, and applies DISABLE only if ``generation`` is unchanged at
    the very end. So we publish the collector in ``in_flight`` *before*
    bumping ``generation``, and re-enable events *after* it: any DISABLE
    decided without seeing this collector is either rejected by the
    generation check or applied before our restart, which undoes it.
    """
    collector = Collector()
    token = current_collector.set(collector)
    with tracking.lock:
        tracking.in_flight = tracking.in_flight + (collector,)
        tracking.generation += 1
        # Under the lock: a request starting on another thread must not run
        # before the locations disabled ahead of it are enabled again.
        restart = tracking.on_request_start
        if restart is not None and tracking.disabled:
            restart()
    return collector, token


def end_collecting(collector: Collector, token: "Optional[Token[Collector]]") -> None:
    """Take the collector out of flight and restore the previous context value.

    Removing a collector needs no generation bump: it can only allow more
    locations to be disabled, never fewer.
    """
    with tracking.lock:
        in_flight = tracking.in_flight
        if len(in_flight) == 1 and in_flight[0] is collector:
            tracking.in_flight = ()
        else:
            tracking.in_flight = tuple(other for other in in_flight if other is not collector)
    restore_collector(token)


def restore_collector(token: "Optional[Token[Collector]]") -> None:
    """Undo ``current_collector.set``; quietly, when ended from another
    context than it began in (a server calling close() elsewhere): nothing of
    ours is current there."""
    if token is not None:
        try:
            current_collector.reset(token)
        except ValueError:
            pass


def reset_after_fork() -> None:
    """A forked child has none of its parent's requests in flight."""
    tracking.lock = threading.RLock()
    tracking.in_flight = ()
    # ``disabled`` is kept: the child inherits the parent's disabled locations
    # and its first request must enable them again.
    tracking.generation += 1

