"""Measured code whose every line runs exactly once per call."""


def straight(value):
    doubled = value * 2
    text = str(doubled)
    return len(text)
