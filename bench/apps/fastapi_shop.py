"""The shop on FastAPI (ASGI): JSON endpoints, a Jinja2 report, sqlite3 queries."""

from __future__ import annotations

import os

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from apps import shop_db, shop_logic

app = FastAPI()
templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(__file__), "templates")),
    autoescape=True,
)
shop_db.setup()


@app.get("/api/products")
async def products(category: str = "tools"):
    return {"products": shop_logic.present_products(shop_db.products_in(category))}


@app.post("/api/quote")
async def quote(request: Request):
    try:
        order = shop_logic.validate_order(await request.json())
    except shop_logic.ValidationError as error:
        return JSONResponse({"problems": error.problems}, status_code=422)
    catalogue = shop_db.catalogue_for([item["sku"] for item in order["items"]])
    return shop_logic.quote_as_dict(shop_logic.price_order(order, catalogue))


@app.get("/report", response_class=HTMLResponse)
async def report(first: str = "2024-05-01", last: str = "2024-05-31"):
    built = shop_logic.build_report(shop_db.orders_between(first, last))
    return templates.get_template("report.html").render(report=built, first=first, last=last)


@app.get("/api/users/{user_id}")
async def user(user_id: int):
    described = shop_logic.describe_user(shop_db.customer(user_id))
    if described is None:
        return JSONResponse({"error": "no such user"}, status_code=404)
    return described


application = app
