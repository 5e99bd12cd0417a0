"""A function that lets the hub run in its middle, for the green tracing tests."""

import time


def nap_between(name):
    before = name.upper()
    time.sleep(0.01)
    after = before.lower()
    return after
