"""Flask app served with ``python flask_server.py PORT [--debug]`` or ``flask --app flask_server run``."""

import sys

from flask import Flask, Response, abort, jsonify, request

import own_signals  # noqa: F401  (the app's own SIGTERM handler, when asked for)
import served_logic
import sync_point

app = Flask(__name__)


@app.get("/hello")
def hello():
    return "hello"


@app.get("/users/<int:user_id>")
def user(user_id):
    if user_id > 100:
        abort(404)
    return jsonify(served_logic.describe_user(user_id))


@app.post("/cart/total")
def cart_total():
    items = request.get_json(force=True)["items"]
    return jsonify({"total": served_logic.total(items)})


@app.get("/price/<country>")
def price(country):
    sync_point.rendezvous(request.args.get("group", ""), request.args.get("parties", 1, type=int))
    return jsonify({"price": served_logic.price_with_tax(100, country)})


@app.get("/stream/<int:count>")
def stream(count):
    def generate():
        for chunk in served_logic.countdown(count):
            yield chunk
    return Response(generate(), mimetype="text/plain")


@app.get("/boom")
def boom():
    raise RuntimeError("handler failed")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True, debug="--debug" in sys.argv[2:])
