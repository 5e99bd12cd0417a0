"""Quart: served by hypercorn (``quart run``, ``app.run()``, ``hypercorn
app:app``; see :mod:`.hypercorn`) or any ASGI server, recorded by the ASGI
middleware; its routes are named by a ``before_request`` function, as Flask's
are (:mod:`.flask`), from the matched URL rule (``/users/<int:user_id>``).

The function is async, so Quart runs it on the request's own task rather than
on a thread of its executor, and it goes first among the app's
``before_request`` functions: one of the app's that answers the request
itself (a login check) stops the others, and the route is named by then.
"""

from __future__ import annotations

from typing import Any, Optional

from requestcov.integrations._patching import is_instance_of
from requestcov.log import log_once
from requestcov.middleware import ASGIMiddleware
from requestcov.recorder import set_route

__all__ = ["adopt"]


def adopt(app: Any) -> Optional[Any]:
    if not is_instance_of(app, "quart", "Quart"):
        return None
    functions = app.before_request_funcs.setdefault(None, [])
    if _name_route not in functions:
        functions.insert(0, _name_route)
    return ASGIMiddleware(app)


async def _name_route() -> None:
    """Runs before each view (after URL matching); returns None so Quart goes on."""
    try:
        from quart import request

        rule = request.url_rule
        if rule is not None:
            set_route(rule.rule)
    except Exception:
        log_once("quart-route", "requestcov: could not read the Quart route of a request", exc_info=True)
