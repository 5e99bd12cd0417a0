"""Litestar app served with ``uvicorn litestar_server:app`` or
``litestar --app litestar_server:app run``: async and sync handlers (the sync
ones run on a worker thread), a streamed body and a background task that runs
after the response."""

from litestar import Litestar, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.exceptions import NotFoundException
from litestar.response import Stream

import served_logic
import sync_point

AUDIT_LOG = []


@get("/hello")
async def hello() -> str:
    return "hello"


@get("/users/{user_id:int}")
async def user(user_id: int) -> dict:
    if user_id > 100:
        raise NotFoundException()
    return served_logic.describe_user(user_id)


@get("/sync-price/{country:str}", sync_to_thread=True)
def sync_price(country: str, group: str = "", parties: int = 1) -> dict:
    sync_point.rendezvous(group, parties)
    return {"price": served_logic.price_with_tax(100, country)}


@post("/orders/{order_id:int}", status_code=200)
async def order(order_id: int) -> Response:
    return Response({"accepted": order_id},
                    background=BackgroundTask(served_logic.audit, AUDIT_LOG, f"order {order_id}"))


@post("/cart/total", status_code=200)
async def cart_total(data: dict) -> dict:
    return {"total": served_logic.total(data["items"])}


@get("/stream/{count:int}")
async def stream(count: int) -> Stream:
    return Stream(served_logic.countdown(count), media_type="text/plain")


@get("/boom")
async def boom() -> None:
    raise RuntimeError("handler failed")


app = Litestar([hello, user, sync_price, order, cart_total, stream, boom])
