"""Quart app served with ``python quart_server.py PORT`` (``app.run()``),
``quart --app quart_server run`` or ``hypercorn quart_server:app``."""

import asyncio
import sys

from quart import Quart, abort, jsonify, request

import own_signals  # noqa: F401  (the app's own SIGTERM handler, when asked for)
import served_logic
import sync_point

app = Quart(__name__)


@app.get("/hello")
async def hello():
    return "hello"


@app.get("/users/<int:user_id>")
async def user(user_id):
    if user_id > 100:
        abort(404)
    return jsonify(served_logic.describe_user(user_id))


@app.post("/cart/total")
async def cart_total():
    items = (await request.get_json(force=True))["items"]
    return jsonify({"total": served_logic.total(items)})


@app.get("/price/<country>")
async def price(country):
    # The waiting runs on a thread that carries the request's context, so
    # other requests go on on the event loop meanwhile.
    await asyncio.to_thread(
        sync_point.rendezvous, request.args.get("group", ""), request.args.get("parties", 1, type=int),
    )
    return jsonify({"price": served_logic.price_with_tax(100, country)})


@app.get("/stream/<int:count>")
async def stream(count):
    async def generate():
        for chunk in served_logic.countdown(count):
            yield chunk.encode()
    return generate(), 200, {"Content-Type": "text/plain"}


@app.get("/boom")
async def boom():
    raise RuntimeError("handler failed")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]))
