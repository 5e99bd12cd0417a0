"""Pyramid app served with ``python -m pyramid.scripts.pserve pyramid_server.ini
http_port=PORT`` (``pserve`` from this folder, so PasteDeploy imports this
module; waitress serves it), or ``python pyramid_server.py PORT`` (waitress too,
without PasteDeploy)."""

import sys

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPNotFound
from pyramid.response import Response

import served_logic
import sync_point


def hello(request):
    return Response("hello")


def user(request):
    user_id = int(request.matchdict["user_id"])
    if user_id > 100:
        raise HTTPNotFound()
    return served_logic.describe_user(user_id)


def price(request):
    sync_point.rendezvous(request.params.get("group", ""), int(request.params.get("parties", "1")))
    return {"price": served_logic.price_with_tax(100, request.matchdict["country"])}


def cart_total(request):
    return {"total": served_logic.total(request.json_body["items"])}


def stream(request):
    chunks = (chunk.encode() for chunk in served_logic.countdown(int(request.matchdict["count"])))
    return Response(app_iter=chunks, content_type="text/plain")


def boom(request):
    raise RuntimeError("handler failed")


def main(global_config=None, **settings):
    with Configurator(settings=settings) as config:
        config.add_route("hello", "/hello")
        config.add_route("user", r"/users/{user_id:\d+}")
        config.add_route("price", "/price/{country}")
        config.add_route("cart", "/cart/total", request_method="POST")
        config.add_route("stream", "/stream/{count}")
        config.add_route("boom", "/boom")
        config.add_view(hello, route_name="hello")
        config.add_view(user, route_name="user", renderer="json")
        config.add_view(price, route_name="price", renderer="json")
        config.add_view(cart_total, route_name="cart", renderer="json")
        config.add_view(stream, route_name="stream")
        config.add_view(boom, route_name="boom")
        return config.make_wsgi_app()


if __name__ == "__main__":
    from waitress import serve

    serve(main(), host="127.0.0.1", port=int(sys.argv[1]), threads=4, _quiet=True)
