"""A shop whose tax rates live in a module the views import on first use.

Served on 127.0.0.1:$APP_PORT by werkzeug's threaded server. Which request
imports ``rates`` depends on the order the requests come in: the module's
own lines must not (tests/replay/test_replay_order.py).
"""

import os

from flask import Flask, abort, jsonify

app = Flask(__name__)


@app.get("/items/<int:item_id>")
def item(item_id):
    if item_id > 100:
        abort(404)
    return jsonify({"id": item_id, "price": 3 if item_id % 2 else 4})


@app.get("/rates/<country>")
def rate(country):
    import rates

    return jsonify({"country": country, "rate": rates.Table().rate(country)})


@app.get("/tax/<country>/<int:amount>")
def tax(country, amount):
    import importlib

    rates = importlib.import_module("rates")
    return jsonify({"country": country, "tax": rates.tax_for(country, amount)})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["APP_PORT"]), threaded=True)
