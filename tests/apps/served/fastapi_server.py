"""FastAPI app served with ``uvicorn fastapi_server:app``: async and sync
(threadpool) endpoints, and a background task that runs after the response."""

from fastapi import BackgroundTasks, FastAPI, HTTPException
from fastapi.responses import StreamingResponse

import own_signals  # noqa: F401  (the app's own SIGTERM handler, when asked for)
import served_logic
import sync_point

app = FastAPI()
AUDIT_LOG = []


@app.get("/hello")
async def hello():
    return {"message": "hello"}


@app.get("/users/{user_id}")
async def user(user_id: int):
    if user_id > 100:
        raise HTTPException(status_code=404)
    return served_logic.describe_user(user_id)


@app.get("/sync-price/{country}")
def sync_price(country: str, group: str = "", parties: int = 1):
    sync_point.rendezvous(group, parties)
    return {"price": served_logic.price_with_tax(100, country)}


@app.post("/orders/{order_id}")
async def order(order_id: int, background_tasks: BackgroundTasks):
    background_tasks.add_task(served_logic.audit, AUDIT_LOG, f"order {order_id}")
    return {"accepted": order_id}


@app.get("/stream/{count}")
async def stream(count: int):
    return StreamingResponse(served_logic.countdown(count), media_type="text/plain")


@app.get("/boom")
async def boom():
    raise RuntimeError("handler failed")
