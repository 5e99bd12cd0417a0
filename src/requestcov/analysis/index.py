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
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import numpy as np

from requestcov.analysis.covered import StatementTable
from requestcov.analysis.lineunion import in_batches, numbers_of
from requestcov.records import KeyedRecord, RequestRecord, TestKey, endpoint_of
from requestcov.store.sqlite import LineNumbers, RequestRow

__all__ = ["CoverageIndex", "TestInfo", "build_index", "build_keyed_index", "build_store_index"]

#: Bits reserved for the line number inside a provisional element key.
_LINE_BITS = 32
_LINE_MASK = (1 << _LINE_BITS) - 1
#: Provisional keys of arcs start here, above every provisional line key.
_ARC_TAG = 1 << 62
#: Distinct line sets keyed by one run of numpy calls (some hundreds of
#: thousands of lines).
_SETS_KEYED_TOGETHER = 1_000


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


def build_keyed_index(keyed: Iterable[KeyedRecord], table: Optional[StatementTable] = None) -> CoverageIndex:
    """:func:`build_index` from (line-set key, record) pairs, as
    :meth:`~requestcov.store.SQLiteStore.iter_keyed_records` reads them:
    records of one key ran the same lines, so the lines of each key are
    folded into the statements they cover (by ``table``, when given, see
    :meth:`~requestcov.analysis.covered.StatementTable.fold_flat`) and
    turned into index entries once, and its tests share them. A key of None
    stands for its record alone.

    Lines are first keyed ``file_index << 32 | line`` (sortable without knowing
    the files' lengths in advance) and squeezed into dense ids at the end;
    a record's lines are keyed by a few numpy calls over all its files.
    """
    file_ids: Dict[str, int] = {}
    arc_ids: Dict[Tuple[int, int, int], int] = {}
    arc_list: List[Tuple[int, int, int]] = []
    #: Per test: its key, endpoint, status, start, duration and whether it has arcs.
    fields: List[List[Any]] = []
    #: Per test: the line set it ran (more of them: in ``more_sets``).
    set_of_test: List[int] = []
    more_sets: Dict[int, List[int]] = {}
    with_arcs: Set[int] = set()
    test_of_key: Dict[TestKey, int] = {}
    #: (line-set key, whether its arcs count) -> its number in ``set_chunks``.
    number_of_set: Dict[Tuple[Hashable, bool], int] = {}
    #: Per line set: its sorted distinct provisional keys, and its line count.
    set_chunks: List[Optional[np.ndarray]] = []
    set_line_counts: List[int] = []
    #: Line sets not keyed yet (number, record, whether its arcs count): keyed
    #: together, a few numpy calls for thousands of sets.
    pending: List[Tuple[int, RequestRecord, bool]] = []

    def file_index(path: str) -> int:
        found = file_ids.get(path)
        if found is None:
            found = file_ids[path] = len(file_ids)
        return found

    def file_numbers(paths: List[str]) -> np.ndarray:
        try:
            return np.fromiter(map(file_ids.__getitem__, paths), np.int64, len(paths))
        except KeyError:
            return np.fromiter(map(file_index, paths), np.int64, len(paths))

    def key_pending() -> None:
        line_maps = [record.lines for _, record, _ in pending]
        paths = list(chain.from_iterable(line_maps))
        values = list(chain.from_iterable(lines.values() for lines in line_maps))
        counts = np.fromiter(map(len, values), np.int64, len(values))
        numbers = np.fromiter(chain.from_iterable(values), np.int64, int(counts.sum()))
        chunks, line_counts = _keyed_sets(
            paths, np.fromiter(map(len, line_maps), np.int64, len(line_maps)), counts, numbers, table, file_numbers,
            lambda position: f"{pending[position][1].key}: line numbers are never negative")
        for (number, record, take_arcs), chunk, line_count in zip(pending, chunks, line_counts):
            if take_arcs:
                chunk = np.union1d(chunk, np.asarray(arc_keys_of(record), dtype=np.int64))
            set_chunks[number] = chunk
            set_line_counts[number] = line_count
        pending.clear()

    def arc_keys_of(record: RequestRecord) -> List[int]:
        arc_keys: List[int] = []
        for path, arcs in (record.arcs or {}).items():
            arc_file = file_index(path)
            for start, end in arcs:
                arc_key = (arc_file, int(start), int(end))
                arc_id = arc_ids.get(arc_key)
                if arc_id is None:
                    arc_id = arc_ids[arc_key] = len(arc_list)
                    arc_list.append(arc_key)
                arc_keys.append(_ARC_TAG + arc_id)
        return arc_keys

    def new_set(record: RequestRecord, take_arcs: bool) -> int:
        number = len(set_chunks)
        set_chunks.append(None)
        set_line_counts.append(0)
        pending.append((number, record, take_arcs))
        if len(pending) >= _SETS_KEYED_TOGETHER:
            key_pending()
        return number

    for set_key, record in keyed:
        test_key = record.key
        existing = test_of_key.get(test_key)
        take_arcs = bool(record.arcs) and (existing is None or existing not in with_arcs)
        if take_arcs:
            with_arcs.add(len(fields) if existing is None else existing)
        if set_key is None:
            number = new_set(record, take_arcs)
        else:
            found = number_of_set.get((set_key, take_arcs))
            number = number_of_set[(set_key, take_arcs)] = new_set(record, take_arcs) if found is None else found
        if existing is not None:
            # Several requests of one test (the test-control endpoint, or a
            # test sending more than one request): the test covers their union.
            more_sets.setdefault(existing, []).append(number)
            earlier = fields[existing]
            earlier[4] += float(record.duration_ms or 0.0)
            earlier[5] = earlier[5] or record.arcs is not None
            continue
        test_of_key[test_key] = len(fields)
        set_of_test.append(number)
        fields.append([test_key, record.endpoint, record.status, float(record.start or 0.0),
                       float(record.duration_ms or 0.0), record.arcs is not None])
    if pending:
        key_pending()
    del number_of_set
    return _assembled(fields, set_of_test, more_sets, set_chunks, set_line_counts, file_ids, arc_list)


