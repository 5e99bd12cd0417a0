"""Record a Django project by putting one line first in ``MIDDLEWARE``::

    MIDDLEWARE = ["requestcov.django.RequestCovMiddleware", ...]

A Django middleware runs inside the handler, after the request object is
built, so the request scope begins in the first middleware (as early as Django
lets an app in) and ends when the response is *closed*: Django's WSGI servers
close a response once its body is sent, streaming bodies included, and the
ASGI handler closes it after sending. Lines a streaming body runs while the
server sends it therefore belong to the request.

The middleware works in both of Django's modes (sync under ``runserver`` and
gunicorn, async under uvicorn), so it never forces Django to switch modes for
it. When a requestcov WSGI/ASGI middleware already records the request around
the whole handler (``requestcov run`` puts one there), this middleware only
names the request's route.

Options come from the ``REQUESTCOV_*`` environment variables; the default
source is ``settings.BASE_DIR`` when the project defines it.

Under ``requestcov run`` nothing needs adding: ``runserver`` hands its WSGI
handler to ``django.core.servers.basehttp.run``, which wraps it; the handler's
``load_middleware`` puts this middleware first, so requests recorded around
the whole handler get their route; and the autoreloader's parent passes
SIGTERM and SIGINT on to the serving child while it waits for it.
"""

from __future__ import annotations

import functools
import os
from types import ModuleType
from typing import Any, Awaitable, Callable, List, Optional

from requestcov.config import Config
from requestcov.integrations._patching import is_wrapped, mark, replace_argument
from requestcov.launcher.reloader import forward_stop_signals_while
from requestcov.launcher.wrapping import wrap_wsgi
from requestcov.log import log_once
from requestcov.middleware.testid import clean_test_id, wsgi_header_key
from requestcov.recorder import ActiveRequest, Recorder, current_request, get_recorder

__all__ = ["RequestCovMiddleware", "MIDDLEWARE_PATH", "PATCHES"]

#: What goes into ``settings.MIDDLEWARE``.
MIDDLEWARE_PATH = "requestcov.django.RequestCovMiddleware"


def _default_source() -> List[str]:
    try:
        from django.conf import settings

        base = getattr(settings, "BASE_DIR", None)
    except Exception:  # settings not configured: measure where the server runs
        base = None
    if base is not None and os.path.isdir(os.fspath(base)):
        return [os.fspath(base)]
    return [os.getcwd()]


def _route_of(request: Any) -> Optional[str]:
    """The URL pattern that matched (``users/<int:user_id>``), None for a 404."""
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    return route if isinstance(route, str) and route else None


class RequestCovMiddleware:
    """Django middleware (sync and async capable) recording each request."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction

        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        self.config = Config.resolve()
        self._id_key = wsgi_header_key(self.config.id_header)
        self._test_set_key = wsgi_header_key(self.config.test_set_header)
        self.recorder: Optional[Recorder] = get_recorder(
            self.config, _default_source() if self.config.source is None else []
        )

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self._call_async(request)
        outer = _outer_request()
        active = None if outer is not None else self._begin(request)
        if active is None:
            response = self.get_response(request)
            if outer is not None:
                self._name_route(outer, request)
            return response
        try:
            response = self.get_response(request)
        except BaseException:
            self._finish_now(active, request, status=500)
            raise
        self._finish_on_close(active, request, response)
        return response

    async def _call_async(self, request: Any) -> Any:
        get_response: Callable[[Any], Awaitable[Any]] = self.get_response
        outer = _outer_request()
        active = None if outer is not None else self._begin(request)
        if active is None:
            response = await get_response(request)
            if outer is not None:
                self._name_route(outer, request)
            return response
        try:
            response = await get_response(request)
        except BaseException:
            self._finish_now(active, request, status=500)
            raise
        self._finish_on_close(active, request, response)
        return response

    # -- recording --------------------------------------------------------

    def _begin(self, request: Any) -> Optional[ActiveRequest]:
        recorder = self.recorder
        if recorder is None:
            return None
        try:
            meta = request.META
            return recorder.begin(
                method=str(request.method or ""),
                path=str(request.path_info or request.path or "/"),
                test_id=clean_test_id(meta.get(self._id_key)),
                test_set=clean_test_id(meta.get(self._test_set_key)),
            )
        except Exception:
            log_once("django-begin", "requestcov: could not start recording a Django request", exc_info=True)
            return None

    def _name_route(self, active: ActiveRequest, request: Any) -> None:
        try:
            if active.route is None:
                active.route = _route_of(request)
        except Exception:
            log_once("django-route", "requestcov: could not read the Django route of a request", exc_info=True)

    def _finish_on_close(self, active: ActiveRequest, request: Any, response: Any) -> None:
        """End the request when Django closes the response, after its body is sent."""
        try:
            self._name_route(active, request)
            active.status = int(response.status_code)
            closers = getattr(response, "_resource_closers", None)
            if isinstance(closers, list):
                closers.append(lambda: self._finish_now(active, request, status=None))
                return
        except Exception:
            log_once("django-close", "requestcov: could not hook the end of a Django response", exc_info=True)
        self._finish_now(active, request, status=None)

    def _finish_now(self, active: ActiveRequest, request: Any, *, status: Optional[int]) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        try:
            self._name_route(active, request)
            recorder.finish(active, status=status)
        except Exception:
            log_once("django-finish", "requestcov: could not finish recording a Django request", exc_info=True)


def _outer_request() -> Optional[ActiveRequest]:
    """The request a requestcov middleware around the whole handler is recording."""
    request = current_request()
    if request is None or request.finished:
        return None
    return request


# -- under requestcov run ------------------------------------------------------


def _patch_basehttp(module: ModuleType) -> None:
    module.run = replace_argument(module.run, "wsgi_handler", wrap_wsgi)


def _patch_handlers(module: ModuleType) -> None:
    """Put requestcov's Django middleware first, so requests get their route.

    It sees the request the WSGI/ASGI wrapper around the handler is already
    recording and only names its route; a project that lists it already is
    left as it is.
    """
    handler_class = module.BaseHandler
    original = handler_class.load_middleware
    if is_wrapped(original):
        return

    @functools.wraps(original)
    def load_middleware(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            from django.conf import settings

            middleware = list(settings.MIDDLEWARE)
            if MIDDLEWARE_PATH not in middleware:
                settings.MIDDLEWARE = [MIDDLEWARE_PATH] + middleware
        except Exception:
            log_once("django-middleware", "requestcov: could not add the Django middleware; routes are not named",
                     exc_info=True)
        return original(self, *args, **kwargs)

    handler_class.load_middleware = mark(load_middleware)


def _patch_autoreload(module: ModuleType) -> None:
    module.restart_with_reloader = forward_stop_signals_while(module.restart_with_reloader)


PATCHES = {
    "django.core.servers.basehttp": _patch_basehttp,
    "django.core.handlers.base": _patch_handlers,
    "django.utils.autoreload": _patch_autoreload,
}
