"""The recording side of frameworks that are neither WSGI nor ASGI (aiohttp,
Tornado): they hand over a request object, not an environ or a scope, so the
integration reads the method, path and headers itself and calls the recorder.

Options, the recorder, test ids and the test-control endpoint are the
middleware's (:class:`~requestcov.middleware.common.RecordingMiddleware`), so
an app recorded this way behaves exactly like a WSGI or ASGI one.
"""

from __future__ import annotations

from typing import Callable, Optional

from requestcov.log import log_once
from requestcov.middleware.control import CONTROL_PREFIX, ControlResponse
from requestcov.middleware.common import RecordingMiddleware
from requestcov.middleware.testid import clean_test_id
from requestcov.recorder import ActiveRequest

__all__ = ["FrameworkRecording", "Header"]

#: A request's header by name (case-insensitive), None when absent.
Header = Callable[[str], Optional[str]]


class FrameworkRecording(RecordingMiddleware):
    """One per recorded app; ``framework`` names it in log messages."""

    framework = "app"

    def begin(self, method: str, path: str, header: Header) -> Optional[ActiveRequest]:
        """Start recording in the calling context; None when not recording."""
        recorder = self.recorder
        if recorder is None:
            return None
        try:
            test_id, test_set = self.test_identity(
                clean_test_id(header(self.config.id_header)), clean_test_id(header(self.config.test_set_header)),
            )
            return recorder.begin(method=method, path=path or "/", test_id=test_id, test_set=test_set)
        except Exception:
            log_once(f"{self.framework}-begin", "requestcov: could not start recording a %s request",
                     self.framework, exc_info=True)
            return None

    def finish(self, request: ActiveRequest, *, status: Optional[int], route: Optional[str]) -> None:
        """Queue the request's record; a route the handler named itself (``set_route``) wins."""
        recorder = self.recorder
        if recorder is None:
            return
        try:
            if request.route is None:
                request.route = route
            recorder.finish(request, status=status)
        except Exception:
            log_once(f"{self.framework}-finish", "requestcov: could not finish recording a %s request",
                     self.framework, exc_info=True)

    def is_control(self, path: str) -> bool:
        return self.control is not None and path.startswith(CONTROL_PREFIX)

    def answer_control(
        self, method: str, path: str, query: str, client: Optional[str], header: Header
    ) -> ControlResponse:
        assert self.control is not None
        return self.control.handle(method, path, query, client, header)
