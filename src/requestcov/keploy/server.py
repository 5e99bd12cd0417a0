"""The control socket Keploy talks to, and the coverage it gets back at each ``END``.

``START id`` makes ``id`` the current test of every process (through the
shared file). ``END id`` makes no test current, waits until the store holds a
record for every request begun for the test (the writers commit within about
50 ms; a request still running is waited for, up to ``end_timeout``), sends the
union of their lines to Keploy's data socket and answers ``ACK``. Keploy's own
agent sleeps a fixed 90 ms or more instead and still misses a slow request.

Records count only from the ``START``: a store that already holds the same
test from an earlier run must not add its lines.
"""

from __future__ import annotations

import os
import select
import socket
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from requestcov._threads import RealThread, allocate_lock, pause
from requestcov.errors import RequestcovError, StoreError
from requestcov.keploy.protocol import (
    ACK, END, MAX_COMMAND_BYTES, START, Command, encode_payload, executed_lines, parse_command,
)
from requestcov.keploy.shared import SharedTest
from requestcov.log import log_once, logger
from requestcov.records import RequestRecord, TestKey
from requestcov.store import SQLiteStore

__all__ = ["AgentError", "AgentServer", "bind_control_socket", "send_payload", "END_TIMEOUT"]

#: Seconds ``END`` waits for the test's records before it sends what it has.
END_TIMEOUT = 5.0
#: Seconds a client gets to send its command line, and Keploy's data socket to take the payload.
_IO_TIMEOUT = 10.0
#: Seconds between two looks at the store while ``END`` waits.
_POLL = 0.005
#: Seconds between two checks, in the accept loop, that the agent should go on.
_ACCEPT_POLL = 0.5
#: Who may connect to the control socket: its owner (and root, as Keploy runs).
SOCKET_MODE = 0o600
_SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)


class AgentError(RequestcovError):
    """The control socket cannot be served (another agent serves it, the path
    is something else, or it cannot be bound)."""


def _answers(path: str) -> bool:
    """Whether a live program serves the Unix socket at ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def bind_control_socket(path: str) -> socket.socket:
    """A listening socket at ``path``, mode 0600. A stale socket file (nobody
    answers on it: a run that was killed) is replaced; a live one, or a file
    that is no socket, is left alone and refused."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise AgentError(f"cannot use {path}: {error.strerror or error}") from error
    else:
        if not stat.S_ISSOCK(status.st_mode):
            raise AgentError(f"{path} exists and is not a socket: remove it or choose another path")
        if _answers(path):
            raise AgentError(f"another program already serves {path} (a coverage agent of Keploy's, or a "
                             "second server): stop it or choose another path")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise AgentError(f"cannot replace the stale socket {path}: {error.strerror or error}") from error
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        os.chmod(path, SOCKET_MODE)
        listener.listen(16)
    except OSError as error:
        listener.close()
        raise AgentError(f"cannot listen on {path}: {error.strerror or error}") from error
    return listener


def send_payload(data_socket: str, payload: bytes) -> None:
    """Connect to Keploy's data socket, write the payload, close."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(_IO_TIMEOUT)
        connection.connect(data_socket)
        connection.sendall(payload)


@dataclass(frozen=True)
class _Running:
    """The current test: as Keploy named it, its generation in the shared
    file, when it started, and the store's newest row then (its records
    are among the rows after it)."""

    command: Command
    generation: int
    started_at: float
    after_id: int = 0


class _TestRecords:
    """The store, read-only, opened again whenever a read fails (a store
    that does not exist yet, one opened before its first writer started)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._store: Optional[SQLiteStore] = None

    def read(self, key: TestKey, since: float, after_id: int = 0) -> List[RequestRecord]:
        try:
            store = self._open()
            if store is None:
                return []
            if after_id and store.newest_request_id() < after_id:
                after_id = 0  # not the file the mark was read from: a store deleted and begun again
            return store.test_records(key.test_set, key.test_id, since, after_id)
        except StoreError:
            self.close()
            return []

    def newest_id(self) -> int:
        """The store's newest row id; 0 when there is no store (yet)."""
        try:
            store = self._open()
            return 0 if store is None else store.newest_request_id()
        except StoreError:
            self.close()
            return 0

    def _open(self) -> Optional[SQLiteStore]:
        if self._store is None:
            if not self.db.exists():
                return None
            self._store = SQLiteStore(self.db, read_only=True)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            try:
                self._store.close()
            except Exception:
                pass
            self._store = None


