"""Real OS threads and locks, also in a process gevent or eventlet made green.

Their monkey-patching replaces ``_thread`` and ``threading`` with greenlet
versions: a ``threading.Thread`` started after it is a greenlet on the hub's
OS thread, and its locks switch greenlets instead of blocking. requestcov's
writer must not be one. Its SQLite transactions would stall every request of
the worker; a real lock held while a green ``Thread.start()`` switches away
deadlocks the next request that wants it; and on Python 3.9-3.11 the writer
clears its thread's trace function, which a greenlet shares with every
request of the worker (their lines after the next switch would be lost).

So the writer thread and the queue it shares with the request path use the
interpreter's own functions, found the robust way: captured when this module
is first imported (before any patching under ``requestcov run``), else asked
of gevent (``gevent.monkey.get_original``) or eventlet
(``eventlet.patcher.original``), which keep what they replaced (an app wired
by hand imports requestcov after the worker patched). An original is
recognised by being a built-in function; the patched ones are Python code.
:class:`Condition` and :class:`Event` are CPython's algorithms on these real
locks (``threading``'s own classes take their locks from the patched module).

A green caller must never block its OS thread for long, since every other
request of the worker waits with it: :func:`wait_for` and :func:`poll_until`
look again after each :func:`pause` there, a cooperative sleep.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from importlib import import_module
from types import BuiltinFunctionType
from typing import Any, Callable, Deque, Dict, Optional, Tuple

__all__ = [
    "allocate_lock", "threads_are_green", "in_spawned_greenlet", "in_green_hub", "on_main_thread", "pause",
    "poll_until", "wait_for", "Condition", "Event", "RealThread",
]

_ORIGINALS = (
    ("_thread", "allocate_lock"), ("_thread", "start_new_thread"), ("_thread", "get_ident"), ("time", "sleep"),
)
#: As they were when requestcov was first imported: the originals, unless a
#: green library patched them before that.
_AT_IMPORT: Dict[Tuple[str, str], Any] = {
    (module, name): getattr(import_module(module), name) for module, name in _ORIGINALS
}
_found: Dict[Tuple[str, str], Any] = {}
#: How long a green caller sleeps between two looks at what it waits for.
_GREEN_POLL = 0.005


def _original(module: str, name: str) -> Any:
    """``module.name`` as the interpreter made it (a built-in function)."""
    key = (module, name)
    known = _found.get(key)
    if known is not None:
        return known
    candidates = [_AT_IMPORT[key]]
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None:
        try:
            candidates.append(monkey.get_original(module, name))
        except Exception:  # an older or odd gevent: try the others
            pass
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None:
        try:
            candidates.append(getattr(patcher.original(module), name))
        except Exception:
            pass
    for candidate in candidates:
        if isinstance(candidate, BuiltinFunctionType):
            _found[key] = candidate
            return candidate
    # Nothing better is known (an unknown patcher): what we have.
    return _AT_IMPORT[key]


def allocate_lock() -> Any:
    """A real lock: blocks the OS thread, whoever patched ``threading``."""
    return _original("_thread", "allocate_lock")()


def threads_are_green() -> bool:
    """Whether ``_thread`` is patched now: the caller is then a greenlet
    sharing its OS thread with every other request of the worker."""
    current = getattr(sys.modules.get("_thread"), "allocate_lock", None)
    return current is not None and current is not _original("_thread", "allocate_lock")


def in_spawned_greenlet() -> bool:
    """Whether the caller is a greenlet sharing its OS thread (and the thread
    state: the trace function, among others) with the thread's main greenlet
    and its other greenlets."""
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return False
    try:
        return greenlet.getcurrent().parent is not None
    except Exception:  # pragma: no cover - an odd greenlet
        return False


def in_green_hub() -> bool:
    """Whether the caller is the hub of gevent or eventlet: the greenlet that
    runs all the others, and cannot switch away to let them progress (a
    signal handler runs there when the signal comes while the hub polls)."""
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return False
    try:
        current = greenlet.getcurrent()
        gevent_hub = sys.modules.get("gevent.hub")
        if gevent_hub is not None and isinstance(current, gevent_hub.Hub):
            return True
        eventlet_hubs = sys.modules.get("eventlet.hubs")
        return eventlet_hubs is not None and threads_are_green() and eventlet_hubs.get_hub().greenlet is current
    except Exception:  # pragma: no cover - an odd green library
        return False


def on_main_thread() -> bool:
    """Whether the caller runs on the interpreter's main thread, where signal
    handlers are set, whichever greenlet it is. ``threading`` alone cannot
    tell there: eventlet's green ``current_thread()`` is never
    ``main_thread()``, whose ident stays the OS thread's (gevent gives it the
    main greenlet's, and keeps ``current_thread()`` right)."""
    main = threading.main_thread()
    return threading.current_thread() is main or _original("_thread", "get_ident")() == main.ident


