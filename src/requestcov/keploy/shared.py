"""The current Keploy test, shared by every process of a server through one mapped file.

The control socket reaches one process; the requests of the test reach any
worker. So the owner of the socket writes the current test into a small file
that every recording process maps into memory, and a request reads it with one
memory read of a generation counter: no system call, no socket round trip. The
test's name is read again only when the counter changed.

The owner is the file's only writer of the test (a seqlock: the counter is odd
while the name changes). Each process also counts the requests it began for
the current test, in a slot of its own in the same file, so the owner knows at
``END`` how many records to wait for. A slot is claimed with a POSIX record
lock on its bytes, which the kernel drops when the process dies and which a
forked child does not inherit (it claims its own). A slot is one native 64-bit
word, the generation in the high bits and the count in the low ones, written
in one store, so the owner never sees half of an update.

Layout (native byte order, the file never leaves the machine)::

    0     magic "RQKA", version (u32)
    8     generation (u64): even when stable, odd while the owner writes
    16    byte lengths of the test set and the test id (two u16)
    24    test set (UTF-8, up to 1024 bytes), then the test id (up to 1024)
    4096  SLOT_COUNT slots of one u64 each
"""

from __future__ import annotations

import fcntl
import mmap
import os
import stat
import struct
import threading
from typing import Dict, Optional, Tuple

from requestcov._threads import allocate_lock, pause
from requestcov.log import log_once
from requestcov.records import TestKey

__all__ = ["SharedTest", "shared_test", "state_path", "lock_path", "SIZE", "SLOT_COUNT"]

_MAGIC = b"RQKA"
_VERSION = 1
_HEADER = struct.Struct("=4sI")
_WORD = struct.Struct("=Q")
_LENGTHS = struct.Struct("=HH")
_GENERATION = 8
_LENGTHS_AT = 16
_TEXT_AT = 24
_TEXT_SPACE = 1024
_SLOTS_AT = 4096
SLOT_COUNT = 1024
SIZE = _SLOTS_AT + SLOT_COUNT * _WORD.size
#: A slot holds ``generation << _COUNT_BITS | count``.
_COUNT_BITS = 24
_COUNT_MASK = (1 << _COUNT_BITS) - 1
_GENERATION_MASK = (1 << (64 - _COUNT_BITS)) - 1


def state_path(control_socket: str) -> str:
    """The shared file of the agent serving ``control_socket``."""
    return control_socket + ".state"


def lock_path(control_socket: str) -> str:
    """The file whose ``flock`` makes one process the owner of ``control_socket``."""
    return control_socket + ".lock"


