"""Where records live: the SQLite store, Keploy's dedupData.yaml, and the
background writer that moves finished requests off the request path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Optional

from requestcov.records import RequestRecord
from requestcov.store.keploy import read_dedup_yaml, write_dedup_yaml
from requestcov.store.sqlite import DEFAULT_DB_PATH, SCHEMA_VERSION, NotAStoreError, SQLiteStore

__all__ = [
    "SQLiteStore",
    "NotAStoreError",
    "SCHEMA_VERSION",
    "DEFAULT_DB_PATH",
    "resolve_db_path",
    "read_dedup_yaml",
    "write_dedup_yaml",
    "load_records",
]


def resolve_db_path(db: "Optional[str | os.PathLike[str]]" = None) -> Path:
    """The store to use: the one named, else ``REQUESTCOV_DB``, else the default."""
    return Path(db or os.environ.get("REQUESTCOV_DB") or DEFAULT_DB_PATH)


def load_records(
    db: "Optional[str | os.PathLike[str]]" = None,
    from_file: "Optional[str | os.PathLike[str]]" = None,
) -> Iterator[RequestRecord]:
    """Request records from a Keploy ``dedupData.yaml`` when ``from_file`` is
    given, otherwise from the SQLite store, opened read-only: reading never
    changes a store. Start-up records are not included."""
    if from_file is not None:
        yield from read_dedup_yaml(from_file)
        return
    with SQLiteStore(resolve_db_path(db), read_only=True) as store:
        yield from store.iter_records()
