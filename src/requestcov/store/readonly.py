"""Opening a store for reading without changing a byte on disk.

Reading commands must leave the file as they found it: no migration, no switch
to WAL, no tables created in a file that is not a store, and no ``-wal`` or
``-shm`` files left beside it. SQLite needs care for the last one: a
``mode=ro`` connection to a WAL database creates both files when they are
missing, and (being read-only) cannot remove them when it closes.

So a store whose ``-wal`` file exists (a process is recording into it, or one
was killed) is opened ``mode=ro``: the files are there already, and the
connection takes part in SQLite's locking, so it reads one consistent snapshot
however the writers go on. A store without a ``-wal`` file holds everything in
the main file, and is opened ``immutable=1``, which creates nothing and takes no
lock (it works in a read-only folder, too). The one thing immutable gives up is
noticing a writer that starts while we read and checkpoints into the file: the
file's size and modification time are compared before and after, and a read
that saw them change fails, asking to run the command again, instead of
returning records that may not belong together.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import NamedTuple, Optional, Tuple

from requestcov.errors import StoreError

__all__ = ["NotAStoreError", "FileStamp", "check_store_file", "connect_read_only"]

_SQLITE_HEADER = b"SQLite format 3\x00"


class NotAStoreError(StoreError):
    """The file named as the store is missing, empty or something else: the
    command line treats it as a wrong argument (exit code 2)."""


class FileStamp(NamedTuple):
    """What changes when anything writes to a file."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> Optional["FileStamp"]:
        try:
            status = os.stat(path)
        except OSError:
            return None
        return cls(status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def check_store_file(path: Path) -> None:
    """Refuse, by looking at the first bytes only, what cannot be a store."""
    if not path.exists():
        raise NotAStoreError(
            f"{path} does not exist: record some requests first, "
            "or point --db (or REQUESTCOV_DB) at an existing store"
        )
    if path.is_dir():
        raise NotAStoreError(f"{path} is not a requestcov store (it is a folder)")
    if not stat.S_ISREG(os.stat(path).st_mode):  # a pipe or a device: reading it could block
        raise NotAStoreError(f"{path} is not a requestcov store (not a regular file)")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as error:
        raise StoreError(f"cannot read the requestcov store {path}: {error.strerror or error}") from error
    if not header:
        raise NotAStoreError(f"{path} is not a requestcov store (the file is empty)")
    if header != _SQLITE_HEADER:
        raise NotAStoreError(f"{path} is not a requestcov store (not an SQLite database)")


def _wal_in_use(path: Path) -> bool:
    """True when the store has a ``-wal`` file. SQLite removes ``-shm`` just
    before ``-wal`` when the last writer closes: a ``-wal`` alone for a moment
    is that writer going away, and is waited out rather than read with
    ``mode=ro``, which would create a ``-shm`` that nobody removes."""
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    for _ in range(10):
        if not wal.exists():
            return False
        if shm.exists():
            return True
        time.sleep(0.02)
    return True  # a -wal without -shm that stays: a killed writer's; its records count


def connect_read_only(path: Path, timeout: float) -> Tuple[sqlite3.Connection, Optional[FileStamp]]:
    """A read-only connection, and the stamp to compare after reading when
    it was opened ``immutable`` (None when SQLite's locking keeps it consistent)."""
    uri = path.resolve().as_uri()  # percent-encoded: a "?" or "#" in the path stays the path's
    stamp: Optional[FileStamp] = None
    if _wal_in_use(path) or Path(f"{path}-journal").exists():
        uri += "?mode=ro"
    else:
        stamp = FileStamp.of(path)
        uri += "?immutable=1"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise StoreError(f"cannot open the requestcov store {path}: {error}") from error
    return connection, stamp
