"""hypercorn (``hypercorn module:app``): each worker loads the app with
``hypercorn.utils.load_application`` and puts it in its own adapter, which
hands us a WSGI or an ASGI app. Programs that serve an app object themselves
(Quart's ``app.run()`` and ``quart run``) hand it to ``hypercorn.asyncio.serve``
or ``hypercorn.trio.serve``, which wrap it on its way in."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from requestcov.integrations._patching import replace_argument, replace_result
from requestcov.launcher.wrapping import wrap_application, wrap_asgi, wrap_wsgi

__all__ = ["PATCHES"]


def _wrap_loaded(app: Any) -> Any:
    """hypercorn's ``WSGIWrapper``/``ASGIWrapper`` keep the user's app in ``.app``."""
    inner = getattr(app, "app", None)
    name = type(app).__name__
    if inner is not None and name in ("WSGIWrapper", "ASGIWrapper"):
        app.app = wrap_wsgi(inner) if name == "WSGIWrapper" else wrap_asgi(inner)
        return app
    return wrap_application(app)


def _patch_utils(module: ModuleType) -> None:
    module.load_application = replace_result(module.load_application, _wrap_loaded)


def _patch_serve(module: ModuleType) -> None:
    module.serve = replace_argument(module.serve, "app", wrap_application)


PATCHES = {"hypercorn.utils": _patch_utils, "hypercorn.asyncio": _patch_serve, "hypercorn.trio": _patch_serve}
