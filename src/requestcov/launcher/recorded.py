"""Did the server record what ``requestcov run --replay`` sent it?

A replay that answered every request proves nothing about coverage: a server
requestcov does not wrap answers just as well and records nothing, and a
worker killed before its writer ran loses its last records silently. So after
the server stopped, the store is read back and every request that got an
answer must have a record of its own, with the test set and test id the replay
sent.

Only records written during this run count: a store that already holds the
same test ids from an earlier run must not hide a loss. Each record carries the
Unix time its request (or its process, for start-up records) started; those of
this run started after the server was launched.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, List, Optional

from requestcov.errors import StoreError
from requestcov.middleware.testid import clean_test_id
from requestcov.records import REQUEST, STARTUP, TestKey
from requestcov.replay import ReplayResult
from requestcov.replay.model import FAILED
from requestcov.store import SQLiteStore

__all__ = ["RecordedCheck", "check_recorded"]


@dataclass
class RecordedCheck:
    """How many answered requests have a record of this run, and what else
    the stores say about the run."""

    #: Answered requests that carried a test id the store can show.
    answered: int = 0
    #: Answered requests with no record of this run, one entry per request.
    missing: List[TestKey] = field(default_factory=list)
    #: Request and start-up records of this run, whatever their test id.
    requests_recorded: int = 0
    startup_recorded: int = 0
    #: Records of replayed requests found in the fallback store.
    in_fallback: int = 0
    #: Why a store could not be read, when one could not.
    store_errors: List[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing


def _sent_key(result: ReplayResult) -> TestKey:
    """The key the server's middleware makes of the headers the replay sent."""
    return TestKey(clean_test_id(result.request.test_set), clean_test_id(result.request.test_id))


def check_recorded(
    db: "str | os.PathLike[str]",
    results: Iterable[ReplayResult],
    since: float,
    fallback_db: "Optional[str | os.PathLike[str]]" = None,
) -> RecordedCheck:
    """Compare the answered ``results`` with the records of the store ``db``
    (and of ``fallback_db``, where a server records when ``db`` fails) that
    started at or after ``since`` (Unix time)."""
    expected: "Counter[TestKey]" = Counter()
    for result in results:
        key = _sent_key(result)
        # A blank id is named ``METHOD route #n`` by the store: nothing to look for.
        if result.outcome != FAILED and key.test_id:
            expected[key] += 1
    check = RecordedCheck(answered=sum(expected.values()))
    found: "Counter[TestKey]" = Counter()
    for path, is_fallback in ((db, False), (fallback_db, True)):
        if path is None or (is_fallback and not os.path.exists(path)):
            continue
        before = sum(found.values())
        _count_run(path, since, expected, found, check)
        if is_fallback:
            check.in_fallback = sum(found.values()) - before
    for key, count in sorted(expected.items()):
        check.missing += [key] * max(0, count - found[key])
    return check


def _count_run(path: "str | os.PathLike[str]", since: float, expected: "Counter[TestKey]",
               found: "Counter[TestKey]", check: RecordedCheck) -> None:
    if not os.path.exists(path):
        return  # nothing written: reported as no record at all
    try:
        with SQLiteStore(path, create=False) as store:
            for record in store.iter_records((REQUEST, STARTUP)):
                if record.start < since:
                    continue
                if record.kind == STARTUP:
                    check.startup_recorded += 1
                    continue
                check.requests_recorded += 1
                if found[record.key] < expected[record.key]:
                    found[record.key] += 1
    except (StoreError, sqlite3.Error) as error:
        check.store_errors.append(f"{path}: {error}" if isinstance(error, sqlite3.Error) else str(error))
