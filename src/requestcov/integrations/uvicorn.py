"""uvicorn (``uvicorn module:app``, ``uvicorn.run(app)``, with ``--workers``
and ``--reload``): the app goes in at ``uvicorn.config.Config.load``, in each
process that serves.

uvicorn's own handlers take SIGTERM and SIGINT; after its shutdown it raises
the signal again, which kills the process without ``atexit``, so the ASGI
middleware writes the last records when the lifespan ends.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from requestcov.integrations._patching import is_wrapped, mark
from requestcov.launcher.wrapping import wrap_asgi, wrap_wsgi
from requestcov.log import log_once

__all__ = ["PATCHES"]


def _patch_config(module: ModuleType) -> None:
    config_class = module.Config
    original_load = config_class.load
    if is_wrapped(original_load):
        return

    @functools.wraps(original_load)
    def load(self: Any) -> None:
        original_load(self)
        try:
            _wrap_loaded_app(self)
        except Exception:
            log_once("uvicorn-wrap", "requestcov: could not wrap the uvicorn app; it runs unmeasured",
                     exc_info=True)

    config_class.load = mark(load)


def _wrap_loaded_app(config: Any) -> None:
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


PATCHES = {"uvicorn.config": _patch_config}
