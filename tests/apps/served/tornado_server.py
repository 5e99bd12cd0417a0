"""Tornado app served with ``python tornado_server.py PORT`` (``app.listen`` and
``asyncio.run``; ``--ioloop``: ``IOLoop.current().start()``): positional and
named URL groups, a handler's ``initialize``, a streamed response, an
``on_finish`` that runs after the response, a response finished later
from a loop callback, a request body streamed to the handler and a
WebSocket."""

import asyncio
import json
import sys

import tornado.ioloop
import tornado.web
import tornado.websocket

import own_signals  # noqa: F401  (the app's own SIGTERM handler, when asked for)
import served_logic
import sync_point

AUDIT_LOG = []


class HelloHandler(tornado.web.RequestHandler):
    def initialize(self, greeting):
        self.greeting = greeting

    def get(self):
        self.write(self.greeting)


class UserHandler(tornado.web.RequestHandler):
    def get(self, user_id):
        user_id = int(user_id)
        if user_id > 100:
            raise tornado.web.HTTPError(404)
        self.write(served_logic.describe_user(user_id))


class PriceHandler(tornado.web.RequestHandler):
    async def get(self, country):
        await sync_point.gather(self.get_argument("group", ""), int(self.get_argument("parties", "1")))
        self.write({"price": served_logic.price_with_tax(100, country)})


class CartHandler(tornado.web.RequestHandler):
    def post(self):
        items = json.loads(self.request.body)["items"]
        self.write({"total": served_logic.total(items)})


class StreamHandler(tornado.web.RequestHandler):
    async def get(self, count):
        self.set_header("Content-Type", "text/plain")
        for chunk in served_logic.countdown(int(count)):
            self.write(chunk)
            await self.flush()


class OrderHandler(tornado.web.RequestHandler):
    def post(self, order_id):
        self.write({"accepted": int(order_id)})

    def on_finish(self):
        served_logic.audit(AUDIT_LOG, f"order {self.path_args[0]}")


class LaterHandler(tornado.web.RequestHandler):
    """Finishes from a loop callback after ``get`` returned."""

    def get(self, count):
        self._auto_finish = False
        tornado.ioloop.IOLoop.current().call_later(0.01, self.finish_later, int(count))

    def finish_later(self, count):
        self.write({"total": served_logic.total([{"price": 1, "quantity": count}])})
        self.finish()


@tornado.web.stream_request_body
class UploadHandler(tornado.web.RequestHandler):
    """Gets its body chunk by chunk, from the connection, before ``put`` runs."""

    def prepare(self):
        self.received = 0

    async def data_received(self, chunk):
        self.received += len(chunk)

    def put(self):
        self.write({"received": self.received})


class EchoHandler(tornado.websocket.WebSocketHandler):
    def on_message(self, message):
        self.write_message(f"echo {message}")


class BoomHandler(tornado.web.RequestHandler):
    def get(self):
        raise RuntimeError("handler failed")


def make_app():
    return tornado.web.Application([
        (r"/hello", HelloHandler, {"greeting": "hello"}),
        (r"/users/(\d+)", UserHandler),
        (r"/price/(?P<country>[A-Z]+)", PriceHandler),
        (r"/cart/total", CartHandler),
        (r"/stream/(\d+)", StreamHandler),
        (r"/orders/(\d+)", OrderHandler),
        (r"/later/(\d+)", LaterHandler),
        (r"/upload", UploadHandler),
        (r"/echo", EchoHandler),
        (r"/boom", BoomHandler),
    ])


async def serve(app, port):
    app.listen(port, address="127.0.0.1")
    await asyncio.Event().wait()


def main(app, argv):
    port = int(argv[1])
    if "--ioloop" in argv[2:]:
        app.listen(port, address="127.0.0.1")
        tornado.ioloop.IOLoop.current().start()
    else:
        asyncio.run(serve(app, port))


if __name__ == "__main__":
    main(make_app(), sys.argv)
