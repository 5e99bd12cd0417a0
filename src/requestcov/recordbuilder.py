"""A finished request's collector into its record, each distinct line set once.

Most requests of an endpoint run the very same lines. Sorting each file's set
into a list, mapping file names to paths and packing the lists again in the
store cost the writer thread more than the SQLite insert. So a collector's
lines are packed first, in one call: the compiled core's ``pack_lines`` when
it was built, else :func:`pack_lines_python`, its twin, byte for byte the
same. That packed form is also the key of the sets seen before, looked up in the
same call: a request that ran one gets the very lists, versions and
:class:`PackedLines` of the first record of the set, which the store knows
by identity and writes as one id. Only a new set gets lists (of the sets'
own int objects, as ``sorted`` makes them), and the store copies its packed
numbers as they are.

A collector the fast path does not take (branch coverage, a line past 65,535,
two names of one file) goes the long way: sorted lists by path, packed by
the store.

Most requests need no record at all: a request whose set is known in the
current batch of file versions becomes its store row directly
(:func:`ready_rows_python`, or the compiled core's ``ready_rows``), a run of
such requests in one call, with no Python frame per request. The row carries
its set's id when the store has one for the set's :class:`PackedLines` (its
``known_sets``), else the store finds the set by that packing.

Runs where the writer converts records: its thread, or a caller writing at
exit, under the writer's SQLite lock. Its tables are dicts, each operation
atomic, and the packing runs no Python code, so an interrupted call and its
interrupter at worst each add an entry: no lock is taken.
"""

from __future__ import annotations

import struct
from operator import is_, itemgetter
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from requestcov.engine.core import compiled_core
from requestcov.engine.source import SourceMatcher
from requestcov.fileversions import FileVersions
from requestcov.records import REQUEST, FileVersion, PackedLines, RequestRecord
from requestcov.store.requestset import numbers_part

if TYPE_CHECKING:
    from requestcov.recorder import _Finished

__all__ = ["RecordBuilder", "pack_lines_python", "ready_rows_python", "PackLines"]

#: (paths sorted, the packed numbers): a line set's key (see :func:`pack_lines_python`).
Key = Tuple[Tuple[str, ...], bytes]
#: None, or (key, the set known by it, None), or (key, None, its sorted lists).
Packed = Optional[Tuple[Key, Any, Optional[Sequence[List[int]]]]]
PackLines = Callable[[Mapping[str, Any], Mapping[str, Optional[str]], Mapping[Key, Any]], Packed]
#: ready_rows(items, index, out, known, path_by_name, batch, stopped, set_ids) -> the index it stopped at.
ReadyRows = Callable[[List[Any], int, List[Any], Mapping[Key, Any], Mapping[str, Optional[str]], int, List[Any],
                      Mapping[Any, Tuple[Any, ...]]], int]

#: How many lines the table of known sets may hold before it starts over
#: (each line an int in a list, ~40 bytes: a few MB at most): a few hundred
#: distinct sets is usual, and every request distinct must not grow memory.
_KNOWN_LINE_LIMIT = 100_000

_first = itemgetter(0)

#: A record is made as ``_init_record(_new(RequestRecord), ...)``: calling
#: the class with keywords (3.11, 3.12) packs them into a dict and unpacks
#: them again for ``__init__``, a third of what making a record costs.
_new = object.__new__
_init_record = RequestRecord.__init__


