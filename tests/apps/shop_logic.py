"""Plain business logic the test apps call, so requests span several files."""

import threading

_barriers = {}
_barriers_lock = threading.Lock()


def rendezvous(name, parties=2, timeout=10.0):
    """Hold a request until ``parties`` requests reached the same name, so
    tests can keep several requests inside their handlers at once."""
    # One line for every caller, first or not, so each request runs the
    # same lines whatever the order of arrival.
    with _barriers_lock:
        barrier = _barriers.setdefault(name, threading.Barrier(parties, timeout=timeout))
    barrier.wait()


def price_with_tax(price, country):
    if country == "DE":
        rate = 0.19
    elif country == "FR":
        rate = 0.20
    else:
        rate = 0.0
    return round(price * (1 + rate), 2)


def describe_user(user_id):
    if user_id % 2 == 0:
        kind = "even"
    else:
        kind = "odd"
    return {"id": user_id, "kind": kind}


def total(items):
    result = 0
    for item in items:
        if item.get("free"):
            continue
        result += item["price"] * item.get("quantity", 1)
    return result


def countdown(count):
    for number in range(count, 0, -1):
        yield f"{number}\n"
    yield "liftoff\n"


def parse_quantity(text):
    try:
        quantity = int(text)
    except ValueError:
        quantity = 1
    finally:
        text = None
    return max(quantity, 1)
