"""Requests for the compiled exchanges' tests: the recorder's own class, and
classes the exchanges must handle the long way (attributes in a dict, slots
of a base class)."""

from __future__ import annotations

from typing import Any, List, Optional

from requestcov.context import Collector
from requestcov.recorder import ActiveRequest


def new_request() -> ActiveRequest:
    return ActiveRequest(Collector(), None, "t", "", "GET", "/", 0.0, 0.0)


class NotedRequest:
    """A request of another class than the recorder's: attributes in a dict."""

    status: Optional[int] = None
    body_sent = False


class SubclassedRequest(ActiveRequest):
    __slots__ = ()


def requests_of_each_class() -> List[Any]:
    """The recorder's class, two others, then the recorder's again (learned
    anew after the others)."""
    return [new_request(), NotedRequest(), SubclassedRequest(Collector(), None, "t", "", "GET", "/", 0.0, 0.0),
            new_request()]
