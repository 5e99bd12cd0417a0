"""The SQLite store: one file that many worker processes write at once.

WAL mode lets readers and the writers of several processes work side by side;
every write is one ``BEGIN IMMEDIATE`` transaction per batch, so a process
killed mid-batch leaves the database as it was before the batch. A request's
lines, over all its files, are one packed blob (see ``requestset``) kept once
however many requests ran the same set: a request row names its set.
"""

from __future__ import annotations

import array
import hashlib
import os
import sqlite3
import time
from functools import lru_cache
from itertools import chain, groupby
from operator import countOf, itemgetter
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

from requestcov.errors import StoreError
from requestcov.records import REQUEST, STARTUP, FileVersion, PackedLines, ReadyRow, RequestRecord, endpoint_of
from requestcov.store.lineset import decode_lines, encode_lines, numbits_to_lines
from requestcov.store.readonly import FileStamp, NotAStoreError, check_store_file, connect_read_only
from requestcov.store.requestset import (
    file_count, files_part, header_bytes, ids_part, line_numbers_part, pack_set, unpack_arcs, unpack_files_part,
    unpack_header, unpack_lines, unpack_plain_lines,
)

__all__ = ["SQLiteStore", "StoreError", "NotAStoreError", "SCHEMA_VERSION", "DEFAULT_DB_PATH"]

SCHEMA_VERSION = 5
DEFAULT_DB_PATH = os.path.join(".requestcov", "requestcov.db")
_BUSY_TIMEOUT_SECONDS = 60.0


