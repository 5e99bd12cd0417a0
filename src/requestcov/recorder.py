"""The recorder: one per process, shared by every middleware in it.

It owns the engine, the background writer and the start-up record, and turns
"a request began / ended" into a collector in flight and a record in the store.
Anything that goes wrong in here is logged once and the app carries on
unmeasured; the middleware never lets an error of ours reach the app.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
import time
from contextvars import Token
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from requestcov._threads import pause
from requestcov.config import Config
from requestcov.context import (
    Collector,
    begin_collecting,
    current_collector,
    end_collecting,
    reset_after_fork,
    restore_collector,
    startup_collector,
    tracking,
    unrecorded_collector,
)
from requestcov.engine import Engine, SourceMatcher, make_engine
from requestcov.engine.core import compiled_core
from requestcov.fileversions import FileVersions
from requestcov.log import log_once, logger
from requestcov.recordbuilder import RecordBuilder
from requestcov.records import REQUEST, SERVED_UNRECORDED, STARTUP
from requestcov.sampling import Sampler
from requestcov.shutdown import install_stop_handlers, loop_running_here, signals_held
from requestcov.store import resolve_db_path
from requestcov.store.writer import BackgroundWriter

__all__ = ["Recorder", "ActiveRequest", "get_recorder", "current_recorder", "current_request", "set_route"]


class ActiveRequest:
    """A request in flight. Frameworks may fill in ``route`` while it runs.

    A plain class with slots rather than a dataclass: one is made on every
    request, and a dataclass's field factories are two Python calls more.
    """

    __slots__ = ("collector", "token", "test_id", "test_set", "method", "path", "start", "started_counter",
                 "route", "status", "body_sent", "recorded", "unfinished", "unwritten")

    def __init__(
        self, collector: Collector, token: "Optional[Token[Collector]]", test_id: str, test_set: str,
        method: str, path: str, start: float, started_counter: float, recorded: bool = True,
    ) -> None:
        self.collector = collector
        self.token = token
        self.test_id = test_id
        self.test_set = test_set
        self.method = method
        self.path = path
        self.start = start
        self.started_counter = started_counter
        self.route: Optional[str] = None
        self.status: Optional[int] = None
        #: The whole response body has been handed to the server; only cleanup
        #: (the WSGI ``close()``) is left.
        self.body_sent = False
        #: False when sampling left this request out.
        self.recorded = recorded
        #: Emptied by the one call of :meth:`Recorder.finish` that ends the request:
        #: ``list.pop`` is atomic, so no lock is taken, and a signal handler that
        #: finishes requests at shutdown can never wait on a lock its own thread holds.
        self.unfinished: List[bool] = [True]
        #: Emptied when the writer turns the request into its record: a request
        #: queued twice (see :meth:`Recorder.finish`) is written once.
        self.unwritten: List[bool] = [True]

    def __repr__(self) -> str:
        return (f"ActiveRequest({self.method} {self.path}, test_id={self.test_id!r}, route={self.route!r}, "
                f"status={self.status!r}, finished={self.finished})")

    @property
    def finished(self) -> bool:
        return not self.unfinished


#: What the writer thread turns into a record (off the request path): the
#: request, its duration in ms, the process, and the kind of record. A plain
#: tuple: one is made for every request, and a tuple costs no call to make.
_Finished = Tuple[ActiveRequest, float, int, str]


def _is_startup(item: Any) -> bool:
    """Whether a writer's item, a finished tuple or the record made of it,
    is of a process's start-up code (its losses are counted apart)."""
    kind = item[3] if type(item) is tuple else getattr(item, "kind", None)
    return kind == STARTUP


