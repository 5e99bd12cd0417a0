"""aiohttp app served with ``python aiohttp_server.py PORT`` (``web.run_app``),
``python -m aiohttp.web -H 127.0.0.1 -P PORT aiohttp_server:init`` or
``gunicorn aiohttp_server:app -k aiohttp.GunicornWebWorker``: a middleware of
its own, a sub-app, a streamed response, a WebSocket and an
``on_response_prepare`` handler."""

import sys

from aiohttp import web

import own_signals  # noqa: F401  (the app's own SIGTERM handler, when asked for)
import served_logic
import sync_point

routes = web.RouteTableDef()
AUDIT_LOG = []


@routes.get("/hello")
async def hello(request):
    return web.Response(text="hello")


@routes.get("/users/{user_id}")
async def user(request):
    user_id = int(request.match_info["user_id"])
    if user_id > 100:
        raise web.HTTPNotFound()
    return web.json_response(served_logic.describe_user(user_id))


@routes.get("/price/{country}")
async def price(request):
    await sync_point.gather(request.query.get("group", ""), int(request.query.get("parties", "1")))
    return web.json_response({"price": served_logic.price_with_tax(100, request.match_info["country"])})


@routes.post("/cart/total")
async def cart_total(request):
    items = (await request.json())["items"]
    return web.json_response({"total": served_logic.total(items)})


@routes.get("/stream/{count}")
async def stream(request):
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    for chunk in served_logic.countdown(int(request.match_info["count"])):
        await response.write(chunk.encode())
    await response.write_eof()
    return response


@routes.get("/boom")
async def boom(request):
    raise RuntimeError("handler failed")


@routes.get("/echo")
async def echo(request):
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    async for message in socket:
        await socket.send_str(f"echo {message.data}")
    return socket


async def order(request):
    served_logic.audit(AUDIT_LOG, f"order {request.match_info['order_id']}")
    return web.json_response({"accepted": int(request.match_info["order_id"])})


@web.middleware
async def served_by(request, handler):
    response = await handler(request)
    response.headers["X-Served-By"] = "aiohttp_server"
    return response


async def stamp_response(request, response):
    response.headers["X-Stamped"] = "yes"


def make_app():
    app = web.Application(middlewares=[served_by])
    app.add_routes(routes)
    shop = web.Application()
    shop.router.add_post("/orders/{order_id}", order)
    app.add_subapp("/shop", shop)
    app.on_response_prepare.append(stamp_response)
    return app


app = make_app()


def init(argv):
    """For ``python -m aiohttp.web aiohttp_server:init``."""
    return make_app()


if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
