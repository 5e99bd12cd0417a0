"""A small Flask shop used by the tests and the oracle."""

from flask import Flask, Response, abort, jsonify, request

import requestcov
from tests.apps import shop_logic, twin_a, twin_b

app = Flask(__name__)


@app.get("/hello")
def hello():
    return "hello"


@app.get("/users/<int:user_id>")
def user(user_id):
    if user_id > 100:
        abort(404)
    return jsonify(shop_logic.describe_user(user_id))


@app.post("/cart/total")
def cart_total():
    items = request.get_json(force=True)["items"]
    return jsonify({"total": shop_logic.total(items)})


@app.get("/price/<country>")
def price(country):
    return jsonify({"price": shop_logic.price_with_tax(100, country)})


@app.get("/stream/<int:count>")
def stream(count):
    def generate():
        for chunk in shop_logic.countdown(count):
            yield chunk
    return Response(generate(), mimetype="text/plain")


@app.get("/meet/<name>/<int:user_id>")
def meet(name, user_id):
    parties = request.args.get("parties", 2, type=int)
    shop_logic.rendezvous(name, parties)
    if user_id % 2 == 0:
        result = shop_logic.describe_user(user_id)
    else:
        result = {"price": shop_logic.price_with_tax(user_id, "FR")}
    shop_logic.rendezvous(name + "-again", parties)
    return jsonify(result)


@app.get("/quantity/<text>")
def quantity(text):
    return jsonify({"quantity": shop_logic.parse_quantity(text)})


@app.get("/twins")
def twins():
    return jsonify([twin_a.compute(1), twin_b.compute(2)])


@app.get("/boom")
def boom():
    raise RuntimeError("handler failed")


# One-line functions: on 3.13+ their only line gets no LINE event.
double = lambda value: value * 2  # noqa: E731


def triple(value): return value * 3  # noqa: E704


@app.get("/one-liners/<int:value>")
def one_liners(value):
    return jsonify([double(value), double(value + 1), triple(value)])


def create_recorded_app(**options):
    app.wsgi_app = requestcov.WSGIMiddleware(app.wsgi_app, **options)
    return app
