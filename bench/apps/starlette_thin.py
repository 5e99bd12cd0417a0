"""Thin endpoints on Starlette's full stack (Routing, Request, JSONResponse).

No middleware of the app's own: the ASGI app is Starlette itself, so every
request goes through its routing and its error middleware, and a few app lines.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ITEMS = {7: {"id": 7, "name": "hammer", "price_cents": 1299}}


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def item(request: Request) -> JSONResponse:
    found = ITEMS.get(request.path_params["item_id"])
    if found is None:
        raise HTTPException(status_code=404)
    return JSONResponse(found)


async def create_item(request: Request) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return JSONResponse({"error": "name is required"}, status_code=422)
    quantity = body.get("quantity", 1)
    if not isinstance(quantity, int) or quantity < 1:
        return JSONResponse({"error": "quantity must be a positive integer"}, status_code=422)
    return JSONResponse({"name": body["name"], "quantity": quantity}, status_code=201)


application = Starlette(routes=[
    Route("/health", health),
    Route("/api/items/{item_id:int}", item),
    Route("/api/items", create_item, methods=["POST"]),
])
