"""Falcon ASGI app served with ``uvicorn falcon_asgi_server:app``."""

import falcon
import falcon.asgi

import served_logic


class Hello:
    async def on_get(self, req, resp):
        resp.text = "hello"


class User:
    async def on_get(self, req, resp, user_id):
        if user_id > 100:
            raise falcon.HTTPNotFound()
        resp.media = served_logic.describe_user(user_id)


class CartTotal:
    async def on_post(self, req, resp):
        resp.media = {"total": served_logic.total((await req.get_media())["items"])}


class Stream:
    async def on_get(self, req, resp, count):
        async def chunks():
            for chunk in served_logic.countdown(count):
                yield chunk.encode()

        resp.content_type = falcon.MEDIA_TEXT
        resp.stream = chunks()


class Boom:
    async def on_get(self, req, resp):
        raise RuntimeError("handler failed")


app = falcon.asgi.App()
app.add_route("/hello", Hello())
app.add_route("/users/{user_id:int}", User())
app.add_route("/cart/total", CartTotal())
app.add_route("/stream/{count:int}", Stream())
app.add_route("/boom", Boom())