def pack_lines_python(
    lines_by_name: Mapping[str, Any], path_by_name: Mapping[str, Optional[str]], known: Mapping[Key, Any],
) -> Packed:
    """A collector's lines (sets of line numbers by compiled file name)
    packed, and looked up in ``known``.

    The key of the lines is (the measured files' paths, sorted; their lines
    packed as the store packs them after the files' ids: ``numbers_part``
    of ``requestcov.store.requestset``). A file whose path is
    None is not measured and left out. Returns (key, ``known[key]``, None)
    for a key in ``known``, else (key, None, each file's sorted lines); None
    when the fast path does not apply: a name not in ``path_by_name`` (not
    decided yet), two names of one path, something other than a set of line
    numbers from 0 to 65,535.

    The compiled core's ``pack_lines`` returns the very same; every set is
    read in one C call there as here (``sorted``), so a straggling thread
    still adding to it cannot break the copy."""
    files: List[Tuple[str, List[int]]] = []
    for name, lines in list(lines_by_name.items()):
        if type(name) is not str or type(lines) not in (set, frozenset):
            return None
        try:
            path = path_by_name[name]
        except KeyError:
            return None
        if path is None:
            continue
        if type(path) is not str:
            return None
        try:
            files.append((path, sorted(lines)))
        except TypeError:  # not numbers
            return None
    files.sort(key=_first)
    paths = tuple(map(_first, files))
    if any(map(str.__eq__, paths, paths[1:])):
        return None
    line_lists = [lines for _, lines in files]
    try:
        packed = numbers_part(line_lists)
    except struct.error:  # a line past 65,535, or a negative one
        return None
    key = (paths, packed)
    found = known.get(key)
    return (key, found, None) if found is not None else (key, None, line_lists)


def _row(finished: "_Finished", packed: PackedLines, set_ids: Mapping[Any, Tuple[Any, ...]]) -> List[Any]:
    """The :data:`~requestcov.records.ReadyRow` of a finished request whose
    set is ``packed``, with the set's id when ``set_ids`` has it."""
    request, duration_ms, pid, kind = finished
    found = set_ids.get(packed)
    return [(kind, pid, 0), request.test_id, request.test_set, request.method, request.path, request.route,
            request.status, request.start, duration_ms, found[0] if found is not None else None, packed]


def ready_rows_python(
    items: List[Any], index: int, out: List[Any], known: Mapping[Key, Any],
    path_by_name: Mapping[str, Optional[str]], batch: int, stopped: List[Any],
    set_ids: Mapping[Any, Tuple[Any, ...]],
) -> int:
    """Append to ``out`` the :data:`~requestcov.records.ReadyRow` of each
    finished request from ``items[index]`` on, as long as each is a request
    whose lines pack to a set of ``known`` looked up in this ``batch`` of
    file versions; return the index of the first that is not (``len(items)``
    when all were). Such a request is marked written, and one written
    already (queued twice) is passed over. The caller handles the one stopped
    at and comes back for the rest; when it was stopped at for its set (new,
    or of an earlier batch), ``stopped`` holds it and its packing after, for
    :meth:`RecordBuilder.ready_rows` to make its row of once the set is known
    in the batch, or :meth:`RecordBuilder.build` its record.
    ``set_ids``: the store's sets by their :class:`PackedLines` (``(set id,
    ...)``, see ``SQLiteStore.known_sets``): a row of one of them carries
    its id, and goes into the store as it is.

    The compiled core's ``ready_rows`` does the very same in one C call."""
    count = len(items)
    while index < count:
        item = items[index]
        if type(item) is not tuple or len(item) != 4 or item[3] != REQUEST:
            return index
        request, duration_ms, pid, kind = item
        try:
            packed = pack_lines_python(request.collector.lines, path_by_name, known)
            if packed is None:
                return index
            known_set = packed[1]
            if known_set is None or known_set.batch != batch:
                stopped[:] = (item, packed)  # its row or record is made next, of this very packing
                return index
            row = _row(item, known_set.packed, set_ids)
            unwritten = request.unwritten
        except Exception:  # the long way says what is wrong
            return index
        index += 1
        try:
            unwritten.pop()
        except IndexError:  # queued twice (see Recorder.finish); written already
            continue
        out.append(row)
    return index


def _pack_lines() -> PackLines:
    """The compiled ``pack_lines`` when built and wanted (see engine.core), else the twin."""
    core = compiled_core()
    return getattr(core, "pack_lines", pack_lines_python) if core is not None else pack_lines_python


