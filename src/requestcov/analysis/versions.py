"""Which recorded files changed since they were recorded.

A record's line numbers belong to the version of each file it ran (see
:mod:`requestcov.fileversions`); an analysis that reads the source as it is
now must not lay line 41 of last week's file over line 41 of today's. This is
the one place that tells: it watches records stream by (they are read once,
never kept), compares each recorded SHA-256 with the file now, and says which
files changed, how many records ran another version of them, and which
version each test ran.

Records without a version of a file (a store of an older schema, a
``dedupData.yaml``) are of unknown version: they are counted as they are,
as before versions were recorded; nothing is claimed about them.

What the commands do with a changed file (documented in each):

- ``gaps`` and ``html`` count only the records of the file as it is now
  (:meth:`RecordedVersions.current_only`): a file that only other versions
  ran is left out, and a warning names it;
- ``hot`` counts every request (its code paths do not read the source) and
  marks the rare lines of a changed file, printing them as recorded;
- ``impact`` maps the recorded lines through the diff from the recorded
  commit (:mod:`requestcov.analysis.impact`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from requestcov.fileversions import file_sha256
from requestcov.records import FileVersion, KeyedRecord, RequestRecord, TestKey

__all__ = ["ChangedFile", "RecordedVersions"]
#: Trimmed copies of line sets kept for their next records: stale files are rare.
_TRIMMED_SETS = 1_024


@dataclass(frozen=True)
class ChangedFile:
    """A recorded file that is not now what (some of) its records ran."""

    path: str
    #: The file no longer exists.
    missing: bool
    #: Records that ran it in another version than the one on disk now.
    stale: int
    #: Records that ran it at all.
    records: int

    @property
    def current(self) -> int:
        """Records that ran it as it is now, or in an unknown version."""
        return self.records - self.stale

    def describe(self) -> str:
        """What happened to it, for a warning: ``app.py <this>``."""
        if self.missing:
            return "was deleted since it was recorded"
        share = "all" if self.stale == self.records else f"{self.stale} of"
        return (f"changed since it was recorded ({share} {self.records} record{'s' if self.records != 1 else ''} "
                f"ran another version)")


class RecordedVersions:
    """Versions of the files that records ran, and how they compare with the files now."""

    def __init__(self, *, per_test: bool = False) -> None:
        """``per_test``: also keep which version of each file each test ran
        (one shared mapping per distinct set of versions, as ``impact`` needs)."""
        self._per_test = per_test
        #: path -> SHA-256 now (None: the file cannot be read, or is gone).
        self._now: Dict[str, Optional[str]] = {}
        #: path -> records that ran it, and of those the ones of another version.
        self._records: "Counter[str]" = Counter()
        self._stale: Dict[str, int] = {}
        #: Distinct sets of versions, by their paths and the identities of
        #: their versions (a store hands out one object per version: no
        #: dataclass is hashed per record), with the paths of another version
        #: than the file now; the value keeps those objects alive.
        self._version_sets: Dict[Tuple[Any, ...], Tuple[Dict[str, FileVersion], List[str]]] = {}
        self._test_versions: Dict[TestKey, Dict[str, FileVersion]] = {}
        #: repository root -> recorded files in it.
        self._repositories: Dict[str, int] = {}
        self._seen_versions: Dict[Tuple[str, FileVersion], bool] = {}
        #: id(version) -> (the version, path -> is it current): the fast path of is_current.
        self._by_identity: Dict[int, Tuple[FileVersion, Dict[str, bool]]] = {}

    # -- the file now -------------------------------------------------------

    def sha256_now(self, path: str) -> Optional[str]:
        if path not in self._now:
            self._now[path] = file_sha256(path) if os.path.isfile(path) else None
        return self._now[path]

    def is_current(self, path: str, version: Optional[FileVersion]) -> bool:
        """True unless the record's version of ``path`` is known and is not the file now."""
        if version is None:
            return True
        known = self._by_identity.get(id(version))
        if known is None or known[0] is not version:
            known = self._by_identity[id(version)] = (version, {})
        current = known[1].get(path)
        if current is None:
            current = known[1][path] = self._is_current(path, version)
        return current

    def _is_current(self, path: str, version: FileVersion) -> bool:
        key = (path, version)
        current = self._seen_versions.get(key)
        if current is None:
            current = self._seen_versions[key] = version.sha256 == self.sha256_now(path)
            if version.repo is not None:
                self._repositories[version.repo] = self._repositories.get(version.repo, 0) + 1
        return current

    # -- watching records go by ------------------------------------------------

    def _note(self, record: RequestRecord) -> List[str]:
        """Count the record; return the files it ran in another version."""
        paths = record.lines.keys() if record.arcs is None else set(record.lines).union(record.arcs)
        self._records.update(paths)
        versions = record.versions
        if not versions:
            return []
        # Records share their versions: each distinct set is compared once.
        shared = (tuple(versions), tuple(map(id, versions.values())))
        known = self._version_sets.get(shared)
        if known is None:
            kept = dict(versions)  # a copy: current_only edits the record's own
            known = self._version_sets[shared] = (
                kept, [path for path, version in kept.items() if not self.is_current(path, version)])
        kept, stale_paths = known
        stale = [path for path in stale_paths if path in paths]
        for path in stale:
            self._stale[path] = self._stale.get(path, 0) + 1
        if self._per_test:
            earlier = self._test_versions.get(record.key)
            if earlier is None:
                self._test_versions[record.key] = kept
            elif any(path not in earlier for path in kept):  # another request of the same test
                self._test_versions[record.key] = {**kept, **earlier}
        return stale

    def watch(self, records: Iterable[RequestRecord]) -> Iterator[RequestRecord]:
        """The records unchanged, noting their versions on the way."""
        for record in records:
            self._note(record)
            yield record

    def current_only(self, records: Iterable[RequestRecord]) -> Iterator[RequestRecord]:
        """The records without the files they ran in another version than
        the one on disk now (their line numbers are another file's)."""
        for record in records:
            stale = self._note(record)
            if stale:
                for path in stale:
                    record.lines.pop(path, None)
                    if record.arcs is not None:
                        record.arcs.pop(path, None)
                    record.versions.pop(path, None)
            yield record

    def watch_keyed(self, keyed: Iterable[KeyedRecord]) -> Iterator[KeyedRecord]:
        """:meth:`watch` for (line-set key, record) pairs."""
        for pair in keyed:
            self._note(pair[1])
            yield pair

    def current_only_keyed(self, keyed: Iterable[KeyedRecord]) -> Iterator[KeyedRecord]:
        """:meth:`current_only` for (line-set key, record) pairs, whose
        records of one key share their lines: a record with stale files is
        replaced by a copy without them, made once per key, never changed in place."""
        trimmed: Dict[Hashable, RequestRecord] = {}
        for key, record in keyed:
            stale = self._note(record)
            if stale:
                model = None if key is None else trimmed.get(key)
                if model is None:
                    model = _without(record, stale)
                    if key is not None:
                        if len(trimmed) >= _TRIMMED_SETS:
                            trimmed.clear()
                        trimmed[key] = model
                record = replace(record, lines=model.lines, arcs=model.arcs, versions=model.versions)
            yield key, record

    # -- what was seen ----------------------------------------------------------

    def changed(self) -> List[ChangedFile]:
        """Files some record ran in another version than the one now, by path."""
        return [
            ChangedFile(path=path, missing=self.sha256_now(path) is None, stale=stale, records=self._records[path])
            for path, stale in sorted(self._stale.items())
        ]

    def version_of(self, key: TestKey, path: str) -> Optional[FileVersion]:
        """The version of ``path`` the test ran (needs ``per_test``); None when unknown."""
        versions = self._test_versions.get(key)
        return None if versions is None else versions.get(path)

    def repositories(self) -> List[str]:
        """Git work trees of the recorded files, the one holding most first."""
        return sorted(self._repositories, key=lambda root: (-self._repositories[root], root))


def _without(record: RequestRecord, paths: List[str]) -> RequestRecord:
    """A copy of ``record`` without the files ``paths`` (its own dictionaries, the lists shared)."""
    drop = set(paths)
    return replace(
        record, lines={path: lines for path, lines in record.lines.items() if path not in drop},
        arcs=None if record.arcs is None else {path: arcs for path, arcs in record.arcs.items() if path not in drop},
        versions={path: version for path, version in record.versions.items() if path not in drop},
    )
