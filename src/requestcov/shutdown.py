"""Stopping a process without losing a record it answered.

Three things make a stop lose records, and each has its piece here:

- A signal at its default disposition (SIGTERM, SIGHUP) kills the process
  without ``atexit``: :func:`install_stop_handlers` writes everything first,
  then dies of the same signal, as the process would have.
- A second signal during the final flush (a reloader forwarding SIGTERM to a
  child that already got it from the process group, a doubled Ctrl-C) raises
  ``SystemExit`` or ``KeyboardInterrupt`` inside it, or its handler calls
  ``os._exit``: :func:`signals_held` keeps such signals back while the flush
  runs and delivers them after it.
- A handler running on an event loop's thread must not wait for requests in
  flight: they run on that very thread and cannot progress while it waits
  (:func:`loop_running_here`).

Handlers that an app or server installed are never replaced: a signal that
already has a handler other than the default keeps it, and a signal held
back is handed to the handler it had.
"""

from __future__ import annotations

import _signal
import os
import signal
import sys
from contextlib import contextmanager
from types import FrameType
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from requestcov._threads import in_green_hub, on_main_thread

__all__ = ["install_stop_handlers", "signals_held", "loop_running_here", "STOP_SIGNALS"]

#: Signals whose default action ends the process without running ``atexit``.
STOP_SIGNALS: Tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
#: Signals held back while the last records are written.
HELD_SIGNALS: Tuple[int, ...] = STOP_SIGNALS + (signal.SIGINT,)

def install_stop_handlers(close: Callable[[bool], None]) -> None:
    """For each of :data:`STOP_SIGNALS` still at its default disposition,
    a handler that calls ``close(in_signal_handler=True)`` and then dies of
    the signal. Only the main thread can set handlers; elsewhere this does
    nothing, and the process stops through ``atexit`` as usual.

    Raising SystemExit instead of dying would not do: a server's catch-all
    around a request (wsgiref's) swallows it and keeps serving.
    """
    if not on_main_thread():  # (threading alone cannot tell under eventlet)
        return

    def write_then_die(signum: int, frame: Optional[FrameType]) -> None:
        try:
            close(True)
        finally:
            try:
                signal.signal(signum, signal.SIG_DFL)
            except (ValueError, OSError):  # pragma: no cover - not the main thread
                pass
            os.kill(os.getpid(), signum)

    for signum in STOP_SIGNALS:
        try:
            if signal.getsignal(signum) is signal.SIG_DFL:
                signal.signal(signum, write_then_die)
        except (ValueError, OSError):  # not the main thread of the main interpreter
            pass


@contextmanager
def signals_held(*, at_exit: bool) -> Iterator[None]:
    """Hold SIGTERM, SIGINT and SIGHUP back while the block runs; then give
    each one that came (once per signal) to the handler it had.

    ``at_exit``: the process is ending anyway (``atexit``). A held signal whose
    handler would only end it sooner (raise ``SystemExit`` or
    ``KeyboardInterrupt``) then changes nothing and is not re-raised into
    the interpreter's shutdown; one at its default disposition still ends the
    process with that signal, as it would have without requestcov.
    """
    if not on_main_thread():
        yield
        return
    held: List[int] = []
    previous: Dict[int, object] = {}

    def hold(signum: int, frame: Optional[FrameType]) -> None:
        if signum not in held:
            held.append(signum)

    # ``_signal``'s functions, not ``signal``'s wrappers around them: each is
    # one step a signal cannot cut in two, against the wrappers' many
    # bytecodes of enum conversion (handlers come back as plain ints).
    try:
        # Inside the ``try``, and each handler kept before it is replaced: a
        # signal that cuts in between two of these steps (its handler raising
        # ``SystemExit``) still finds every signal given back its own handler.
        for signum in HELD_SIGNALS:
            try:
                handler = _signal.getsignal(signum)
                # A handler set outside Python (a C extension's, libev's)
                # could not be put back: that signal is left alone.
                if handler is not None:
                    previous[signum] = handler
                    _signal.signal(signum, hold)
            except (ValueError, OSError, TypeError):
                previous.pop(signum, None)
        yield
    finally:
        for signum, handler in previous.items():
            _signal.signal(signum, handler)  # type: ignore[arg-type]
        for signum in held:
            _deliver(signum, previous.get(signum), at_exit=at_exit)


def _deliver(signum: int, handler: object, *, at_exit: bool) -> None:
    """Hand a held signal to the handler it would have reached."""
    if handler == signal.SIG_IGN:  # (an int from ``_signal``, or the enum)
        return
    if callable(handler):
        if not at_exit:
            handler(signum, sys._getframe(1))
            return
        try:
            handler(signum, sys._getframe(1))
        except (SystemExit, KeyboardInterrupt):
            pass  # the process is already on its way out
        return
    # The default disposition (or one set outside Python): the kernel's action.
    if signum == signal.SIGINT and at_exit:
        return
    os.kill(os.getpid(), signum)


def loop_running_here() -> bool:
    """Whether an asyncio event loop runs on the calling thread, or the caller
    is the hub of gevent or eventlet: a signal handler there interrupted the
    loop, so no request can progress while it waits."""
    if in_green_hub():
        return True
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return False
    try:
        return asyncio._get_running_loop() is not None
    except Exception:  # pragma: no cover - an asyncio stand-in
        return False
