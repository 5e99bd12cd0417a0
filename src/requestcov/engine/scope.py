"""Which code runs at import: it belongs to the start-up record, whatever
request is current.

A module imported lazily (an ``import`` inside a view, Django's URLconf and
views loaded on the first request, ``importlib.import_module`` at first use)
runs its module body, and the bodies of the classes defined in it, inside
whichever request needs it first. Charged to that request, those lines would
make its record, and with it the duplicate groups and the minimal suite,
depend on the order the requests came in. They are the process getting ready,
as the imports before the first request are: they go to the start-up
collector. A function that fills a cache on its first call is another matter:
it runs inside the request, and stays with it.

The decision is per code object, made once and cached by the engines (see
``engine.sysmon`` and ``engine.settrace``); the test that runs on every line
event is a single bit, ``CO_OPTIMIZED``, which every function has and no
module or class body has.
"""

from __future__ import annotations

import inspect
from types import CodeType, FrameType
from typing import Optional

__all__ = ["CO_OPTIMIZED", "runs_at_import"]

#: Set on every function's code object (comprehensions, lambdas and
#: generators included), never on a module or class body.
CO_OPTIMIZED: int = inspect.CO_OPTIMIZED


def runs_at_import(code: CodeType, frame: Optional[FrameType] = None) -> bool:
    """True for a module body, and for the body of a class whose ``class``
    statement runs at import (in a module body, or in such a class body).

    A class body nested in a function runs on every call of the function, so
    it belongs to the request that calls it. From 3.11 on, the qualified name
    of the code says so (``view.<locals>.Form``); before, the frame that runs
    the ``class`` statement does (``frame.f_back``: ``__build_class__`` is C and
    has no frame), which is why 3.9 and 3.10 need ``frame``.
    """
    if code.co_flags & CO_OPTIMIZED:
        return False
    qualname = getattr(code, "co_qualname", None)
    if qualname is not None:
        return "<locals>" not in qualname
    if code.co_name == "<module>" or frame is None:
        return True
    walker = frame.f_back
    while walker is not None:
        parent = walker.f_code
        if parent.co_flags & CO_OPTIMIZED:
            return False
        if parent.co_name == "<module>":
            return True
        walker = walker.f_back
    return True
