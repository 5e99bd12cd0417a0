"""Reloader parents pass SIGTERM and SIGINT on to the server process they started.

Django's autoreloader and werkzeug's reloader run the real server in a child
process and wait for it. Their SIGTERM handler exits the parent, and the way
``subprocess.run`` unwinds then SIGKILLs the child, losing the requests it has
not written yet; Ctrl-C does the same (``Popen.wait`` gives the child 0.25 s
after a KeyboardInterrupt). While a reloader waits, both signals are forwarded
to its children instead; each child stops cleanly (flushing its records), the
reloader sees it exit and returns its exit code as usual. A child that gets a
signal twice (once from the terminal's process group, once forwarded) holds
the second back while it writes (:mod:`requestcov.shutdown`).
"""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import weakref
from contextlib import contextmanager
from types import FrameType
from typing import Any, Callable, Iterator, Optional

from requestcov._threads import on_main_thread

__all__ = ["forwarding_stop_signals", "forward_stop_signals_while"]

_FORWARDED = (signal.SIGTERM, signal.SIGINT)

_children: "weakref.WeakSet[subprocess.Popen]" = weakref.WeakSet()
_tracking_depth = 0
_popen_patched = False


def _track_children() -> None:
    """Remember Popen objects created while a reloader waits (patched once)."""
    global _popen_patched
    if _popen_patched:
        return
    _popen_patched = True
    original_init = subprocess.Popen.__init__

    @functools.wraps(original_init)
    def __init__(self: subprocess.Popen, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if _tracking_depth:
            _children.add(self)

    subprocess.Popen.__init__ = __init__  # type: ignore[method-assign]


@contextmanager
def forwarding_stop_signals() -> Iterator[None]:
    """SIGTERM and SIGINT go to the children started inside the block while any is alive."""
    global _tracking_depth
    if not on_main_thread():
        yield
        return
    _track_children()
    previous = {signum: signal.getsignal(signum) for signum in _FORWARDED}

    def forward(signum: int, frame: Optional[FrameType]) -> None:
        alive = [child for child in list(_children) if child.poll() is None]
        if alive:
            for child in alive:
                try:
                    child.send_signal(signum)
                except OSError:
                    pass
            return
        handler = previous[signum]
        if callable(handler):
            handler(signum, frame)
        elif handler != signal.SIG_IGN:
            sys.exit(128 + signum)

    for signum in _FORWARDED:
        signal.signal(signum, forward)
    _tracking_depth += 1
    try:
        yield
    finally:
        _tracking_depth -= 1
        for signum, handler in previous.items():
            if handler is not None:  # None: a handler not set from Python, left alone
                signal.signal(signum, handler)


def forward_stop_signals_while(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a reloader's restart loop) run inside :func:`forwarding_stop_signals`."""
    if getattr(function, "__requestcov_wrapped__", False):
        return function

    @functools.wraps(function)
    def restart_with_reloader(*args: Any, **kwargs: Any) -> Any:
        with forwarding_stop_signals():
            return function(*args, **kwargs)

    restart_with_reloader.__requestcov_wrapped__ = True  # type: ignore[attr-defined]
    return restart_with_reloader
