"""WSGI middleware: one record per request, ended when the body is fully sent.

A WSGI response is not done when the app returns: a streaming body is produced
while the server iterates it, and the server calls ``close()`` when it is done.
So the request ends in ``close()`` (or when iteration fails), and every line
the body generator runs belongs to the request.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable, Iterator, Optional

from requestcov.engine.core import compiled_core
from requestcov.log import log_once
from requestcov.middleware.common import RecordingMiddleware, middleware_bases
from requestcov.middleware.control import CONTROL_PREFIX
from requestcov.middleware.testid import clean_test_id, wsgi_header_key
from requestcov.recorder import ActiveRequest, Recorder

__all__ = ["WSGIMiddleware"]

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


_BASES = middleware_bases("WSGICall")
#: Whether the middleware's call is the compiled core's (see ``_wsgicall.c``).
_COMPILED_CALL = len(_BASES) > 1


class WSGIMiddleware(*_BASES):  # type: ignore[misc]
    """Wrap a WSGI app: ``app.wsgi_app = WSGIMiddleware(app.wsgi_app)``."""

    def __init__(self, app: WSGIApp, **options: Any) -> None:
        super().__init__(app, **options)
        self._id_key = wsgi_header_key(self.config.id_header)
        self._test_set_key = wsgi_header_key(self.config.test_set_header)
        #: Bound once: each exchange is handed the same method.
        self._end = self._finish
        self._exchange = _exchange_class()
        if _COMPILED_CALL:
            self._choose_call_path()

    def _choose_call_path(self) -> None:
        """The compiled call takes a request that is simply recorded (see
        ``_wsgicall.c``); with a control endpoint or Keploy's agent, or no
        compiled request path, every call is :meth:`_call_python`'s."""
        recorder, path = self.recorder, self.compiled_request_path(self._exchange is _Exchange)
        if path is None:
            self._set_python_path(self._call_python)
            return
        self._set_fast_path(
            recorder, recorder.engine, path.begin, self._exchange, self._end, self._id_key, self._test_set_key,
            self._call_python, self._begin_failed, bool(recorder.sampler.records_everything),
        )

    def _call_python(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        """The middleware's call: the reference of the compiled one, and the
        way of every request that one does not take."""
        recorder = self.recorder
        if recorder is None:
            return self.app(environ, start_response)
        if self.control is not None and environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            return self._answer_control(environ, start_response)
        request = self._begin(recorder, environ)
        if request is None:
            return self.app(environ, start_response)
        exchange = self._exchange(request, start_response, self._end, recorder, environ)
        try:
            exchange.body = self.app(environ, exchange)
        except BaseException:
            exchange.closed = True  # ended here: freeing it must not end it again
            self._finish(recorder, request, environ, True)
            raise
        return exchange

    if not _COMPILED_CALL:
        __call__ = _call_python

    def _answer_control(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        assert self.control is not None
        answer = self.control.handle(
            environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""),
            environ.get("REMOTE_ADDR"), lambda name: environ.get(wsgi_header_key(name)),
        )
        body = answer.encoded()
        start_response(answer.status_line, [("Content-Type", "application/json"),
                                            ("Content-Length", str(len(body)))])
        return [body]

    def _begin(self, recorder: Recorder, environ: dict) -> Optional[ActiveRequest]:
        try:
            test_id = environ.get(self._id_key)
            test_id = clean_test_id(test_id) if test_id else ""
            test_set = environ.get(self._test_set_key)
            test_set = clean_test_id(test_set) if test_set else ""
            if self.identifies_tests:
                test_id, test_set = self.test_identity(test_id, test_set)
            return recorder.begin(
                method=environ.get("REQUEST_METHOD", ""),
                path=environ.get("PATH_INFO", "") or "/",
                test_id=test_id,
                test_set=test_set,
            )
        except Exception as error:
            self._begin_failed(error)
            return None

    @staticmethod
    def _begin_failed(error: BaseException) -> None:
        log_once("wsgi-begin", "requestcov: could not start recording a request", exc_info=error)

    def _finish(self, recorder: Recorder, request: ActiveRequest, environ: dict, error: bool) -> None:
        try:
            if request.route is None:
                # Flask (and other werkzeug apps) leave the request, with its
                # matched rule, in the environ.
                rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
                request.route = getattr(rule, "rule", None)
            if error and request.status is None:
                request.status = 500
            recorder.finish(request)
        except Exception:
            log_once("wsgi-finish", "requestcov: could not finish recording a request", exc_info=True)


Finish = Callable[[Recorder, ActiveRequest, dict, bool], None]


class _Exchange:
    """One request and its response: called as the app's ``start_response``,
    it notes the status; iterated and closed by the server, it is the body,
    and closing it ends the request through ``finish(recorder, request,
    environ, False)``. (One object made per request, where a closure and a
    wrapper would be two, with their cells.)

    The compiled core's ``WSGIExchange`` does the same in C; this class is
    its reference and the fallback (REQUESTCOV_CORE=python)."""

    __slots__ = ("body", "closed", "_request", "_start_response", "_finish", "_recorder", "_environ")

    def __init__(self, request: ActiveRequest, start_response: Callable, finish: Finish,
                 recorder: Recorder, environ: dict) -> None:
        self.body: Iterable[bytes] = ()
        #: The request was ended, or is ended elsewhere (the app raised).
        self.closed = False
        self._request = request
        self._start_response = start_response
        self._finish = finish
        self._recorder = recorder
        self._environ = environ

    def __call__(self, status: str, headers: list, exc_info: Any = None) -> Any:
        code = status.partition(" ")[0] if isinstance(status, str) else ""
        if code.isdigit() and code.isascii() and len(code) < 9:
            self._request.status = int(code)
        if exc_info is None:
            return self._start_response(status, headers)
        return self._start_response(status, headers, exc_info)

    def __iter__(self) -> Iterator[bytes]:
        yield from self.body
        self._request.body_sent = True

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self._end()

    def __del__(self) -> None:
        # A server that never calls close() (against PEP 3333) must not leave
        # the request in flight forever. During interpreter shutdown the
        # recorder has flushed already and no thread can start: do nothing.
        # (Not closed even when made with the wrong arguments: nothing to end.)
        if not getattr(self, "closed", True) and not sys.is_finalizing():
            self.closed = True
            self._end()

    def _end(self) -> None:
        try:
            self._finish(self._recorder, self._request, self._environ, False)
        except BaseException:
            # What the middleware lets out is an exception an app's signal
            # handler raised in the middle (SystemExit), and the server may
            # serve on: the request was answered, so what finish did not
            # queue is queued (once), and the first exception goes on.
            try:
                self._finish(self._recorder, self._request, self._environ, False)
            except BaseException:
                pass
            raise


def _exchange_class() -> Callable[..., Any]:
    """The compiled exchange, or this module's with the pure-Python core."""
    speedups = compiled_core()
    return getattr(speedups, "WSGIExchange", None) or _Exchange
