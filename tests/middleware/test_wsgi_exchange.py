"""The WSGI exchange, compiled (``_speedups.WSGIExchange``) and in Python
(``middleware.wsgi._Exchange``): the same start_response, body, close and end
of the request, the way a WSGI server and app use them (the middleware with
each on a real server: tests/middleware/test_wsgi.py)."""

from __future__ import annotations

import gc
import sys
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest

from requestcov.engine.core import compiled_core
from requestcov.middleware import wsgi
from requestcov.recorder import ActiveRequest
from tests.middleware.exchange_requests import new_request, requests_of_each_class


def _compiled() -> Any:
    speedups = compiled_core()
    assert speedups is not None, "the compiled core (requestcov.engine._speedups) was not built"
    return speedups.WSGIExchange


@pytest.fixture(params=["compiled", "python"])
def exchange_class(request: pytest.FixtureRequest) -> Any:
    return _compiled() if request.param == "compiled" else wsgi._Exchange


class Ends:
    """The middleware's side: each end of a request, as ``finish`` got it."""

    def __init__(self, fails: int = 0) -> None:
        self.calls: List[Tuple[Any, ActiveRequest, dict, bool]] = []
        #: How many of the first calls raise.
        self.fails = fails

    def __call__(self, recorder: Any, request: ActiveRequest, environ: dict, error: bool) -> None:
        self.calls.append((recorder, request, environ, error))
        if len(self.calls) <= self.fails:
            raise RuntimeError(f"finish failed ({len(self.calls)})")


class Server:
    """A server's start_response: what it was called with."""

    def __init__(self) -> None:
        self.calls: List[tuple] = []

    def __call__(self, *args: Any) -> Callable[[bytes], None]:
        self.calls.append(args)
        return self.write

    def write(self, data: bytes) -> None:
        pass


def make(exchange_class: Any, ends: Optional[Ends] = None) -> Tuple[Any, ActiveRequest, Server, Ends, dict]:
    request, server, ends, environ = new_request(), Server(), ends or Ends(), {"PATH_INFO": "/"}
    return exchange_class(request, server, ends, "recorder", environ), request, server, ends, environ


@pytest.mark.parametrize("status, code", [
    ("200 OK", 200), ("404 Not Found", 404), ("204", 204), ("599 Whatever it says", 599),
    ("abc", None), ("", None), (" 200 OK", None), ("2x0 OK", None), ("+200 OK", None), ("123456789 Long", None),
])
def test_start_response_notes_the_status_and_hands_the_call_on(exchange_class: Any, status: str,
                                                                code: Optional[int]) -> None:
    exchange, request, server, _, _ = make(exchange_class)
    assert exchange(status, [("Content-Type", "text/plain")]) == server.write
    assert request.status == code
    assert server.calls == [(status, [("Content-Type", "text/plain")])]


def test_exc_info_goes_to_the_server_only_when_given(exchange_class: Any) -> None:
    exchange, request, server, _, _ = make(exchange_class)
    error = (ValueError, ValueError("x"), None)
    exchange("500 Internal Server Error", [], error)
    exchange(status="200 OK", headers=[], exc_info=None)
    assert server.calls == [("500 Internal Server Error", [], error), ("200 OK", [])]
    assert request.status == 200
    with pytest.raises(TypeError):
        exchange("200 OK")
    assert exchange(b"200 OK", []) == server.write  # not a str: handed on, no status noted
    assert request.status == 200


def test_start_response_and_the_exchange_are_called_any_way_python_allows(exchange_class: Any) -> None:
    """Servers and apps call positionally (the compiled path parses nothing
    then); keywords, a mix and wrong calls behave as for the Python class."""
    exchange, request, server, _, _ = make(exchange_class)
    exchange("201 Created", [], None)
    exchange("202 Accepted", headers=[("X", "1")])
    assert server.calls == [("201 Created", []), ("202 Accepted", [("X", "1")])]
    assert request.status == 202
    for wrong in (lambda: exchange("200 OK", [], None, "extra"), lambda: exchange("200 OK", [], status="x"),
                  lambda: exchange("200 OK", [], colour="red")):
        with pytest.raises(TypeError):
            wrong()
    request, ends, environ = new_request(), Ends(), {}
    made = exchange_class(request=request, start_response=server, finish=ends, recorder="recorder", environ=environ)
    made.body = [b"x"]
    made.close()
    assert ends.calls == [("recorder", request, environ, False)]
    with pytest.raises(TypeError):
        exchange_class(request, server, ends, "recorder")
    with pytest.raises(TypeError):
        exchange_class(request, server, ends, "recorder", environ, "extra")


