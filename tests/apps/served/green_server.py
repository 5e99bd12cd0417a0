"""Flask app for green workers (``gunicorn -k gevent``, ``-k eventlet``); also
served unpatched with ``python green_server.py PORT``, for coverage.py alone.

Every handler but ``/hello`` gives the hub a turn in the middle of the
request (``time.sleep`` is the worker's cooperative sleep once it has
monkey-patched the standard library), so other requests run between a
request's lines before and after the switch. ``/nap/<id>?nap=SECONDS``
naps longer, to be in flight when the server is told to stop.
"""

import sys
import time

from flask import Flask, Response, jsonify, request

import served_logic
import sync_point

app = Flask(__name__)

NAP = 0.02


@app.get("/hello")
def hello():
    return "hello"


@app.get("/nap/<int:user_id>")
def nap(user_id):
    sync_point.rendezvous(request.args.get("group", ""), request.args.get("parties", 1, type=int))
    before = served_logic.describe_user(user_id)
    time.sleep(request.args.get("nap", NAP, type=float))
    if user_id % 2 == 0:
        after = served_logic.price_with_tax(100, "DE")
    else:
        after = served_logic.price_with_tax(100, "XX")
    return jsonify({"user": before, "price": after})


@app.post("/nap/cart")
def nap_cart():
    sync_point.rendezvous(request.args.get("group", ""), request.args.get("parties", 1, type=int))
    time.sleep(NAP)
    items = request.get_json(force=True)["items"]
    total = served_logic.total(items)
    time.sleep(NAP)
    return jsonify({"total": total})


@app.get("/nap/stream/<int:count>")
def nap_stream(count):
    def generate():
        for chunk in served_logic.countdown(count):
            time.sleep(NAP / 4)
            yield chunk
    return Response(generate(), mimetype="text/plain")


@app.get("/nap/boom")
def nap_boom():
    time.sleep(NAP)
    raise RuntimeError("handler failed after a nap")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