def pause(seconds: float) -> None:
    """``time.sleep`` as it is now: a green library's lets the hub run the
    other requests meanwhile. The hub's own greenlet cannot switch (a signal
    handler may run there), and its green sleep refuses: then the real one."""
    try:
        time.sleep(seconds)
    except Exception:  # eventlet's RuntimeError, gevent's BlockingSwitchOutError
        _original("time", "sleep")(seconds)


def poll_until(ready: Callable[[], bool], deadline: Optional[float]) -> bool:
    """Look at ``ready()`` until it is true (True) or ``time.monotonic()``
    passed ``deadline`` (False), with a :func:`pause` between looks."""
    while not ready():
        if deadline is not None and time.monotonic() >= deadline:
            return False
        pause(_GREEN_POLL)
    return True


def wait_for(event: "Event", timeout: Optional[float]) -> bool:
    """``event.wait(timeout)``, without blocking the hub of a green caller."""
    if not threads_are_green():
        return event.wait(timeout)
    return poll_until(event.is_set, None if timeout is None else time.monotonic() + timeout)


class Condition:
    """``threading.Condition`` (wait, notify_all) on a real lock."""

    __slots__ = ("_lock", "_waiters")

    def __init__(self, lock: Any = None) -> None:
        self._lock = lock if lock is not None else allocate_lock()
        self._waiters: Deque[Any] = deque()

    def __enter__(self) -> bool:
        return bool(self._lock.acquire())

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Release the lock until notified or ``timeout`` passed; the lock
        must be held. True when notified."""
        waiter = allocate_lock()
        waiter.acquire()
        self._waiters.append(waiter)
        self._lock.release()
        notified = False
        try:
            if timeout is None:
                notified = bool(waiter.acquire())
            else:
                notified = bool(waiter.acquire(True, max(0.0, timeout)))
            return notified
        finally:
            self._lock.acquire()
            if not notified:
                try:
                    self._waiters.remove(waiter)
                except ValueError:  # notified just after the timeout
                    pass

    def notify_all(self) -> None:
        """Wake every waiter; the lock must be held."""
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            waiter.release()


class Event:
    """``threading.Event`` on a real lock."""

    __slots__ = ("_condition", "_flag")

    def __init__(self) -> None:
        self._condition = Condition()
        self._flag = False

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        with self._condition:
            self._flag = True
            self._condition.notify_all()

    def clear(self) -> None:
        with self._condition:
            self._flag = False

    def wait(self, timeout: Optional[float] = None) -> bool:
        with self._condition:
            signaled = self._flag
            if not signaled:
                signaled = self._condition.wait(timeout)
            return signaled


class RealThread:
    """A daemon OS thread (``start``, ``join``, ``is_alive``), never a greenlet.

    Like a daemon ``threading.Thread`` it does not hold up the interpreter's
    exit. An exception escaping ``target`` is handed to ``on_error``.
    """

    def __init__(self, target: Callable[[], None], on_error: Callable[[], None]) -> None:
        self._target = target
        self._on_error = on_error
        self._started = False
        self._finished = Event()
        self.ident: Optional[int] = None

    def start(self) -> None:
        """Start the thread; RuntimeError when no thread can start (at exit)."""
        if self._started:
            raise RuntimeError("a thread starts only once")
        self._started = True
        self.ident = _original("_thread", "start_new_thread")(self._bootstrap, ())

    def _bootstrap(self) -> None:
        try:
            self._target()
        except BaseException:
            try:
                self._on_error()
            except BaseException:  # pragma: no cover - the interpreter is shutting down
                pass
        finally:
            self._finished.set()

    def is_alive(self) -> bool:
        return self._started and not self._finished.is_set()

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait until the thread ended; False when ``timeout`` passed first."""
        return wait_for(self._finished, timeout)
