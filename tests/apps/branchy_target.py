"""Measured code whose lines depend on its argument: loops, a comprehension,
a generator and a caught exception, for comparing the two cores."""


def _evens(limit):
    for value in range(limit):
        if value % 2 == 0:
            yield value


def classify(number):
    if number % 2:
        kind = "odd"
    else:
        kind = "even"
    squares = [value * value for value in range(number)]
    for value in squares:
        if value > 10:
            break
    try:
        ratio = 10 // (number - 3)
    except ZeroDivisionError:
        ratio = None
    return kind, sum(squares), list(_evens(number)), ratio
