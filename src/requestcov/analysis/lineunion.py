"""The lines of many distinct line sets, per file, added up with numpy.

``requestcov report`` adds every distinct line set of a store to its totals:
a million requests ran hundreds of thousands of distinct sets of some forty
files each, and a ``set.update`` per file of each set, on lists decoded from
the store, was most of the command. Here each set's numbers are read straight
from its packed bytes (``numpy.frombuffer``) and the numbers of a thousand
sets are marked at once in one boolean array holding every file's lines end
to end.

The same reading serves the index of the analyses
(:func:`~requestcov.analysis.index.build_store_index`) and the figures of the
requests ``report`` shows (:func:`set_figures`): :func:`numbers_of` takes
the numbers of many sets as one array.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Dict, List, Sequence, Set, Tuple, TypeVar

import numpy as np

from requestcov.analysis.covered import StatementTable
from requestcov.store.sqlite import LineNumbers

__all__ = ["line_union", "numbers_of", "set_figures", "in_batches"]

T = TypeVar("T")

#: Lines past this one are kept in Python sets instead of widening the
#: array: no real source file is that long.
_HIGHEST_MARKED = 1 << 22
#: Line sets whose numbers are marked together.
_SETS_AT_ONCE = 1_000
#: The numpy type of a packed line number of each width.
_DTYPES = {2: np.dtype("<u2"), 4: np.dtype("<u4")}


def line_union(line_sets: Iterable[LineNumbers]) -> Dict[str, List[int]]:
    """Each file some set ran a line of -> every line any set ran in it, sorted."""
    marks = _Marks()
    for batch in in_batches(line_sets):
        marks.add(batch)
    return marks.lines_by_file()


def in_batches(items: Iterable[T], size: int = _SETS_AT_ONCE) -> Iterator[List[T]]:
    """``items`` in lists of ``size`` (the last one shorter): line sets are
    handled a thousand at a time, a few numpy calls for them all."""
    batch: List[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def numbers_of(line_sets: Sequence[LineNumbers]) -> Tuple[List[str], np.ndarray, np.ndarray, np.ndarray]:
    """The files of many line sets one after the other (paths), how many
    files each set has, how many lines each file has, and all their line
    numbers in one int64 array, read from the packed bytes as they lie."""
    paths = list(chain.from_iterable(line_set[0] for line_set in line_sets))
    files_per_set = np.fromiter((len(line_set[0]) for line_set in line_sets), np.int64, len(line_sets))
    counts = np.fromiter(chain.from_iterable(line_set[1] for line_set in line_sets), np.int64, len(paths))
    if not line_sets:
        return paths, files_per_set, counts, np.empty(0, dtype=np.int64)
    numbers = np.concatenate([
        np.frombuffer(blob, dtype=_DTYPES[width], count=sum(line_counts), offset=start)
        for _, line_counts, blob, width, start in line_sets
    ]).astype(np.int64)
    return paths, files_per_set, counts, numbers


def set_figures(line_sets: Iterable[Tuple[int, LineNumbers]], table: StatementTable) -> Dict[int, Tuple[int, int]]:
    """Each keyed set's count of statements (``table.count`` of its lines:
    :meth:`~requestcov.analysis.covered.StatementTable.fold_flat` folds
    them) and of files with lines, a thousand sets folded at once."""
    figures: Dict[int, Tuple[int, int]] = {}
    for pending in in_batches(line_sets):
        paths, files_per_set, counts, numbers = numbers_of([line_set for _, line_set in pending])
        folded, kept = table.fold_flat(paths, counts, numbers)
        file_of_line = np.repeat(np.arange(len(paths), dtype=np.int64), counts)
        # A file's folded lines are distinct statements once repeats go; each file is of one set.
        keys = (file_of_line[kept] << 32) | folded[kept]
        keys.sort()  # not np.unique: its hashing way (numpy 2.3) took ten times as long here
        distinct = keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if keys.shape[0] else keys
        set_of_file = np.repeat(np.arange(len(pending), dtype=np.int64), files_per_set)
        statements = np.bincount(set_of_file[distinct >> 32], minlength=len(pending)).tolist()
        files = np.bincount(set_of_file, weights=counts > 0, minlength=len(pending)).astype(np.int64).tolist()
        figures.update(zip((set_id for set_id, _ in pending), zip(statements, files)))
    return figures


class _Marks:
    def __init__(self) -> None:
        self._number_of: Dict[str, int] = {}
        #: Per file number: where its lines start in ``_marked`` and how many it has room for.
        self._starts = np.zeros(0, dtype=np.int64)
        self._room = np.zeros(0, dtype=np.int64)
        self._marked = np.zeros(0, dtype=bool)
        self._past_marks: Dict[str, Set[int]] = {}

    def _number(self, path: str) -> int:
        number = self._number_of.get(path)
        if number is None:
            number = self._number_of[path] = len(self._number_of)
        return number

    def add(self, line_sets: List[LineNumbers]) -> None:
        paths, _, counts, numbers = numbers_of(line_sets)
        try:
            files = np.fromiter(map(self._number_of.__getitem__, paths), np.int64, len(paths))
        except KeyError:
            files = np.fromiter(map(self._number, paths), np.int64, len(paths))
        owners = np.repeat(files, counts)
        past = numbers > _HIGHEST_MARKED
        if past.any():
            names = list(self._number_of)
            for owner, line in zip(owners[past].tolist(), numbers[past].tolist()):
                self._past_marks.setdefault(names[owner], set()).add(line)
            owners, numbers = owners[~past], numbers[~past]
        needed = np.zeros(len(self._number_of), dtype=np.int64)
        np.maximum.at(needed, owners, numbers + 1)
        room = np.zeros(len(self._number_of), dtype=np.int64)
        room[:self._room.shape[0]] = self._room
        if (needed > room).any():
            self._widen(np.maximum(room, needed))
        self._marked[self._starts[owners] + numbers] = True

    def _widen(self, room: np.ndarray) -> None:
        """Room for ``room[file]`` lines in every file, what is marked kept."""
        starts = np.zeros(room.shape[0], dtype=np.int64)
        np.cumsum(room[:-1], out=starts[1:])
        marked = np.zeros(int(room.sum()), dtype=bool)
        for number, (old_start, old_room) in enumerate(zip(self._starts.tolist(), self._room.tolist())):
            marked[starts[number]:starts[number] + old_room] = self._marked[old_start:old_start + old_room]
        self._starts, self._room, self._marked = starts, room, marked

    def lines_by_file(self) -> Dict[str, List[int]]:
        spans: List[Tuple[str, int, int]] = [
            (path, int(self._starts[number]), int(self._room[number])) if number < self._room.shape[0] else (path, 0, 0)
            for path, number in self._number_of.items()
        ]
        result: Dict[str, List[int]] = {}
        for path, start, room in spans:
            found = np.flatnonzero(self._marked[start:start + room]).tolist()
            past = self._past_marks.get(path)
            if past:
                found.extend(sorted(past))
            if found:
                result[path] = found
        return result