def test_the_body_is_sent_once_iterated_to_its_end(exchange_class: Any) -> None:
    exchange, request, _, ends, _ = make(exchange_class)
    assert list(exchange) == [] and request.body_sent  # the body before the app returned: ()
    exchange, request, _, ends, _ = make(exchange_class)
    exchange.body = (chunk for chunk in [b"a", b"b"])
    iterator = iter(exchange)
    assert next(iterator) == b"a" and not request.body_sent
    assert list(iterator) == [b"b"] and request.body_sent
    assert ends.calls == []


def test_a_body_that_fails_leaves_the_request_unsent(exchange_class: Any) -> None:
    def failing() -> Iterator[bytes]:
        yield b"a"
        raise OSError("client went away")

    exchange, request, _, _, _ = make(exchange_class)
    exchange.body = failing()
    with pytest.raises(OSError, match="client went away"):
        list(exchange)
    assert not request.body_sent
    exchange.body = 7  # not iterable: the server's loop over the body fails as it would without us
    with pytest.raises(TypeError):
        list(exchange)
    assert not request.body_sent


class Body:
    def __init__(self, fails: bool = False) -> None:
        self.closed = 0
        self.fails = fails

    def __iter__(self) -> Iterator[bytes]:
        yield b"chunk"

    def close(self) -> None:
        self.closed += 1
        if self.fails:
            raise RuntimeError("body close failed")


def test_close_closes_the_body_then_ends_the_request_once(exchange_class: Any) -> None:
    exchange, request, _, ends, environ = make(exchange_class)
    exchange.body = body = Body()
    assert list(exchange) == [b"chunk"]
    exchange.close()
    exchange.close()
    assert body.closed == 1 and exchange.closed
    assert ends.calls == [("recorder", request, environ, False)]
    del exchange
    gc.collect()
    assert len(ends.calls) == 1  # freed after close: not ended again


def test_a_body_without_close_and_one_whose_close_fails(exchange_class: Any) -> None:
    exchange, request, _, ends, _ = make(exchange_class)
    exchange.body = [b"x"]
    exchange.close()
    assert len(ends.calls) == 1
    exchange, request, _, ends, _ = make(exchange_class)
    exchange.body = body = Body(fails=True)
    with pytest.raises(RuntimeError, match="body close failed"):
        exchange.close()
    assert body.closed == 1 and len(ends.calls) == 1  # ended all the same


def test_an_end_that_fails_is_tried_once_more_and_the_servers_to_see(exchange_class: Any) -> None:
    """What comes out of finish is what the middleware does not catch: an
    exception an app's signal handler raised in the middle of it. The
    request was answered, so finish goes on once more (it queues what the
    first call did not); the server sees the first exception, as if the
    middleware were not there."""
    for fails in (1, 2):
        exchange, request, _, ends, environ = make(exchange_class, Ends(fails=fails))
        with pytest.raises(RuntimeError, match=r"finish failed \(1\)"):
            exchange.close()
        assert ends.calls == [("recorder", request, environ, False)] * 2
        exchange.close()
        assert len(ends.calls) == 2  # closed: not ended again


def test_an_exchange_never_closed_ends_its_request_when_freed(exchange_class: Any) -> None:
    exchange, request, _, ends, environ = make(exchange_class)
    exchange.body = [b"x"]
    list(exchange)
    del exchange
    gc.collect()
    assert ends.calls == [("recorder", request, environ, False)]
    # In a reference cycle (the app kept start_response in the environ), the collector ends it.
    exchange, request, _, ends, environ = make(exchange_class)
    environ["start_response"] = exchange
    del exchange, environ
    assert ends.calls == []
    gc.collect()
    assert len(ends.calls) == 1 and ends.calls[0][1] is request


def test_an_exchange_ended_elsewhere_is_not_ended_when_freed(exchange_class: Any) -> None:
    exchange, _, _, ends, _ = make(exchange_class)
    exchange.closed = True  # the app raised: the middleware ended the request itself
    del exchange
    gc.collect()
    assert ends.calls == []


def test_an_end_that_fails_while_freeing_is_reported_not_raised(exchange_class: Any) -> None:
    unraisable: List[Any] = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        exchange, _, _, ends, _ = make(exchange_class, Ends(fails=2))
        del exchange
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert len(ends.calls) == 2
    assert len(unraisable) == 1 and isinstance(unraisable[0].exc_value, RuntimeError)


def test_requests_of_other_classes_in_turn_are_noted_alike(exchange_class: Any) -> None:
    """The compiled exchange writes the recorder's request at its slots'
    offsets, learned from its class; a request of any other class
    (attributes in a dict, or slots of a base class) goes through setattr,
    and the recorder's class after it is learned again."""
    for number, request in enumerate(requests_of_each_class()):
        exchange = exchange_class(request, Server(), Ends(), "recorder", {})
        exchange(f"{200 + number} OK", [])
        exchange.body = [b"x"]
        assert list(exchange) == [b"x"]
        exchange.close()
        assert (request.status, request.body_sent) == (200 + number, True)