def build_store_index(rows: Iterable[RequestRow], line_sets: Iterable[Tuple[int, LineNumbers]],
                      table: Optional[StatementTable] = None) -> CoverageIndex:
    """:func:`build_keyed_index` of a store's requests, none of which has
    arcs, from their rows (:meth:`~requestcov.store.SQLiteStore.request_rows`)
    and their distinct line sets (:meth:`~requestcov.store.SQLiteStore.keyed_line_numbers`):
    the same index, without a record made for each request or a list of
    Python ints decoded for each set; each set's numbers are taken from its
    packed bytes as they lie (:func:`~requestcov.analysis.lineunion.numbers_of`)."""
    file_ids: Dict[str, int] = {}
    fields: List[List[Any]] = []
    set_of_test: List[Optional[int]] = []
    more_sets: Dict[int, List[Optional[int]]] = {}
    test_of_key: Dict[TestKey, int] = {}
    for row in rows:
        test_key = TestKey(row[3], row[2])
        existing = test_of_key.get(test_key)
        if existing is not None:
            more_sets.setdefault(existing, []).append(row[12])
            earlier = fields[existing]
            earlier[4] += float(row[9] or 0.0)
            earlier[5] = earlier[5] or bool(row[11])
            continue
        test_of_key[test_key] = len(fields)
        set_of_test.append(row[12])
        fields.append([test_key, endpoint_of(row[4], row[6], row[5]), row[7], float(row[8] or 0.0),
                       float(row[9] or 0.0), bool(row[11])])
    del test_of_key

    def file_numbers(paths: List[str]) -> np.ndarray:
        try:
            return np.fromiter(map(file_ids.__getitem__, paths), np.int64, len(paths))
        except KeyError:
            return np.fromiter((file_ids.setdefault(path, len(file_ids)) for path in paths), np.int64, len(paths))

    # A request with no line set (none this code writes) ran nothing.
    set_chunks: Dict[Optional[int], np.ndarray] = {None: np.empty(0, dtype=np.int64)}
    set_line_counts: Dict[Optional[int], int] = {None: 0}
    for batch in in_batches(line_sets, _SETS_KEYED_TOGETHER):
        paths, files_per_set, counts, numbers = numbers_of([numbers for _, numbers in batch])
        chunks, line_counts = _keyed_sets(
            paths, files_per_set, counts, numbers, table, file_numbers,
            lambda position, batch=batch: f"line set {batch[position][0]}: line numbers are never negative")
        for (set_id, _), chunk, line_count in zip(batch, chunks, line_counts):
            set_chunks[set_id] = chunk
            set_line_counts[set_id] = line_count
    return _assembled(fields, set_of_test, more_sets, set_chunks, set_line_counts, file_ids, [])


