"""The bounded queue between request threads and the background writer.

``queue.Queue`` hands items over one at a time and wakes a producer blocked
on a full queue after every single ``get``. When the writer falls behind, that
turns into a GIL convoy: the writer drains an item, the woken producer takes
the GIL to add one, the writer waits to get it back, and so on for every item
and every SQLite call that releases the GIL, which halved the writer's
throughput in the store benchmark. Here the writer takes a whole batch under
one lock, and blocked producers are woken only once a batch's worth of room
is free.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Deque, List, Optional

__all__ = ["BatchQueue"]


class BatchQueue:
    """A FIFO of at most ``limit`` items, taken in batches, with task accounting
    so :meth:`wait_done` knows when everything put so far has been handled."""

    def __init__(self, limit: int, room: int = 512) -> None:
        self.limit = max(1, limit)
        #: Producers blocked on a full queue wake once this many places are free.
        self.room = max(1, min(room, self.limit))
        self._items: Deque[Any] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._all_done = threading.Condition(self._lock)
        self._unfinished = 0

    def qsize(self) -> int:
        return len(self._items)

    @property
    def unfinished(self) -> int:
        """Items put and not yet marked done."""
        return self._unfinished

    def put(self, item: Any, timeout: Optional[float] = None) -> bool:
        """Add ``item``, waiting up to ``timeout`` seconds (None: forever, 0:
        not at all) while the queue is full; False when it stayed full."""
        with self._not_full:
            if len(self._items) >= self.limit:
                if timeout == 0:
                    return False
                deadline = None if timeout is None else time.monotonic() + timeout
                while len(self._items) >= self.limit:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._not_full.wait(remaining)
            self._items.append(item)
            self._unfinished += 1
            self._not_empty.notify()
            return True

    def take(self, most: int, timeout: Optional[float] = None) -> List[Any]:
        """Up to ``most`` items, waiting up to ``timeout`` (None: forever, 0:
        not at all) for the first; [] when none came."""
        with self._not_empty:
            if not self._items and timeout != 0:
                deadline = None if timeout is None else time.monotonic() + timeout
                while not self._items:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    self._not_empty.wait(remaining)
            items = self._items
            batch = [items.popleft() for _ in range(min(most, len(items)))]
            if batch and len(items) <= self.limit - self.room:
                self._not_full.notify_all()
            return batch

    def done(self, count: int) -> None:
        """Mark ``count`` taken items as handled."""
        with self._lock:
            self._unfinished = max(0, self._unfinished - count)
            if not self._unfinished:
                self._all_done.notify_all()

    def wait_done(self, timeout: float) -> bool:
        """Wait until every item put so far is marked done; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._all_done:
            while self._unfinished:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._all_done.wait(remaining)
        return True
