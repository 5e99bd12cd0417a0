"""Code whose lines the probes must report exactly as ``sys.settrace`` does.

Not a test module: test_probes_rewrite.py runs ``run_all`` once traced and
once probed. Every construct here has bitten a bytecode rewriter somewhere.
"""
# flake8: noqa
import asyncio
import contextlib
import functools


def decorator(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)
    return wrapper


@decorator
def decorated(x):
    return x + 1


def loops(n):
    total = 0
    for i in range(n):
        if i % 2:
            continue
        if i > 7:
            break
        total += i
    else:
        total -= 1
    while n > 0:
        n -= 1
        if n == 3:
            break
    else:
        total += 100
    return total


def exceptions(value):
    try:
        result = 10 // value
    except ZeroDivisionError:
        result = -1
    except (TypeError, ValueError) as error:
        result = str(error)
    else:
        result += 1
    finally:
        value = None
    try:
        try:
            raise KeyError(value)
        finally:
            result = (result, 1)
    except KeyError:
        pass
    return result


def return_in_finally(flag):
    try:
        if flag:
            return "early"
    finally:
        flag = not flag
    return "late"


def comprehensions(items):
    squares = [x * x for x in items if x]
    pairs = {x: y for x, y in zip(items, squares)}
    unique = {x % 3
              for x in items}
    lazy = (x for x in items)
    return squares, pairs, unique, list(lazy), sorted(items, key=lambda x: -x)


def generator(n):
    for i in range(n):
        received = yield i
        if received:
            yield received
    yield from range(2)
    return n


def closures(a):
    b = a * 2

    def inner(c):
        nonlocal b
        b += c
        return b

    class Local:
        attribute = a

        def method(self):
            return self.attribute + b

    return inner(1), Local().method()


def multiline(a,
              b):
    value = (a +
             b if a
             else b)
    call = dict(
        a=a,
        b=b,
    )
    text = f"{a}" \
        f"{b}"
    assert value is not None, (
        "never")
    return value, call, text, a if a > b else b, a < b < 10


def one_liner(x): return x * 3


def with_statements(path):
    with contextlib.suppress(ZeroDivisionError):
        1 / 0
    with contextlib.ExitStack() as stack, contextlib.nullcontext(path) as same:
        stack.callback(lambda: None)
    return same


async def coroutine(n):
    await asyncio.sleep(0)
    total = 0
    async for value in agen(n):
        total += value
    async with Manager() as manager:
        total += manager
    return total


async def agen(n):
    for i in range(n):
        yield i
        await asyncio.sleep(0)


class Manager:
    async def __aenter__(self):
        return 5

    async def __aexit__(self, *exc):
        return False


class Shape:
    sides = 0

    def __init__(self, size):
        self.size = size

    @property
    def area(self):
        return self.size ** 2

    @staticmethod
    def kind():
        return "shape"


def big_function(n):
    # Long enough that jumps over it need EXTENDED_ARG once probes are in.
    values = []
    for i in range(n):
        if i == 0:
            values.append(0)
        elif i == 1:
            values.append(1)
        elif i == 2:
            values.append(2)
        elif i == 3:
            values.append(3)
        elif i == 4:
            values.append(4)
        elif i == 5:
            values.append(5)
        elif i == 6:
            values.append(6)
        elif i == 7:
            values.append(7)
        elif i == 8:
            values.append(8)
        elif i == 9:
            values.append(9)
        elif i == 10:
            values.append(10)
        elif i == 11:
            values.append(11)
        elif i == 12:
            values.append(12)
        elif i == 13:
            values.append(13)
        elif i == 14:
            values.append(14)
        elif i == 15:
            values.append(15)
        elif i == 16:
            values.append(16)
        elif i == 17:
            values.append(17)
        elif i == 18:
            values.append(18)
        elif i == 19:
            values.append(19)
        elif i == 20:
            values.append(20)
        elif i == 21:
            values.append(21)
        elif i == 22:
            values.append(22)
        elif i == 23:
            values.append(23)
        elif i == 24:
            values.append(24)
        elif i == 25:
            values.append(25)
        else:
            values.append(-1)
    return values


def uncalled():
    return "never runs"


def run_all():
    results = [next(STARTED_AT_IMPORT), next(STARTED_AT_IMPORT, None),
               decorated(1), loops(10), loops(3), exceptions(0), exceptions(2), exceptions("x"),
               return_in_finally(True), return_in_finally(False), comprehensions([3, 0, 2]),
               closures(2), multiline(1, 2), multiline(0, 2), one_liner(2), with_statements("p"),
               Shape(3).area, Shape.kind(), big_function(30)]
    gen = generator(3)
    results.append(next(gen))
    results.append(gen.send(7))
    results.extend(gen)
    results.append(asyncio.run(coroutine(3)))
    return results


MODULE_LEVEL = [i for i in range(3)]
if MODULE_LEVEL:
    MODULE_FLAG = True
else:
    MODULE_FLAG = False


def started_at_import():
    value = yield 1
    yield value


STARTED_AT_IMPORT = started_at_import()
next(STARTED_AT_IMPORT)
