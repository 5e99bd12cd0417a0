"""The bounded queue between request threads and the background writer.

``queue.Queue`` is made for the opposite balance of work: every ``put`` takes
a lock and notifies a condition (a few Python-level calls), and a producer
blocked on a full queue is woken after every single ``get``, which turned
into a GIL convoy once the writer fell behind. Here a ``put`` on a queue with
room is a ``deque.append`` (atomic under the GIL) and a flag check; the
writer takes whole batches; producers are only involved with a lock when the
queue is full, and are woken once a batch's worth of room is free.

There is exactly one consumer, the writer thread: the bookkeeping of what it
holds in hand relies on that.

The locks and events are real ones (:mod:`requestcov._threads`) even in a
gevent or eventlet worker, where the writer is an OS thread beside the hub;
a green producer that has to wait (a full queue, a flush) polls
cooperatively rather than block the hub.
"""

from __future__ import annotations

import time
from collections import deque
from itertools import repeat, starmap
from typing import Any, Deque, List, Optional

from requestcov._threads import Condition, Event, allocate_lock, poll_until, threads_are_green, wait_for

__all__ = ["BatchQueue"]


class _Marker:
    """Put by :meth:`BatchQueue.wait_done`: set once everything before it is handled."""

    __slots__ = ("handled",)

    def __init__(self) -> None:
        self.handled = Event()


class BatchQueue:
    """A FIFO of about ``limit`` items (producers racing for the last place
    may pass it by one each), taken in batches by one consumer."""

    def __init__(self, limit: int, room: int = 512) -> None:
        self.limit = max(1, limit)
        #: Producers blocked on a full queue wake once this many places are free.
        self.room = max(1, min(room, self.limit))
        self._items: Deque[Any] = deque()
        #: The consumer sleeps by acquiring this held lock; a producer wakes it
        #: by releasing it. A release is one C call: a signal handler that
        #: interrupts a producer on its own thread and then puts items itself
        #: (the last flush at a stop) can never wait on a lock that producer
        #: holds, as it could inside ``threading.Event.set``.
        self._wake = allocate_lock()
        self._wake.acquire()
        #: Raised by the consumer before its last look at the queue, before it sleeps.
        self._consumer_sleeping = False
        self._lock = allocate_lock()
        self._not_full = Condition(self._lock)
        self._blocked_producers = 0
        #: The consumer took items it has not yet marked done. Set *before*
        #: it pops anything, and read by :meth:`wait_done` *after* it looked
        #: at the queue, so an item is always seen in one place or the other.
        self._in_hand = False
        self._markers_in_hand: List[_Marker] = []
        #: One entry for each marker put and not yet taken: while there are
        #: none, a batch taken is not looked through for them.
        self._markers_pending: Deque[None] = deque()

    def qsize(self) -> int:
        return len(self._items)

    def put(self, item: Any, timeout: Optional[float] = None) -> bool:
        """Add ``item``, waiting up to ``timeout`` seconds (None: forever, 0:
        not at all) while the queue is full; False when it stayed full."""
        items = self._items
        if len(items) >= self.limit and not self._wait_for_room(timeout):
            return False
        # What _append does, inline: a put is made for every request.
        items.append(item)
        if self._consumer_sleeping:
            self._wake_consumer()
        return True

    def _append(self, item: Any) -> None:
        self._items.append(item)
        # Appended before the check: a consumer that raised the flag and then
        # found the queue empty is about to sleep, and is woken. Only the
        # consumer lowers the flag, once awake: a producer that lowered it
        # and was then interrupted by a signal handler before its release
        # would leave the handler's own items (the last flush) with a
        # consumer asleep and nobody to wake it.
        if self._consumer_sleeping:
            self._wake_consumer()

    def _wake_consumer(self) -> None:
        try:
            self._wake.release()
        except RuntimeError:  # released already by another producer
            pass

    def _wait_for_room(self, timeout: Optional[float]) -> bool:
        if timeout == 0:
            return False
        deadline = None if timeout is None else time.monotonic() + timeout
        if threads_are_green():
            # Not on the real lock: that would hold up the hub, and every
            # other request with it; the writer frees room on its own thread.
            return poll_until(self._has_room, deadline)
        with self._lock:
            # Counted before the queue is looked at: a consumer that freed
            # room after this look sees the count and wakes us.
            self._blocked_producers += 1
            try:
                while len(self._items) >= self.limit:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._not_full.wait(remaining)
            finally:
                self._blocked_producers -= 1
        return True

    def _has_room(self) -> bool:
        return len(self._items) < self.limit

    def take(self, most: int, timeout: Optional[float] = None) -> List[Any]:
        """Up to ``most`` items, waiting up to ``timeout`` (None: forever, 0:
        not at all) for the first; [] when none came. Call :meth:`done` once
        the items taken are handled."""
        deadline = None if timeout is None else time.monotonic() + timeout
        items = self._items
        while True:
            if not items and timeout != 0:
                self._consumer_sleeping = True
                if not items:
                    remaining = -1 if deadline is None else max(0.0, deadline - time.monotonic())
                    # A wake-up left over from an earlier release (producers
                    # that saw the flag up before it was lowered) returns at
                    # once: the loop looks again.
                    self._wake.acquire(True, remaining)
                self._consumer_sleeping = False
            already_in_hand = self._in_hand
            self._in_hand = True
            # Popped in C, not one Python loop turn an item: the writer takes
            # an item for every request. Only this consumer pops, so the
            # count taken can only have grown by the time the pops run.
            batch: List[Any] = list(starmap(items.popleft, repeat((), min(len(items), most))))
            if self._markers_pending:
                self._take_markers(batch)
            if self._blocked_producers and len(items) <= self.limit - self.room:
                with self._lock:
                    self._not_full.notify_all()
            if batch:
                return batch
            if not already_in_hand:
                # Only markers, with nothing taken before them: they are done.
                self.done()
            if timeout == 0 or (deadline is not None and time.monotonic() >= deadline):
                return []

    def _take_markers(self, batch: List[Any]) -> None:
        """Moves the markers out of ``batch`` into the hand."""
        markers = [item for item in batch if type(item) is _Marker]
        if markers:
            batch[:] = [item for item in batch if type(item) is not _Marker]
            self._markers_in_hand.extend(markers)
            for _ in markers:
                self._markers_pending.popleft()

    def done(self) -> None:
        """Everything taken so far is handled."""
        markers, self._markers_in_hand = self._markers_in_hand, []
        self._in_hand = False
        for marker in markers:
            marker.handled.set()

    def wait_done(self, timeout: float) -> bool:
        """Wait until every item put so far is handled; False on timeout."""
        if not self._items and not self._in_hand:
            return True
        marker = _Marker()
        # Counted before it is put (one atomic append, no lock: this may run
        # in a signal handler), so a consumer that pops it has seen the count.
        self._markers_pending.append(None)
        self._append(marker)
        return wait_for(marker.handled, timeout)