_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS file (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS request (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'request',
    test_id TEXT NOT NULL,
    test_set TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL DEFAULT '',
    route TEXT,
    status INTEGER,
    start REAL NOT NULL,
    duration_ms REAL NOT NULL,
    pid INTEGER NOT NULL,
    has_arcs INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS request_test ON request (test_set, test_id);
CREATE TABLE IF NOT EXISTS request_file (
    request_id INTEGER NOT NULL REFERENCES request (id) ON DELETE CASCADE,
    file_id INTEGER NOT NULL REFERENCES file (id),
    lines BLOB NOT NULL,
    arcs BLOB,
    PRIMARY KEY (request_id, file_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS id_counter (
    key TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
"""


def _numbits_to_packed_lines(connection: sqlite3.Connection) -> None:
    """Version 2 packs line numbers instead of keeping numbits bitmaps: the
    writer encodes and the analyses decode them in one C call each."""
    connection.create_function(
        "requestcov_packed_lines", 1, lambda blob: encode_lines(numbits_to_lines(blob)), deterministic=True,
    )
    connection.execute("UPDATE request_file SET lines = requestcov_packed_lines(lines)")


#: Version 3 ties each record's file to the version of the file it ran (see
#: :mod:`requestcov.fileversions`): versions are kept once each, and rows of
#: older stores keep ``version_id`` NULL, a version unknown. ``git_commit``
#: and ``repo_root`` are '' outside git (so the unique index sees them equal).
_SCHEMA_V3 = """
CREATE TABLE IF NOT EXISTS file_version (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES file (id),
    sha256 TEXT NOT NULL,
    git_commit TEXT NOT NULL DEFAULT '',
    repo_root TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS file_version_key ON file_version (file_id, sha256, git_commit, repo_root);
ALTER TABLE request_file ADD COLUMN version_id INTEGER REFERENCES file_version (id)
"""


#: Version 4 keeps each distinct set of (file -> lines, arcs, version) once,
#: in ``line_set``, found again by the digest of its packed bytes; a request
#: row names its set. One row per request and file (``request_file``) cost a
#: B-tree insert, foreign-key probes and a Python encoding per file.
_LINE_SET_TABLE = """
CREATE TABLE IF NOT EXISTS line_set (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    data BLOB NOT NULL
)
"""


def _digest(blob: bytes) -> bytes:
    return hashlib.blake2b(blob, digest_size=16).digest()


def _request_files_to_line_sets(connection: sqlite3.Connection) -> None:
    """Pack every request's ``request_file`` rows into its line set, each
    distinct set once, and drop the per-file table."""
    connection.execute(_LINE_SET_TABLE)
    connection.execute("ALTER TABLE request ADD COLUMN line_set_id INTEGER")
    paths = dict(connection.execute("SELECT id, path FROM file"))
    set_ids: Dict[bytes, int] = {}
    assignments: List[Tuple[int, int]] = []

    def set_id_of(blob: bytes) -> int:
        digest = _digest(blob)
        found = set_ids.get(digest)
        if found is None:
            found = set_ids[digest] = len(set_ids) + 1
            connection.execute("INSERT INTO line_set (id, digest, data) VALUES (?, ?, ?)", (found, digest, blob))
        return found

    rows = connection.execute(
        "SELECT request_id, file_id, lines, arcs, version_id FROM request_file ORDER BY request_id"
    ).fetchall()
    with_files = set()
    for request_id, group in groupby(rows, key=lambda row: row[0]):
        files = sorted(group, key=lambda row: paths[row[1]])
        arcs = [None if row[3] is None else _decode_arcs(row[3]) for row in files]
        blob = pack_set(
            [row[1] for row in files], [row[4] or 0 for row in files], [decode_lines(row[2]) for row in files],
            arcs if any(file_arcs is not None for file_arcs in arcs) else None,
        )
        assignments.append((set_id_of(blob), request_id))
        with_files.add(request_id)
    without_files = [row[0] for row in connection.execute("SELECT id FROM request") if row[0] not in with_files]
    if without_files:
        empty = set_id_of(pack_set((), (), ()))
        assignments += [(empty, request_id) for request_id in without_files]
    connection.executemany("UPDATE request SET line_set_id = ? WHERE id = ?", assignments)
    connection.execute("DROP TABLE request_file")


#: Version 5 drops the index on (test_set, test_id): it cost every request's
#: insert a second B-tree (about a fifth of the row's SQLite work), and its
#: one reader, the Keploy agent asking for the records of the test that just
#: ended, finds them among the rows written since the test started instead
#: (``SQLiteStore.test_records``'s ``after_id``: a range of the rowid).
_DROP_TEST_INDEX = "DROP INDEX IF EXISTS request_test"


#: Schema version -> the script (or function) that brings a database of the
#: version before it up to that version. A new schema adds an entry; old
#: stores migrate on open, in one transaction.
_MIGRATIONS: Dict[int, Union[str, Callable[[sqlite3.Connection], None]]] = {
    1: _SCHEMA_V1,
    2: _numbits_to_packed_lines,
    3: _SCHEMA_V3,
    4: _request_files_to_line_sets,
    5: _DROP_TEST_INDEX,
}

#: Schema version -> how its ``lines`` blobs decode. Reading never migrates
#: the file, so every version that has ever been written is read as it is.
_LINE_DECODERS: Dict[int, Callable[[bytes], List[int]]] = {
    1: numbits_to_lines,
    2: decode_lines,
    3: decode_lines,
    4: decode_lines,
    5: decode_lines,
}

#: The first schema version whose records carry file versions.
_VERSIONED_SCHEMA = 3

#: The first schema version that keeps line sets instead of rows per file.
_LINE_SET_SCHEMA = 4

#: The tables every version of the store has, and one of these beside them.
_STORE_TABLES = frozenset({"meta", "file", "request"})
_LINE_TABLES = frozenset({"request_file", "line_set"})

#: How many line sets (by digest) and version lists a writing connection
#: remembers before it starts over: a few hundred distinct sets is usual, and
#: every record distinct must not grow memory without bound.
_SET_CACHE_LIMIT = 16_384
#: How many decoded line sets a reader keeps: enough for the sets an app's
#: endpoints repeat, few enough that a store of distinct sets does not fill
#: the heap with lists the garbage collector scans again and again.
_DECODED_SET_LIMIT = 1_024
#: A distinct line set's paths, line counts per file, and its packed bytes
#: with the size of a number and where the numbers start.
LineNumbers = Tuple[List[str], Tuple[int, ...], bytes, int, int]
#: A request's row without its lines (:meth:`SQLiteStore.request_rows`): id,
#: kind, test_id, test_set, method, path, route, status, start, duration_ms,
#: pid, has_arcs, and the key of its line set (None: no set).
RequestRow = Tuple[int, str, str, str, str, str, Optional[str], Optional[int], float, float, int, int, Optional[int]]
#: How many set ids a reader remembers having decoded once.
_SEEN_SET_LIMIT = 1_000_000

#: A decoded line set: lines, arcs and versions by path, and whether the
#: decoder keeps them (shared with the next records of the set).
_DecodedSet = Tuple[Dict[str, List[int]], Dict[str, List[Tuple[int, int]]], Dict[str, FileVersion], bool]
#: How many lines the writer's fingerprints of recent line sets may hold
#: (each line an int kept alive, ~40 bytes: a few MB at most).
_FINGERPRINT_LINE_LIMIT = 100_000


#: New request rows, ``id`` left to SQLite: the next free rowid, one more
#: than the largest (no AUTOINCREMENT), which is what ``_insert_values`` counts on.
_INSERT_ROWS_HEAD = (
    "INSERT INTO request (kind, pid, has_arcs, test_id, test_set, method, path, route, status, "
    "start, duration_ms, line_set_id) VALUES "
)
#: How many values a request row binds.
_ROW_WIDTH = 12
#: Rows go in whole groups of this many a statement, the rest of a batch one
#: statement run a row: ``executemany`` resets its statement and lets go of
#: the GIL and takes it back for every row (a fifth of what a row costs).
#: Two statements only, each prepared once in a process (a statement of a
#: group takes SQLite some hundred thousand instructions to prepare: one for
#: every size of rest would be that, again and again, in a process's first
#: batches). 32 rows of 12 values stay within the 999 parameters older
#: SQLite allows.
_GROUP_SIZE = 32
_ROW_VALUES_SQL = "(" + ", ".join("?" * _ROW_WIDTH) + ")"
_INSERT_ROW = _INSERT_ROWS_HEAD + _ROW_VALUES_SQL
_INSERT_GROUP = _INSERT_ROWS_HEAD + ", ".join([_ROW_VALUES_SQL] * _GROUP_SIZE)
#: A ready row's (see :data:`~requestcov.records.ReadyRow`) test id, set id
#: and ``INSERT`` values, and the one type of a batch of only ready rows.
_ROW_TEST_ID_INDEX = 1
_ROW_TEST_ID = itemgetter(_ROW_TEST_ID_INDEX)
_ROW_SET_ID_INDEX, _ROW_PACKED_INDEX = 9, 10
_ROW_SET_ID = itemgetter(_ROW_SET_ID_INDEX)
_ROW_TYPES = {list}
#: A ready row's ``(kind, pid, has_arcs)``, one tuple for all rows of a
#: process, and its other values. Each value bound costs a row some 500
#: instructions (sqlite3 checks its type, SQLite copies it), so a batch whose
#: rows share the tuple (found by identity, one C pass) has the three written
#: into its statements as literals instead (see :func:`_statements_for`): the
#: writer's batch routine on a warm thin app went from 21,200 to 19,800
#: instructions a request on 3.12, 19,200 to 17,800 on 3.11
#: (``bench/writer_rows.py``; comparing three values a row in Python, or
#: taking them by an ``itemgetter`` of several indexes, ate half of that).
_FIXED_WIDTH = 3
_ROW_FIXED = itemgetter(0)
_ROW_VARYING = itemgetter(slice(1, _ROW_SET_ID_INDEX + 1))
#: The values that may go into a statement as literals: the kinds the
#: recorder writes, a pid, has_arcs.
_LITERAL_KINDS = frozenset((REQUEST, STARTUP))


def _statements_for(fixed: Any) -> Optional[Tuple[str, str]]:
    """The group and single-row ``INSERT`` statements of rows whose
    ``(kind, pid, has_arcs)`` is ``fixed``, written in as literals (the rows
    bind :data:`_ROW_VARYING`); None when it is not three values to write
    into SQL."""
    if type(fixed) is not tuple or len(fixed) != _FIXED_WIDTH:
        return None
    kind, pid, has_arcs = fixed
    if type(kind) is not str or kind not in _LITERAL_KINDS or type(pid) is not int \
            or type(has_arcs) is not int or has_arcs not in (0, 1):
        return None
    return _literal_statements(kind, pid, has_arcs)


@lru_cache(maxsize=8)
def _literal_statements(kind: str, pid: int, has_arcs: int) -> Tuple[str, str]:
    """Made once a process (a process writes one pid; SQLite prepares each once)."""
    row = "(" + ", ".join([f"'{kind}'", f"{pid:d}", f"{has_arcs:d}"] + ["?"] * (_ROW_WIDTH - _FIXED_WIDTH)) + ")"
    return _INSERT_ROWS_HEAD + ", ".join([row] * _GROUP_SIZE), _INSERT_ROWS_HEAD + row


#: The files SQLite keeps beside a WAL database while it is open.
_COMPANIONS = ("-wal", "-shm")


def _identity(path: Path) -> Optional[Tuple[int, int]]:
    """Device and inode: what tells one file from another put at the same path."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


#: The request columns every reading query selects first, in the order
#: :func:`_request_record` takes them (then ``has_arcs``).
_REQUEST_COLUMNS = "request.id, kind, test_id, test_set, method, request.path, route, status, start, duration_ms, pid"
#: Requests with their line sets (schema 4): ``... WHERE`` follows.
_SET_REQUESTS = (
    f"SELECT {_REQUEST_COLUMNS}, has_arcs, line_set_id, line_set.data FROM request "
    "LEFT JOIN line_set ON line_set.id = request.line_set_id "
)


def _request_record(row: Sequence[Any], **contents: Any) -> RequestRecord:
    """The record of a row that starts with :data:`_REQUEST_COLUMNS`."""
    return RequestRecord(
        record_id=row[0], kind=row[1], test_id=row[2], test_set=row[3], method=row[4], path=row[5],
        route=row[6], status=row[7], start=row[8], duration_ms=row[9], pid=row[10], **contents,
    )


def _copied(lists: Dict[str, List[Any]]) -> Dict[str, List[Any]]:
    """``lists`` with lists of its own, for a caller free to change them."""
    return dict(zip(lists, map(list, lists.values())))


def _request_values(record: RequestRecord) -> Tuple[Any, ...]:
    """The ``request`` columns after ``id``, in table order."""
    return (
        record.kind, record.test_id, record.test_set, record.method, record.path, record.route,
        record.status, record.start, record.duration_ms, record.pid, 1 if record.arcs is not None else 0,
    )


def _encode_arcs(arcs: Sequence[Tuple[int, int]]) -> bytes:
    """Arcs as a flat array of ints, built in C like the packed lines."""
    return array.array("i", chain.from_iterable(arcs)).tobytes()


def _decode_arcs(blob: bytes) -> List[Tuple[int, int]]:
    flat = array.array("i")
    flat.frombytes(blob)
    return list(zip(flat[0::2], flat[1::2]))


class SQLiteStore:
    """A connection to one store file. Not shared between threads: the writer
    thread and each reader open their own."""

    def __init__(
        self, path: "str | os.PathLike[str]", *, create: bool = True, read_only: bool = False,
        busy_timeout: float = _BUSY_TIMEOUT_SECONDS,
    ) -> None:
        """``busy_timeout``: how long a write waits for another process's
        transaction before it fails with "database is locked".

        ``read_only`` opens an existing store for reading and changes nothing
        on disk (see :mod:`requestcov.store.readonly`): a file that is not a
        store raises :class:`NotAStoreError`, and an older schema is read as
        it is instead of being migrated."""
        self.path = Path(path)
        self.read_only = read_only
        self._decode_lines: Callable[[bytes], List[int]] = decode_lines
        #: Compared after reading an ``immutable`` connection (see readonly).
        self._stamp: Optional[FileStamp] = None
        self._file_ids: Dict[str, int] = {}
        self._version_ids: Dict[Tuple[int, FileVersion], int] = {}
        #: Whether the store's schema keeps file versions (a read-only older one does not).
        self._versioned = True
        #: Whether it keeps line sets (schema 4), or rows per request and file.
        self._line_sets = True
        #: digest of a packed line set -> its row id in this store.
        self._set_ids: Dict[bytes, int] = {}
        #: A record's (paths, id() of each file's version, lines as tuples) ->
        #: (its line set id, the version objects); and how many lines they hold.
        self._fingerprints: Dict[Any, Tuple[int, Tuple[Any, ...]]] = {}
        self._fingerprint_lines = 0
        #: (file ids, id() of each file's version object) -> (those objects, kept alive
        #: so no other object takes their id, and their version ids).
        self._version_lists: Dict[Tuple[Tuple[int, ...], Tuple[int, ...]], Tuple[Tuple[Any, ...], List[int]]] = {}
        #: (paths, id() of a tuple of their versions) -> (the ids part of their
        #: packed sets, that tuple, kept alive).
        self._ids_parts: Dict[Tuple[Tuple[str, ...], int], Tuple[bytes, Tuple[Any, ...]]] = {}
        if read_only:
            self._open_for_reading(busy_timeout)
            return
        if not create and not self.path.exists():
            raise NotAStoreError(
                f"{self.path} does not exist: record some requests first, "
                "or point --db (or REQUESTCOV_DB) at an existing store"
            )
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"cannot create the folder for {self.path}: {error}") from error
        try:
            self._connection = sqlite3.connect(
                str(self.path), timeout=busy_timeout, isolation_level=None,
                check_same_thread=False,
            )
            self._use_wal(busy_timeout)
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            self._close_quietly()
            raise StoreError(f"cannot open the requestcov store {self.path}: {error}") from error
        except StoreError:
            self._close_quietly()
            raise
        #: The file this connection writes to, and the -wal and -shm files it
        #: uses: told apart from whatever is at those paths later (see moved).
        self._opened_file = _identity(self.path)
        self._opened_companions = {suffix: _identity(Path(f"{self.path}{suffix}")) for suffix in _COMPANIONS}

    def _open_for_reading(self, busy_timeout: float) -> None:
        check_store_file(self.path)
        self._connection, self._stamp = connect_read_only(self.path, busy_timeout)
        try:
            try:
                tables = {row[0] for row in self._connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
            except sqlite3.DatabaseError as error:
                if "not a database" in str(error) or "malformed" in str(error):
                    raise NotAStoreError(f"{self.path} is not a requestcov store ({error})") from error
                raise StoreError(f"cannot read the requestcov store {self.path}: {error}") from error
            if not _STORE_TABLES <= tables or not _LINE_TABLES & tables:
                raise NotAStoreError(f"{self.path} is not a requestcov store (an SQLite database without its tables)")
            try:
                version = self._schema_version()
            except (sqlite3.DatabaseError, ValueError) as error:
                raise NotAStoreError(f"{self.path} is not a requestcov store (its schema version: {error})") from error
            if version > SCHEMA_VERSION:
                raise StoreError(self._newer_schema_message(version))
            if version not in _LINE_DECODERS:
                raise NotAStoreError(f"{self.path} is not a requestcov store (it records no schema version)")
            self._decode_lines = _LINE_DECODERS[version]
            self._versioned = version >= _VERSIONED_SCHEMA
            self._line_sets = version >= _LINE_SET_SCHEMA
        except BaseException:
            self._close_quietly()
            raise

    # -- schema -----------------------------------------------------------

    def _use_wal(self, busy_timeout: float) -> None:
        """Switch the file to WAL, once in its life.

        SQLite does not run the busy handler for this switch: worker processes
        opening a new store at the same moment get "database is locked" at
        once. So the mode is read first (WAL is a property of the file: after
        the first open nothing is locked) and the switch is retried with a
        backoff, up to ``busy_timeout``, until this or another process made it.
        """
        deadline = time.monotonic() + busy_timeout
        pause = 0.005
        while True:
            try:
                mode = self._connection.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() == "wal":
                    return
                mode = self._connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() == "wal":
                    return
                if time.monotonic() + pause > deadline:
                    raise StoreError(f"cannot switch {self.path} to WAL mode: it stays in {mode} mode")
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                if time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _schema_version(self) -> int:
        has_meta = self._connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        if not has_meta:
            return 0
        row = self._connection.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0]) if row else 0

    def _newer_schema_message(self, version: int) -> str:
        return (
            f"{self.path} has schema version {version}, newer than this requestcov "
            f"understands ({SCHEMA_VERSION}): upgrade requestcov or use another --db"
        )

    def _migrate(self) -> None:
        version = self._schema_version()
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(self._newer_schema_message(version))
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            version = self._schema_version()
            for target in range(version + 1, SCHEMA_VERSION + 1):
                migration = _MIGRATIONS[target]
                if callable(migration):
                    migration(connection)
                else:
                    for statement in migration.split(";"):
                        if statement.strip():
                            connection.execute(statement)
                connection.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(target),),
                )
            connection.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    # -- writing ----------------------------------------------------------

    def _file_id(self, path: str) -> int:
        file_id = self._file_ids.get(path)
        if file_id is None:
            self._connection.execute("INSERT OR IGNORE INTO file (path) VALUES (?)", (path,))
            file_id = self._connection.execute(
                "SELECT id FROM file WHERE path = ?", (path,)
            ).fetchone()[0]
            self._file_ids[path] = file_id
        return file_id

    @property
    def known_sets(self) -> Dict[Any, Tuple[Any, ...]]:
        """The line sets this connection has written or found, by the
        recorder's :class:`PackedLines` of each (``(set id, ...)``): a
        :data:`~requestcov.records.ReadyRow` made with them carries its set's
        id, which :meth:`write` takes as it is when told it came from here.
        Only sets already committed are in it when a batch's rows are made."""
        return self._fingerprints

    def _name_untagged(self, records: List[Union[RequestRecord, ReadyRow]]) -> List[Union[RequestRecord, ReadyRow]]:
        """Give records without a test id ``METHOD route #n``, numbered in the
        store across every process writing to it: one counter update per
        endpoint reserves the numbers of all its records in the batch. A
        ready row named is a copy (the caller's rows stay as they were, for a
        batch written again after a failure)."""
        untagged: Dict[str, List[int]] = {}
        for index, record in enumerate(records):
            if type(record) is list:
                if not record[_ROW_TEST_ID_INDEX]:
                    untagged.setdefault(endpoint_of(record[3], record[5], record[4]), []).append(index)
            elif not record.test_id:
                untagged.setdefault(record.endpoint, []).append(index)
        if not untagged:
            return records
        named = list(records)
        for endpoint, indexes in untagged.items():
            last = int(self._connection.execute(
                "INSERT INTO id_counter (key, last) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET last = last + excluded.last RETURNING last",
                (endpoint, len(indexes)),
            ).fetchone()[0])
            for number, index in enumerate(indexes, start=last - len(indexes) + 1):
                record = named[index]
                if type(record) is list:
                    record = named[index] = record.copy()
                    record[_ROW_TEST_ID_INDEX] = f"{endpoint} #{number}"
                else:
                    record.test_id = f"{endpoint} #{number}"
        return named

    def write(self, records: Iterable[Union[RequestRecord, ReadyRow]], *,
              set_ids_from: Optional[Dict[Any, Tuple[Any, ...]]] = None) -> List[int]:
        """Write records in one transaction and return their row ids.

        A record whose ``test_id`` is empty gets ``METHOD route #n`` (see
        :meth:`_name_untagged`). A record with a ``record_id`` replaces the row
        it names; a start-up record replaces the earlier one of the same process.
        The writer hands in a request whose line set the recorder packed
        before as its :data:`~requestcov.records.ReadyRow` instead of
        a record: a new row, its set found by its ``PackedLines`` unless the
        row names it and ``set_ids_from`` is this store's :attr:`known_sets`
        (the rows were made with it). A batch of only such rows, all named
        and tagged, goes in with no Python code a row.
        """
        if self.read_only:
            raise StoreError(f"{self.path} was opened for reading only")
        records = list(records)
        connection = self._connection
        row_ids: List[int] = []
        if len(self._set_ids) > _SET_CACHE_LIMIT:
            self._set_ids.clear()
        if len(self._version_lists) > _SET_CACHE_LIMIT:
            self._version_lists.clear()
        if len(self._ids_parts) > _SET_CACHE_LIMIT:
            self._ids_parts.clear()
        ids_trusted = set_ids_from is not None and set_ids_from is self._fingerprints
        only_rows = bool(records) and set(map(type, records)) == _ROW_TYPES
        connection.execute("BEGIN IMMEDIATE")
        try:
            if not (only_rows and all(map(_ROW_TEST_ID, records))):
                records = self._name_untagged(records)
            if only_rows and ids_trusted and all(map(_ROW_SET_ID, records)):
                row_ids = self._insert_rows(records)
            else:
                new: List[Union[RequestRecord, ReadyRow]] = []
                for record in records:
                    if type(record) is list or (record.record_id is None and record.kind != STARTUP):
                        new.append(record)
                        continue
                    row_ids += self._insert(new, ids_trusted)
                    new = []
                    row_ids.append(self._replace(record))
                row_ids += self._insert(new, ids_trusted)
            connection.execute("COMMIT")
        except BaseException:
            self._rollback()
            # File, version and set ids handed out inside the rolled back transaction are gone.
            self._file_ids.clear()
            self._version_ids.clear()
            self._version_lists.clear()
            self._ids_parts.clear()
            self._set_ids.clear()
            self._fingerprints.clear()
            self._fingerprint_lines = 0
            raise
        return row_ids

    def _insert(self, records: Sequence[Union[RequestRecord, ReadyRow]], ids_trusted: bool = False) -> List[int]:
        """Insert new rows (see :meth:`_insert_values`)."""
        if not records:
            return []
        set_ids = self._line_set_ids(records, ids_trusted)
        return self._insert_values(list(chain.from_iterable(
            (*record[0], *record[1:_ROW_SET_ID_INDEX], set_id) if type(record) is list else
            (record.kind, record.pid, 0 if record.arcs is None else 1, record.test_id, record.test_set,
             record.method, record.path, record.route, record.status, record.start, record.duration_ms, set_id)
            for record, set_id in zip(records, set_ids)
        )), len(records))

    def _insert_rows(self, rows: List[ReadyRow]) -> List[int]:
        """Insert ready rows that name their sets, with no Python code a row;
        their shared kind, pid and has_arcs as literals when they share them."""
        fixed = rows[0][0]
        statements = _statements_for(fixed) if countOf(map(_ROW_FIXED, rows), fixed) == len(rows) else None
        if statements is None:
            return self._insert(rows, ids_trusted=True)  # each row's values bound
        return self._insert_values(list(chain.from_iterable(map(_ROW_VARYING, rows))), len(rows),
                                   statements, _ROW_WIDTH - _FIXED_WIDTH)

    def _insert_values(self, values: List[Any], count: int,
                       statements: Tuple[str, str] = (_INSERT_GROUP, _INSERT_ROW),
                       width: int = _ROW_WIDTH) -> List[int]:
        """Insert ``count`` new rows of ``values`` (``width`` each, what
        ``statements``, a group's and a row's, bind), whole groups of them a
        statement (see :data:`_GROUP_SIZE`). SQLite numbers them: the next
        free ids in turn, known in advance because the transaction holds the
        store's write lock."""
        connection = self._connection
        first = int(connection.execute("SELECT coalesce(max(id), 0) + 1 FROM request").fetchone()[0])
        whole = count - count % _GROUP_SIZE
        group_values = _GROUP_SIZE * width
        insert_group, insert_row = statements
        for start in range(0, whole * width, group_values):
            connection.execute(insert_group, values[start:start + group_values])
        if whole < count:
            rest = iter(values[whole * width:])
            connection.executemany(insert_row, zip(*[rest] * width))  # the rows as tuples, made in C
        return list(range(first, first + count))

    def _replace(self, record: RequestRecord) -> int:
        connection = self._connection
        if record.record_id is None:
            # A start-up record: one per process (pid and start time),
            # rewritten each time the recorder flushes it.
            connection.execute(
                "DELETE FROM request WHERE kind = ? AND pid = ? AND start = ?",
                (STARTUP, record.pid, record.start),
            )
            return self._insert([record])[0]
        connection.execute(
            "UPDATE request SET kind = ?, test_id = ?, test_set = ?, method = ?, path = ?, "
            "route = ?, status = ?, start = ?, duration_ms = ?, pid = ?, has_arcs = ?, line_set_id = ? "
            "WHERE id = ?",
            _request_values(record) + (self._line_set_ids([record])[0], record.record_id),
        )
        return record.record_id

    def _line_set_ids(self, records: Sequence[Union[RequestRecord, ReadyRow]], ids_trusted: bool = False) -> List[int]:
        """The line set of each record, adding the sets this store does not
        hold yet. A ready row's own set id is taken when ``ids_trusted``.

        A set seen more than once is found by its fingerprint with no packing
        at all: the record's :class:`PackedLines` when the recorder packed it
        (the one object for all of the set's records: found by identity), else
        its lines as tuples (built and hashed in C). Another is packed (the
        recorder's numbers copied as they are) and found by its digest, and
        the new ones of a batch are looked up (another process may have
        written them) and inserted in one statement each."""
        if self._fingerprint_lines > _FINGERPRINT_LINE_LIMIT:
            self._fingerprints.clear()
            self._fingerprint_lines = 0
        fingerprints = self._fingerprints
        set_ids: List[Any] = []
        pending: Dict[bytes, bytes] = {}
        unresolved: List[Tuple[int, Any, bytes, Tuple[Any, ...]]] = []
        #: The recorder's packed sets met in this batch -> their digests.
        digests_in_batch: Dict[PackedLines, bytes] = {}
        known = self._set_ids
        for index, record in enumerate(records):
            if type(record) is list:
                if ids_trusted and record[_ROW_SET_ID_INDEX] is not None:
                    set_ids.append(record[_ROW_SET_ID_INDEX])
                    continue
                packed = record[_ROW_PACKED_INDEX]
            else:
                packed = record.packed
            if packed is not None:
                found = fingerprints.get(packed)
                if found is not None:
                    set_ids.append(found[0])
                    continue
                set_ids.append(None)
                digest = digests_in_batch.get(packed)
                if digest is None:
                    blob = self._pack_numbers(packed)
                    digest = digests_in_batch[packed] = _digest(blob)
                    repeated = digest in known or digest in pending
                    if not repeated:
                        pending[digest] = blob
                else:  # a second record of the set in this batch
                    repeated = True
                # Only a set seen again gets a fingerprint (see below).
                unresolved.append((index, packed if repeated else None, digest, ()))
                continue
            if record.arcs:  # branch coverage: rare, packed every time
                blob = self._pack(record)
                digest = _digest(blob)
                if digest not in known:
                    pending[digest] = blob
                set_ids.append(None)
                unresolved.append((index, None, digest, ()))
                continue
            fingerprint = None
            if fingerprints:
                fingerprint, version_objects = self._fingerprint(record)
                found = fingerprints.get(fingerprint)
                if found is not None:
                    set_ids.append(found[0])
                    continue
            blob = self._pack(record)
            digest = _digest(blob)
            set_ids.append(None)
            if digest in known or digest in pending:
                # Seen before: worth a fingerprint. A set seen once does not
                # get one, so records that never repeat hold no memory for it,
                # and while no set repeated none is even built.
                if fingerprint is None:
                    fingerprint, version_objects = self._fingerprint(record)
                unresolved.append((index, fingerprint, digest, version_objects))
            else:
                pending[digest] = blob
                unresolved.append((index, None, digest, ()))
        if pending:
            self._add_line_sets(pending)
        for index, fingerprint, digest, version_objects in unresolved:
            set_id = set_ids[index] = known[digest]
            if fingerprint is not None and fingerprint not in fingerprints:
                # The version objects stay referenced, so no other object takes their ids.
                fingerprints[fingerprint] = (set_id, version_objects)
                self._fingerprint_lines += (
                    len(fingerprint.packed) // 2 if type(fingerprint) is PackedLines
                    else sum(map(len, fingerprint[2])) + len(fingerprint[0]))
        return set_ids

    @staticmethod
    def _fingerprint(record: RequestRecord) -> Tuple[Tuple[Any, ...], Tuple[Any, ...]]:
        """A record without arcs as one hashable value, and its version objects."""
        lines = record.lines
        paths = tuple(sorted(lines))
        versions = record.versions
        version_objects = tuple(map(versions.get, paths)) if versions else ()
        return (paths, tuple(map(id, version_objects)), tuple(map(tuple, map(lines.__getitem__, paths)))), version_objects

    def _add_line_sets(self, new: Dict[bytes, bytes]) -> None:
        connection = self._connection
        known = self._set_ids
        wanted = list(new)
        for first in range(0, len(wanted), 500):  # within SQLite's limit on parameters
            chunk = wanted[first:first + 500]
            known.update((digest, set_id) for set_id, digest in connection.execute(
                f"SELECT id, digest FROM line_set WHERE digest IN ({','.join('?' * len(chunk))})", chunk,
            ))
        missing = [digest for digest in wanted if digest not in known]
        if not missing:
            return
        first_id = int(connection.execute("SELECT coalesce(max(id), 0) + 1 FROM line_set").fetchone()[0])
        rows = [(set_id, digest, new[digest]) for set_id, digest in enumerate(missing, start=first_id)]
        connection.executemany("INSERT INTO line_set (id, digest, data) VALUES (?, ?, ?)", rows)
        known.update((digest, set_id) for set_id, digest, _ in rows)

    def _pack_numbers(self, packed: PackedLines) -> bytes:
        """The line set of a record the recorder packed: its numbers as they
        are, after the ids of its files and versions, which are packed once
        for all the sets of the same files (the recorder hands out one tuple
        of versions for them all, found again by its identity)."""
        key = (packed.paths, id(packed.versions))
        found = self._ids_parts.get(key)
        if found is None:
            file_ids = self._file_ids_of(packed.paths)
            # The versions stay referenced, so no other tuple takes their id.
            found = self._ids_parts[key] = (
                ids_part(file_ids, self._version_ids_of(file_ids, packed.versions)), packed.versions)
        return found[0] + packed.packed

    def _file_ids_of(self, paths: Sequence[str]) -> List[int]:
        try:
            return list(map(self._file_ids.__getitem__, paths))
        except KeyError:
            return list(map(self._file_id, paths))

    def _pack(self, record: RequestRecord) -> bytes:
        """A record's files packed (see ``requestset``), with no Python loop
        over its files in the common case: no arcs, files and versions seen before."""
        lines = record.lines
        arcs = record.arcs
        if arcs:
            paths = sorted(set(lines).union(arcs))
            line_lists: List[Sequence[int]] = [lines.get(path, ()) for path in paths]
            arc_lists: Optional[List[Optional[Sequence[Tuple[int, int]]]]] = [arcs.get(path) for path in paths]
        else:
            paths = sorted(lines)
            line_lists = list(map(lines.__getitem__, paths))
            arc_lists = None
        file_ids = self._file_ids_of(paths)
        versions = record.versions
        if versions:
            version_ids = self._version_ids_of(file_ids, list(map(versions.get, paths)))
        else:
            version_ids = [0] * len(paths)
        return pack_set(file_ids, version_ids, line_lists, arc_lists)

    def _version_ids_of(self, file_ids: List[int], versions: Sequence[Optional[FileVersion]]) -> List[int]:
        """The version id of each file (0: unknown). The recorder hands out
        one version object per file until the file changes, so the objects'
        identities find a record's list again without hashing each version."""
        key = (tuple(file_ids), tuple(map(id, versions)))
        cached = self._version_lists.get(key)
        if cached is not None:
            return cached[1]
        version_ids = [self._version_id(file_id, version) or 0 for file_id, version in zip(file_ids, versions)]
        self._version_lists[key] = (tuple(versions), version_ids)
        return version_ids

    def _version_id(self, file_id: int, version: Optional[FileVersion]) -> Optional[int]:
        """The row of a file version, added the first time it is seen."""
        if version is None:
            return None
        key = (file_id, version)
        version_id = self._version_ids.get(key)
        if version_id is None:
            values = (file_id, version.sha256, version.commit or "", version.repo or "")
            self._connection.execute(
                "INSERT OR IGNORE INTO file_version (file_id, sha256, git_commit, repo_root) VALUES (?, ?, ?, ?)",
                values,
            )
            version_id = self._version_ids[key] = int(self._connection.execute(
                "SELECT id FROM file_version WHERE file_id = ? AND sha256 = ? AND git_commit = ? AND repo_root = ?",
                values,
            ).fetchone()[0])
        return version_id

    # -- reading ----------------------------------------------------------

    def count(self, kind: str = REQUEST) -> int:
        try:
            counted = int(
                self._connection.execute("SELECT count(*) FROM request WHERE kind = ?", (kind,)).fetchone()[0]
            )
        except sqlite3.DatabaseError as error:
            raise self._read_error(error) from error
        self._check_unchanged()
        return counted

    def iter_records(self, kinds: Sequence[str] = (REQUEST,)) -> Iterator[RequestRecord]:
        """Yield records in the order they were written, one at a time, so a
        store of 100,000 requests never has to sit in memory at once."""
        try:
            if self._line_sets:
                for _, record in self._iter_set_records(kinds, share=False):
                    yield record
            else:
                yield from self._iter_records(kinds)
        except sqlite3.DatabaseError as error:
            raise self._read_error(error) from error
        self._check_unchanged()

    def iter_keyed_records(self, kinds: Sequence[str] = (REQUEST,)) -> Iterator[Tuple[Optional[int], RequestRecord]]:
        """Records as :meth:`iter_records` yields them, each with the key of its
        line set: records of one key ran the same lines (and arcs, and file
        versions), and share one ``lines``, ``arcs`` and ``versions`` of their
        own, decoded once, which the caller must not change. An analysis that
        groups equal line sets can group by key instead of comparing lines.
        The key is None in a store of an older schema (read as it is), whose
        records share nothing."""
        try:
            if self._line_sets:
                yield from self._iter_set_records(kinds, share=True)
            else:
                for record in self._iter_records(kinds):
                    yield None, record
        except sqlite3.DatabaseError as error:
            raise self._read_error(error) from error
        self._check_unchanged()

    def distinct_line_numbers(self, kind: str = REQUEST) -> Optional[Iterator[LineNumbers]]:
        """Each distinct line set the records of ``kind`` ran, once, as its
        files' paths, their counts of lines, and where in which bytes the
        numbers lie (:func:`~requestcov.store.requestset.line_numbers_part`),
        for a reader that takes them as one array instead of Python lists;
        None in an older store, which does not keep line sets apart."""
        if not self._line_sets:
            return None
        return self._distinct_line_numbers(kind)

    def _distinct_line_numbers(self, kind: str) -> Iterator[LineNumbers]:
        for _, numbers in self._keyed_line_numbers(kind, None):
            yield numbers

    def keyed_line_numbers(self, kind: str = REQUEST,
                           set_ids: Optional[Sequence[int]] = None) -> Optional[Iterator[Tuple[int, LineNumbers]]]:
        """:meth:`distinct_line_numbers`, each with its set's key (the key
        :meth:`iter_keyed_records` and :meth:`request_rows` give its
        records), by key; only the sets of ``set_ids`` when given. None in
        an older store."""
        if not self._line_sets:
            return None
        return self._keyed_line_numbers(kind, set_ids)

    def _keyed_line_numbers(self, kind: str, set_ids: Optional[Sequence[int]]) -> Iterator[Tuple[int, LineNumbers]]:
        try:
            paths: Dict[int, str] = dict(self._connection.execute("SELECT id, path FROM file"))
            if set_ids is None:
                rows: Iterable[Tuple[int, bytes]] = self._connection.execute(
                    "SELECT id, data FROM line_set WHERE id IN (SELECT DISTINCT line_set_id FROM request "
                    "WHERE kind = ?) ORDER BY id", (kind,))
            else:
                wanted = sorted(set(set_ids))
                rows = chain.from_iterable(self._connection.execute(
                    f"SELECT id, data FROM line_set WHERE id IN ({','.join('?' * len(chunk))}) ORDER BY id", chunk)
                    for chunk in (wanted[first:first + 500] for first in range(0, len(wanted), 500)))
            for set_id, blob in rows:
                file_ids, counts, width, start = line_numbers_part(blob)
                if not all(map(paths.__contains__, file_ids)):
                    paths = dict(self._connection.execute("SELECT id, path FROM file"))
                yield set_id, (list(map(paths.__getitem__, file_ids)), counts, blob, width, start)
        except sqlite3.DatabaseError as error:
            raise self._read_error(error) from error
        self._check_unchanged()

    def request_rows(self, kind: str = REQUEST) -> Optional[Iterator[RequestRow]]:
        """Every request of ``kind`` as its row alone, in the order written
        (see :data:`RequestRow`): the key of its line set stands for its
        lines, arcs and versions (:meth:`keyed_line_numbers`). A reader that
        needs a million requests' ids and the sets they ran, but the lines of
        only a few, makes no record and decodes no set for each. None in an
        older store, which keeps no line sets."""
        if not self._line_sets:
            return None
        return self._request_rows(kind)

    def _request_rows(self, kind: str) -> Iterator[RequestRow]:
        try:
            yield from self._connection.execute(
                f"SELECT {_REQUEST_COLUMNS}, has_arcs, line_set_id FROM request WHERE kind = ? ORDER BY id", (kind,))
        except sqlite3.DatabaseError as error:
            raise self._read_error(error) from error
        self._check_unchanged()

    def recorded_versions(self) -> List[Tuple[str, FileVersion]]:
        """Every file version the store holds, with its file's path (none in
        a store of a schema before versions)."""
        if not self._versioned:
            return []
        try:
            versions = self._file_versions()
            paths = dict(self._connection.execute("SELECT id, path FROM file"))
            found = [(paths[file_id], versions[version_id]) for version_id, file_id in self._connection.execute(
                "SELECT id, file_id FROM file_version ORDER BY id")]
        except sqlite3.DatabaseError as error:
            raise self._read_error(error) from error
        self._check_unchanged()
        return found

    def has_arcs(self, kind: str = REQUEST) -> bool:
        """Whether any request of ``kind`` recorded arcs (branch coverage)."""
        try:
            found = self._connection.execute(
                "SELECT 1 FROM request WHERE kind = ? AND has_arcs LIMIT 1", (kind,)).fetchone() is not None
        except sqlite3.DatabaseError as error:
            raise self._read_error(error) from error
        self._check_unchanged()
        return found

    def line_set_count(self, kind: str = REQUEST) -> Optional[int]:
        """How many distinct line sets the records of ``kind`` ran (None in an
        older store, which does not keep them apart)."""
        if not self._line_sets:
            return None
        try:
            counted = int(self._connection.execute(
                "SELECT count(DISTINCT line_set_id) FROM request WHERE kind = ?", (kind,)).fetchone()[0])
        except sqlite3.DatabaseError as error:
            raise self._read_error(error) from error
        self._check_unchanged()
        return counted

    def _iter_set_records(
        self, kinds: Sequence[str], share: bool,
    ) -> Iterator[Tuple[Optional[int], RequestRecord]]:
        placeholders = ",".join("?" * len(kinds))
        rows = self._connection.execute(
            _SET_REQUESTS + f"WHERE kind IN ({placeholders}) ORDER BY request.id", tuple(kinds),
        )
        decoded = self._set_decoder()
        for row in rows:
            lines, arcs, versions, kept = decoded(row[12], row[13])
            if kept and not share:
                lines = _copied(lines)
                arcs = _copied(arcs)
            yield row[12], _request_record(
                row, lines=lines, arcs=arcs if row[11] else None, versions=versions if share else dict(versions),
            )

    def _set_decoder(self) -> Callable[[Optional[int], Optional[bytes]], _DecodedSet]:
        """Decode line sets: (lines, arcs, versions, whether the decoder keeps
        them for the set's next record, so a caller that changes them must copy).

        A set is kept from its second record on: keeping every set would
        fill the heap, when no set repeats, with lists the garbage collector
        scans again and again (reading then took twice as long). The header
        of a set (its files and their versions) is decoded once for every
        set of the same files. The file and version tables are read again
        when a set names a row written after they were read."""
        connection = self._connection
        paths: Dict[int, str] = dict(connection.execute("SELECT id, path FROM file"))
        versions_by_id = self._file_versions()
        cache: Dict[Optional[int], _DecodedSet] = {}
        seen: Set[Optional[int]] = set()
        #: The files part of a set's header (file ids and version ids) -> the
        #: files' paths and their versions: the same for every set of the same
        #: files, whatever lines each ran.
        described_files: Dict[bytes, Tuple[List[str], Dict[str, FileVersion]]] = {}

        def described(blob: bytes, count: int) -> Tuple[List[str], Dict[str, FileVersion]]:
            nonlocal paths, versions_by_id
            part = files_part(blob, count)
            found = described_files.get(part)
            if found is None:
                if len(described_files) > _DECODED_SET_LIMIT:
                    described_files.clear()
                file_ids, version_ids = unpack_files_part(part)
                if not all(map(paths.__contains__, file_ids)):
                    paths = dict(connection.execute("SELECT id, path FROM file"))
                if not all(map(versions_by_id.__contains__, filter(None, version_ids))):
                    versions_by_id = self._file_versions()
                names = list(map(paths.__getitem__, file_ids))
                found = described_files[part] = (names, {
                    name: versions_by_id[version] for name, version in zip(names, version_ids)
                    if version and version in versions_by_id})
            return found

        def decoded(set_id: Optional[int], blob: Optional[bytes]) -> _DecodedSet:
            found = cache.get(set_id)
            if found is not None:
                return found
            if blob is None:  # no set (cannot happen in a store this code wrote)
                return {}, {}, {}, False
            count = file_count(blob)
            names, versions = described(blob, count)
            plain = unpack_plain_lines(blob, count)
            if plain is not None:
                lines = dict(zip(names, plain))
                arcs: Dict[str, List[Tuple[int, int]]] = {}
            else:  # a set with arcs: decoded whole
                header = unpack_header(header_bytes(blob))
                lines = dict(zip(names, unpack_lines(blob, header)))
                file_arcs = unpack_arcs(blob, header)
                arcs = ({} if file_arcs is None else
                        {name: file_arc for name, file_arc in zip(names, file_arcs) if file_arc is not None})
            if set_id not in seen:
                if len(seen) > _SEEN_SET_LIMIT:
                    seen.clear()
                seen.add(set_id)
                return lines, arcs, versions, False
            if len(cache) > _DECODED_SET_LIMIT:
                cache.clear()
            found = cache[set_id] = (lines, arcs, versions, True)
            return found

        return decoded

    def _read_error(self, error: sqlite3.DatabaseError) -> StoreError:
        self._check_unchanged()
        return StoreError(f"cannot read the requestcov store {self.path}: {error}")

    def _check_unchanged(self) -> None:
        """After an ``immutable`` read: fail if a writer changed the file meanwhile."""
        if self._stamp is not None and FileStamp.of(self.path) != self._stamp:
            raise StoreError(
                f"{self.path} changed while it was read (a process started recording into it): run the command again"
            )

    def _iter_records(self, kinds: Sequence[str]) -> Iterator[RequestRecord]:
        connection = self._connection
        decode = self._decode_lines
        paths = dict(connection.execute("SELECT id, path FROM file"))
        placeholders = ",".join("?" * len(kinds))
        requests = connection.execute(
            f"SELECT {_REQUEST_COLUMNS}, has_arcs FROM request WHERE kind IN ({placeholders}) ORDER BY id",
            tuple(kinds),
        )
        # A second cursor walks the per-file rows in the same order, so the
        # join costs one pass over each table.
        versions = self._file_versions()
        files = connection.cursor().execute(
            f"SELECT request_id, file_id, lines, arcs, {'version_id' if self._versioned else 'NULL'} FROM request_file "
            f"WHERE request_id IN (SELECT id FROM request WHERE kind IN ({placeholders})) "
            "ORDER BY request_id",
            tuple(kinds),
        )
        pending = files.fetchone()
        for row in requests:
            record = _request_record(row, arcs={} if row[11] else None)
            while pending is not None and pending[0] < record.record_id:
                pending = files.fetchone()
            while pending is not None and pending[0] == record.record_id:
                path = paths.get(pending[1])
                if path is None:  # a file row written after we read the file table
                    paths = dict(connection.execute("SELECT id, path FROM file"))
                    path = paths[pending[1]]
                record.lines[path] = decode(pending[2])
                if record.arcs is not None and pending[3] is not None:
                    record.arcs[path] = _decode_arcs(pending[3])
                if pending[4] is not None:
                    version = versions.get(pending[4])
                    if version is None:  # a version written after we read the table
                        versions = self._file_versions()
                        version = versions.get(pending[4])
                    if version is not None:
                        record.versions[path] = version
                pending = files.fetchone()
            yield record

    def _file_versions(self) -> Dict[int, FileVersion]:
        if not self._versioned:
            return {}
        return {
            row[0]: FileVersion(sha256=row[1], commit=row[2] or None, repo=row[3] or None)
            for row in self._connection.execute("SELECT id, sha256, git_commit, repo_root FROM file_version")
        }

    def records(self, kinds: Sequence[str] = (REQUEST,)) -> List[RequestRecord]:
        return list(self.iter_records(kinds))

    def startup_records(self) -> List[RequestRecord]:
        return list(self.iter_records((STARTUP,)))

    def newest_request_id(self) -> int:
        """The id of the newest row (0: none): rows written later have
        greater ids (see :meth:`_insert`), which is how :meth:`test_records`
        finds a test's rows without an index."""
        try:
            return int(self._connection.execute("SELECT coalesce(max(id), 0) FROM request").fetchone()[0])
        except sqlite3.DatabaseError as error:
            raise self._read_error(error) from error

    def test_records(self, test_set: str, test_id: str, since: float = 0.0, after_id: int = 0) -> List[RequestRecord]:
        """The request records of one test that started at ``since`` (Unix
        time) or later and were written after row ``after_id`` (see
        :meth:`newest_request_id`): the Keploy agent asks this of a growing
        store at the end of every test, so it reads only the rows written
        since the test began, not the whole store."""
        where = "WHERE request.id > ? AND test_set = ? AND test_id = ? AND kind = ? AND start >= ? ORDER BY request.id"
        parameters = (after_id, test_set, test_id, REQUEST, since)
        if self._line_sets:
            return self._test_set_records(where, parameters)
        try:
            connection = self._connection
            rows = connection.execute(f"SELECT {_REQUEST_COLUMNS}, has_arcs FROM request {where}", parameters).fetchall()
            records = {row[0]: _request_record(row, arcs={} if row[11] else None) for row in rows}
            if records:
                paths = dict(connection.execute("SELECT id, path FROM file"))
                placeholders = ",".join("?" * len(records))
                for request_id, file_id, lines, arcs in connection.execute(
                    f"SELECT request_id, file_id, lines, arcs FROM request_file WHERE request_id IN ({placeholders})",
                    tuple(records),
                ):
                    record = records[request_id]
                    record.lines[paths[file_id]] = self._decode_lines(lines)
                    if record.arcs is not None and arcs is not None:
                        record.arcs[paths[file_id]] = _decode_arcs(arcs)
        except sqlite3.DatabaseError as error:
            raise self._read_error(error) from error
        self._check_unchanged()
        return list(records.values())

    def _test_set_records(self, where: str, parameters: Tuple[Any, ...]) -> List[RequestRecord]:
        try:
            rows = self._connection.execute(_SET_REQUESTS + where, parameters).fetchall()
            decoded = self._set_decoder() if rows else None
            records = []
            for row in rows:
                assert decoded is not None
                lines, arcs, _, _ = decoded(row[12], row[13])
                records.append(_request_record(row, lines=_copied(lines), arcs=_copied(arcs) if row[11] else None))
        except sqlite3.DatabaseError as error:
            raise self._read_error(error) from error
        self._check_unchanged()
        return records

    def integrity_check(self) -> str:
        return str(self._connection.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        self._connection.close()

    # -- the file under a writer ------------------------------------------

    def moved(self) -> Optional[str]:
        """``"deleted"`` or ``"replaced"`` when the file at :attr:`path` is no
        longer the one this connection writes to (SQLite would go on writing
        into the old file, unseen); None while it is."""
        if self.read_only:
            return None
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return "deleted"
        except OSError:  # cannot tell (a folder made unreadable): carry on
            return None
        return None if (status.st_dev, status.st_ino) == self._opened_file else "replaced"

    def close_moved(self) -> None:
        """Close after :meth:`moved` said so, leaving the path clean for a new store.

        The WAL is first folded into the old file: a store renamed away (a
        rotation) then keeps every record written to it. SQLite does not
        remove the ``-wal`` and ``-shm`` of a moved file on close, and a new
        file at the path would take them for its own (reading the old store's
        pages into it); so they are removed here, but only while they are
        still the very files this connection used: another process may
        already have started the new store, and its files are left alone.
        """
        try:
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass
        self._close_quietly()
        for suffix, opened in self._opened_companions.items():
            companion = Path(f"{self.path}{suffix}")
            if opened is not None and _identity(companion) == opened:
                try:
                    companion.unlink()
                except OSError:
                    pass

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already: after a full
        disk or an I/O error it rolls back by itself, and a second ROLLBACK
        would hide the real error behind "no transaction is active"."""
        try:
            self._connection.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _close_quietly(self) -> None:
        connection = getattr(self, "_connection", None)
        if connection is not None:
            try:
                connection.close()
            except sqlite3.Error:
                pass

    def __enter__(self) -> "SQLiteStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