def open_private_file(path: str) -> int:
    """Open (or create, mode 0600) a file of ours: never through a symlink,
    never one another user owns (it could feed us tests), never a non-file."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(f"{path} is not a regular file")
        if hasattr(os, "geteuid") and status.st_uid != os.geteuid():
            raise OSError(f"{path} belongs to another user")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _encode(text: str) -> bytes:
    """UTF-8, cut at a character boundary to fit its field."""
    data = text.encode("utf-8")
    if len(data) <= _TEXT_SPACE:
        return data
    return data[:_TEXT_SPACE].decode("utf-8", "ignore").encode("utf-8")


class SharedTest:
    """One process's view of the shared file (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = open_private_file(path)
        try:
            if os.fstat(self._fd).st_size < SIZE:
                os.ftruncate(self._fd, SIZE)  # every opener grows it to the same size: zeros
            self._map = mmap.mmap(self._fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(self._fd)
            raise
        #: (generation, test) last read: a request compares one word with it.
        self._seen: Tuple[int, Optional[TestKey]] = (-1, None)
        self._slot: Optional[int] = None
        self._slot_generation = -1
        self._slot_count = 0
        self._count_lock = allocate_lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        """A child inherits the mapping but not the parent's slot lock."""
        self._slot = None
        self._slot_generation = -1
        self._slot_count = 0
        self._count_lock = allocate_lock()

    # -- every process --------------------------------------------------

    def generation(self) -> int:
        return int(_WORD.unpack_from(self._map, _GENERATION)[0])

    def current(self) -> Tuple[int, Optional[TestKey]]:
        """(generation, the current test or None). One memory read unless the
        owner changed the test since this process last looked."""
        seen = self._seen
        generation = _WORD.unpack_from(self._map, _GENERATION)[0]
        if generation == seen[0]:
            return seen
        return self._read_test()

    def _read_test(self) -> Tuple[int, Optional[TestKey]]:
        view = self._map
        for _ in range(2000):
            before = _WORD.unpack_from(view, _GENERATION)[0]
            if before & 1:
                pause(0.0005)  # the owner is writing: a few microseconds
                continue
            set_length, id_length = _LENGTHS.unpack_from(view, _LENGTHS_AT)
            set_length, id_length = min(set_length, _TEXT_SPACE), min(id_length, _TEXT_SPACE)
            test_set = bytes(view[_TEXT_AT:_TEXT_AT + set_length])
            test_id = bytes(view[_TEXT_AT + _TEXT_SPACE:_TEXT_AT + _TEXT_SPACE + id_length])
            if _WORD.unpack_from(view, _GENERATION)[0] != before:
                continue
            key = None
            if test_id:
                key = TestKey(test_set.decode("utf-8", "replace"), test_id.decode("utf-8", "replace"))
            self._seen = (int(before), key)
            return self._seen
        # An owner that died half-way through a change: no test is current.
        return int(_WORD.unpack_from(view, _GENERATION)[0]), None

    def count(self, generation: int) -> None:
        """One more request of this process begun for the test of ``generation``."""
        with self._count_lock:
            if self._slot is None:
                self._slot = self._claim_slot()
            if self._slot < 0:
                return
            if self._slot_generation != generation:
                self._slot_generation, self._slot_count = generation, 0
            self._slot_count = min(self._slot_count + 1, _COUNT_MASK)
            word = (generation & _GENERATION_MASK) << _COUNT_BITS | self._slot_count
            _WORD.pack_into(self._map, _SLOTS_AT + self._slot * _WORD.size, word)

    def _claim_slot(self) -> int:
        for slot in range(SLOT_COUNT):
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, _WORD.size, _SLOTS_AT + slot * _WORD.size)
            except OSError:
                continue
            return slot
        log_once("keploy-slots", "requestcov: all %d request counters of %s are taken; the Keploy agent "
                 "cannot wait for this process's requests at END", SLOT_COUNT, self.path)
        return -1

    # -- the owner ------------------------------------------------------

    def reset(self) -> None:
        """Start a run: no current test, no counts, the generation moved on
        (so a process that read the file before sees the change)."""
        _HEADER.pack_into(self._map, 0, _MAGIC, _VERSION)
        for slot in range(SLOT_COUNT):
            _WORD.pack_into(self._map, _SLOTS_AT + slot * _WORD.size, 0)
        self.publish(None)

    def publish(self, key: Optional[TestKey]) -> int:
        """Make ``key`` (or no test) current; returns its generation."""
        view = self._map
        generation = self.generation()
        writing = generation + 1 if generation % 2 == 0 else generation + 2
        _WORD.pack_into(view, _GENERATION, writing)
        test_set = _encode(key.test_set) if key else b""
        test_id = _encode(key.test_id) if key else b""
        view[_TEXT_AT:_TEXT_AT + len(test_set)] = test_set
        view[_TEXT_AT + _TEXT_SPACE:_TEXT_AT + _TEXT_SPACE + len(test_id)] = test_id
        _LENGTHS.pack_into(view, _LENGTHS_AT, len(test_set), len(test_id))
        stable = writing + 1
        _WORD.pack_into(view, _GENERATION, stable)
        return stable

    def begun(self, generation: int) -> int:
        """Requests begun for the test of ``generation``, over every process."""
        wanted = generation & _GENERATION_MASK
        total = 0
        for (word,) in _WORD.iter_unpack(self._map[_SLOTS_AT:SIZE]):
            if word >> _COUNT_BITS == wanted:
                total += word & _COUNT_MASK
        return total

    def close(self) -> None:
        try:
            self._map.close()
        finally:
            os.close(self._fd)


_shared: Dict[str, SharedTest] = {}
_shared_lock = threading.Lock()


def shared_test(path: str) -> SharedTest:
    """This process's one view of ``path``: one descriptor per file, since
    closing any descriptor of a file drops all of the process's record locks
    on it (its slot)."""
    with _shared_lock:
        found = _shared.get(path)
        if found is None:
            found = _shared[path] = SharedTest(path)
        return found