class _Known:
    """A line set seen before, as its records share it."""

    __slots__ = ("lines", "versions", "packed", "batch")

    def __init__(self, lines: Dict[str, List[int]], versions: Dict[str, FileVersion], packed: PackedLines,
                 batch: int) -> None:
        self.lines = lines
        self.versions = versions
        self.packed = packed
        #: The batch its versions were looked up in.
        self.batch = batch


class RecordBuilder:
    """Makes the records of one recorder's requests, on its writer thread.

    Records of one line set share their ``lines``, ``versions`` and
    ``packed``: nothing between here and the store changes them."""

    def __init__(self, matcher: SourceMatcher, *, branch: bool, versions: Optional[FileVersions] = None,
                 pack_lines: Optional[PackLines] = None, ready_rows: Optional[ReadyRows] = None) -> None:
        """``versions``: give each record the versions of its files.
        ``pack_lines``: the packing function (by default the compiled one
        when built, see :func:`_pack_lines`). ``ready_rows``: the row making
        function, the compiled request path's ``ready_rows`` for requests it
        began (by default :func:`ready_rows_python`)."""
        self.matcher = matcher
        self.branch = branch
        self.versions = versions
        self._pack_lines = pack_lines or _pack_lines()
        self._ready_rows = ready_rows or ready_rows_python
        #: (paths, packed numbers) -> the set's shared record parts.
        self._known: Dict[Key, _Known] = {}
        self._known_lines = 0
        #: paths -> their versions, for the batch ``_versions_batch``.
        self._batch_versions: Dict[Tuple[str, ...], Tuple[Dict[str, FileVersion], Tuple[Any, ...]]] = {}
        self._versions_batch = -1
        #: (the finished request ``ready_rows`` stopped at, its packing), or empty.
        self._stopped: List[Any] = []

    def ready_rows(self, items: List[Any], index: int, out: List[Any],
                   set_ids: Mapping[Any, Tuple[Any, ...]]) -> int:
        """The rows of the finished requests from ``items[index]`` on that
        need no record, appended to ``out``, of the sets ``set_ids`` knows
        with their ids; the index of the first that needs a record (see
        :func:`ready_rows_python`). Branch coverage always needs one.

        A request the row maker stops at for its set (new, or known in an
        earlier batch of file versions: the first of each set in a batch)
        is a row too once its set is made known in this batch, so a batch of
        a warm app's requests is all rows: records are for what is not a
        request's lines alone (start-up code, files met the first time)."""
        if self.branch:
            return index
        versions = self.versions
        batch = versions.batch if versions is not None else 0
        make, known, decided, stopped = self._ready_rows, self._known, self.matcher.decided, self._stopped
        while True:
            index = make(items, index, out, known, decided, batch, stopped, set_ids)
            if not stopped or index >= len(items) or stopped[0] is not items[index]:
                return index
            item, packed = stopped
            known_set = self._known_set(item[0].collector.lines, packed, batch)
            if known_set is None:
                return index  # the long way, of this very packing
            # Its row made here, of the packing the maker stopped with (a
            # large set packed twice would cost more than this frame).
            stopped.clear()
            index += 1
            try:
                item[0].unwritten.pop()
            except IndexError:  # queued twice (see Recorder.finish); written already
                continue
            out.append(_row(item, known_set.packed, set_ids))

    def convert(self, finished: "_Finished") -> Optional[RequestRecord]:
        """The record of a finished request, once: None for a request
        queued twice (see ``Recorder.finish``) and written already."""
        try:
            finished[0].unwritten.pop()
        except IndexError:
            return None
        return self.build(finished)

    def build(self, finished: "_Finished") -> RequestRecord:
        """The record of a finished request (or of a process's start-up code)."""
        request, duration_ms, pid, kind = finished
        collector = request.collector
        known = None
        if not self.branch:
            # A set already known in this batch, the common case, is found
            # here with no call of a method: a record costs a few thousand
            # instructions, and each Python frame several hundred of them.
            stopped = self._stopped
            if stopped and stopped[0] is finished:  # packed by ready_rows just now
                packed_lines = stopped[1]
                stopped.clear()
            else:
                packed_lines = self._pack_lines(collector.lines, self.matcher.decided, self._known)
            file_versions = self.versions
            batch = file_versions.batch if file_versions is not None else 0
            if packed_lines is not None and packed_lines[1] is not None and packed_lines[1].batch == batch:
                known = packed_lines[1]
            else:
                known = self._known_set(collector.lines, packed_lines, batch)
        if known is not None:
            lines, versions, packed = known.lines, known.versions, known.packed
            arcs = None
        else:
            lines = _by_path(collector.lines, self.matcher)
            arcs = _by_path(collector.arcs, self.matcher) if self.branch else None
            versions = self._versions_of(set(lines).union(arcs or ()))
            packed = None
        record = _new(RequestRecord)
        _init_record(
            record, test_id=request.test_id, test_set=request.test_set, method=request.method,
            path=request.path, route=request.route, status=request.status, start=request.start,
            duration_ms=duration_ms, pid=pid, kind=kind,
            lines=lines, arcs=arcs, versions=versions,
        )
        record.packed = packed
        return record

    def _versions_of(self, paths: Any) -> Dict[str, FileVersion]:
        return self.versions.versions(paths) if self.versions is not None else {}

    def _known_set(self, lines_by_name: Dict[str, Set[int]], packed: Packed, batch: int) -> Optional[_Known]:
        """The shared parts of the record of these lines, given what packing
        them returned and the current batch of file versions; None for the
        long way."""
        decided = self.matcher.decided
        if packed is None:
            undecided = [name for name in list(lines_by_name) if name not in decided]
            if not undecided:
                return None
            for name in undecided:  # files met for the first time: decided once, then packed
                self.matcher.measured_path(name)
            packed = self._pack_lines(lines_by_name, decided, self._known)
            if packed is None:
                return None
        key, known, line_lists = packed
        if known is not None and known.batch == batch:
            return known
        paths, numbers = key
        # Versions are looked up again once a batch (the files are stat-ed
        # once a batch): a file edited meanwhile makes a new set.
        versions, version_list = self._versions_in_batch(paths, batch)
        if known is not None:
            if all(map(is_, version_list, known.packed.versions)):
                known.batch = batch
                return known
            lines = known.lines
        else:
            if self._known_lines > _KNOWN_LINE_LIMIT:
                self._known.clear()
                self._known_lines = 0
            lines = dict(zip(paths, line_lists or ()))
            self._known_lines += (len(numbers) - 8 * len(paths)) // 2
        known = self._known[key] = _Known(lines, versions, PackedLines(paths, numbers, version_list), batch)
        return known

    def _versions_in_batch(self, paths: Tuple[str, ...], batch: int,
                           ) -> Tuple[Dict[str, FileVersion], Tuple[Optional[FileVersion], ...]]:
        """The versions of ``paths`` by path, and in their order: looked up
        once a batch for each list of paths (most sets of an app share theirs)."""
        if batch != self._versions_batch:
            self._versions_batch = batch
            self._batch_versions.clear()
        found = self._batch_versions.get(paths)
        if found is None:
            versions = self._versions_of(paths)
            found = self._batch_versions[paths] = (versions, tuple(map(versions.get, paths)))
        return found


def _by_path(by_filename: Dict[str, Set[Any]], matcher: SourceMatcher) -> Dict[str, List[Any]]:
    """Sets by compiled file name into sorted lists by canonical path.

    Each set is read in one C call (``sorted``, ``set.union``), so a
    straggling thread still adding to it cannot break the copy. Two names
    of one file (a relative and an absolute spelling, a symlink) merge; that
    is rare, so the common case is a single pass.
    """
    path_of = matcher.measured_path
    by_path: Dict[str, List[Any]] = {}
    for filename, items in list(by_filename.items()):
        path = path_of(filename)
        if path is None:
            continue
        earlier = by_path.get(path)
        by_path[path] = sorted(items) if earlier is None else sorted(set(earlier).union(items))
    return by_path
