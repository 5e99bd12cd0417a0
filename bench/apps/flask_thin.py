"""Thin endpoints on Flask's full stack: what production traffic mostly is.

Each request runs a few app lines and all of Flask's and Werkzeug's request
and response machinery (routing, the request context, JSON in and out), so
the cost a recorder adds per request whatever it records is what shows.
"""

from __future__ import annotations

from flask import Flask, abort, jsonify, request

app = Flask(__name__)
ITEMS = {7: {"id": 7, "name": "hammer", "price_cents": 1299}}


@app.get("/health")
def health():
    return jsonify(status="ok")


@app.get("/api/items/<int:item_id>")
def item(item_id):
    found = ITEMS.get(item_id)
    if found is None:
        abort(404)
    return jsonify(found)


@app.post("/api/items")
def create_item():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return jsonify(error="name is required"), 422
    quantity = body.get("quantity", 1)
    if not isinstance(quantity, int) or quantity < 1:
        return jsonify(error="quantity must be a positive integer"), 422
    return jsonify(name=body["name"], quantity=quantity), 201


application = app.wsgi_app
