"""The ASGI send, compiled (``_speedups.RecordingSend``) and in Python
(``middleware.asgi._RecordingSend``): the same status and end of the body
noted from the same messages, and the server's awaitable handed back (the
middleware with each on a real server: tests/middleware/test_asgi.py)."""

from __future__ import annotations

import asyncio
from collections import UserDict
from typing import Any, List, Optional

import pytest

from requestcov.engine.core import compiled_core
from requestcov.middleware import asgi
from tests.middleware.exchange_requests import new_request, requests_of_each_class


@pytest.fixture(params=["compiled", "python"])
def send_class(request: pytest.FixtureRequest) -> Any:
    if request.param == "python":
        return asgi._RecordingSend
    speedups = compiled_core()
    assert speedups is not None, "the compiled core (requestcov.engine._speedups) was not built"
    return speedups.RecordingSend


class Server:
    """A server's send: each message, and an awaitable of its own per call."""

    def __init__(self) -> None:
        self.messages: List[Any] = []

    def __call__(self, message: Any) -> Any:
        self.messages.append(message)
        return asyncio.sleep(0)


def test_a_response_of_several_body_messages(send_class: Any) -> None:
    request, server = new_request(), Server()
    send = send_class(request, server)

    async def respond() -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})
        assert request.status == 201 and not request.body_sent
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        assert not request.body_sent
        await send({"type": "http.response.body", "body": b"b"})
        assert request.body_sent

    asyncio.run(respond())
    assert [message.get("body") for message in server.messages] == [None, b"a", b"b"]


@pytest.mark.parametrize("message, status, body_sent", [
    ({"type": "http.response.start", "status": "404"}, 404, False),
    ({"type": "http.response.start", "status": 200.0}, 200, False),
    ({"type": "http.response.start", "status": "teapot"}, None, False),
    ({"type": "http.response.start", "status": None}, None, False),
    ({"type": "http.response.start"}, None, False),
    ({"type": "http.response.body", "more_body": False}, None, True),
    ({"type": "http.response.body", "more_body": 0}, None, True),
    ({"type": "http.response.body", "more_body": None}, None, True),
    ({"type": "http.response.body", "more_body": 1}, None, False),
    ({"type": "http.response.trailers"}, None, False),
    ({"type": b"http.response.body"}, None, False),
    ({}, None, False),
    (UserDict({"type": "http.response.start", "status": 503}), 503, False),
    (UserDict({"type": "http.response.body"}), None, True),
])
def test_what_each_message_says_of_the_response(send_class: Any, message: Any, status: Optional[int],
                                                body_sent: bool) -> None:
    request, server = new_request(), Server()
    awaitable = send_class(request, server)(message)
    asyncio.run(awaitable)  # handed back as the server made it
    assert (request.status, request.body_sent) == (status, body_sent)
    assert server.messages == [message]


def test_it_takes_one_message_and_hands_on_the_servers_errors(send_class: Any) -> None:
    request = new_request()

    def refusing(message: Any) -> Any:
        raise ConnectionResetError("client gone")

    send = send_class(request, refusing)
    with pytest.raises(ConnectionResetError):
        send({"type": "http.response.start", "status": 200})
    assert request.status == 200
    with pytest.raises(TypeError):
        send()
    with pytest.raises(TypeError):
        send({}, {})


def test_it_is_made_any_way_python_allows(send_class: Any) -> None:
    """The middleware makes it positionally (the compiled path parses nothing
    then); keywords and wrong calls behave as for the Python class."""
    request, server = new_request(), Server()
    send = send_class(request=request, send=server)
    asyncio.run(send({"type": "http.response.start", "status": 204}))
    assert request.status == 204 and len(server.messages) == 1
    send_class(request, send=server)
    for wrong in (lambda: send_class(request), lambda: send_class(request, server, "extra"),
                  lambda: send_class(request, server, colour="red")):
        with pytest.raises(TypeError):
            wrong()


def test_requests_of_other_classes_in_turn_are_noted_alike(send_class: Any) -> None:
    """The compiled send writes the recorder's request at its slots' offsets,
    learned from its class; a request of any other class (attributes in a
    dict, or slots of a base class) goes through setattr, and the recorder's
    class after it is learned again."""
    for number, request in enumerate(requests_of_each_class()):
        server = Server()
        send = send_class(request, server)

        async def respond(status: int = 200 + number) -> None:
            await send({"type": "http.response.start", "status": status})
            await send({"type": "http.response.body", "body": b"x"})

        asyncio.run(respond())
        assert (request.status, request.body_sent) == (200 + number, True)
