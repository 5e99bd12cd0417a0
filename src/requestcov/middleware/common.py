"""What the WSGI and ASGI middleware share: options, the recorder, the default source."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, List, Optional

from requestcov.config import Config
from requestcov.engine.core import compiled_core
from requestcov.engine.source import is_third_party
from requestcov.log import log_once
from requestcov.middleware.control import ActiveTest, ControlEndpoint
from requestcov.recorder import Recorder, get_recorder

if TYPE_CHECKING:
    from requestcov.keploy.attribution import KeployAttribution

__all__ = ["RecordingMiddleware", "default_source_for", "middleware_bases"]

class RecordingMiddleware:
    """Options mirror the command line (see :meth:`Config.resolve`): ``source``,
    ``include``, ``omit``, ``db``, ``id_header``, ``test_set_header``,
    ``branch``, ``sample_rate``, ``sample_rules`` (``["GET /health*=0"]``),
    ``control``, ``control_remote``, ``keploy_agent``,
    ``keploy_control_socket`` and ``keploy_data_socket``; unset ones come
    from the ``REQUESTCOV_*`` environment variables."""

    def __init__(self, app: Any, **options: Any) -> None:
        self.app = app
        self.recorder: Optional[Recorder] = None
        self.control: Optional[ControlEndpoint] = None
        self.keploy: "Optional[KeployAttribution]" = None
        #: Whether a request may belong to a test its headers do not name
        #: (Keploy's agent, the control endpoint): else they say all, and
        #: :meth:`test_identity` is not called.
        self.identifies_tests = False
        try:
            self.config = Config.resolve(**options)
        except ValueError as error:
            # A bad option or REQUESTCOV_* value must not stop the app.
            log_once("config", "requestcov: %s; the app runs unmeasured", error)
            self.config = Config()
            return
        self.recorder = get_recorder(
            self.config, default_source_for(app) if self.config.source is None else []
        )
        if self.config.keploy_agent and self.recorder is not None:
            from requestcov.keploy.inprocess import attach  # only where Keploy drives the tests

            self.keploy = attach(self.config, self.recorder.db_path)
        if self.config.control and self.recorder is not None:
            # The token is read here and never kept in the config, which is
            # passed to child processes and may be logged.
            self.control = ControlEndpoint(
                ActiveTest(self.recorder.db_path), os.environ.get("REQUESTCOV_TOKEN"), self.config.control_remote,
            )
            if not os.environ.get("REQUESTCOV_TOKEN"):
                log_once("control-token", "requestcov: the test-control endpoint is on but REQUESTCOV_TOKEN "
                         "is not set; it refuses every request")
        self.identifies_tests = self.keploy is not None or self.control is not None

    def compiled_request_path(self, twin_in_use: bool) -> Any:
        """The recorder's compiled request path when the compiled call may
        take requests, else None: every call is then ``_call_python``'s (no
        recorder, a control endpoint or Keploy's agent that may name a test,
        the pure-Python request path, or the Python twin of the part the
        compiled call makes, ``twin_in_use``)."""
        recorder = self.recorder
        path = getattr(recorder, "_path", None)
        if recorder is None or path is None or self.identifies_tests or self.control is not None or twin_in_use:
            return None
        return path

    def test_identity(self, test_id: str, test_set: str) -> "tuple[str, str]":
        """A request's own test id wins; without one it belongs to the test
        Keploy's agent protocol made current, else to the one started through
        the control endpoint, if any."""
        if self.keploy is not None:
            test_id, test_set = self.keploy.identify(test_id, test_set)
        if test_id or self.control is None:
            return test_id, test_set
        return self.control.active.current() or (test_id, test_set)


def default_source_for(app: Any) -> List[str]:
    """Where the app lives: its root folder when the framework knows it (Flask),
    else the folder of the first caller outside requestcov and installed
    packages, else the working directory."""
    for candidate in (app, getattr(app, "__self__", None)):
        root = getattr(candidate, "root_path", None)
        if isinstance(root, str) and os.path.isdir(root):
            return [root]
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if (
            not frame.f_code.co_filename.startswith("<")
            and not is_third_party(filename)
        ):
            return [os.path.dirname(filename)]
        frame = frame.f_back  # type: ignore[assignment]
    return [os.getcwd()]


def middleware_bases(call_type: str) -> "tuple[type, ...]":
    """The bases of a middleware whose call the compiled core has in C
    (``WSGICall``, ``ASGICall``: the C type first, for its layout), or just
    :class:`RecordingMiddleware` with the pure-Python core."""
    compiled = getattr(compiled_core(), call_type, None)
    return (RecordingMiddleware,) if compiled is None else (compiled, RecordingMiddleware)
