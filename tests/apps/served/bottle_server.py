"""Bottle app served with ``python bottle_server.py PORT`` (Bottle's wsgiref
server) or ``gunicorn bottle_server:app``."""

import sys

import bottle

import served_logic

app = bottle.Bottle()


@app.get("/hello")
def hello():
    return "hello"


@app.get("/users/<user_id:int>")
def user(user_id):
    if user_id > 100:
        bottle.abort(404)
    return served_logic.describe_user(user_id)


@app.get("/price/<country>")
def price(country):
    return {"price": served_logic.price_with_tax(100, country)}


@app.post("/cart/total")
def cart_total():
    return {"total": served_logic.total(bottle.request.json["items"])}


@app.get("/boom")
def boom():
    raise RuntimeError("handler failed")


if __name__ == "__main__":
    bottle.run(app, host="127.0.0.1", port=int(sys.argv[1]), quiet=True)
