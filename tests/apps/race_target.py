"""Measured code for the engine's race test: every call runs the same lines."""


def work(seed):
    total = seed
    for step in range(3):
        total += step
        total *= 2
    text = str(total)
    size = len(text)
    return size + total
