"""ASGI middleware: one record per HTTP request, ended when the app call returns.

The app call returns only after the response is sent and, in Starlette and
FastAPI, after the response's background tasks have run, so their lines belong
to the request. The request counts as answered once its last body message
(``more_body`` false) is sent: a server stopped before the app call returns
still records it. WebSocket and lifespan scopes pass through untouched.

With the compiled core (3.10+) a simply recorded request is begun, handed to
the app and ended in C (``_asgicall.c``); :meth:`ASGIMiddleware._call_python`
is its reference and takes every other request.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, MutableMapping, Optional

from requestcov.engine.core import compiled_core
from requestcov.log import log_once
from requestcov.middleware.common import RecordingMiddleware, middleware_bases
from requestcov.middleware.control import CONTROL_PREFIX
from requestcov.middleware.testid import clean_test_id
from requestcov.recorder import ActiveRequest, Recorder

__all__ = ["ASGIMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


_BASES = middleware_bases("ASGICall")
#: Whether the middleware's call is the compiled core's (see ``_asgicall.c``).
_COMPILED_CALL = len(_BASES) > 1


class ASGIMiddleware(*_BASES):  # type: ignore[misc]
    """Wrap an ASGI app, or ``app.add_middleware(ASGIMiddleware)`` in Starlette/FastAPI."""

    def __init__(self, app: Any, **options: Any) -> None:
        super().__init__(app, **options)
        self._id_header = self.config.id_header.lower().encode("latin-1")
        self._test_set_header = self.config.test_set_header.lower().encode("latin-1")
        self._recording_send = _recording_send_class()
        if _COMPILED_CALL:
            self._choose_call_path()

    def _choose_call_path(self) -> None:
        """The compiled call takes an HTTP request that is simply recorded
        (see ``_asgicall.c``); with a control endpoint or Keploy's agent, or
        no compiled request path, every call is :meth:`_call_python`'s."""
        recorder, path = self.recorder, self.compiled_request_path(self._recording_send is _RecordingSend)
        if path is None:
            self._set_python_path(self._call_python)
            return
        self._set_fast_path(
            recorder, recorder.engine, path.begin, self._recording_send, self._finish_failed, self._id_header,
            self._test_set_header, self._call_python, self._begin_failed, bool(recorder.sampler.records_everything),
        )

    if _COMPILED_CALL:
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            # A coroutine function still, as servers tell an ASGI 3 app by its
            # call; what it awaits is the compiled call's (or _call_python's).
            await self._call_compiled(scope, receive, send)

    async def _call_python(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The middleware's call: the reference of the compiled one, and the
        way of every request that one does not take."""
        recorder = self.recorder
        if recorder is not None and scope.get("type") == "lifespan":
            await self.app(scope, receive, _flush_at_shutdown(recorder, send))
            return
        if scope.get("type") != "http" or recorder is None:
            await self.app(scope, receive, send)
            return
        if self.control is not None and str(scope.get("path", "")).startswith(CONTROL_PREFIX):
            await self._answer_control(scope, send)
            return
        request = self._begin(recorder, scope)
        if request is None:
            await self.app(scope, receive, send)
            return

        try:
            await self.app(scope, receive, self._recording_send(request, send))
        except BaseException:
            self._finish(recorder, request, scope, True)
            raise
        self._finish(recorder, request, scope, False)

    if not _COMPILED_CALL:
        __call__ = _call_python

    def _begin(self, recorder: Recorder, scope: Scope) -> Optional[ActiveRequest]:
        try:
            test_id = test_set = ""
            for name, value in scope.get("headers") or ():
                lowered = name.lower()
                if lowered == self._id_header:
                    test_id = clean_test_id(value.decode("latin-1"))
                elif lowered == self._test_set_header:
                    test_set = clean_test_id(value.decode("latin-1"))
            if self.identifies_tests:
                test_id, test_set = self.test_identity(test_id, test_set)
            return recorder.begin(
                method=str(scope.get("method", "")), path=str(scope.get("path", "")) or "/",
                test_id=test_id, test_set=test_set,
            )
        except Exception as error:
            self._begin_failed(error)
            return None

    @staticmethod
    def _begin_failed(error: BaseException) -> None:
        log_once("asgi-begin", "requestcov: could not start recording a request", exc_info=error)

    async def _answer_control(self, scope: Scope, send: Send) -> None:
        assert self.control is not None
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers") or ()
        }
        client = scope.get("client")
        answer = self.control.handle(
            str(scope.get("method", "")), str(scope.get("path", "")),
            (scope.get("query_string") or b"").decode("latin-1"), client[0] if client else None, headers.get,
        )
        body = answer.encoded()
        await send({"type": "http.response.start", "status": answer.status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("latin-1")),
        ]})
        await send({"type": "http.response.body", "body": body})

    def _finish(self, recorder: Recorder, request: ActiveRequest, scope: Scope, error: bool) -> None:
        try:
            if request.route is None:
                route = scope.get("route")
                request.route = getattr(route, "path", None) or getattr(route, "path_format", None)
            if error and request.status is None:
                request.status = 500
            recorder.finish(request)
        except Exception as problem:
            self._finish_failed(problem)

    @staticmethod
    def _finish_failed(error: BaseException) -> None:
        log_once("asgi-finish", "requestcov: could not finish recording a request", exc_info=error)


class _RecordingSend:
    """The app's ``send``: notes the status and when the whole body is the
    server's to send, then hands the message on. It returns the server's
    awaitable rather than being a coroutine itself: no coroutine of ours per
    message.

    The compiled core's ``RecordingSend`` does the same in C; this class is
    its reference and the fallback (REQUESTCOV_CORE=python)."""

    __slots__ = ("_request", "_send")

    def __init__(self, request: ActiveRequest, send: Send) -> None:
        self._request = request
        self._send = send

    def __call__(self, message: Message) -> Awaitable[None]:
        kind = message.get("type")
        if kind == "http.response.start":
            try:
                self._request.status = int(message["status"])
            except (KeyError, TypeError, ValueError):
                pass
        elif kind == "http.response.body" and not message.get("more_body", False):
            # The whole response is the server's to send (marked before the
            # await, which may not resume): a stop from here on records the
            # request even if the app call never returns.
            self._request.body_sent = True
        return self._send(message)


def _recording_send_class() -> Callable[[ActiveRequest, Send], Send]:
    """The compiled send, or this module's with the pure-Python core."""
    speedups = compiled_core()
    return getattr(speedups, "RecordingSend", None) or _RecordingSend


def _flush_at_shutdown(recorder: Recorder, send: Send) -> Send:
    """Pass lifespan messages through, flushing the store when shutdown is done.

    The lifespan ends after the server closed every connection, so every
    request is finished by then; some servers (uvicorn) then re-raise SIGTERM
    and the process dies without running ``atexit``.
    """

    async def send_after_flushing(message: Message) -> None:
        if message.get("type") in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            try:
                recorder.flush()
                # The process may die next without closing the recorder.
                recorder.writer.report_losses()
            except Exception:
                log_once("asgi-flush", "requestcov: could not flush at shutdown", exc_info=True)
        await send(message)

    return send_after_flushing
