"""Wrap the app a server is about to serve, once, with the right middleware.

Servers hand us whatever the user wrote: a Flask or Bottle object, a Django
handler, a Starlette/FastAPI app, any WSGI or ASGI callable, possibly one that
already records (the user added requestcov's middleware themselves). Each gets
the wrapping that also names its routes; an app that already records is
returned unchanged, so no request is ever recorded twice.
"""

from __future__ import annotations

import inspect
from typing import Any

from requestcov.log import log_once
from requestcov.middleware import ASGIMiddleware, WSGIMiddleware
from requestcov.middleware.common import RecordingMiddleware

__all__ = ["wrap_application", "wrap_wsgi", "wrap_asgi", "already_recorded", "looks_asgi"]

#: How many ``.app`` links to follow when looking for a recording middleware.
_MAX_DEPTH = 32


def looks_asgi(app: Any) -> bool:
    """ASGI 3 apps are coroutine functions or objects with an async ``__call__``."""
    if inspect.isclass(app):
        return False
    if inspect.iscoroutinefunction(app):
        return True
    return inspect.iscoroutinefunction(getattr(app, "__call__", None))


def already_recorded(app: Any) -> bool:
    """Whether requestcov's middleware sits anywhere in the app's wrapper chain."""
    seen = 0
    current = app
    while current is not None and seen < _MAX_DEPTH:
        if isinstance(current, RecordingMiddleware):
            return True
        if isinstance(getattr(current, "wsgi_app", None), RecordingMiddleware):
            return True
        extensions = getattr(current, "extensions", None)
        if isinstance(extensions, dict) and "requestcov" in extensions:
            return True
        for middleware in getattr(current, "user_middleware", None) or ():
            middleware_class = getattr(middleware, "cls", None)
            if inspect.isclass(middleware_class) and issubclass(middleware_class, RecordingMiddleware):
                return True
        current = getattr(current, "app", None)
        seen += 1
    return False


def wrap_application(app: Any) -> Any:
    """Wrap a WSGI or ASGI app, whichever it is."""
    return wrap_asgi(app) if looks_asgi(app) else wrap_wsgi(app)


def wrap_wsgi(app: Any) -> Any:
    """The WSGI app to serve instead of ``app``; never raises."""
    try:
        if app is None or already_recorded(app):
            return app
        from requestcov.integrations import adopt

        adopted = adopt(app)
        return adopted if adopted is not None else WSGIMiddleware(app)
    except Exception:
        log_once("launcher-wrap", "requestcov: could not wrap the app; it runs unmeasured", exc_info=True)
        return app


def wrap_asgi(app: Any) -> Any:
    """The ASGI app to serve instead of ``app``; never raises.

    Starlette and FastAPI leave the matched route in the scope; Django (ASGI)
    gets its route from the middleware :mod:`requestcov.integrations.django`
    adds to ``MIDDLEWARE``.
    """
    try:
        if app is None or already_recorded(app):
            return app
        from requestcov.integrations import adopt

        adopted = adopt(app)
        return adopted if adopted is not None else ASGIMiddleware(app)
    except Exception:
        log_once("launcher-wrap", "requestcov: could not wrap the app; it runs unmeasured", exc_info=True)
        return app
