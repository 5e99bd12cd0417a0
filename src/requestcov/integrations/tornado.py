"""Tornado: record an app in one line (public as ``requestcov.tornado``)::

    import requestcov.tornado

    requestcov.tornado.record(app)         # before app.listen(port)

Tornado hands each request to a ``_HandlerDelegate``, whose ``execute``
builds the ``RequestHandler`` (running its ``initialize``) and starts the
handler's ``_execute`` as a task of its own. The request begins there, in a
context of its own that the task inherits, and is recorded once both the
handler's ``_execute`` has returned and its response is finished
(``finish()``, which runs ``on_finish``; ``detach()`` for a WebSocket), or
the client went away: a handler that finishes its response later, from a
callback (``_auto_finish = False``, long polling), keeps its request open
until then, and lines after ``finish()`` in the handler still count. A
``stream_request_body`` handler's ``data_received`` runs in the request's
context too, though Tornado calls it from the connection's task.

The route is the matched ``URLSpec`` made readable: the regex without ``^``
and ``$``, each capturing group written ``{name}`` when it is named
(``(?P<user_id>\\d+)``) and ``{N}`` (its position, from 1) when not, so
``r"/users/(\\d+)"`` is ``/users/{1}`` and ``r"/users/(?P<user_id>\\d+)"`` is
``/users/{user_id}``; a regex too intricate for that (nested or
non-capturing groups, which Tornado's ``reverse_url`` cannot fill either)
stays as it is. No match (Tornado's 404) is None.

Under ``requestcov run`` every Tornado ``Application`` the process serves is
recorded (``app.listen``, ``HTTPServer(app)``). Tornado leaves SIGTERM and
SIGINT to the app: requestcov's SIGTERM handler writes every answered request
and the process then dies of the signal as it would have; Ctrl-C ends the loop
with ``KeyboardInterrupt`` and the records are written at exit.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import re
import weakref
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from requestcov.integrations._framework import FrameworkRecording
from requestcov.integrations._patching import is_instance_of, is_wrapped, mark
from requestcov.log import log_once
from requestcov.recorder import ActiveRequest

if TYPE_CHECKING:  # pragma: no cover
    import tornado.web

__all__ = ["record", "is_recorded", "route_template", "PATCHES"]

#: Attributes requestcov sets on Tornado's ``HTTPServerRequest``: the
#: recording state, and the pattern of the last URL rule that matched it.
_STATE = "_requestcov_state"
_MATCHED = "_requestcov_matched"

_recordings: "weakref.WeakKeyDictionary[Any, TornadoRecording]" = weakref.WeakKeyDictionary()
#: Under ``requestcov run``: every app is recorded, without record().
_record_every_app = False


class TornadoRecording(FrameworkRecording):
    framework = "tornado"


def record(app: "tornado.web.Application", **options: Any) -> None:
    """Record every request ``app`` serves, from now on; a second call does nothing.

    Options are the middleware's (``source``, ``db``, ``id_header``,
    ``sample_rate``, ... : see :meth:`requestcov.Config.resolve`); without
    ``source`` (here or in ``REQUESTCOV_SOURCE``) the folder of the code that
    calls ``record`` is measured.
    """
    try:
        import tornado.routing
        import tornado.web

        _patch(tornado.web, tornado.routing)
        if app not in _recordings:
            _recordings[app] = TornadoRecording(app, **options)
    except Exception:
        log_once("tornado-record", "requestcov: could not set up recording of the Tornado app; it runs unmeasured",
                 exc_info=True)


def is_recorded(app: Any) -> bool:
    """Whether ``record`` was called for ``app`` (or ``requestcov run`` records it)."""
    return app in _recordings


@functools.lru_cache(maxsize=1024)
def route_template(pattern: str) -> str:
    """The readable route of a URL rule's regex (see the module's docstring)."""
    from tornado.util import re_unescape

    body = pattern[1:] if pattern.startswith("^") else pattern
    body = body[:-1] if body.endswith("$") and not body.endswith("\\$") else body
    compiled = re.compile(pattern)
    if compiled.groups != body.count("("):
        return body
    names = {index: name for name, index in compiled.groupindex.items()}
    fragments = body.split("(")
    pieces = []
    for position, fragment in enumerate(fragments):
        literal = fragment
        if position:
            if ")" not in fragment:
                return body
            pieces.append("{%s}" % names.get(position, position))
            literal = fragment[fragment.index(")") + 1:]
        try:
            pieces.append(re_unescape(literal))
        except ValueError:
            return body
    return "".join(pieces)


# -- one request ---------------------------------------------------------------


class _Request:
    """A recorded request until both its ``_execute`` returned and its
    response is finished (or its connection closed)."""

    __slots__ = ("recording", "active", "context", "executed", "done")

    def __init__(self, recording: TornadoRecording, active: ActiveRequest, context: contextvars.Context) -> None:
        self.recording = recording
        self.active = active
        #: The request's own context (its handler's task runs in a copy).
        self.context = context
        self.executed = False
        self.done = False

    def response_finishing(self, handler: Any) -> None:
        """Marked before the last bytes go out: a stop that comes once the
        client may have the whole response (while Tornado logs the request,
        in ``on_finish``, or in the rest of the handler) records the request."""
        self.active.status = _status_of(handler)
        if self.active.route is None:
            self.active.route = _route_of(getattr(handler, "request", None))
        self.active.body_sent = True

    def response_finished(self, handler: Any) -> None:
        if self.executed:
            self.end(handler)
        else:
            self.active.status = _status_of(handler)

    def execute_returned(self, handler: Any) -> None:
        self.executed = True
        if getattr(handler, "_finished", True):
            self.end(handler)

    def connection_closed(self, handler: Any) -> None:
        if self.executed:
            self.end(handler)

    def end(self, handler: Any) -> None:
        if self.done:
            return
        self.done = True
        status = _status_of(handler) if handler is not None else None
        request = getattr(handler, "request", None)
        self.recording.finish(self.active, status=status if status is not None else 500, route=_route_of(request))


def _status_of(handler: Any) -> Optional[int]:
    try:
        return int(handler.get_status())
    except Exception:
        return None


def _route_of(request: Any) -> Optional[str]:
    pattern = getattr(request, _MATCHED, None)
    if not isinstance(pattern, str):
        return None
    try:
        return route_template(pattern)
    except Exception:
        log_once("tornado-route", "requestcov: could not name the route %r", pattern, exc_info=True)
        return None


def _state_of(request: Any) -> Optional[_Request]:
    state = getattr(request, _STATE, None)
    return state if isinstance(state, _Request) else None


def _recording_for(app: Any) -> Optional[TornadoRecording]:
    if not is_instance_of(app, "tornado.web", "Application"):
        return None
    try:
        recording = _recordings.get(app)
        if recording is None and _record_every_app:
            recording = _recordings[app] = TornadoRecording(app)
        return recording
    except Exception:
        log_once("tornado-app", "requestcov: could not find the Tornado app of a request", exc_info=True)
        return None


# -- the patches ------------------------------------------------------------------


def _patch(web: ModuleType, routing: ModuleType) -> None:
    _patch_delegate(web._HandlerDelegate)
    _patch_handler(web.RequestHandler)
    _patch_routing(routing)


def _patch_delegate(delegate_class: Any) -> None:
    original = delegate_class.execute
    original_data_received = delegate_class.data_received
    if is_wrapped(original):
        return

    @functools.wraps(original)
    def execute(self: Any) -> Any:
        recording = _recording_for(getattr(self, "application", None))
        if recording is None:
            return original(self)
        # A context of the request's own: the handler's task copies it, and
        # the connection's context, which serves the next request, is left alone.
        context = contextvars.copy_context()
        return context.run(_execute_recorded, recording, original, self, context)

    @functools.wraps(original_data_received)
    def data_received(self: Any, data: bytes) -> Any:
        """A ``stream_request_body`` handler gets the body from the
        connection's task: its ``data_received`` runs in the request's context
        (a coroutine one as a task of that context, awaited as before)."""
        state = _state_of(getattr(self, "request", None))
        if state is None or not getattr(self, "stream_request_body", False):
            return original_data_received(self, data)
        result = state.context.run(original_data_received, self, data)
        if asyncio.iscoroutine(result):
            return state.context.run(asyncio.ensure_future, result)
        return result

    delegate_class.execute = mark(execute)
    delegate_class.data_received = mark(data_received)


def _execute_recorded(
    recording: TornadoRecording, original: Callable[[Any], Any], delegate: Any, context: contextvars.Context
) -> Any:
    request = delegate.request
    if recording.is_control(request.path):
        _serve_control(delegate, recording)
        return original(delegate)
    active = recording.begin(request.method, request.path, request.headers.get)
    if active is None:
        return original(delegate)
    state = _Request(recording, active, context)
    try:
        setattr(request, _STATE, state)
    except Exception:
        log_once("tornado-state", "requestcov: could not follow a Tornado request", exc_info=True)
        recording.finish(active, status=None, route=None)
        return original(delegate)
    try:
        result = original(delegate)
    except BaseException:
        state.end(getattr(delegate, "handler", None))
        raise
    _watch_connection(delegate, state)
    return result


def _watch_connection(delegate: Any, state: _Request) -> None:
    """Hear of the client going away, for a handler that never finishes then.

    The handler registered its own ``on_connection_close`` on the connection
    when it was built; it is called as before, then the request ends.
    """
    try:
        handler = getattr(delegate, "handler", None)
        set_close_callback = getattr(delegate.request.connection, "set_close_callback", None)
        if handler is None or getattr(handler, "_finished", True) or set_close_callback is None:
            return
        on_close = handler.on_connection_close

        def closed() -> None:
            try:
                on_close()
            finally:
                state.connection_closed(handler)

        set_close_callback(closed)
    except Exception:
        log_once("tornado-close", "requestcov: could not watch a Tornado connection", exc_info=True)


def _patch_handler(handler_class: Any) -> None:
    original_execute = handler_class._execute
    original_finish = handler_class.finish
    if is_wrapped(original_execute):
        return

    @functools.wraps(original_execute)
    async def _execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        state = _state_of(self.request)
        if state is None:
            return await original_execute(self, *args, **kwargs)
        try:
            return await original_execute(self, *args, **kwargs)
        finally:
            _safely(state.execute_returned, self)

    @functools.wraps(original_finish)
    def finish(self: Any, *args: Any, **kwargs: Any) -> Any:
        state = _state_of(getattr(self, "request", None))
        if state is None:
            return original_finish(self, *args, **kwargs)
        _safely(state.response_finishing, self)
        result = original_finish(self, *args, **kwargs)
        _safely(state.response_finished, self)
        return result

    handler_class._execute = mark(_execute)
    handler_class.finish = mark(finish)


def _safely(step: Callable[[Any], None], handler: Any) -> None:
    try:
        step(handler)
    except Exception:
        log_once("tornado-finish", "requestcov: could not finish recording a Tornado request", exc_info=True)


def _patch_routing(routing: ModuleType) -> None:
    """Note on the request the pattern of the URL rule that matched it.

    Rules may nest (a rule whose target is another router): the innermost
    match is the route, and a router that found nothing takes back what its
    rules noted, so a request nothing serves (404) has no route.
    """
    matcher_class = routing.PathMatches
    router_class = routing.RuleRouter
    original_match = matcher_class.match
    original_find = router_class.find_handler
    if is_wrapped(original_match):
        return

    @functools.wraps(original_match)
    def match(self: Any, request: Any) -> Optional[Dict[str, Any]]:
        result: Optional[Dict[str, Any]] = original_match(self, request)
        if result is not None:
            try:
                setattr(request, _MATCHED, self.regex.pattern)
            except Exception:
                pass
        return result

    @functools.wraps(original_find)
    def find_handler(self: Any, request: Any, **kwargs: Any) -> Any:
        before = getattr(request, _MATCHED, None)
        result = original_find(self, request, **kwargs)
        if result is None:
            try:
                setattr(request, _MATCHED, before)
            except Exception:
                pass
        return result

    matcher_class.match = mark(match)
    router_class.find_handler = mark(find_handler)


# -- the test-control endpoint ------------------------------------------------------


def _serve_control(delegate: Any, recording: TornadoRecording) -> None:
    """Have the delegate build requestcov's control handler instead of the app's."""
    delegate.handler_class = _control_handler_class()
    delegate.handler_kwargs = {"recording": recording}
    delegate.path_args = []
    delegate.path_kwargs = {}
    delegate.stream_request_body = False


@functools.lru_cache(maxsize=1)
def _control_handler_class() -> type:
    from tornado.web import RequestHandler

    class ControlHandler(RequestHandler):
        SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")

        def initialize(self, recording: TornadoRecording) -> None:
            self.recording = recording

        def check_xsrf_cookie(self) -> None:
            """The token, not a cookie, authorizes these requests."""

        def prepare(self) -> None:
            request = self.request
            address = getattr(getattr(request.connection, "context", None), "address", None)
            client = address[0] if isinstance(address, tuple) and address else None
            answer = self.recording.answer_control(
                request.method or "", request.path, request.query, client, request.headers.get,
            )
            self.set_status(answer.status)
            self.set_header("Content-Type", "application/json")
            self.finish(answer.encoded())

    return ControlHandler


# -- under requestcov run -------------------------------------------------------------


def _record_every_app_served(web: ModuleType) -> None:
    global _record_every_app
    _record_every_app = True
    import tornado.routing

    _patch(web, tornado.routing)


PATCHES = {"tornado.web": _record_every_app_served}
