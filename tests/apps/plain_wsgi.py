"""A framework-free WSGI app whose body and close() run measured code."""

from tests.apps import shop_logic

CLOSED = []


class CountdownBody:
    def __init__(self, count):
        self.chunks = shop_logic.countdown(count)

    def __iter__(self):
        for chunk in self.chunks:
            yield chunk.encode()

    def close(self):
        CLOSED.append(True)


def app(environ, start_response):
    if environ["PATH_INFO"] == "/hello":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]
    if environ["PATH_INFO"] == "/fail":
        raise ValueError("app failure")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return CountdownBody(2)
