"""A compact, read-only form of many request records.

A store of 100,000 requests of 500 lines each holds 50 million (file, line)
pairs; as Python lists of ints that alone is several gigabytes. The index
interns every covered line (and every arc, when branch data exists) to a small
integer "element" and keeps each test's coverage as a sorted slice of one flat
``int32`` array, so the analyses work on numpy arrays and hashes instead of
dictionaries of lists. Records are consumed one at a time and not kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np

from requestcov.records import KeyedRecord, LinesByFile, RequestRecord, TestKey

__all__ = ["CoverageIndex", "TestInfo", "build_index", "build_keyed_index"]

#: Bits reserved for the line number inside a provisional element key.
_LINE_BITS = 32
_LINE_MASK = (1 << _LINE_BITS) - 1
#: Provisional keys of arcs start here, above every provisional line key.
_ARC_TAG = 1 << 62


@dataclass(frozen=True)
class TestInfo:
    """What the analyses need to know about a test besides its coverage."""

    key: TestKey
    endpoint: str
    status: Optional[int]
    start: float
    duration_ms: float
    #: Number of covered lines (arcs not counted).
    line_count: int
    has_arcs: bool


@dataclass
class CoverageIndex:
    """Every test's coverage as sorted element ids, plus what the ids mean.

    Element ids ``0 .. line_element_count - 1`` are lines, ordered by file then
    line; ids from ``line_element_count`` on are arcs.
    """

    tests: List[TestInfo]
    files: List[str]
    #: Concatenated sorted element ids of every test.
    flat: np.ndarray
    #: Test ``i`` covers ``flat[offsets[i]:offsets[i + 1]]``.
    offsets: np.ndarray
    #: File index of every element.
    element_file: np.ndarray
    #: Line number of every line element; -1 for arcs.
    element_line: np.ndarray
    #: (from_line, to_line) of arc element ``line_element_count + j``.
    arcs: List[Tuple[int, int]]
    line_element_count: int
    #: Digest of each test's element set: equal digests mean equal coverage.
    signatures: List[bytes]
    _natural: Optional[List[Tuple[Any, ...]]] = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.tests)

    def natural_keys(self) -> List[Tuple[Any, ...]]:
        """Every test's :attr:`TestKey.natural`, worked out once: every
        listing and every choice among equal tests sorts by it, and making it
        again for each of 100,000 tests in each sort took seconds."""
        if self._natural is None:
            self._natural = [info.key.natural for info in self.tests]
        return self._natural

    @property
    def element_count(self) -> int:
        return int(self.element_file.shape[0])

    def elements(self, test: int) -> np.ndarray:
        """Sorted element ids covered by ``test`` (a view, do not modify)."""
        return self.flat[self.offsets[test]:self.offsets[test + 1]]

    def size(self, test: int) -> int:
        return int(self.offsets[test + 1] - self.offsets[test])

    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def owners(self) -> np.ndarray:
        """Test index of every entry of :attr:`flat`."""
        return np.repeat(np.arange(len(self.tests), dtype=np.int64), self.sizes())

    def lines_by_file(self, elements: Iterable[int]) -> Dict[str, List[int]]:
        """Turn element ids back into ``{path: [line, ...]}``, arcs left out."""
        ids = np.asarray(sorted(set(int(element) for element in elements)), dtype=np.int64)
        ids = ids[ids < self.line_element_count]
        result: Dict[str, List[int]] = {}
        for element in ids.tolist():
            result.setdefault(self.files[int(self.element_file[element])], []).append(
                int(self.element_line[element])
            )
        return result

    def covered_lines_by_file(self) -> Dict[str, List[int]]:
        """Union of the lines of every test, per file."""
        covered = np.zeros(self.element_count, dtype=bool)
        covered[self.flat] = True
        return self.lines_by_file(np.flatnonzero(covered))


def build_index(records: Iterable[RequestRecord]) -> CoverageIndex:
    """Build the index from records, reading each record once. Records that
    share a test key are one test covering their union."""
    return build_keyed_index((None, record) for record in records)


def build_keyed_index(keyed: Iterable[KeyedRecord],
                      fold: Optional[Callable[[LinesByFile], LinesByFile]] = None) -> CoverageIndex:
    """:func:`build_index` from (line-set key, record) pairs, as
    :meth:`~requestcov.store.SQLiteStore.iter_keyed_records` reads them:
    records of one key ran the same lines, so the lines of each key are
    folded (by ``fold``, when given) and turned into index entries once, and
    its tests share them. A key of None stands for its record alone.

    Lines are first keyed ``file_index << 32 | line`` (sortable without knowing
    the files' lengths in advance) and squeezed into dense ids at the end.
    """
    file_ids: Dict[str, int] = {}
    arc_ids: Dict[Tuple[int, int, int], int] = {}
    arc_list: List[Tuple[int, int, int]] = []
    tests: List[TestInfo] = []
    chunks: List[np.ndarray] = []
    sizes: List[int] = []
    with_arcs: Set[int] = set()
    test_of_key: Dict[TestKey, int] = {}
    #: (line-set key, whether its arcs count) -> its provisional keys and line count.
    chunk_of_set: Dict[Tuple[Hashable, bool], Tuple[np.ndarray, int]] = {}

    def chunk_of(record: RequestRecord, take_arcs: bool) -> Tuple[np.ndarray, int]:
        line_numbers: List[int] = []
        bases: List[int] = []
        counts: List[int] = []
        lines = record.lines if fold is None else fold(record.lines)
        for path, numbers in lines.items():
            if not numbers:
                continue
            file_index = file_ids.get(path)
            if file_index is None:
                file_index = file_ids[path] = len(file_ids)
            line_numbers.extend(numbers)
            bases.append(file_index << _LINE_BITS)
            counts.append(len(numbers))
        line_count = len(line_numbers)
        keys = np.asarray(line_numbers, dtype=np.int64)
        if line_count and int(keys.min()) < 0:
            raise ValueError(f"{record.key}: line numbers are never negative")
        keys += np.repeat(np.asarray(bases, dtype=np.int64), counts)
        if take_arcs:
            arc_keys: List[int] = []
            for path, arcs in (record.arcs or {}).items():
                file_index = file_ids.get(path)
                if file_index is None:
                    file_index = file_ids[path] = len(file_ids)
                for start, end in arcs:
                    arc_key = (file_index, int(start), int(end))
                    arc_id = arc_ids.get(arc_key)
                    if arc_id is None:
                        arc_id = arc_ids[arc_key] = len(arc_list)
                        arc_list.append(arc_key)
                    arc_keys.append(_ARC_TAG + arc_id)
            keys = np.concatenate([keys, np.asarray(arc_keys, dtype=np.int64)])
        keys.sort()
        chunk = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if keys.shape[0] > 1 else keys
        return chunk, line_count

    for set_key, record in keyed:
        existing = test_of_key.get(record.key)
        take_arcs = bool(record.arcs) and (existing is None or existing not in with_arcs)
        if take_arcs:
            with_arcs.add(len(tests) if existing is None else existing)
        if set_key is None:
            chunk, line_count = chunk_of(record, take_arcs)
        else:
            known = chunk_of_set.get((set_key, take_arcs))
            if known is None:
                known = chunk_of_set[(set_key, take_arcs)] = chunk_of(record, take_arcs)
            chunk, line_count = known
        if existing is not None:
            # Several requests of one test (the test-control endpoint, or a
            # test sending more than one request): the test covers their union.
            merged = np.union1d(chunks[existing], chunk)
            chunks[existing] = merged
            sizes[existing] = int(merged.shape[0])
            earlier = tests[existing]
            tests[existing] = replace(
                earlier, duration_ms=earlier.duration_ms + float(record.duration_ms or 0.0),
                line_count=int(np.count_nonzero(merged < _ARC_TAG)),
                has_arcs=earlier.has_arcs or record.arcs is not None,
            )
            continue
        test_of_key[record.key] = len(tests)
        chunks.append(chunk)
        sizes.append(int(chunk.shape[0]))
        tests.append(TestInfo(
            key=record.key, endpoint=record.endpoint, status=record.status,
            start=float(record.start or 0.0), duration_ms=float(record.duration_ms or 0.0),
            line_count=line_count, has_arcs=record.arcs is not None,
        ))
    del chunk_of_set

    offsets = np.zeros(len(tests) + 1, dtype=np.int64)
    np.cumsum(np.asarray(sizes, dtype=np.int64), out=offsets[1:])
    file_ids, arc_list = _in_path_order(chunks, file_ids, arc_list)
    # Tests of one line set share its chunk: each distinct chunk is converted once.
    distinct = list({id(chunk): chunk for chunk in chunks}.values())

    # Dense line ids: lay the files end to end, then keep only lines seen.
    # Chunks are handled in batches so no full-size int64 temporary exists.
    max_line = np.zeros(len(file_ids), dtype=np.int64)
    for batch in _batches(distinct):
        line_keys = batch[batch < _ARC_TAG]
        np.maximum.at(max_line, line_keys >> _LINE_BITS, line_keys & _LINE_MASK)
    spans = max_line + 1
    file_start = np.zeros(len(max_line) + 1, dtype=np.int64)
    np.cumsum(spans, out=file_start[1:])
    seen = np.zeros(int(file_start[-1]), dtype=bool)
    for batch in _batches(distinct):
        line_keys = batch[batch < _ARC_TAG]
        seen[file_start[line_keys >> _LINE_BITS] + (line_keys & _LINE_MASK)] = True
    seen_positions = np.flatnonzero(seen)
    line_element_count = int(seen_positions.shape[0])
    rank = (np.cumsum(seen, dtype=np.int64) - 1).astype(np.int32)
    del seen
    element_file_lines = np.searchsorted(file_start, seen_positions, side="right") - 1
    element_line_lines = seen_positions - file_start[element_file_lines]

    #: id(chunk) -> (its sorted element ids, their digest).
    converted_of: Dict[int, Tuple[np.ndarray, bytes]] = {}
    for chunk in distinct:
        is_arc = chunk >= _ARC_TAG
        converted = np.empty(chunk.shape[0], dtype=np.int32)
        line_keys = chunk[~is_arc]
        converted[~is_arc] = rank[file_start[line_keys >> _LINE_BITS] + (line_keys & _LINE_MASK)]
        if line_keys.shape[0] < chunk.shape[0]:
            # Arc ids were handed out in first-seen order: sort them again.
            converted[is_arc] = line_element_count + (chunk[is_arc] - _ARC_TAG)
            converted.sort()
        converted_of[id(chunk)] = (converted, hashlib.blake2b(converted.tobytes(), digest_size=16).digest())
    del rank, distinct
    pieces = [converted_of[id(chunk)] for chunk in chunks]
    del chunks, converted_of
    flat = (np.concatenate([piece[0] for piece in pieces]) if pieces else np.empty(0, dtype=np.int32))
    signatures = [piece[1] for piece in pieces]
    del pieces

    element_file = np.concatenate([
        element_file_lines.astype(np.int32),
        np.asarray([arc[0] for arc in arc_list], dtype=np.int32),
    ])
    element_line = np.concatenate([
        element_line_lines.astype(np.int32),
        np.full(len(arc_list), -1, dtype=np.int32),
    ])
    files = [""] * len(file_ids)
    for path, file_index in file_ids.items():
        files[file_index] = path
    return CoverageIndex(
        tests=tests, files=files, flat=flat, offsets=offsets, element_file=element_file,
        element_line=element_line, arcs=[(arc[1], arc[2]) for arc in arc_list],
        line_element_count=line_element_count, signatures=signatures,
    )


def _in_path_order(chunks: List[np.ndarray], file_ids: Dict[str, int],
                   arc_list: List[Tuple[int, int, int]]) -> Tuple[Dict[str, int], List[Tuple[int, int, int]]]:
    """Number files by path and arcs by (file, from, to), rewriting the
    provisional keys of ``chunks`` in place, instead of the order they were
    first seen in: element ids, and everything derived from them (MinHash
    sketches, the near-duplicate groups they find), are then the same
    whatever order the records came in. Nothing is rewritten when the first-
    seen order is that order already (one file, no arcs: the common case)."""
    paths = sorted(file_ids)
    file_moves = paths != list(file_ids)
    new_file = np.zeros(max(len(file_ids), 1), dtype=np.int64)
    for position, path in enumerate(paths):
        new_file[file_ids[path]] = position
    arc_order = sorted(range(len(arc_list)), key=lambda arc: (int(new_file[arc_list[arc][0]]), *arc_list[arc][1:]))
    arcs_move = arc_order != list(range(len(arc_list)))
    if not file_moves and not arcs_move:
        return file_ids, arc_list
    new_arc = np.zeros(max(len(arc_list), 1), dtype=np.int64)
    new_arc[np.asarray(arc_order, dtype=np.int64)] = np.arange(len(arc_list), dtype=np.int64)
    rewritten: Dict[int, np.ndarray] = {}
    for position, chunk in enumerate(chunks):
        done = rewritten.get(id(chunk))
        if done is not None:  # a chunk tests of one line set share: rewritten once
            chunks[position] = done
            continue
        original = chunk
        is_arc = chunk >= _ARC_TAG
        lines = chunk[~is_arc]
        if file_moves and lines.shape[0]:
            chunk[~is_arc] = (new_file[lines >> _LINE_BITS] << _LINE_BITS) | (lines & _LINE_MASK)
        if arcs_move and is_arc.any():
            chunk[is_arc] = _ARC_TAG + new_arc[chunk[is_arc] - _ARC_TAG]
        chunk.sort()
        chunks[position] = rewritten[id(original)] = chunk
    arcs = [(int(new_file[arc_list[arc][0]]), arc_list[arc][1], arc_list[arc][2]) for arc in arc_order]
    return {path: position for position, path in enumerate(paths)}, arcs


def _batches(chunks: List[np.ndarray], entries: int = 2_000_000) -> Iterable[np.ndarray]:
    """Consecutive chunks concatenated into arrays of about ``entries`` items."""
    pending: List[np.ndarray] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += chunk.shape[0]
        if size >= entries:
            yield np.concatenate(pending)
            pending, size = [], 0
    if pending:
        yield np.concatenate(pending)


def group_tests(index: CoverageIndex, fields: Sequence[str]) -> Dict[Tuple[object, ...], List[int]]:
    """Tests bucketed by the named fields (``endpoint``, ``status``,
    ``test-set``), in index order; one bucket holding everything when no field
    is named."""
    groups: Dict[Tuple[object, ...], List[int]] = {}
    for test, info in enumerate(index.tests):
        values: List[object] = []
        for name in fields:
            if name == "endpoint":
                values.append(info.endpoint)
            elif name == "status":
                values.append(info.status)
            elif name == "test-set":
                values.append(info.key.test_set)
            else:
                raise ValueError(f"unknown grouping field {name!r}")
        groups.setdefault(tuple(values), []).append(test)
    return groups
