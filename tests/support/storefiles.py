"""Store files as other versions and other programs leave them, and a way to
tell that reading one changed nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Dict, Tuple

from coverage.numbits import nums_to_numbits

from requestcov.store.sqlite import _MIGRATIONS

__all__ = ["a_version_1_store", "a_version_2_store", "a_version_3_store", "a_foreign_database", "folder_state"]

#: What :func:`a_version_1_store` holds, as requestcov reads it back.
VERSION_1_LINES = {"/app/views.py": [1, 2, 30, 70_000], "/app/empty.py": []}


def a_version_1_store(path: Path) -> None:
    """A store of schema version 1, which kept coverage.py's numbits bitmaps,
    built the way that version did, with coverage.py's own encoder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.executescript(str(_MIGRATIONS[1]))
    connection.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    connection.execute("INSERT INTO file VALUES (1, '/app/views.py'), (2, '/app/empty.py')")
    connection.execute(
        "INSERT INTO request (id, test_id, start, duration_ms, pid) VALUES (1, 'test-1', 1.0, 2.0, 7)"
    )
    connection.execute(
        "INSERT INTO request_file VALUES (1, 1, ?, NULL), (1, 2, ?, NULL)",
        (nums_to_numbits(VERSION_1_LINES["/app/views.py"]), b""),
    )
    connection.commit()
    connection.close()


def a_foreign_database(path: Path) -> None:
    """Some other program's SQLite database."""
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    connection.execute("INSERT INTO meta VALUES ('owner', 'someone else')")
    connection.commit()
    connection.close()


def folder_state(folder: Path) -> Dict[str, Tuple[bytes, int]]:
    """Every file in ``folder`` with its bytes and modification time."""
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in sorted(folder.iterdir())
            if path.is_file()}


#: What :func:`a_version_2_store` holds, as requestcov reads it back.
VERSION_2_LINES = {"/app/views.py": [3, 4, 9]}


def a_version_2_store(path: Path) -> None:
    """A store of schema version 2 (packed lines, no file versions), built by
    that version's migrations: its records are of unknown version."""
    from requestcov.store.lineset import encode_lines

    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.executescript(str(_MIGRATIONS[1]))
    connection.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    connection.execute("INSERT INTO file VALUES (1, '/app/views.py')")
    connection.execute(
        "INSERT INTO request (id, test_id, start, duration_ms, pid) VALUES (1, 'test-1', 1.0, 2.0, 7)"
    )
    connection.execute("INSERT INTO request_file VALUES (1, 1, ?, NULL)", (encode_lines(VERSION_2_LINES["/app/views.py"]),))
    connection.commit()
    connection.close()


def a_version_3_store(path: Path) -> None:
    """A store of schema version 3 (one row per request and file, with file
    versions), built by that version's migrations: two requests that ran the
    same lines, one with branch arcs (and a file of arcs only), one with
    no files at all, and a start-up record."""
    from requestcov.store.lineset import encode_lines
    from requestcov.store.sqlite import _SCHEMA_V3

    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.executescript(str(_MIGRATIONS[1]))
    for statement in _SCHEMA_V3.split(";"):
        if statement.strip():
            connection.execute(statement)
    connection.execute("INSERT INTO meta VALUES ('schema_version', '3')")
    connection.execute("INSERT INTO file VALUES (1, '/app/views.py'), (2, '/app/models.py'), (3, '/app/arcs.py')")
    connection.execute("INSERT INTO file_version VALUES (1, 1, ?, 'c0ffee', '/app'), (2, 2, ?, '', '')",
                       ("a" * 64, "b" * 64))
    for number, kind in ((1, "request"), (2, "request"), (3, "request"), (4, "request"), (5, "startup")):
        connection.execute(
            "INSERT INTO request (id, kind, test_id, method, path, route, status, start, duration_ms, pid, has_arcs) "
            "VALUES (?, ?, ?, 'GET', ?, '/items/<id>', 200, ?, 2.0, 7, ?)",
            (number, kind, f"test-{number}", f"/items/{number}", float(number), 1 if number == 3 else 0),
        )
    views, models = encode_lines([1, 2, 70_000]), encode_lines([5])
    arcs = b"".join(value.to_bytes(4, "little", signed=True) for value in (-1, 2, 2, -1))
    connection.executemany("INSERT INTO request_file VALUES (?, ?, ?, ?, ?)", [
        (1, 1, views, None, 1), (1, 2, models, None, 2),
        (2, 2, models, None, 2), (2, 1, views, None, 1),
        (3, 1, views, arcs, 1), (3, 3, b"", arcs, None),
        (5, 2, models, None, None),
    ])
    connection.commit()
    connection.close()
