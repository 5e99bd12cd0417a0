"""aiohttp: record an app in one line (public as ``requestcov.aiohttp``)::

    import requestcov.aiohttp

    requestcov.aiohttp.setup(app)          # before web.run_app(app) / AppRunner(app)

aiohttp serves each request in a task of its own,
``web_protocol.RequestHandler._handle_request``: it runs the app's handler
chain (router, middlewares, the handler) and then sends the response
(``prepare`` and ``write_eof``; a handler that streams a ``StreamResponse`` or
serves a ``WebSocketResponse`` has sent it from inside the chain by then).
Recording wraps that work: the request begins before the router runs and
finishes once the last byte is handed to the transport, in that same task, so
the app's middlewares, its ``on_response_prepare`` handlers and a streamed
body all belong to the request, and a handler that fails is recorded with the
status of the error response aiohttp sends for it. The app object is left as
it is (no middleware is added), so an app that is already frozen, or uses
sub-apps, is recorded the same way.

The route is the matched resource's canonical path (``/users/{user_id}``; a
sub-app's routes with their prefix), None when nothing matched (404, 405).

Under ``requestcov run`` every ``Application`` the process serves is recorded:
``web.run_app(app)``, ``python -m aiohttp.web module:init_func``,
``AppRunner``, and gunicorn's ``aiohttp.GunicornWebWorker`` (:func:`adopt`
keeps the app from being wrapped as a WSGI app). ``run_app`` and the gunicorn
worker stop on SIGINT and SIGTERM by ending their loop after the requests in
flight, and the process exits through ``atexit``, where the last records are
written.
"""

from __future__ import annotations

import functools
import inspect
import sys
import weakref
from types import ModuleType
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional, Tuple

from requestcov.integrations._framework import FrameworkRecording
from requestcov.integrations._patching import is_instance_of, is_wrapped, mark
from requestcov.log import log_once
from requestcov.recorder import ActiveRequest, current_recorder

if TYPE_CHECKING:  # pragma: no cover
    from aiohttp import web

__all__ = ["setup", "is_recorded", "adopt", "PATCHES"]

_APPLICATION = ("aiohttp.web_app", "Application")

#: Recorded apps (weakly: an app that is dropped takes its recording along).
_recordings: "weakref.WeakKeyDictionary[Any, AiohttpRecording]" = weakref.WeakKeyDictionary()
#: Under ``requestcov run``: every app is recorded, without setup().
_record_every_app = False


class AiohttpRecording(FrameworkRecording):
    framework = "aiohttp"


def setup(app: "web.Application", **options: Any) -> None:
    """Record every request ``app`` (the app you run, not a sub-app) serves,
    from now on; a second call does nothing.

    Options are the middleware's (``source``, ``db``, ``id_header``,
    ``sample_rate``, ... : see :meth:`requestcov.Config.resolve`); without
    ``source`` (here or in ``REQUESTCOV_SOURCE``) the folder of the code that
    calls ``setup`` is measured.
    """
    try:
        from aiohttp import web_protocol

        _patch_protocol(web_protocol)
        if app not in _recordings:
            _recordings[app] = AiohttpRecording(app, **options)
    except Exception:
        log_once("aiohttp-setup", "requestcov: could not set up recording of the aiohttp app; it runs unmeasured",
                 exc_info=True)


def is_recorded(app: Any) -> bool:
    """Whether ``setup`` was called for ``app`` (or ``requestcov run`` records it)."""
    return app in _recordings


def adopt(app: Any) -> Optional[Any]:
    """gunicorn hands the worker what ``module:app`` names: an ``Application``
    or, for ``aiohttp.GunicornWebWorker``, an async function returning one.
    Either is served as it is (the requests are recorded where aiohttp runs
    them); wrapping it as a WSGI or ASGI app would stop the worker."""
    if is_instance_of(app, *_APPLICATION):
        setup(app)
        return app
    if "aiohttp.worker" in sys.modules and _is_app_factory(app):
        return app
    return None


def _is_app_factory(app: Any) -> bool:
    """An async function called without arguments: never an ASGI app, which takes three."""
    if not inspect.iscoroutinefunction(app):
        return False
    try:
        inspect.signature(app).bind()
    except (TypeError, ValueError):
        return False
    return True


# -- the request task -----------------------------------------------------------

_Result = Tuple[Any, bool]
_Handle = Callable[[Any, Any, Optional[float], Callable[[Any], Awaitable[Any]]], Awaitable[_Result]]


def _patch_protocol(module: ModuleType) -> None:
    handler_class = module.RequestHandler
    original: _Handle = handler_class._handle_request
    if is_wrapped(original):
        return
    if list(inspect.signature(original).parameters)[:4] != ["self", "request", "start_time", "request_handler"]:
        log_once("aiohttp-version", "requestcov: this aiohttp version is not supported; its requests run unmeasured")
        return

    @functools.wraps(original)
    async def _handle_request(
        self: Any, request: Any, start_time: Optional[float], request_handler: Callable[[Any], Awaitable[Any]]
    ) -> _Result:
        recording = _recording_for(request_handler)
        if recording is None:
            return await original(self, request, start_time, request_handler)
        return await _recorded(recording, original, self, request, start_time, request_handler)

    handler_class._handle_request = mark(_handle_request)


