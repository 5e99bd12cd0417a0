"""Moves finished requests to the store on a thread of its own.

The request path only puts an item on a bounded queue; turning code objects
into file paths, encoding line sets and the SQLite transaction all happen here,
in batches. The thread is restarted in a forked child (gunicorn forks its
workers after loading the app), and :meth:`BackgroundWriter.flush` at exit
writes everything still queued.

A store that cannot be opened or written (a read-only folder, a full disk, a
lock held too long, a corrupt file, a newer schema) is reported once; the
writer then records into its fallback store when it has one, and otherwise
stops recording in this process. The app never waits on a broken store for
more than one short pause. Whatever was not written is counted, and the exact
number is logged once, when the writer closes.

A store deleted or replaced while recording would otherwise swallow every
later record unseen (SQLite writes on into the file it opened): each batch
checks that the path still names that file, and starts a new store there
when it does not, with one warning.

The thread is a real OS thread with real locks (:mod:`requestcov._threads`)
also in a gevent or eventlet worker, where ``threading`` would give a
greenlet: SQLite's writes would then run on the hub's thread, between the
worker's requests.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from requestcov._threads import Event, RealThread, allocate_lock
from requestcov.errors import StoreError
from requestcov.log import log_once, logger
from requestcov.records import STARTUP, RequestRecord
from requestcov.store.batchqueue import BatchQueue
from requestcov.store.sqlite import SQLiteStore
from requestcov.shutdown import signals_held

__all__ = ["BackgroundWriter"]

_STOP = object()
#: How long a fork waits for the writer to leave SQLite.
_FORK_WAIT_SECONDS = 5.0

#: Said wherever recording stops, since what follows (requests not recorded)
#: cannot be counted yet.
_STOPS = "recording stops in this process; the requests not written are counted when it exits"
#: Why requests were not written, as the count at exit names it (each was
#: logged in full once when it first happened).
_STOPPED = "recording had stopped after the error above"
_BEHIND = "the store did not keep up"
_UNPREPARED = "records could not be prepared"


class BackgroundWriter:
    """A bounded queue of finished requests and the thread that writes them."""

    def __init__(
        self,
        db_path: Path,
        convert: Callable[[Any], Optional[RequestRecord]],
        *,
        batch_size: int = 512,
        max_queued: int = 5_000,
        put_timeout: float = 5.0,
        gather_seconds: float = 0.05,
        idle_seconds: float = 0.01,
        on_thread_start: Optional[Callable[[], None]] = None,
        fallback_path: Optional[Path] = None,
        busy_timeout: float = 60.0,
        before_batch: Optional[Callable[[], None]] = None,
        is_startup: Callable[[Any], bool] = lambda item: getattr(item, "kind", None) == STARTUP,
        ready_rows: Optional[Callable[[List[Any], int, List[Any], Dict[Any, Tuple[Any, ...]]], int]] = None,
    ) -> None:
        """``convert`` makes an item's record (None: nothing to write).
        ``ready_rows(items, index, out, set_ids)``, when given, converts the
        items it can from ``index`` on first, appending what the store takes
        (:data:`~requestcov.records.ReadyRow`, with the ids of the sets the
        store's ``known_sets``, given as ``set_ids``, holds) to ``out``, and
        returns the index of the first it cannot: that one goes to ``convert``.
        ``before_batch`` runs on the writer thread before each batch is
        converted: the recorder's file versions are checked once a batch.
        ``is_startup`` tells a start-up item (queued, or its record) from a
        request's, for the count of what was lost."""
        self.db_path = db_path
        self.before_batch = before_batch
        self.is_startup = is_startup
        #: Where records go when ``db_path`` cannot be opened or written.
        self.fallback_path = fallback_path
        #: How long one write waits for another process's lock on the store.
        self.busy_timeout = busy_timeout
        #: The store records are written to now: ``db_path``, or the fallback.
        self.current_path: Path = db_path
        self.convert = convert
        self.ready_rows = ready_rows
        #: How long the thread lets requests pile up before a transaction:
        #: one transaction per burst rather than per request, and far fewer
        #: wake-ups competing with the app's threads for the GIL.
        self.gather_seconds = gather_seconds
        #: A batch is written once this long passes with no new request.
        self.idle_seconds = min(idle_seconds, gather_seconds)
        self.on_thread_start = on_thread_start
        self.batch_size = batch_size
        #: Each queued item holds a request's line sets: the bound keeps memory
        #: in check while a store is stuck, far above what 50 ms of traffic fills.
        self.max_queued = max_queued
        self.put_timeout = put_timeout
        self.written = 0
        #: Everything not written (requests and the start-up record) ...
        self.dropped = 0
        #: ... of which start-up records, which are not requests.
        self.dropped_startup = 0
        #: Why, in the order the reasons came up.
        self._drop_reasons: Dict[str, None] = {}
        self._losses_reported = False
        #: Request threads count drops after a failure all at once: counted
        #: under a lock (off the normal request path), made anew in a child.
        self._count_lock = allocate_lock()
        self._warned_moved = False
        self.failed: Optional[str] = None
        #: Set when a submit found the queue full: later ones do not wait
        #: again until the writer thread has finished another batch.
        self._stuck = False
        self._closed = False
        self._reset()
        self._fork_waited = False
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(before=self._before_fork, after_in_parent=self._after_fork_in_parent,
                                after_in_child=self._reset)
            os.register_at_fork(after_in_child=self._new_count_lock)

    def _before_fork(self) -> None:
        """Let the writer thread finish what it does in SQLite first: a child
        forked meanwhile inherits SQLite's mutexes locked by a thread it does
        not have, and its first use of any database (its own writer's, or
        the app's) hangs forever. A write is a few milliseconds; a store
        stuck on another process's lock is not waited for long."""
        self._fork_waited = self._in_sqlite.acquire(True, _FORK_WAIT_SECONDS)

    def _after_fork_in_parent(self) -> None:
        if self._fork_waited:
            self._fork_waited = False
            self._in_sqlite.release()

    def _new_count_lock(self) -> None:
        self._count_lock = allocate_lock()

    def _reset(self) -> None:
        """Fresh queue and no thread: after a fork, the parent's thread is gone."""
        self._pid = os.getpid()
        self._queue = BatchQueue(self.max_queued, room=self.batch_size)
        self._thread: Optional[RealThread] = None
        self._lock = allocate_lock()
        #: Held while this process's writer is inside SQLite (see _before_fork).
        self._in_sqlite = allocate_lock()
        #: Set by flush(): the thread writes what it has without gathering more.
        #: New after a fork too, where the parent's thread may have held its lock.
        self._hurry = Event()

    def _ensure_thread(self) -> bool:
        """Start the writer thread if needed; False when no thread can start."""
        # No getpid() here, on every request: a forked child has reset
        # ``_thread`` through the at-fork hook.
        if self._thread is not None:
            return True
        # Not waited on for long: a stop's signal handler that interrupted
        # this very thread while it held the lock must not wait forever; it
        # writes on its own thread instead.
        lock = self._lock  # (a reset below makes a new one)
        if not lock.acquire(True, 1.0):
            return False
        try:
            if self._pid != os.getpid():
                self._reset()
            if self._thread is None:
                if sys.is_finalizing():
                    # A thread started now would never run (Python 3.11 waits
                    # for it forever): the caller writes on its own thread.
                    return False
                thread = RealThread(self._run, on_error=self._crashed)
                try:
                    # A signal handler raising out of the start (an app's own
                    # handler calling sys.exit) would leave a thread running
                    # that ``_thread`` does not know: a second consumer of the
                    # queue. Held back, the signal reaches its handler once
                    # the thread is known.
                    with signals_held(at_exit=False):
                        thread.start()
                        self._thread = thread
                except RuntimeError:
                    # At interpreter shutdown (atexit) no thread can start: a
                    # process that never served a request (a server's master,
                    # a reloader) writes its start-up record on this thread.
                    return False
        finally:
            lock.release()
        return True

    def _write_now(self, items: List[Any]) -> None:
        # Waited on for a while only: a signal handler may interrupt this
        # very thread while it writes here, and write again.
        in_sqlite = self._in_sqlite
        held = in_sqlite.acquire(True, _FORK_WAIT_SECONDS)
        try:
            store = self._write(self._open_store(), items)
            if store is not None:
                store.close()
        finally:
            if held:
                in_sqlite.release()

    def submit(self, item: Any) -> None:
        """Queue a finished request. Waits a little when the queue is full
        rather than lose it; drops and counts it only when the writer is stuck."""
        if self.failed is not None:
            self._lose((item,), _STOPPED)
            return
        # Every request comes here: the thread's check is made inline, and
        # the put's arguments are positional (each Python call, and each
        # keyword, costs the request its share of instructions).
        if self._closed or (self._thread is None and not self._ensure_thread()):
            # After close(): a request that a server still finished while the
            # process exits is written at once, on its own thread.
            self._write_now([item])
            return
        if not self._queue.put(item, 0 if self._stuck else self.put_timeout):
            self._stuck = True
            self._lose((item,), _BEHIND)
            log_once(
                "writer-full",
                "requestcov: the store %s does not keep up; requests are being dropped", self.db_path,
            )
        elif self._closed:
            # close() ran between the check above and the put: its thread
            # may have stopped before this item came.
            self._write_left_behind()

    def _write_left_behind(self) -> None:
        """Write, on the caller's thread, what is still queued once the
        writer thread has stopped."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            return  # still writing: what is queued is its to write
        # All of it: producers racing for the last place may pass the limit.
        left = [item for item in self._queue.take(sys.maxsize, timeout=0) if item is not _STOP]
        self._queue.done()
        if left:
            self._write_now(left)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is written (or given up on)."""
        if self._thread is None or self._pid != os.getpid():
            return True
        self._hurry.set()
        try:
            return self._queue.wait_done(timeout)
        finally:
            self._hurry.clear()

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued and stop the thread; later submits write
        on the caller's thread. Then log how many requests were not written,
        if any: once, with the exact count."""
        self.flush(timeout)
        self._closed = True
        thread = self._thread
        still_queued = 0
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            if not self._queue.put(_STOP, timeout=1.0):
                self._report_losses(self._queue.qsize(), timeout)
                return
            thread.join(timeout)
            if thread.is_alive():
                still_queued = max(0, self._queue.qsize() - 1)  # less the stop marker
            else:
                self._thread = None
                # Requests whose submit saw the writer open, and queued after it took the stop.
                self._write_left_behind()
        self._report_losses(still_queued, timeout)

    def _lose(self, items: Iterable[Any], reason: str) -> None:
        """Count items that will never be written."""
        with self._count_lock:
            before = self.dropped
            for item in items:
                self.dropped += 1
                if self.is_startup(item):
                    self.dropped_startup += 1
            if self.dropped == before:
                return
            self._drop_reasons.setdefault(reason, None)
            late = self._losses_reported
        if late:
            # A request a server finished while the process exits, after the
            # count was logged: the count is logged again, whole.
            self._log_losses(0, 0.0, late=True)

    def report_losses(self) -> None:
        """Log now, once, how many requests were not written (as :meth:`close`
        does): for servers whose process may die before it closes the writer."""
        self._report_losses(0, 0.0)

    def _report_losses(self, still_queued: int, timeout: float) -> None:
        if self._losses_reported or self._pid != os.getpid():
            return
        self._losses_reported = True
        if self.dropped or still_queued:
            self._log_losses(still_queued, timeout)

    def _log_losses(self, still_queued: int, timeout: float, late: bool = False) -> None:
        requests = self.dropped - self.dropped_startup
        if requests or not self.dropped_startup:
            what = f"{requests} request{'' if requests == 1 else 's'} not written"
            what += " in all, counting requests finished after the writer closed" if late else ""
            what += ", nor the start-up record" if self.dropped_startup else ""
        else:
            what = "the start-up record not written"
        reasons = list(self._drop_reasons)
        if still_queued:
            what += f", and {still_queued} more were still queued"
            reasons.append(f"the writer did not finish within {timeout:g} s")
        logger.error("requestcov: %s (%s)", what, "; ".join(reasons))

    # -- the writer thread ------------------------------------------------

    @staticmethod
    def _crashed() -> None:
        log_once("writer-thread", "requestcov: the writer thread stopped", exc_info=True)

    def _run(self) -> None:
        if self.on_thread_start is not None:
            self.on_thread_start()
        in_sqlite = self._in_sqlite
        with in_sqlite:
            store = self._open_store()
        while True:
            batch = self._gather()
            stop = any(item is _STOP for item in batch)
            items = [item for item in batch if item is not _STOP]
            try:
                if items:
                    with in_sqlite:
                        store = self._write(store, items)
            except Exception:  # never let the thread die with requests queued
                log_once("writer-crash", "requestcov: the writer failed", exc_info=True)
            finally:
                self._stuck = False
                self._queue.done()
            if stop:
                if store is not None:
                    with in_sqlite:
                        store.close()
                return

    def _gather(self) -> List[Any]:
        """The next batch: everything that comes within ``gather_seconds`` of
        the first item, cut short once ``idle_seconds`` pass with nothing new
        (or at a flush), so a record is committed well within 100 ms of its
        response while a burst still goes in one transaction."""
        batch = self._queue.take(self.batch_size)
        deadline = time.monotonic() + self.gather_seconds
        while len(batch) < self.batch_size and batch[-1] is not _STOP and not self._hurry.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._hurry.wait(min(self.idle_seconds, remaining))
            more = self._queue.take(self.batch_size - len(batch), timeout=0)
            if not more:
                break
            batch += more
        return batch

    def _open_store(self) -> Optional[SQLiteStore]:
        """The store to write to: ``db_path``, else the fallback; None (and
        recording stops) when neither opens. Each failure is logged once."""
        if self.failed is not None:
            return None
        if self.current_path == self.db_path:
            try:
                return SQLiteStore(self.db_path, busy_timeout=self.busy_timeout)
            except StoreError as error:
                return self._fall_back(str(error))
        return self._open_fallback()

    def _fall_back(self, problem: str) -> Optional[SQLiteStore]:
        """The main store failed: carry on in the fallback, or stop."""
        if self.fallback_path is None or self.fallback_path == self.db_path:
            self.failed = problem
            log_once("store-failed", "requestcov: %s; %s", problem, _STOPS)
            return None
        log_once("store-fallback", "requestcov: %s; recording goes on in %s", problem, self.fallback_path)
        self.current_path = self.fallback_path
        return self._open_fallback()

    def _open_fallback(self) -> Optional[SQLiteStore]:
        assert self.fallback_path is not None
        try:
            return SQLiteStore(self.fallback_path, busy_timeout=self.busy_timeout)
        except StoreError as error:
            self.failed = f"{error} (the fallback store)"
            log_once("fallback-failed", "requestcov: %s; %s", self.failed, _STOPS)
            return None

    def _reopen_if_moved(self, store: SQLiteStore) -> Optional[SQLiteStore]:
        """The same store while its file is still at its path; else a new
        store started there (one warning), or None when that fails too."""
        change = store.moved()
        if change is None:
            return store
        store.close_moved()
        what = f"the store {store.path} was {change} while recording"
        try:
            reopened = SQLiteStore(store.path, busy_timeout=self.busy_timeout)
        except StoreError as error:
            if store.path == self.db_path:
                return self._fall_back(f"{what}, and {error}")
            self.failed = f"{what}, and {error}"
            log_once("fallback-failed", "requestcov: %s; %s", self.failed, _STOPS)
            return None
        if not self._warned_moved:
            self._warned_moved = True
            logger.warning("requestcov: %s; recording goes on in %s %s", what,
                           "a new" if change == "deleted" else "the file now at", store.path)
        return reopened

    def _write(self, store: Optional[SQLiteStore], items: List[Any]) -> Optional[SQLiteStore]:
        """Write ``items`` and return the store to use next: the same one, the
        fallback after the main store failed, or None once recording stopped."""
        if store is None:
            self._lose(items, _STOPPED)
            return None
        if self.before_batch is not None:
            try:
                self.before_batch()
            except Exception:
                log_once("writer-batch", "requestcov: could not prepare a batch", exc_info=True)
        records: List[Any] = []
        ready_rows = self.ready_rows
        known_sets = store.known_sets
        index, count = 0, len(items)
        while index < count:
            if ready_rows is not None:
                try:
                    index = ready_rows(items, index, records, known_sets)
                except Exception:  # those it marked written are passed over below
                    log_once("writer-ready-rows", "requestcov: could not make rows directly; records are "
                             "made for every request from now on", exc_info=True)
                    ready_rows = self.ready_rows = None
                if index >= count:
                    break
            item = items[index]
            index += 1
            try:
                record = self.convert(item)
            except Exception:
                log_once("writer-convert", "requestcov: could not prepare a record", exc_info=True)
                self._lose((item,), _UNPREPARED)
                continue
            if record is not None:
                records.append(record)
        return self._store_records(store, records, known_sets)

    def _store_records(self, store: SQLiteStore, records: List[RequestRecord],
                       set_ids_from: Dict[Any, Tuple[Any, ...]]) -> Optional[SQLiteStore]:
        """Write ``records``, whose rows carry the set ids of ``set_ids_from``
        (a store's ``known_sets``: another store, reopened or the fallback,
        finds their sets again), to ``store`` or else to the fallback."""
        current = self._reopen_if_moved(store)
        if current is None:
            self._lose(records, _STOPPED)
            return None
        store = current
        error = self._write_with_retries(store, records, set_ids_from)
        if error is None:
            self.written += len(records)
            return store
        store.close()
        problem = f"cannot write to {store.path} ({error})"
        if store.path == self.db_path:
            fallback = self._fall_back(problem)
            if fallback is not None:
                return self._store_records(fallback, records, set_ids_from)
        else:
            self.failed = f"{problem} (the fallback store)"
            log_once("fallback-write", "requestcov: %s; %s", self.failed, _STOPS)
        self._lose(records, _STOPPED)
        return None

    def _write_with_retries(self, store: SQLiteStore, records: List[RequestRecord],
                            set_ids_from: Dict[Any, Tuple[Any, ...]]) -> Optional[Exception]:
        """None once written; else the last error. A lock is not retried:
        SQLite has already waited ``busy_timeout`` for it."""
        for attempt in range(3):
            try:
                store.write(records, set_ids_from=set_ids_from)
                return None
            except Exception as error:  # sqlite3 errors, a full disk, a lock held too long
                if attempt == 2 or "locked" in str(error) or "busy" in str(error):
                    return error
                logger.debug("requestcov: write to %s failed (%s), retrying", store.path, error)
                time.sleep(0.2 * (attempt + 1))
        return None  # pragma: no cover - the loop always returns
