"""Wrap the app where each server picks it up, by patching the server's modules
as they are imported.

An import hook (:class:`PatchingFinder`) watches for a handful of module names;
when one of them has executed, its patch replaces one function with a version
that wraps the app on its way in. Nothing is imported early, so a server that
is not used is not touched, and the patches see the same module objects the
server does.

=============================  ===============================================
Module                         Where the app goes in
=============================  ===============================================
werkzeug.serving               ``make_server`` (``app.run()``, ``flask run``)
wsgiref.simple_server          ``make_server`` (Bottle's default server)
gunicorn.util                  ``import_app`` (``gunicorn module:app``)
uvicorn.config                 ``Config.load`` (``uvicorn module:app``, ``uvicorn.run``)
django.core.servers.basehttp   ``run`` (``manage.py runserver``)
django.core.handlers.base      ``load_middleware``: adds the route-naming middleware
waitress                       ``serve`` (``waitress-serve``, ``waitress.serve``)
hypercorn.utils                ``load_application`` (``hypercorn module:app``)
django.utils.autoreload        SIGTERM, SIGINT reach the reloaded child
werkzeug._reloader             SIGTERM, SIGINT reach the reloaded child
=============================  ===============================================
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Callable, Dict, Optional, Sequence, Set

from requestcov.engine.imports import find_spec_skipping
from requestcov.launcher.reloader import forward_stop_signals_while
from requestcov.launcher.wrapping import wrap_application, wrap_asgi, wrap_wsgi
from requestcov.log import log_once

__all__ = ["PatchingFinder", "install", "PATCHES"]

_WRAPPED_MARK = "__requestcov_wrapped__"


def _mark(function: Callable[..., Any]) -> Callable[..., Any]:
    setattr(function, _WRAPPED_MARK, True)
    return function


def _is_wrapped(function: Any) -> bool:
    return bool(getattr(function, _WRAPPED_MARK, False))


def _replace_argument(
    function: Callable[..., Any], name: str, wrap: Callable[[Any], Any]
) -> Callable[..., Any]:
    """``function`` with its argument ``name`` passed through ``wrap`` first."""
    if _is_wrapped(function):
        return function
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return function(*args, **kwargs)
        if name in bound.arguments:
            bound.arguments[name] = wrap(bound.arguments[name])
        return function(*bound.args, **bound.kwargs)

    return _mark(wrapper)


def _replace_result(function: Callable[..., Any], wrap: Callable[[Any], Any]) -> Callable[..., Any]:
    if _is_wrapped(function):
        return function

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return wrap(function(*args, **kwargs))

    return _mark(wrapper)


# -- one patch per server module ------------------------------------------------


def _patch_werkzeug_serving(module: ModuleType) -> None:
    module.make_server = _replace_argument(module.make_server, "app", wrap_wsgi)


def _patch_wsgiref(module: ModuleType) -> None:
    module.make_server = _replace_argument(module.make_server, "app", wrap_wsgi)


def _patch_gunicorn_util(module: ModuleType) -> None:
    module.import_app = _replace_result(module.import_app, wrap_application)


def _patch_uvicorn_config(module: ModuleType) -> None:
    config_class = module.Config
    original_load = config_class.load
    if _is_wrapped(original_load):
        return

    @functools.wraps(original_load)
    def load(self: Any) -> None:
        original_load(self)
        try:
            _wrap_uvicorn_app(self)
        except Exception:
            log_once("uvicorn-wrap", "requestcov: could not wrap the uvicorn app; it runs unmeasured",
                     exc_info=True)

    config_class.load = _mark(load)


def _wrap_uvicorn_app(config: Any) -> None:
    """Wrap the user's app inside uvicorn's own adapters.

    uvicorn puts its middleware (proxy headers, message logging, the WSGI and
    ASGI 2 adapters) around the app; each keeps the next in ``.app``. A WSGI
    app is wrapped *inside* uvicorn's WSGI adapter, on the worker thread that
    runs it, so its lines land in its request; anything else gets the ASGI
    middleware innermost-but-ASGI-3.
    """
    parent: Any = None
    current: Any = config.loaded_app
    while type(current).__module__.startswith("uvicorn.middleware"):
        name = type(current).__name__
        if name == "WSGIMiddleware":
            current.app = wrap_wsgi(current.app)
            return
        if name == "ASGI2Middleware":
            break
        parent, current = current, getattr(current, "app", None)
        if current is None:
            return
    wrapped = wrap_asgi(current)
    if parent is None:
        config.loaded_app = wrapped
    else:
        parent.app = wrapped


def _patch_django_basehttp(module: ModuleType) -> None:
    module.run = _replace_argument(module.run, "wsgi_handler", wrap_wsgi)


def _patch_django_handlers(module: ModuleType) -> None:
    """Put requestcov's Django middleware first, so requests get their route.

    It sees the request the WSGI/ASGI wrapper around the handler is already
    recording and only names its route; a project that lists it already is
    left as it is.
    """
    handler_class = module.BaseHandler
    original = handler_class.load_middleware
    if _is_wrapped(original):
        return

    @functools.wraps(original)
    def load_middleware(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            from django.conf import settings

            from requestcov.django import MIDDLEWARE_PATH

            middleware = list(settings.MIDDLEWARE)
            if MIDDLEWARE_PATH not in middleware:
                settings.MIDDLEWARE = [MIDDLEWARE_PATH] + middleware
        except Exception:
            log_once("django-middleware", "requestcov: could not add the Django middleware; routes are not named",
                     exc_info=True)
        return original(self, *args, **kwargs)

    handler_class.load_middleware = _mark(load_middleware)


def _patch_django_autoreload(module: ModuleType) -> None:
    module.restart_with_reloader = forward_stop_signals_while(module.restart_with_reloader)


def _patch_werkzeug_reloader(module: ModuleType) -> None:
    loop_class = module.ReloaderLoop
    loop_class.restart_with_reloader = forward_stop_signals_while(loop_class.restart_with_reloader)


def _patch_waitress(module: ModuleType) -> None:
    module.serve = _replace_argument(module.serve, "app", wrap_application)


def _patch_hypercorn_utils(module: ModuleType) -> None:
    """hypercorn loads ``module:app`` in each worker with ``load_application``
    and wraps it in its own adapter (which hands us a WSGI or ASGI app)."""
    module.load_application = _replace_result(module.load_application, _wrap_hypercorn_app)


def _wrap_hypercorn_app(app: Any) -> Any:
    """hypercorn's ``WSGIWrapper``/``ASGIWrapper`` keep the user's app in ``.app``."""
    inner = getattr(app, "app", None)
    name = type(app).__name__
    if inner is not None and name in ("WSGIWrapper", "ASGIWrapper"):
        app.app = wrap_wsgi(inner) if name == "WSGIWrapper" else wrap_asgi(inner)
        return app
    return wrap_application(app)


#: Module name -> patch applied right after the module has executed.
PATCHES: Dict[str, Callable[[ModuleType], None]] = {
    "werkzeug.serving": _patch_werkzeug_serving,
    "werkzeug._reloader": _patch_werkzeug_reloader,
    "wsgiref.simple_server": _patch_wsgiref,
    "gunicorn.util": _patch_gunicorn_util,
    "uvicorn.config": _patch_uvicorn_config,
    "django.core.servers.basehttp": _patch_django_basehttp,
    "django.core.handlers.base": _patch_django_handlers,
    "django.utils.autoreload": _patch_django_autoreload,
    "waitress": _patch_waitress,
    "hypercorn.utils": _patch_hypercorn_utils,
}


def _apply(name: str, module: ModuleType) -> None:
    try:
        PATCHES[name](module)
    except Exception:
        log_once(f"patch-{name}", "requestcov: could not patch %s; its app may run unmeasured", name,
                 exc_info=True)


class PatchingFinder(MetaPathFinder):
    """Finds nothing itself: it asks the other finders for a watched module's
    spec and makes the loader apply the patch after executing the module."""

    def __init__(self) -> None:
        self._busy = threading.local()

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target: Any = None
    ) -> Optional[ModuleSpec]:
        if fullname not in PATCHES:
            return None
        busy: Set[str] = getattr(self._busy, "names", None) or set()
        if fullname in busy:  # another finder asking the meta path on our behalf
            return None
        self._busy.names = busy | {fullname}
        try:
            spec = self._find_with_others(fullname, path, target)
        finally:
            self._busy.names = busy
        loader = spec.loader if spec is not None else None
        # A loader that is a class (built-in and frozen modules) serves many
        # modules: none of the watched ones, and patching it would touch all.
        if loader is None or inspect.isclass(loader) or not hasattr(loader, "exec_module"):
            return spec
        self._patch_after_exec(spec.loader, fullname)
        return spec

    def _find_with_others(self, fullname: str, path: Optional[Sequence[str]], target: Any) -> Optional[ModuleSpec]:
        return find_spec_skipping(PatchingFinder, fullname, path, target)

    @staticmethod
    def _patch_after_exec(loader: Any, fullname: str) -> None:
        original = loader.exec_module
        if _is_wrapped(original):
            return

        def exec_module(module: ModuleType) -> None:
            original(module)
            if module.__name__ == fullname:
                _apply(fullname, module)

        loader.exec_module = _mark(exec_module)


def install() -> None:
    """Watch for server modules; patch the ones imported already right away."""
    if any(isinstance(finder, PatchingFinder) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, PatchingFinder())
    for name in PATCHES:
        module = sys.modules.get(name)
        if module is not None:
            _apply(name, module)
