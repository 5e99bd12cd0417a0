"""Record a Flask app in one line: ``RequestCov(app)`` or ``RequestCov().init_app(app)``
(public as ``requestcov.flask``).

The adapter wraps ``app.wsgi_app`` (not the Flask object), so anything the app
itself layers around its WSGI callable is recorded too, and names each
request's route from the matched URL rule (``/users/<int:user_id>``), which is
what groups requests of one endpoint in the analyses. Under ``requestcov run``
the server (werkzeug, gunicorn, waitress, ...) hands the Flask object to
:func:`adopt`, which attaches the adapter.
"""

from __future__ import annotations

from typing import Any, Optional

from requestcov.config import Config
from requestcov.integrations._patching import is_instance_of
from requestcov.log import log_once
from requestcov.middleware import WSGIMiddleware
from requestcov.middleware.common import RecordingMiddleware
from requestcov.recorder import set_route

__all__ = ["RequestCov", "is_recorded", "adopt"]

#: Key of the adapter in ``app.extensions``.
EXTENSION_NAME = "requestcov"


def is_recorded(app: Any) -> bool:
    """Whether a Flask app already records its requests (adapter or middleware)."""
    extensions = getattr(app, "extensions", None)
    if isinstance(extensions, dict) and EXTENSION_NAME in extensions:
        return True
    return isinstance(getattr(app, "wsgi_app", None), RecordingMiddleware)


class RequestCov:
    """Flask extension; options are the middleware's (``source``, ``include``,
    ``omit``, ``db``, ``id_header``, ``branch``, ``sample_rate``, ... : see
    :meth:`requestcov.Config.resolve`).

    Without ``source`` (here or in ``REQUESTCOV_SOURCE``) the app's
    ``root_path`` is measured.
    """

    def __init__(self, app: Any = None, **options: Any) -> None:
        #: Recording options, as :meth:`requestcov.Config.resolve` takes them.
        self.options = options
        self.middleware: Optional[WSGIMiddleware] = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Any) -> None:
        """Wrap ``app.wsgi_app`` once and name routes; a second call does nothing."""
        if is_recorded(app):
            return
        options = dict(self.options)
        if options.get("source") is None and Config.from_environment().source is None:
            options["source"] = [app.root_path]
        self.middleware = WSGIMiddleware(app.wsgi_app, **options)
        app.wsgi_app = self.middleware
        app.before_request(_name_route)
        app.extensions[EXTENSION_NAME] = self


#: How many ``.app`` links to follow to find the Flask object inside wrappers.
_MAX_DEPTH = 8


def adopt(app: Any) -> Optional[Any]:
    """A Flask object records through the adapter, which also names its routes.

    It may come inside WSGI wrappers that keep it in ``.app``: werkzeug's
    debugger (``app.run(debug=True)``, ``flask run --debug``), ``ProxyFix``,
    ``SharedDataMiddleware``. The adapter then goes on the Flask object
    inside and the wrappers are served as they are.
    """
    current = app
    for _ in range(_MAX_DEPTH):
        if current is None:
            return None
        if is_instance_of(current, "flask", "Flask"):
            RequestCov(current)
            return app
        current = getattr(current, "app", None)
    return None


def _name_route() -> None:
    """Runs before each view (after URL matching) and names the request's route.

    Returns None so Flask carries on with the view.
    """
    try:
        from flask import request

        rule = request.url_rule
        if rule is not None:
            set_route(rule.rule)
    except Exception:
        log_once("flask-route", "requestcov: could not read the Flask route of a request", exc_info=True)
