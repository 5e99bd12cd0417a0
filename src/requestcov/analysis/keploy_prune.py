"""Removing duplicate tests from a Keploy test folder, safely.

Keploy keeps each test as ``<dir>/<test-set>/tests/<test-id>.yaml``. Removal
is planned first (that plan is the dry run), then applied:

* a test is only removed while every line and arc it covers is still covered
  by some other test that stays (re-checked against the union as removals
  accumulate, so two near-duplicates never both go);
* test ids and set names come from recordings and are untrusted: each must be
  one plain file-name component, and the resulting path must resolve inside
  the Keploy folder;
* everything removed is first copied to ``<dir>/.requestcov-backup/<time>/``
  with the same layout, beside a ``removed.json`` report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

from requestcov.analysis.dedup import EXACT, NEAR, SUBSUMED, DedupResult
from requestcov.analysis.index import CoverageIndex
from requestcov.errors import InputError, RequestcovError
from requestcov.records import TestKey

__all__ = ["BACKUP_FOLDER", "PlannedRemoval", "plan_removal", "apply_removal", "keploy_test_path"]

BACKUP_FOLDER = ".requestcov-backup"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

REMOVE = "remove"
LAST_COVER = "kept: last test covering some code"
MISSING = "skipped: no test file"
UNSAFE = "skipped: unsafe test id"


@dataclass
class PlannedRemoval:
    test: int
    key: TestKey
    kind: str
    keep: int
    action: str
    path: Optional[Path]
    #: Lines and arcs only this test still covers (when action is LAST_COVER).
    only_cover: int = 0


def _safe_component(name: str, what: str) -> str:
    if not _SAFE_NAME.match(name) or ".." in name or len(name) > 255:
        raise InputError(f"{what} {name!r} is not a plain file name; refusing to build a path from it")
    return name


def keploy_test_path(keploy_dir: Path, key: TestKey) -> Path:
    """Where Keploy keeps the test ``key``; raises :class:`InputError` when the
    id or set name could lead outside ``keploy_dir``."""
    root = keploy_dir.resolve()
    test_id = _safe_component(key.test_id, "test id")
    folder = root / _safe_component(key.test_set, "test set") if key.test_set else root
    candidates = [folder / "tests" / f"{test_id}.yaml", folder / "tests" / f"{test_id}.yml"]
    chosen = next((candidate for candidate in candidates if candidate.exists()), candidates[0])
    resolved = chosen.resolve()
    if root not in resolved.parents:
        raise InputError(f"the test file of {key} resolves outside {keploy_dir}; refusing to touch it")
    return resolved


def plan_removal(index: CoverageIndex, result: DedupResult, keploy_dir: Path) -> List[PlannedRemoval]:
    """Decide what to remove: exact duplicates first, then subsumed, then near
    ones (only near-duplicates can lose coverage), never a last cover."""
    still_covering = np.bincount(index.flat, minlength=index.element_count) if index.flat.size else \
        np.zeros(index.element_count, dtype=np.int64)
    planned: List[PlannedRemoval] = []
    order = {EXACT: 0, SUBSUMED: 1, NEAR: 2}
    for group in sorted(result.groups, key=lambda item: (order[item.kind], item.keep)):
        for test in group.drop:
            key = index.tests[test].key
            try:
                path: Optional[Path] = keploy_test_path(keploy_dir, key)
            except InputError:
                planned.append(PlannedRemoval(test, key, group.kind, group.keep, UNSAFE, None))
                continue
            if path is None or not path.is_file():
                planned.append(PlannedRemoval(test, key, group.kind, group.keep, MISSING, path))
                continue
            elements = index.elements(test)
            lonely = int(np.count_nonzero(still_covering[elements] < 2))
            if lonely:
                planned.append(PlannedRemoval(test, key, group.kind, group.keep, LAST_COVER, path, lonely))
                continue
            still_covering[elements] -= 1
            planned.append(PlannedRemoval(test, key, group.kind, group.keep, REMOVE, path))
    return planned


def apply_removal(planned: Sequence[PlannedRemoval], keploy_dir: Path, index: CoverageIndex,
                  timestamp: Optional[float] = None) -> Optional[Path]:
    """Back up, then remove, the files planned for removal; return the backup
    folder (None when nothing was removed)."""
    removals = [item for item in planned if item.action == REMOVE and item.path is not None]
    if not removals:
        return None
    root = keploy_dir.resolve()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(timestamp if timestamp is not None else time.time()))
    backup = root / BACKUP_FOLDER / stamp
    suffix = 1
    while backup.exists():
        suffix += 1
        backup = root / BACKUP_FOLDER / f"{stamp}-{suffix}"
    report = []
    try:
        for item in removals:
            assert item.path is not None
            relative = item.path.relative_to(root)
            target = backup / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item.path, target)
            report.append({
                "test": str(item.key), "file": str(relative), "kind": item.kind,
                "duplicate_of": str(index.tests[item.keep].key),
            })
        (backup / "removed.json").write_text(json.dumps({"removed": report}, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise RequestcovError(f"cannot back up the tests to {backup}: {error}; nothing was removed") from error
    for item in removals:
        assert item.path is not None
        try:
            os.unlink(item.path)
        except OSError as error:
            raise RequestcovError(
                f"cannot remove {item.path}: {error}; the backup in {backup} holds every planned file"
            ) from error
    return backup
