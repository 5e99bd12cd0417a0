"""Arcs (branch coverage) the way coverage.py records them with a trace function.

An arc is a pair of consecutive lines run in one frame; entering a code object
is ``(-first_line, line)`` and leaving it ``(line, -first_line)``. A generator
resuming or yielding neither enters nor leaves. Getting these exactly right is
what makes requestcov's per-request branch data equal to coverage.py's
``--branch`` data for the same request, so the rules follow coverage.py's
Python tracer for each interpreter version.
"""

from __future__ import annotations

import dis
import sys
from types import FrameType
from typing import Any, Callable, Set, Tuple

__all__ = ["arc_tracer", "entry_line"]

_RESUME = dis.opmap.get("RESUME")
_PUSH_EXC_INFO = dis.opmap.get("PUSH_EXC_INFO")
_RETURN_VALUE = dis.opmap.get("RETURN_VALUE")
_YIELD_VALUE = dis.opmap.get("YIELD_VALUE")
_YIELD_FROM = dis.opmap.get("YIELD_FROM")
#: Where f_lasti points when a generator yields: at the YIELD (it moved to the
#: RESUME after it in 3.13 only).
_LASTI_IS_YIELD = sys.version_info[:2] != (3, 13)
_RETURN_HAS_OWN_LINE = sys.version_info >= (3, 14)


def entry_line(frame: FrameType) -> int:
    """The 'previous line' of a frame start: ``-first_line`` for a real call,
    the current line for a generator or coroutine resuming."""
    if _RESUME is not None:
        real_call = frame.f_code.co_code[frame.f_lasti + 1] == 0
    else:
        real_call = frame.f_lasti < 0
    return -frame.f_code.co_firstlineno if real_call else frame.f_lineno


def _is_real_return(frame: FrameType) -> bool:
    """A 'return' event is also sent when a generator yields."""
    code = frame.f_code.co_code
    lasti = frame.f_lasti
    if _RESUME is not None:
        if len(code) == lasti + 2:
            return True
        if _LASTI_IS_YIELD:
            lasti += 2
        return code[lasti] != _RESUME
    if code[lasti] == _RETURN_VALUE:
        return True
    if code[lasti] == _YIELD_VALUE:
        return False
    if len(code) <= lasti + 2:
        return True
    return code[lasti + 2] != _YIELD_FROM


def arc_tracer(lines: Set[int], arcs: Set[Tuple[int, int]], last_line: int) -> Callable:
    """A local trace function for one frame, adding to one request's sets."""
    add_line = lines.add
    add_arc = arcs.add

    def trace_arcs(frame: FrameType, event: str, arg: Any) -> Callable:
        nonlocal last_line
        if event == "line":
            if _PUSH_EXC_INFO is not None:
                # The entry of an exception handler is not a line of its own.
                lasti = frame.f_lasti
                code = frame.f_code.co_code
                if 0 <= lasti < len(code) and code[lasti] == _PUSH_EXC_INFO:
                    return trace_arcs
            line = frame.f_lineno
            add_arc((last_line, line))
            add_line(line)
            last_line = line
        elif event == "return" and _is_real_return(frame):
            if _RETURN_HAS_OWN_LINE and frame.f_lineno is not None and frame.f_lineno != last_line:
                add_arc((last_line, frame.f_lineno))
                last_line = frame.f_lineno
            add_arc((last_line, -frame.f_code.co_firstlineno))
        return trace_arcs

    return trace_arcs
