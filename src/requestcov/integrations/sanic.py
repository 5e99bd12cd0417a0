"""Sanic, on its own server (``sanic app:app``, ``app.run()``, with its worker
processes or ``single_process=True``) and under ASGI servers; the one-line
adapter is ``requestcov.sanic.RequestCov(app)``.

Sanic rewrites ``Sanic.handle_request`` from its source when a server starts
(its "touch-up"), so a wrapper put on that method would be thrown away. The
request goes in one step earlier instead: each connection's protocol takes the
app's ``handle_request`` as its ``request_handler`` when the connection opens
(``HttpProtocolMixin._setup``), and a recording app gets a wrapper there. The
wrapper runs in the connection's task, around everything Sanic does for the
request (middleware, handler, error handler, a streamed response), so begin
and finish run in the context that runs the handler. The request counts as
answered once its response hands its last part to the server
(``BaseHTTPResponse.send``), so a stop from then on keeps it.

Under an ASGI server (uvicorn, hypercorn, granian) the launcher's ASGI
middleware records the request and Sanic's per-request ``ASGIApp`` names the
route; an app given to the adapter and served by an ASGI server without the
launcher records through that same ``ASGIApp``.

The route template is the matched route's ``path``, which Sanic writes without
the leading slash and with every parameter typed (``users/<user_id:int>``,
``price/<country:str>``); it is named ``/users/<user_id:int>``.

Worker processes import the app module themselves (Sanic spawns them), so the
launcher's bootstrap and the adapter both run again in each of them.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple

from requestcov.context import current_collector, startup_collector
from requestcov.integrations._framework import FrameworkRecording
from requestcov.integrations._patching import is_wrapped, mark
from requestcov.log import log_once
from requestcov.recorder import current_request

__all__ = ["RequestCov", "PATCHES", "route_of"]

HandleRequest = Callable[[Any], Awaitable[None]]

#: Apps that record, by ``id`` (Sanic apps take no attributes and no weak
#: references); the app is kept beside its recording so the id stays its own.
_recordings: Dict[int, Tuple[Any, "_SanicRecording"]] = {}
#: Set by the launcher's patch: every Sanic app served by Sanic's own server records.
_every_app = False


def route_of(request: Any) -> Optional[str]:
    """The matched route's template with a leading slash; None when no route matched."""
    path = getattr(getattr(request, "route", None), "path", None)
    if not isinstance(path, str):
        return None
    return path if path.startswith("/") else "/" + path


class _SanicRecording(FrameworkRecording):
    """Records the requests of one Sanic app from Sanic's own request object."""

    framework = "Sanic"

    async def handle(self, request: Any, handle_request: HandleRequest) -> None:
        path = str(request.path)
        if self.is_control(path):
            await self._answer_control(request)
            return
        active = self.begin(str(request.method), path, request.headers.get)
        if active is None:
            await handle_request(request)
            return
        error = True
        try:
            await handle_request(request)
            error = False
        finally:
            status = getattr(getattr(request.stream, "response", None), "status", None)
            self.finish(active, status=int(status) if status is not None else (500 if error else None),
                        route=route_of(request))

    async def _answer_control(self, request: Any) -> None:
        from sanic.response import raw

        answer = self.answer_control(
            str(request.method), str(request.path), str(request.query_string or ""), request.ip, request.headers.get,
        )
        response = await request.respond(raw(answer.encoded(), status=answer.status,
                                             content_type="application/json"))
        await response.send(end_stream=True)


def _recording_for(app: Any, *, create: bool) -> Optional[_SanicRecording]:
    """The app's recording; under the launcher every app gets one when ``create``."""
    entry = _recordings.get(id(app))
    if entry is not None:
        return entry[1]
    if not (create and _every_app):
        return None
    recording = _SanicRecording(app)
    _recordings[id(app)] = (app, recording)
    return recording


class RequestCov:
    """Record a Sanic app: ``RequestCov(app)``, before the app starts serving;
    options are the middleware's (:meth:`requestcov.Config.resolve`).

    Call it where the app is built (the module Sanic's worker processes
    import), so that every worker records.
    """

    def __init__(self, app: Any, **options: Any) -> None:
        self.app = app
        entry = _recordings.get(id(app))
        if entry is not None:
            self.recording = entry[1]
            return
        self.recording = _SanicRecording(app, **options)
        _recordings[id(app)] = (app, self.recording)
        for name, patch in _ADAPTER_PATCHES.items():
            _patch(importlib.import_module(name), patch)
        try:
            app.register_listener(_flush_after_stop, "after_server_stop")
        except Exception:
            log_once("sanic-listener", "requestcov: could not register the Sanic shutdown flush", exc_info=True)


