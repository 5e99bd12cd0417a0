"""Store files as other versions and other programs leave them, and a way to
tell that reading one changed nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Dict, Tuple

from coverage.numbits import nums_to_numbits

from requestcov.store.sqlite import _MIGRATIONS

__all__ = ["a_version_1_store", "a_version_2_store", "a_foreign_database", "folder_state"]

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
