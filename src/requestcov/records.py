"""The plain records every part of requestcov passes around.

The recorder produces them, the store keeps them, the analyses and reports read
them. They are deliberately plain data (no engine objects, no database handles)
so an analysis can be tested on a hand-built list and a store can be swapped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, Hashable, List, Optional, Tuple

__all__ = [
    "RequestRecord", "TestKey", "LinesByFile", "ArcsByFile", "STARTUP", "REQUEST", "SERVED_UNRECORDED",
    "natural_key", "natural_test_key", "FileVersion", "KeyedRecord", "PackedLines", "endpoint_of", "ReadyRow",
]

_DIGITS = re.compile(r"(\d+)")


#: An id of one run of digits at its end (``test-17``), the usual shape.
_NAME_NUMBER = re.compile(r"(\D*)(\d+)")


def natural_key(text: str) -> Tuple[Any, ...]:
    """Sort ``test-2`` before ``test-10``, as Keploy numbers its tests and
    sets: every listing of ids and every choice among equals (which member
    of a duplicate group is kept) follows this one order.

    An id of the usual shape, a name and a number, gets its key from one
    match instead of a split and a generator (a million requests are sorted
    by it): the same key, as the tests check."""
    usual = _NAME_NUMBER.fullmatch(text)
    if usual is not None:
        name, number = usual.groups()
        if not name.isdigit():  # a part of no \d is still a digit to isdigit when it is, say, "²"
            return ((1, 0, name), (0, int(number), number), (1, 0, ""))
    return tuple((0, int(part), part) if part.isdigit() else (1, 0, part) for part in _DIGITS.split(text))


#: A store has a few test sets and up to millions of records: each set's key is made once.
_natural_set_key = lru_cache(maxsize=4096)(natural_key)


def natural_test_key(test_set: str, test_id: str) -> Tuple[Any, ...]:
    """:attr:`TestKey.natural` of a test set and id."""
    return (_natural_set_key(test_set), natural_key(test_id))

#: Absolute file path -> sorted, distinct physical line numbers.
LinesByFile = Dict[str, List[int]]
#: Absolute file path -> sorted, distinct (from_line, to_line) arcs, as coverage.py
#: writes them (negative numbers mean entering or leaving a code object).
ArcsByFile = Dict[str, List[Tuple[int, int]]]

#: Kind of a record made for one request.
REQUEST = "request"
#: Kind of the record holding code that ran outside any request in one process
#: (imports, app start-up, background threads).
STARTUP = "startup"
#: Test id of a record of kind STARTUP holding what a process ran outside
#: requests after it began to accept connections, when it recorded no request
#: at all (a server ``requestcov run`` could not wrap): code that ran for
#: requests nobody recorded, which no analysis counts as run.
SERVED_UNRECORDED = "served-unrecorded"


#: A new request's row as the writer hands it to the store in place of a
#: record, when the recorder packed its line set before (most requests): the
#: twelve values of its ``INSERT``: first ``(kind, pid, has_arcs)``, one
#: tuple for all rows of a process, then test_id, test_set, method, path,
#: route, status, start, duration_ms, and the id of its line set (None while
#: the store has not said it); then the set's :class:`PackedLines`. The store
#: never changes one.
ReadyRow = List[Any]


def endpoint_of(method: str, route: Optional[str], path: str) -> str:
    """:attr:`RequestRecord.endpoint` of a request's fields (a reader of
    bare store rows makes no record)."""
    return f"{method} {route or path}".strip()


@dataclass(frozen=True, order=True)
class TestKey:
    """What identifies a test: Keploy reuses ids such as ``test-1`` in every test
    set, so the id alone is not enough to tell two tests apart."""

    test_set: str
    test_id: str

    def __str__(self) -> str:
        return f"{self.test_set}/{self.test_id}" if self.test_set else self.test_id

    @property
    def natural(self) -> Tuple[Any, ...]:
        """The key in natural order (``test-set-2/test-9`` before ``test-set-10/test-1``)."""
        return natural_test_key(self.test_set, self.test_id)


@dataclass(frozen=True)
class FileVersion:
    """Which version of a measured file a record's line numbers belong to:
    line numbers mean nothing once the file is edited, so analyses that read
    the source now compare ``sha256`` with it, and ``impact`` maps the
    recorded lines through the diff from ``commit``."""

    #: SHA-256 (hex) of the file's bytes when the record was made.
    sha256: str
    #: The git commit checked out (HEAD) in ``repo`` then; None outside git.
    commit: Optional[str] = None
    #: The root of the git work tree holding the file; None outside git.
    repo: Optional[str] = None


class PackedLines:
    """A record's lines and file versions as the recorder packed them, once
    for every record that ran the same set: the store writes this instead of
    packing the record's lists again, and knows a set it wrote before by
    this very object (compared by identity; it is never changed).

    ``packed`` is what the store's packed line set holds after its file and
    version ids (see ``requestcov.store.requestset``): one little-endian
    int32 count of lines per file, an int32 -1 per file (no arcs), then every
    file's sorted line numbers as uint16, file after file, in the order of
    ``paths`` (sorted). A plain class with slots: one is
    made for every new set, and a frozen dataclass costs a call of
    ``object.__setattr__`` per field."""

    __slots__ = ("paths", "packed", "versions")

    def __init__(self, paths: Tuple[str, ...], packed: bytes, versions: Tuple[Optional[FileVersion], ...]) -> None:
        self.paths = paths
        self.packed = packed
        #: The version of each file of ``paths``; None: unknown.
        self.versions = versions

    def __repr__(self) -> str:
        return f"PackedLines({self.paths!r}, {len(self.packed)} bytes)"


@dataclass
class RequestRecord:
    """The coverage of one request (or one process's start-up code)."""

    test_id: str
    method: str = ""
    path: str = ""
    route: Optional[str] = None
    status: Optional[int] = None
    #: Unix time at which the request started.
    start: float = 0.0
    duration_ms: float = 0.0
    pid: int = 0
    #: Keploy's test set (``KEPLOY-TEST-SET-ID``); empty when there is none.
    test_set: str = ""
    lines: LinesByFile = field(default_factory=dict)
    #: Present only when branch coverage was recorded.
    arcs: Optional[ArcsByFile] = None
    kind: str = REQUEST
    #: Row id in the store, when the record came from one.
    record_id: Optional[int] = None
    #: The version of each file it ran, as far as known: a file missing here
    #: (a store of an older schema, a dedupData.yaml) is of unknown version.
    versions: Dict[str, FileVersion] = field(default_factory=dict)
    #: The same ``lines`` and ``versions`` packed by the recorder (None for
    #: records made otherwise): set only together with them, never changed
    #: apart from them. Not an argument of the constructor, so a copy made
    #: by ``dataclasses.replace`` (whose lines may differ) goes without it.
    packed: Optional[PackedLines] = field(default=None, init=False, compare=False, repr=False)

    @property
    def key(self) -> TestKey:
        return TestKey(self.test_set, self.test_id)

    @property
    def endpoint(self) -> str:
        """Method and route template, or the raw path when no route is known."""
        return endpoint_of(self.method, self.route, self.path)

    def line_count(self) -> int:
        return sum(len(lines) for lines in self.lines.values())


def _without_class_defaults(cls: type) -> None:
    """Drop the class attributes ``@dataclass`` leaves for the defaults of
    ``cls``'s constructor arguments.

    Python 3.11 and 3.12 do not specialise an attribute store whose name is
    also a class attribute: each of those fields then cost a generic
    ``setattr`` in ``__init__``, a dozen per record the writer thread makes
    for every request. The defaults live on in ``__init__`` (and in the
    fields) and every instance sets all of them, so nothing reads the class
    attributes. A field that ``__init__`` does not set keeps its own."""
    for name, spec in cls.__dataclass_fields__.items():  # type: ignore[attr-defined]
        if spec.init and name in vars(cls):
            delattr(cls, name)


_without_class_defaults(RequestRecord)


#: A record with the key of its line set, as a store reads them: records of
#: one key ran the same lines and share them (None: the record alone).
KeyedRecord = Tuple[Optional[Hashable], RequestRecord]
