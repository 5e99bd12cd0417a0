"""Falcon, WSGI (``falcon.App`` under gunicorn, waitress, ...) and ASGI
(``falcon.asgi.App`` under uvicorn, hypercorn): recorded by the WSGI or ASGI
middleware, its routes named by a Falcon middleware component.

Falcon keeps the matched route on its request object (``req.uri_template``,
``/users/{user_id:int}``), which the WSGI environ and the ASGI scope never see;
so :func:`adopt` adds a component (through ``add_middleware``, the public way,
before the first request) whose ``process_resource`` names the route once
routing is done, before the responder runs. ``process_response`` names it too,
for a request whose resource step another component cut short.
"""

from __future__ import annotations

from typing import Any, Optional

from requestcov.integrations._patching import is_instance_of
from requestcov.log import log_once
from requestcov.middleware import ASGIMiddleware, WSGIMiddleware
from requestcov.recorder import current_request

__all__ = ["adopt", "RouteNaming"]


def adopt(app: Any) -> Optional[Any]:
    # falcon.asgi.App is a falcon.App: the ASGI one first.
    if is_instance_of(app, "falcon.asgi.app", "App"):
        _name_routes(app)
        return ASGIMiddleware(app)
    if is_instance_of(app, "falcon.app", "App"):
        _name_routes(app)
        return WSGIMiddleware(app)
    return None


def _name(req: Any) -> None:
    try:
        request = current_request()
        if request is not None and request.route is None:
            template = getattr(req, "uri_template", None)
            if isinstance(template, str) and template:
                request.route = template
    except Exception:
        log_once("falcon-route", "requestcov: could not read the Falcon route of a request", exc_info=True)


class RouteNaming:
    """A Falcon middleware component for WSGI and ASGI apps alike (Falcon picks
    the ``*_async`` methods for ASGI)."""

    def process_resource(self, req: Any, resp: Any, resource: Any, params: Any) -> None:
        _name(req)

    def process_response(self, req: Any, resp: Any, resource: Any, req_succeeded: bool) -> None:
        _name(req)

    async def process_resource_async(self, req: Any, resp: Any, resource: Any, params: Any) -> None:
        _name(req)

    async def process_response_async(self, req: Any, resp: Any, resource: Any, req_succeeded: bool) -> None:
        _name(req)


def _name_routes(app: Any) -> None:
    """Add the component once (an app may be offered again, by a reloading server)."""
    if any(isinstance(component, RouteNaming) for component in getattr(app, "_unprepared_middleware", ())):
        return
    add_middleware = getattr(app, "add_middleware", None)
    if add_middleware is None:  # Falcon before 3.0
        log_once("falcon-middleware", "requestcov: this Falcon has no add_middleware; routes are not named")
        return
    try:
        add_middleware(RouteNaming())
    except Exception:
        log_once("falcon-middleware", "requestcov: could not add the Falcon middleware; routes are not named",
                 exc_info=True)