def _keyed_sets(paths: List[str], files_per_set: np.ndarray, counts: np.ndarray, numbers: np.ndarray,
                table: Optional[StatementTable], file_numbers: Callable[[List[str]], np.ndarray],
                negative: Callable[[int], str]) -> Tuple[List[np.ndarray], List[int]]:
    """Many line sets keyed at once: ``numbers`` holds the lines of the files
    ``paths`` one after the other (``counts`` each), the files of set after
    set (``files_per_set`` each). Returns each set's sorted distinct
    provisional keys (folded by ``table`` when given) and its count of lines.
    ``file_numbers`` numbers paths; ``negative(set)`` words the error of a
    negative line."""
    owners = np.repeat(file_numbers(paths), counts)
    set_count = files_per_set.shape[0]
    owner_sets = np.repeat(np.repeat(np.arange(set_count), files_per_set), counts)
    if table is not None:
        numbers, kept = table.fold_flat(paths, counts, numbers)
        numbers, owners, owner_sets = numbers[kept], owners[kept], owner_sets[kept]
    if numbers.shape[0] and int(numbers.min()) < 0:
        raise ValueError(negative(int(owner_sets[np.argmax(numbers < 0)])))
    keys = (owners << _LINE_BITS) + numbers
    bounds = np.searchsorted(owner_sets, np.arange(set_count + 1)).tolist()
    for start, end in zip(bounds[:-1], bounds[1:]):
        keys[start:end].sort()
    first = np.ones(keys.shape[0], dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    first[np.asarray(bounds[:-1], dtype=np.int64)[np.asarray(bounds[:-1]) < keys.shape[0]]] = True
    keys, owner_sets = keys[first], owner_sets[first]
    distinct_bounds = np.searchsorted(owner_sets, np.arange(set_count + 1)).tolist()
    chunks = [keys[start:end] for start, end in zip(distinct_bounds[:-1], distinct_bounds[1:])]
    # Folded lines of a file are distinct: then the count is of distinct keys.
    line_counts = ([chunk.shape[0] for chunk in chunks] if table is not None
                   else [end - start for start, end in zip(bounds[:-1], bounds[1:])])
    return chunks, line_counts


def _assembled(fields: List[List[Any]], set_of_test: Sequence[Hashable], more_sets: Mapping[int, List[Hashable]],
               set_chunks: Any, set_line_counts: Any, file_ids: Dict[str, int],
               arc_list: List[Tuple[int, int, int]]) -> CoverageIndex:
    """The index of the tests ``fields`` (key, endpoint, status, start,
    duration, whether it has arcs), test ``i`` covering line set
    ``set_of_test[i]`` and those of ``more_sets[i]``; ``set_chunks[set]``
    and ``set_line_counts[set]`` (a list or a mapping) are each set's
    provisional keys and its count of lines, ``file_ids`` the files'
    provisional numbers, ``arc_list`` the arcs' (file, from, to)."""
    chunks: List[np.ndarray] = list(map(set_chunks.__getitem__, set_of_test))
    line_counts = list(map(set_line_counts.__getitem__, set_of_test))
    for test, numbers in more_sets.items():
        merged = chunks[test]
        for number in numbers:
            merged = np.union1d(merged, set_chunks[number])
        chunks[test] = merged
        line_counts[test] = int(np.count_nonzero(merged < _ARC_TAG))
    del set_chunks, set_line_counts, more_sets
    tests = [
        TestInfo(key=key, endpoint=endpoint, status=status, start=start, duration_ms=duration_ms,
                 line_count=line_count, has_arcs=has_arcs)
        for (key, endpoint, status, start, duration_ms, has_arcs), line_count in zip(fields, line_counts)
    ]
    del fields
    sizes = [chunk.shape[0] for chunk in chunks]

    offsets = np.zeros(len(tests) + 1, dtype=np.int64)
    np.cumsum(np.asarray(sizes, dtype=np.int64), out=offsets[1:])
    # Tests of one line set share its chunk: each distinct chunk is converted once.
    distinct = list({id(chunk): chunk for chunk in chunks}.values())
    # Files every line of which folded away (or with no lines recorded) are
    # in no chunk and not indexed; the others are numbered by path, arcs by
    # (file, from, to), instead of the order they were first seen in: element
    # ids, and everything derived from them (MinHash sketches, the
    # near-duplicate groups they find), are then the same whatever order the
    # records came in. Chunks are handled in batches (a few numpy calls for
    # thousands of chunks) so no full-size int64 temporary exists.
    first_seen_count = max(len(file_ids), 1)
    used = np.zeros(first_seen_count, dtype=bool)
    first_seen_max = np.zeros(first_seen_count, dtype=np.int64)
    for _, batch in _batches(distinct):
        line_keys = batch[batch < _ARC_TAG]
        used[line_keys >> _LINE_BITS] = True
        np.maximum.at(first_seen_max, line_keys >> _LINE_BITS, line_keys & _LINE_MASK)
    for arc in arc_list:
        used[arc[0]] = True
    paths = sorted(path for path, number in file_ids.items() if used[number])
    new_file = np.zeros(first_seen_count, dtype=np.int64)
    new_file[np.fromiter(map(file_ids.__getitem__, paths), np.int64, len(paths))] = np.arange(len(paths))
    # Order changes within a chunk only if some file or arc moves.
    moved = paths != list(file_ids)
    arc_order = sorted(range(len(arc_list)), key=lambda arc: (int(new_file[arc_list[arc][0]]), *arc_list[arc][1:]))
    new_arc = np.zeros(max(len(arc_list), 1), dtype=np.int64)
    new_arc[np.asarray(arc_order, dtype=np.int64)] = np.arange(len(arc_list), dtype=np.int64)
    arc_list = [(int(new_file[arc_list[arc][0]]), arc_list[arc][1], arc_list[arc][2]) for arc in arc_order]

    # Dense line ids: lay the files end to end, then keep only lines seen.
    max_line = np.zeros(len(paths), dtype=np.int64)
    max_line[new_file[used]] = first_seen_max[used]
    file_start = np.zeros(len(paths) + 1, dtype=np.int64)
    np.cumsum(max_line + 1, out=file_start[1:])
    seen = np.zeros(int(file_start[-1]), dtype=bool)
    for _, batch in _batches(distinct):
        line_keys = batch[batch < _ARC_TAG]
        seen[file_start[new_file[line_keys >> _LINE_BITS]] + (line_keys & _LINE_MASK)] = True
    seen_positions = np.flatnonzero(seen)
    line_element_count = int(seen_positions.shape[0])
    rank = (np.cumsum(seen, dtype=np.int64) - 1).astype(np.int32)
    del seen
    element_file_lines = np.searchsorted(file_start, seen_positions, side="right") - 1
    element_line_lines = seen_positions - file_start[element_file_lines]

    #: id(chunk) -> (its sorted element ids, their digest).
    converted_of: Dict[int, Tuple[np.ndarray, bytes]] = {}
    for members, batch in _batches(distinct):
        is_arc = batch >= _ARC_TAG
        converted = np.empty(batch.shape[0], dtype=np.int32)
        line_keys = batch[~is_arc]
        converted[~is_arc] = rank[file_start[new_file[line_keys >> _LINE_BITS]] + (line_keys & _LINE_MASK)]
        with_arcs_here = line_keys.shape[0] < batch.shape[0]
        if with_arcs_here:
            converted[is_arc] = line_element_count + new_arc[batch[is_arc] - _ARC_TAG]
        start = 0
        for chunk in members:
            end = start + chunk.shape[0]
            piece = converted[start:end]
            if moved or with_arcs_here:
                piece.sort()
            converted_of[id(chunk)] = (piece, hashlib.blake2b(piece.tobytes(), digest_size=16).digest())
            start = end
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
    return CoverageIndex(
        tests=tests, files=paths, flat=flat, offsets=offsets, element_file=element_file,
        element_line=element_line, arcs=[(arc[1], arc[2]) for arc in arc_list],
        line_element_count=line_element_count, signatures=signatures,
    )


def _batches(chunks: List[np.ndarray], entries: int = 2_000_000) -> Iterable[Tuple[List[np.ndarray], np.ndarray]]:
    """Consecutive chunks, and them concatenated, in batches of about ``entries`` items."""
    pending: List[np.ndarray] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += chunk.shape[0]
        if size >= entries:
            yield pending, np.concatenate(pending)
            pending, size = [], 0
    if pending:
        yield pending, np.concatenate(pending)


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
