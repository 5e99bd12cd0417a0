"""Falcon WSGI app served with ``gunicorn falcon_server:app`` or
``waitress-serve falcon_server:app``."""

import falcon

import served_logic
import sync_point


class Hello:
    def on_get(self, req, resp):
        resp.text = "hello"


class User:
    def on_get(self, req, resp, user_id):
        if user_id > 100:
            raise falcon.HTTPNotFound()
        resp.media = served_logic.describe_user(user_id)


class Price:
    def on_get(self, req, resp, country):
        sync_point.rendezvous(req.get_param("group", default=""), req.get_param_as_int("parties", default=1))
        resp.media = {"price": served_logic.price_with_tax(100, country)}


class CartTotal:
    def on_post(self, req, resp):
        resp.media = {"total": served_logic.total(req.get_media()["items"])}


class Stream:
    def on_get(self, req, resp, count):
        resp.content_type = falcon.MEDIA_TEXT
        resp.stream = (chunk.encode() for chunk in served_logic.countdown(count))


class Boom:
    def on_get(self, req, resp):
        raise RuntimeError("handler failed")


app = falcon.App()
app.add_route("/hello", Hello())
app.add_route("/users/{user_id:int}", User())
app.add_route("/price/{country}", Price())
app.add_route("/cart/total", CartTotal())
app.add_route("/stream/{count:int}", Stream())
app.add_route("/boom", Boom())
