"""A small Flask shop: the app the requestcov demo records.

It knows nothing of requestcov; ``requestcov run -- python app.py`` records it.
"""

import os

from flask import Flask, abort, jsonify, request

import catalog
import pricing

app = Flask(__name__)


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/products")
def products():
    return jsonify(catalog.all_products(request.args.get("category")))


@app.get("/products/<int:product_id>")
def product(product_id):
    found = catalog.product(product_id)
    if found is None:
        abort(404)
    return jsonify(found)


@app.post("/quote")
def quote():
    payload = request.get_json(force=True)
    lines = []
    for entry in payload.get("items", []):
        found = catalog.product(entry["id"])
        if found is None:
            abort(400, f"unknown product {entry['id']}")
        if found["stock"] < entry.get("quantity", 1):
            return jsonify({"error": f"only {found['stock']} {found['name']} left"}), 409
        lines.append((found, entry.get("quantity", 1)))
    try:
        return jsonify(pricing.quote(lines, payload.get("country", "DE")))
    except ValueError as error:
        return jsonify({"error": str(error)}), 422


@app.get("/admin/low-stock")
def low_stock():
    threshold = request.args.get("threshold", 5, type=int)
    return jsonify(catalog.low_stock(threshold))


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5055")), threaded=True)