class Recorder:
    def __init__(self, config: Config, default_source: Sequence[str]) -> None:
        self.config = config
        self.source: List[str] = list(config.source or default_source)
        self.matcher = SourceMatcher(self.source, config.include, config.omit)
        self.sampler = Sampler(config.sample_rate, config.sample_rules)
        self.db_path = resolve_db_path(config.db).resolve()
        self.engine: Engine = make_engine(self.matcher, branch=config.branch)
        #: The version of each measured file, known to the writer thread.
        self.versions = FileVersions()
        self._path = _compiled_request_path()
        self.builder = RecordBuilder(self.matcher, branch=config.branch, versions=self.versions,
                                     ready_rows=self._path.ready_rows if self._path is not None else None)
        self.writer = BackgroundWriter(
            self.db_path, self.builder.convert, on_thread_start=self.engine.on_writer_thread,
            fallback_path=Path(config.fallback_db).resolve() if config.fallback_db else None,
            before_batch=self.versions.new_batch, is_startup=_is_startup, ready_rows=self.builder.ready_rows,
        )
        self.engine.start()
        self._closed = False
        self._startup_submitted = False
        #: Requests begun in this process, recorded or sampled out: whether a
        #: server that accepts connections records anything at all
        #: (:mod:`requestcov.launcher.watchdog`).
        self.requests_begun = 0
        #: When this process accepted its first connection, and the start-up
        #: lines (and arcs) it had run by then; see :meth:`serving_started`.
        self._serving: Optional[Tuple[float, Collector]] = None
        # Registered once per stop an exiting process may sit through. An
        # app whose SIGTERM handler raises ``SystemExit`` (Django's
        # autoreloader child) can get a second SIGTERM while it exits (sent
        # to the process group, then forwarded by the parent), and it may cut
        # in before the close holds signals, at its very first bytecode. atexit
        # calls each registration in turn from C, so the next one begins the
        # close again; once it is done, the rest return at once.
        for _attempt in range(_CLOSE_ATTEMPTS):
            atexit.register(self.close)
        install_stop_handlers(self.close)
        #: This process's id, kept here: getpid() is a system call per request.
        self.pid = os.getpid()
        if self._path is not None:
            # A request's end in one C call, this class's finish its
            # reference (REQUESTCOV_CORE=python): every request pays it.
            self._path.set_finish(self.writer.submit, self.pid, REQUEST)
            self.finish = self._path.finish  # type: ignore[method-assign]
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=reset_after_fork)
            os.register_at_fork(after_in_child=self._after_fork)
        logger.info(
            "requestcov: recording %s with %s into %s", ", ".join(self.source), self.engine.description, self.db_path
        )

    # -- the request path -------------------------------------------------

    def begin(self, *, method: str, path: str, test_id: str = "", test_set: str = "") -> ActiveRequest:
        self.requests_begun += 1
        sampler = self.sampler
        # Its first test made here: most requests need no call of the sampler.
        if not (sampler.records_everything or test_id) and not sampler.should_record(method, path, False):
            return ActiveRequest(
                collector=unrecorded_collector, token=current_collector.set(unrecorded_collector),
                test_id=test_id, test_set=test_set, method=method, path=path, start=0.0,
                started_counter=0.0, recorded=False,
            )
        if self.engine.wants_thread_start:
            self.engine.on_thread_start_request()
        if self._path is not None:
            return self._path.begin(test_id, test_set, method, path)
        collector, token = begin_collecting()
        request = ActiveRequest(collector, token, test_id, test_set, method, path, time.time(), time.perf_counter())
        collector.request = request
        return request

    def finish(self, request: ActiveRequest, *, status: Optional[int] = None) -> None:
        """End a request once (later calls do nothing) and queue its record.

        The compiled core's ``RequestPath.finish`` does the same in one call
        and takes this method's place on the instance; this is its reference.

        The record is queued *before* the request is marked finished, and
        before it leaves the in-flight set: a stop whose signal handler
        interrupts this very call, on this thread, finds the request still
        in flight and unfinished, and queues it itself (the writer keeps one
        of the two); marked first, a request interrupted right after would
        be neither queued here nor by the stop.
        """
        if not request.unfinished:
            return
        if not request.recorded:
            try:
                request.unfinished.pop()
            except IndexError:
                return
            restore_collector(request.token)
            request.token = None
            return
        duration_ms = (time.perf_counter() - request.started_counter) * 1000.0
        if status is not None:
            request.status = status
        self.writer.submit((request, duration_ms, self.pid, REQUEST))
        try:
            request.unfinished.pop()
        except IndexError:  # another thread ended it meanwhile
            return
        end_collecting(request.collector, request.token)
        request.token = None
        # No cycle request <-> collector: both freed by reference counting,
        # not left to the garbage collector.
        request.collector.request = None

    def _after_fork(self) -> None:
        self.pid = os.getpid()
        if self._path is not None:
            self._path.set_finish(self.writer.submit, self.pid, REQUEST)
        self.requests_begun = 0
        self._serving = None

    # -- a server that records nothing ------------------------------------

    def serving_started(self) -> None:
        """The process accepted its first connection: keep the start-up lines
        run so far (once per process; one copy of the sets).

        In a process that then records no request at all, a server whose app
        ``requestcov run`` could not wrap, the lines run from here on outside
        requests ran for requests nobody recorded: they are written apart from
        the start-up record (see :meth:`_startup_parts`), so that no analysis
        counts them as code the recorded requests, or start-up, ran.
        """
        if self._serving is None:
            self._serving = (time.time(), _copy_of(startup_collector))

    def ran_while_serving_unrecorded(self) -> int:
        """How many lines ran outside requests since the first connection, while no request was recorded."""
        serving = self._serving
        if serving is None or self.requests_begun:
            return 0
        return sum(len(lines) for lines in _added(startup_collector.lines, serving[1].lines).values())

    def _startup_parts(self) -> List[Tuple[Collector, float, str]]:
        """The start-up record, and the record of lines a server that records
        nothing ran after its first connection: (collector, start, test id)."""
        serving = self._serving
        if serving is None or not self.ran_while_serving_unrecorded():
            return [(startup_collector, _PROCESS_START, "startup")]
        since, before = serving
        served = Collector()
        served.lines = _added(startup_collector.lines, before.lines)
        served.arcs = _added(startup_collector.arcs, before.arcs)
        return [(before, _PROCESS_START, "startup"), (served, since, SERVED_UNRECORDED)]

    # -- shutdown -----------------------------------------------------------

    def _finish_sent_requests(self, drain_timeout: float, quiet: float = 0.2, close_grace: float = 0.5) -> None:
        """Give requests in flight time to finish, then record those whose
        response was fully sent.

        Waiting ends once no request has been in flight for ``quiet`` seconds:
        a server whose serving thread is a daemon (Django's autoreloader runs
        it beside the main thread) keeps accepting requests while the process
        exits, and one accepted just before a stop may start a moment later.
        A server may hold ``close()`` back while it waits on the client's
        socket (werkzeug drains unread input first); the client has its whole
        response, so such a request counts as finished after ``close_grace``.
        """
        # A request on this very thread (a single-threaded server interrupted
        # by SIGTERM) cannot progress while we wait: it is not waited for.
        interrupted = current_request()
        deadline = time.monotonic() + drain_timeout
        quiet_since: Optional[float] = None
        only_cleanup_since: Optional[float] = None
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            pending = [c.request for c in tracking.in_flight if c.request is not interrupted]
            if not pending:
                only_cleanup_since = None
                quiet_since = quiet_since or now
                if now - quiet_since >= quiet:
                    break
            elif all(isinstance(request, ActiveRequest) and request.body_sent for request in pending):
                quiet_since = None
                only_cleanup_since = only_cleanup_since or now
                if now - only_cleanup_since >= close_grace:
                    break
            else:
                quiet_since = only_cleanup_since = None
            pause(0.01)  # a green server's requests go on meanwhile
        for collector in tracking.in_flight:
            request = collector.request
            if not isinstance(request, ActiveRequest):
                continue
            # The interrupted request has started its response and will never
            # finish it: the client may well have all of it already (a body
            # with its length, written before the signal came), so it counts.
            if request.body_sent or (request is interrupted and request.status is not None):
                self.finish(request)

    def flush(self, timeout: float = 30.0) -> bool:
        """Write the start-up record and wait until everything queued is written.

        Called by the ASGI middleware when the server's lifespan ends: uvicorn
        re-raises SIGTERM after its shutdown, which kills the process without
        running ``atexit``. Signals that come meanwhile wait until it is done.
        """
        with signals_held(at_exit=False):
            return self._flush(timeout)

    def _flush(self, timeout: float) -> bool:
        if startup_collector.lines and not self._startup_submitted:
            self._startup_submitted = True
            for collector, start, test_id in self._startup_parts():
                startup = ActiveRequest(
                    collector=collector, token=None, test_id=test_id, test_set="", method="",
                    path="", start=start, started_counter=time.perf_counter(),
                )
                self.writer.submit((startup, 0.0, os.getpid(), STARTUP))
        return self.writer.flush(timeout)

    def close(self, in_signal_handler: bool = False, drain_timeout: float = 5.0) -> None:
        """Write everything and stop recording; once per process.

        A server stopping right after it sent a response may not have closed
        that response yet: requests still in flight get ``drain_timeout``
        seconds to finish, so a request the client saw complete is not lost;
        in a signal handler on an event loop's thread nothing can finish while
        we wait, so requests whose response was sent are recorded at once.
        Signals that arrive meanwhile are held until the records are written
        (see :mod:`requestcov.shutdown`), and an interruption that still gets
        through (``SystemExit``, ``KeyboardInterrupt``) does not cut it short.
        """
        with signals_held(at_exit=not in_signal_handler):
            # Marked closed only once signals are held: a stop that cuts in
            # before this point leaves the close to be run again whole
            # (atexit holds more than one registration of this).
            if self._closed:
                return
            self._closed = True
            if in_signal_handler and loop_running_here():
                drain_timeout = 0.0
            deadline = time.monotonic() + drain_timeout
            interruption = _run_through_interruptions(
                lambda: self._finish_sent_requests(drain_timeout),
                lambda: self._flush(30.0),
                self.writer.close,
                # A request that began after the drain's last look (a daemon
                # serving thread starved of the GIL for the whole quiet
                # period): the writer closed, it writes itself when it ends.
                lambda: self._finish_sent_requests(max(0.0, deadline - time.monotonic()), quiet=0.0),
            )
            try:
                self.engine.stop()
            except Exception:  # pragma: no cover - interpreter shutting down
                pass
        if interruption is not None and in_signal_handler:
            raise interruption


