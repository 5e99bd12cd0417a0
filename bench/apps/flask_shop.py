"""The shop on Flask (WSGI): JSON endpoints, a Jinja2 report, sqlite3 queries."""

from __future__ import annotations

import os

from flask import Flask, jsonify, render_template, request

from apps import shop_db, shop_logic

app = Flask(__name__, template_folder=os.path.join(os.path.dirname(__file__), "templates"))
shop_db.setup()


@app.get("/api/products")
def products():
    category = request.args.get("category", "tools")
    return jsonify({"products": shop_logic.present_products(shop_db.products_in(category))})


@app.post("/api/quote")
def quote():
    try:
        order = shop_logic.validate_order(request.get_json(force=True))
    except shop_logic.ValidationError as error:
        return jsonify({"problems": error.problems}), 422
    catalogue = shop_db.catalogue_for([item["sku"] for item in order["items"]])
    return jsonify(shop_logic.quote_as_dict(shop_logic.price_order(order, catalogue)))


@app.get("/report")
def report():
    first = request.args.get("first", "2024-05-01")
    last = request.args.get("last", "2024-05-31")
    built = shop_logic.build_report(shop_db.orders_between(first, last))
    return render_template("report.html", report=built, first=first, last=last)


@app.get("/api/users/<int:user_id>")
def user(user_id):
    described = shop_logic.describe_user(shop_db.customer(user_id))
    if described is None:
        return jsonify({"error": "no such user"}), 404
    return jsonify(described)


application = app.wsgi_app
