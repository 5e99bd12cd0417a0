"""Never silent: a server whose app ``requestcov run`` cannot wrap answers
every request and records none, so it says so, once per process, on stderr.

How it knows, cheaply: in launched processes only, ``socket.socket.accept``
(which every Python-level server calls, asyncio's event loop too) counts the
TCP connections accepted. The first one starts a one-shot timer. When it
fires, a process whose recorder began no request looks unsupported if it
accepted more than one connection, or ran measured code outside requests since
the first one; a lone connection that ran no code may be a port probe (such as
``requestcov run --replay``'s own), so the next connection starts the timer
again. Once a request has begun there is nothing left to do, and the patched
``accept`` costs one attribute test per connection.

Unix-socket listeners are not counted: they are how ``multiprocessing`` and
gunicorn's control socket talk to their own processes.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any, Optional, Tuple

from requestcov.integrations._patching import is_wrapped, mark

if TYPE_CHECKING:  # the command line imports UNSUPPORTED without the recorder
    from requestcov.recorder import Recorder

__all__ = ["install", "UNSUPPORTED", "DELAY"]

#: Seconds from a connection to the check (a request begins as soon as the
#: server has read its headers).
DELAY = 5.0

UNSUPPORTED = ("this server looks unsupported by requestcov run; wrap the app by hand (see the README's "
               "Record section: requestcov.WSGIMiddleware or ASGIMiddleware, or the Flask or Django adapter)")

_FAMILIES = tuple(getattr(socket, name) for name in ("AF_INET", "AF_INET6") if hasattr(socket, name))


class _Watch:
    """This process's connections and timer; started anew in a forked child."""

    def __init__(self) -> None:
        #: True once there is nothing left to watch: a request began, the
        #: warning was given, or there is no recorder to ask.
        self.done = False
        self.accepted = 0
        self.timer: Optional[threading.Timer] = None
        self.lock = threading.Lock()


_watch = _Watch()


def install() -> None:
    """Count the connections accepted from now on, in this process and its forks."""
    original = socket.socket.accept
    if is_wrapped(original):
        return

    @functools.wraps(original)
    def accept(self: socket.socket) -> Tuple[socket.socket, Any]:
        accepted = original(self)
        if not _watch.done:
            try:
                if self.family in _FAMILIES:
                    _accepted()
            except Exception:  # never let the watch break a server
                _watch.done = True
        return accepted

    socket.socket.accept = mark(accept)  # type: ignore[method-assign]
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_reset)


def _reset() -> None:
    global _watch
    _watch = _Watch()


def _accepted() -> None:
    watch = _watch
    watch.accepted += 1
    if watch.timer is not None:
        return
    with watch.lock:
        if watch.timer is not None or watch.done:
            return
        from requestcov.recorder import current_recorder

        recorder = current_recorder()
        if recorder is None or recorder.requests_begun:
            watch.done = True
            return
        recorder.serving_started()
        timer = threading.Timer(DELAY, _check, args=(watch, recorder))
        timer.daemon = True
        watch.timer = timer
        timer.start()


def _check(watch: _Watch, recorder: "Recorder") -> None:
    try:
        if watch.done or recorder.requests_begun:
            watch.done = True
            return
        ran = recorder.ran_while_serving_unrecorded()
        if watch.accepted < 2 and not ran:
            watch.timer = None  # a probe, perhaps: the next connection looks again
            return
        watch.done = True
        sys.stderr.write(
            f"requestcov: process {os.getpid()} accepted {watch.accepted} "
            f"connection{'s' if watch.accepted != 1 else ''} but recorded no request: {UNSUPPORTED}\n"
        )
        sys.stderr.flush()
    except Exception:  # pragma: no cover - the interpreter shutting down
        watch.done = True