#: The slots the compiled request path fills, in its order (``_requestpath.c``).
_TRACKING_SLOTS = ("in_flight", "generation", "lock", "on_request_start", "disabled")
_COLLECTOR_SLOTS = ("request", "lines", "arcs", "tracers")
_REQUEST_SLOTS = ("collector", "token", "test_id", "test_set", "method", "path", "start", "started_counter",
                  "route", "status", "body_sent", "recorded", "unfinished", "unwritten")


def _compiled_request_path() -> Any:
    """The compiled core's begin and end of a request (``begin_collecting``
    and ``ActiveRequest`` in one C call, ``end_collecting`` in another),
    None with the pure-Python core."""
    speedups = compiled_core()
    if speedups is None or not hasattr(speedups, "RequestPath"):
        return None
    return speedups.RequestPath(
        tracking, _TRACKING_SLOTS, current_collector, Collector, _COLLECTOR_SLOTS, ActiveRequest, _REQUEST_SLOTS,
        time.time, time.perf_counter,
    )


def _copy_of(collector: Collector) -> Collector:
    copy = Collector()
    # Each set copied in one C call: a thread still adding to it cannot break the copy.
    copy.lines = {name: set(lines) for name, lines in list(collector.lines.items())}
    copy.arcs = {name: set(arcs) for name, arcs in list(collector.arcs.items())}
    return copy


