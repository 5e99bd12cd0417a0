"""Moves finished requests to the store on a thread of its own.

The request path only puts an item on a bounded queue; turning code objects
into file paths, encoding line sets and the SQLite transaction all happen here,
in batches. The thread is restarted in a forked child (gunicorn forks its
workers after loading the app), and :meth:`BackgroundWriter.flush` at exit
writes everything still queued.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

from requestcov.errors import StoreError
from requestcov.log import log_once, logger
from requestcov.records import RequestRecord
from requestcov.store.sqlite import SQLiteStore

__all__ = ["BackgroundWriter"]

_STOP = object()


class BackgroundWriter:
    """A bounded queue of finished requests and the thread that writes them."""

    def __init__(
        self,
        db_path: Path,
        convert: Callable[[Any], Optional[RequestRecord]],
        *,
        batch_size: int = 512,
        max_queued: int = 50_000,
        put_timeout: float = 5.0,
        gather_seconds: float = 0.05,
        on_thread_start: Optional[Callable[[], None]] = None,
    ) -> None:
        self.db_path = db_path
        self.convert = convert
        #: How long the thread lets requests pile up before a transaction:
        #: one transaction per burst rather than per request, and far fewer
        #: wake-ups competing with the app's threads for the GIL.
        self.gather_seconds = gather_seconds
        self.on_thread_start = on_thread_start
        self._hurry = threading.Event()
        self.batch_size = batch_size
        self.max_queued = max_queued
        self.put_timeout = put_timeout
        self.written = 0
        self.dropped = 0
        self.failed: Optional[str] = None
        self._lock = threading.Lock()
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        """Fresh queue and no thread: after a fork, the parent's thread is gone."""
        self._pid = os.getpid()
        self._queue: "queue.Queue[Any]" = queue.Queue(self.max_queued)
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def _ensure_thread(self) -> bool:
        """Start the writer thread if needed; False when no thread can start."""
        if self._thread is not None and self._pid == os.getpid():
            return True
        with self._lock:
            if self._pid != os.getpid():
                self._reset()
            if self._thread is None:
                if sys.is_finalizing():
                    # A thread started now would never run (Python 3.11 waits
                    # for it forever): the caller writes on its own thread.
                    return False
                thread = threading.Thread(target=self._run, name="requestcov-writer", daemon=True)
                try:
                    thread.start()
                except RuntimeError:
                    # At interpreter shutdown (atexit) no thread can start: a
                    # process that never served a request (a server's master,
                    # a reloader) writes its start-up record on this thread.
                    return False
                self._thread = thread
        return True

    def _write_now(self, items: List[Any]) -> None:
        store = self._open_store()
        try:
            self._write(store, items)
        finally:
            if store is not None:
                store.close()

    def submit(self, item: Any) -> None:
        """Queue a finished request. Waits a little when the queue is full
        rather than lose it; drops and counts it only when the writer is stuck."""
        if self.failed is not None:
            self.dropped += 1
            return
        if not self._ensure_thread():
            self._write_now([item])
            return
        try:
            self._queue.put(item, timeout=self.put_timeout)
        except queue.Full:
            self.dropped += 1
            log_once(
                "writer-full",
                "requestcov: the store %s does not keep up; requests are being dropped", self.db_path,
            )

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is written (or given up on)."""
        if self._thread is None or self._pid != os.getpid():
            return True
        self._hurry.set()
        try:
            return self._wait_until_written(timeout)
        finally:
            self._hurry.clear()

    def _wait_until_written(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        condition = self._queue.all_tasks_done
        with condition:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                condition.wait(remaining)
        return True

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            try:
                self._queue.put(_STOP, timeout=1.0)
            except queue.Full:
                return
            thread.join(timeout)
            self._thread = None

    # -- the writer thread ------------------------------------------------

    def _run(self) -> None:
        if self.on_thread_start is not None:
            self.on_thread_start()
        store = self._open_store()
        while True:
            first = self._queue.get()
            if first is not _STOP and not self._hurry.is_set():
                self._hurry.wait(self.gather_seconds)
            batch = [first]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in batch)
            items = [item for item in batch if item is not _STOP]
            try:
                if items:
                    self._write(store, items)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if stop:
                if store is not None:
                    store.close()
                return

    def _open_store(self) -> Optional[SQLiteStore]:
        try:
            return SQLiteStore(self.db_path)
        except StoreError as error:
            self.failed = str(error)
            log_once("store-open", "requestcov: %s; recording stops in this process", error)
            return None

    def _write(self, store: Optional[SQLiteStore], items: List[Any]) -> None:
        if store is None:
            self.dropped += len(items)
            return
        records: List[RequestRecord] = []
        for item in items:
            try:
                record = self.convert(item)
            except Exception:
                log_once("writer-convert", "requestcov: could not prepare a record", exc_info=True)
                self.dropped += 1
                continue
            if record is not None:
                records.append(record)
        for attempt in range(3):
            try:
                store.write(records)
                self.written += len(records)
                return
            except Exception as error:  # sqlite3 errors, a full disk, a lock held too long
                if attempt == 2:
                    self.dropped += len(records)
                    log_once(
                        "writer-write", "requestcov: cannot write to %s (%s); %d requests lost",
                        self.db_path, error, len(records),
                    )
                    return
                logger.debug("requestcov: write to %s failed (%s), retrying", self.db_path, error)
                time.sleep(0.2 * (attempt + 1))
