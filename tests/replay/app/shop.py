"""A plain WSGI app for the replay tests: no framework, so routes are named
with requestcov.set_route, as an app with its own router would."""

import json
from typing import Callable, Iterable, List, Tuple

import requestcov


def _respond(start_response: Callable, status: str, body: bytes,
             headers: Tuple[Tuple[str, str], ...] = ()) -> List[bytes]:
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers])
    return [body]


def cart_total(items: list) -> float:
    total = 0.0
    for item in items:
        total += item["price"] * item.get("quantity", 1)
    return total


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "/")
    if path == "/hello":
        requestcov.set_route("/hello")
        return _respond(start_response, "200 OK", b'"hello"')
    if path.startswith("/users/"):
        requestcov.set_route("/users/<id>")
        user_id = int(path.rsplit("/", 1)[1])
        if user_id > 100:
            return _respond(start_response, "404 Not Found", b'{"error": "no such user"}')
        query = environ.get("QUERY_STRING", "")
        return _respond(start_response, "200 OK", json.dumps({"id": user_id, "query": query}).encode())
    if path == "/cart" and method == "POST":
        requestcov.set_route("/cart")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        items = json.loads(environ["wsgi.input"].read(length) or b"[]")
        return _respond(start_response, "200 OK", json.dumps({"total": cart_total(items)}).encode())
    if path == "/old-home":
        requestcov.set_route("/old-home")
        return _respond(start_response, "302 Found", b"", (("Location", "/hello"),))
    return _respond(start_response, "404 Not Found", b'{"error": "not found"}')