def _added(now: Dict[str, Set[Any]], before: Dict[str, Set[Any]]) -> Dict[str, Set[Any]]:
    added: Dict[str, Set[Any]] = {}
    for name, items in list(now.items()):
        new = items - before.get(name, set())
        if new:
            added[name] = new
    return added


def _run_through_interruptions(*steps: Callable[[], object]) -> Optional[BaseException]:
    """Run each step to its end even when ``SystemExit`` or ``KeyboardInterrupt``
    is raised into it (each step can be run again); returns the first such
    interruption, for the caller to raise once the records are safe. An error
    of ours in one step does not stop the next; it is the same failure the
    request path has already reported once (finishing a request), so it is
    logged at debug level only, and what it cost is in the writer's count of
    records not written."""
    interruption: Optional[BaseException] = None
    for step in steps:
        for _attempt in range(5):
            try:
                step()
                break
            except (SystemExit, KeyboardInterrupt) as error:
                interruption = interruption or error
            except Exception:
                logger.debug("requestcov: a step of the last flush failed", exc_info=True)
                break
    return interruption


_PROCESS_START = time.time()

#: How many times :meth:`Recorder.close` is registered with atexit: the stops
#: an exiting process sits through before its records are written.
_CLOSE_ATTEMPTS = 20

_recorder: Optional[Recorder] = None
_recorder_lock = threading.Lock()


def get_recorder(config: Config, default_source: Sequence[str]) -> Optional[Recorder]:
    """The process's recorder, started on first use.

    Returns None when recording cannot start here (the reason is logged once);
    the caller then passes requests straight through.
    """
    global _recorder
    if _recorder is not None:
        if config.source and _recorder.source != list(config.source):
            log_once(
                "second-config",
                "requestcov: already recording %s in this process; the options of a second "
                "middleware are ignored", ", ".join(_recorder.source),
            )
        return _recorder
    with _recorder_lock:
        if _recorder is None:
            try:
                _recorder = Recorder(config, default_source)
            except Exception as error:
                log_once("start", "requestcov: cannot start recording (%s); the app runs unmeasured", error)
                return None
    return _recorder


def current_recorder() -> Optional[Recorder]:
    return _recorder


def current_request() -> Optional[ActiveRequest]:
    """The request the calling code runs for, if any."""
    request = current_collector.get().request
    return request if isinstance(request, ActiveRequest) else None


def set_route(route: str) -> None:
    """Name the route template of the current request (``/users/<id>``).

    The middleware finds it by itself for Flask, Starlette and FastAPI; other
    frameworks, or an app with its own router, can call this from a handler.
    """
    request = current_request()
    if request is not None:
        request.route = route