async def _flush_after_stop(app: Any) -> None:
    """Write what is queued when the server stops: under an ASGI server the
    process may end without ``atexit`` (uvicorn re-raises SIGTERM)."""
    entry = _recordings.get(id(app))
    recorder = entry[1].recorder if entry is not None else None
    if recorder is not None:
        try:
            recorder.flush()
            recorder.writer.report_losses()
        except Exception:
            log_once("sanic-flush", "requestcov: could not flush when Sanic stopped", exc_info=True)


# -- the patches ----------------------------------------------------------------


def _patch(module: ModuleType, patch: Callable[[ModuleType], None]) -> None:
    try:
        patch(module)
    except Exception:
        log_once(f"patch-{module.__name__}", "requestcov: could not patch %s; its app may run unmeasured",
                 module.__name__, exc_info=True)


def _patch_protocol(module: ModuleType) -> None:
    mixin = module.HttpProtocolMixin
    original_setup = mixin._setup
    if is_wrapped(original_setup):
        return

    @functools.wraps(original_setup)
    def _setup(self: Any) -> None:
        original_setup(self)
        try:
            recording = _recording_for(self.app, create=True)
            if recording is not None:
                self.request_handler = functools.partial(recording.handle, handle_request=self.request_handler)
        except Exception:
            log_once("sanic-protocol", "requestcov: could not record a Sanic connection", exc_info=True)

    mixin._setup = mark(_setup)


def _patch_asgi(module: ModuleType) -> None:
    asgi_app_class = module.ASGIApp
    original_call = asgi_app_class.__call__
    if is_wrapped(original_call):
        return

    @functools.wraps(original_call)
    async def __call__(self: Any) -> None:
        recording = None
        if current_collector.get() is startup_collector:  # no ASGI middleware records around us
            recording = _recording_for(self.sanic_app, create=False)
        if recording is not None:
            await recording.handle(self.request, lambda request: original_call(self))
            return
        try:
            await original_call(self)
        finally:
            _name_current_route(self.request)

    asgi_app_class.__call__ = mark(__call__)


def _patch_response(module: ModuleType) -> None:
    """A response about to hand its last part to the server marks its request
    as answered, with its status: a stop from then on records it even though
    the handler's task never resumes to finish it (a signal handled on the
    event loop's thread, SIGHUP on a single-process server, runs right after
    the write that wakes the client, before the task takes another step).
    Marked before the write, as the ASGI middleware does, since the task may
    not resume after it."""
    response_class = module.BaseHTTPResponse
    original_send = response_class.send
    if is_wrapped(original_send):
        return

    @functools.wraps(original_send)
    async def send(self: Any, data: Any = None, end_stream: Optional[bool] = None) -> None:
        if end_stream or (data is None and end_stream is None):
            _mark_answered(self)
        await original_send(self, data, end_stream)

    response_class.send = mark(send)


def _mark_answered(response: Any) -> None:
    try:
        active = current_request()
        if active is not None:
            status = getattr(response, "status", None)
            if isinstance(status, int):
                active.status = status
            active.body_sent = True
    except Exception:
        log_once("sanic-send", "requestcov: could not follow a Sanic response", exc_info=True)


def _name_current_route(request: Any) -> None:
    """Name the route of the request the ASGI middleware around the app records."""
    try:
        active = current_request()
        if active is not None and active.route is None:
            active.route = route_of(request)
    except Exception:
        log_once("sanic-route", "requestcov: could not read the Sanic route of a request", exc_info=True)


def _launched_protocol(module: ModuleType) -> None:
    global _every_app
    _every_app = True
    _patch_protocol(module)


PATCHES = {
    "sanic.server.protocols.http_protocol": _launched_protocol,
    "sanic.asgi": _patch_asgi,
    "sanic.response": _patch_response,
}

# The adapter applies the patches itself, without turning on every app.
_ADAPTER_PATCHES = {**PATCHES, "sanic.server.protocols.http_protocol": _patch_protocol}
