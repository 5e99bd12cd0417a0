"""A small FastAPI app used by the tests: async, sync and background-task handlers."""

from contextlib import asynccontextmanager

from fastapi import BackgroundTasks, FastAPI, HTTPException, WebSocket

import requestcov
from tests.apps import async_logic, shop_logic

AUDIT_LOG = []


@asynccontextmanager
async def lifespan(app):
    AUDIT_LOG.append(("started", shop_logic.total([{"price": 1}])))
    yield


app = FastAPI(lifespan=lifespan)


@app.websocket("/echo")
async def echo(websocket: WebSocket):
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_text(text.upper())
    await websocket.close()


@app.get("/hello")
async def hello():
    return {"message": "hello"}


@app.get("/users/{user_id}")
async def user(user_id: int):
    if user_id > 100:
        raise HTTPException(status_code=404)
    return shop_logic.describe_user(user_id)


@app.get("/sync-price/{country}")
def sync_price(country: str):
    return {"price": shop_logic.price_with_tax(100, country)}


@app.post("/orders/{order_id}")
async def order(order_id: int, background_tasks: BackgroundTasks):
    background_tasks.add_task(async_logic.audit, AUDIT_LOG, f"order {order_id}")
    return {"accepted": order_id}


@app.get("/ameet/{name}/{user_id}")
async def meet(name: str, user_id: int, parties: int = 2):
    await async_logic.rendezvous(name, parties)
    if user_id % 2 == 0:
        result = shop_logic.describe_user(user_id)
    else:
        result = {"price": shop_logic.price_with_tax(user_id, "DE")}
    await async_logic.rendezvous(name + "-again", parties)
    return result


def create_recorded_app(**options):
    app.add_middleware(requestcov.ASGIMiddleware, **options)
    return app