class AgentServer:
    """Serves one control socket for the whole server (see the module docstring)."""

    def __init__(self, control_socket: str, data_socket: str, db: "str | os.PathLike[str]", shared: SharedTest,
                 *, end_timeout: float = END_TIMEOUT) -> None:
        self.control_socket = control_socket
        self.data_socket = data_socket
        self.db = Path(db)
        self.shared = shared
        self.end_timeout = end_timeout
        self._listener: Optional[socket.socket] = None
        #: The socket file we bound, told apart from whatever is put there later.
        self._bound: Optional[tuple] = None
        self._owner_pid = os.getpid()
        self._lock = allocate_lock()
        self._running: Optional[_Running] = None
        self._closed = False

    def bind(self) -> None:
        """Reset the shared file and listen; raises :class:`AgentError`."""
        self.shared.reset()
        self._listener = bind_control_socket(self.control_socket)
        status = os.stat(self.control_socket)
        self._bound = (status.st_dev, status.st_ino)

    def serve(self, keep_going: Callable[[], bool] = lambda: True, watch_fd: Optional[int] = None) -> None:
        """Accept connections until :meth:`close`, until ``keep_going()`` is
        false, or until ``watch_fd`` (a pidfd) becomes readable; each
        connection is handled on a thread of its own, as Keploy's agents do."""
        listener = self._listener
        if listener is None:
            raise AgentError("bind() first")
        waiting = [listener] + ([watch_fd] if watch_fd is not None else [])
        while not self._closed and keep_going():
            try:
                readable, _, _ = select.select(waiting, [], [], _ACCEPT_POLL)
            except (OSError, ValueError):
                if self._closed:
                    return
                raise
            if watch_fd is not None and watch_fd in readable:
                return
            if listener not in readable:
                continue
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            RealThread(lambda accepted=connection: self.handle(accepted), self._report_crash).start()

    def _report_crash(self) -> None:
        log_once("keploy-handler", "requestcov: a Keploy control command failed", exc_info=True)

    def handle(self, connection: socket.socket) -> None:
        """Read one command, act on it, answer."""
        with connection:
            connection.settimeout(_IO_TIMEOUT)
            line = _read_line(connection)
            command = parse_command(line) if line else None
            if command is None:
                if line:
                    logger.warning("requestcov: ignored a Keploy control line that is neither START <id> "
                                   "nor END <id>: %r", line[:200])
                return
            with self._lock:
                if command.action == START:
                    self._start(command)
                else:
                    self._end(command)
            try:
                connection.sendall(ACK, _SEND_FLAGS)
            except OSError:
                pass  # Keploy did not wait for the answer

    def _start(self, command: Command) -> None:
        started_at = time.time()
        # Read before the test is published: none of its requests can have
        # been written yet.
        store = _TestRecords(self.db)
        try:
            after_id = store.newest_id()
        finally:
            store.close()
        generation = self.shared.publish(command.key)
        self._running = _Running(command, generation, started_at, after_id)

    def _end(self, command: Command) -> None:
        running = self._running
        if running is None or running.command.test != command.test:
            logger.warning("requestcov: Keploy ended test %r, but the current test is %r: no coverage sent",
                           command.test, running.command.test if running else None)
            return
        self.shared.publish(None)
        self._running = None
        records = self._wait_for_records(running)
        payload = encode_payload(command.test, executed_lines(records))
        try:
            send_payload(self.data_socket, payload)
        except OSError as error:
            log_once(f"keploy-data-{type(error).__name__}",
                     "requestcov: cannot send coverage to Keploy's data socket %s (%s)", self.data_socket,
                     error.strerror or error)

    def _wait_for_records(self, running: _Running) -> List[RequestRecord]:
        """The test's records once the store has one for every request begun
        for it (or once ``end_timeout`` passed)."""
        store = _TestRecords(self.db)
        key = running.command.key
        deadline = time.monotonic() + self.end_timeout
        try:
            while True:
                begun = self.shared.begun(running.generation)
                records = store.read(key, running.started_at, running.after_id)
                if len(records) >= begun:
                    return records
                if time.monotonic() >= deadline:
                    log_once("keploy-end-timeout",
                             "requestcov: test %s: %d of %d requests were not recorded within %g s of END; "
                             "its coverage is sent without them", running.command.test, begun - len(records),
                             begun, self.end_timeout)
                    return records
                pause(_POLL)
        finally:
            store.close()

    def close(self) -> None:
        """Stop serving; the socket file goes, if it is still ours (never in a
        forked child, whose exit must not take its parent's socket)."""
        self._closed = True
        if os.getpid() != self._owner_pid:
            return
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._bound is not None:
            try:
                status = os.stat(self.control_socket)
                if (status.st_dev, status.st_ino) == self._bound:
                    os.unlink(self.control_socket)
            except OSError:
                pass
            self._bound = None

    def forget_in_child(self) -> None:
        """In a forked child: close the inherited listener, serve nothing."""
        self._closed = True
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.close()
            except OSError:
                pass


def _read_line(connection: socket.socket) -> bytes:
    """Up to the first newline (or the end of input), at most :data:`MAX_COMMAND_BYTES`."""
    data = b""
    try:
        while b"\n" not in data and len(data) < MAX_COMMAND_BYTES:
            chunk = connection.recv(MAX_COMMAND_BYTES - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    return data.split(b"\n", 1)[0]
