"""Sanic app served with ``sanic sanic_server:app``, ``python sanic_server.py
PORT [--single-process]`` (``app.run``) or ``uvicorn sanic_server:app``."""

import asyncio
import sys

from sanic import Sanic
from sanic.exceptions import NotFound
from sanic.response import json, text

import own_signals  # noqa: F401  (the app's own SIGTERM handler, when asked for)
import served_logic
import sync_point

app = Sanic("served_sanic")


@app.get("/hello")
async def hello(request):
    return text("hello")


@app.get("/users/<user_id:int>")
async def user(request, user_id):
    if user_id > 100:
        raise NotFound("no such user")
    return json(served_logic.describe_user(user_id))


@app.post("/cart/total")
async def cart_total(request):
    return json({"total": served_logic.total(request.json["items"])})


@app.get("/price/<country>")
async def price(request, country):
    # The waiting runs on a thread that carries the request's context, so
    # other requests go on on the event loop meanwhile.
    await asyncio.to_thread(
        sync_point.rendezvous, request.args.get("group", ""), int(request.args.get("parties", 1)),
    )
    return json({"price": served_logic.price_with_tax(100, country)})


@app.get("/stream/<count:int>")
async def stream(request, count):
    response = await request.respond(content_type="text/plain")
    for chunk in served_logic.countdown(count):
        await response.send(chunk)
    await response.eof()


@app.get("/boom")
async def boom(request):
    raise RuntimeError("handler failed")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), single_process="--single-process" in sys.argv[2:],
            access_log=False)