def _recording_for(request_handler: Any) -> Optional[AiohttpRecording]:
    """The recording of the app whose handler serves the request: aiohttp's
    server calls ``app._handle``; its own answers to malformed requests are
    not the app's and are not recorded."""
    app = getattr(request_handler, "__self__", None)
    if not is_instance_of(app, *_APPLICATION):
        return None
    try:
        recording = _recordings.get(app)
        if recording is None and _record_every_app:
            recording = _recordings[app] = AiohttpRecording(app)
        return recording
    except Exception:
        log_once("aiohttp-app", "requestcov: could not find the aiohttp app of a request", exc_info=True)
        return None


async def _recorded(
    recording: AiohttpRecording, original: _Handle, protocol: Any, request: Any, start_time: Optional[float],
    request_handler: Callable[[Any], Awaitable[Any]],
) -> _Result:
    if recording.is_control(request.path):
        return await original(protocol, request, start_time, _control_handler(recording))
    active = recording.begin(request.method, request.path, request.headers.get)
    if active is None:
        return await original(protocol, request, start_time, request_handler)
    try:
        result = await original(protocol, request, start_time, _marking_answered(request_handler, active))
    except BaseException:
        # Cancelled (the client went away, or the server stopped waiting).
        _finish(recording, active, request, None)
        raise
    _finish(recording, active, request, result)
    return result


def _marking_answered(
    request_handler: Callable[[Any], Awaitable[Any]], active: ActiveRequest
) -> Callable[[Any], Awaitable[Any]]:
    """The app's handler chain, marking the request answered once it has
    returned its response or raised the error aiohttp answers for it.

    aiohttp sends that response next, then logs the request: a stop that
    comes meanwhile (SIGHUP, whose handler runs between two bytecodes of this
    very task) finds the request answered and records it.
    """

    async def handler(request: Any) -> Any:
        try:
            response = await request_handler(request)
        except Exception as error:
            # An HTTPException is answered with its status, anything else with 500.
            _mark_answered(active, request, getattr(error, "status", 500))
            raise
        _mark_answered(active, request, getattr(response, "status", None))
        return response

    return handler


def _mark_answered(active: ActiveRequest, request: Any, status: Any) -> None:
    """What a stop records: the status, when known, and the route."""
    try:
        if isinstance(status, int):
            active.status = status
        if active.route is None:
            active.route = _route_of(request)
    except Exception:
        log_once("aiohttp-route", "requestcov: could not read the route or status of an aiohttp request",
                 exc_info=True)
    active.body_sent = True


def _finish(recording: AiohttpRecording, active: ActiveRequest, request: Any, result: Optional[_Result]) -> None:
    status: Optional[int] = None
    route: Optional[str] = None
    try:
        route = _route_of(request)
        if result is not None:
            status = int(result[0].status)
    except Exception:
        log_once("aiohttp-route", "requestcov: could not read the route or status of an aiohttp request",
                 exc_info=True)
    if status is None and active.status is None:
        status = 500
    recording.finish(active, status=status, route=route)


def _route_of(request: Any) -> Optional[str]:
    """``/users/{user_id}``; None for aiohttp's own answers (no route matched)."""
    match_info = getattr(request, "match_info", None)
    resource = getattr(getattr(match_info, "route", None), "resource", None)
    if resource is None:
        return None
    canonical = resource.canonical
    return canonical if isinstance(canonical, str) and canonical else None


def _control_handler(recording: AiohttpRecording) -> Callable[[Any], Awaitable[Any]]:
    async def answer(request: Any) -> Any:
        from aiohttp import web

        response = recording.answer_control(
            request.method, request.path, request.query_string, request.remote, request.headers.get,
        )
        return web.Response(status=response.status, body=response.encoded(), content_type="application/json")

    return answer


# -- under requestcov run ---------------------------------------------------------


def _record_every_app_served(module: ModuleType) -> None:
    global _record_every_app
    _record_every_app = True
    _patch_protocol(module)


def _patch_gunicorn_worker(module: ModuleType) -> None:
    """Write the records when the worker's serving ends, inside its loop.

    On SIGINT gunicorn's master sends its workers SIGQUIT as well; the worker
    handles it in its loop, but once the loop is closed SIGQUIT is back at its
    default and kills the worker without ``atexit``. By then every request is
    finished (the runner's cleanup waited for them), so they are written
    before the loop closes.
    """
    worker_class = module.GunicornWebWorker
    original = worker_class._run
    if is_wrapped(original):
        return

    @functools.wraps(original)
    async def _run(self: Any) -> None:
        try:
            await original(self)
        finally:
            _write_records()

    worker_class._run = mark(_run)


def _write_records() -> None:
    recorder = current_recorder()
    if recorder is None:
        return
    try:
        recorder.flush()
        recorder.writer.report_losses()
    except Exception:
        log_once("aiohttp-flush", "requestcov: could not write the records when the worker stopped", exc_info=True)


PATCHES = {"aiohttp.web_protocol": _record_every_app_served, "aiohttp.worker": _patch_gunicorn_worker}
