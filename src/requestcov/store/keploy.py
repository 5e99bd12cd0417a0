"""Keploy's ``dedupData.yaml`` (the file Keploy's dedup flow reads) and
``duplicates.yaml`` (the one ``keploy dedup`` writes).

``dedupData.yaml`` exists in three layouts, all read, detected from the file:

- ``list``: a YAML list of ``{id, executedLinesByFile: {abs_path: [line, ...]}}``
  with bare ids (``test-1``), as Keploy's per-language middlewares wrote it.
  We add ``testSetId`` when a test came from a named test set, because ids
  such as ``test-1`` repeat across sets; readers that do not know the key ignore it.
- ``qualified``: the same list with ids ``test-set-0/test-1``, as Keploy's v2
  coverage services write what their agents send.
- ``nested``: ``test-set-0: {test-1: {abs_path: [line, ...]}}``, the form
  Keploy Enterprise writes today (its lines are not sorted).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Set

import yaml

from requestcov.errors import InputError
from requestcov.records import RequestRecord
from requestcov.store.atomic import atomic_text_output

__all__ = [
    "read_dedup_yaml", "write_dedup_yaml", "write_duplicates_yaml", "yaml_error_message",
    "MAX_LINE_NUMBER", "LAYOUTS", "NESTED", "LIST", "QUALIFIED",
]

NESTED = "nested"
LIST = "list"
QUALIFIED = "qualified"
#: The layouts of dedupData.yaml, Keploy Enterprise's current one first.
LAYOUTS = (NESTED, LIST, QUALIFIED)

try:  # the C loader is much faster on large files; both are safe loaders
    _SafeLoader: Any = yaml.CSafeLoader
    _SafeDumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _SafeLoader = yaml.SafeLoader
    _SafeDumper = yaml.SafeDumper


def _entry(record: RequestRecord, layout: str) -> dict:
    test_id = record.test_id
    if layout == QUALIFIED and record.test_set:
        test_id = f"{record.test_set}/{record.test_id}"
    entry: dict = {"id": test_id}
    if layout == LIST and record.test_set:
        entry["testSetId"] = record.test_set
    elif not record.test_set and "/" in record.test_id:
        # Without it a reader would split the id at its slash into a test set.
        entry["testSetId"] = ""
    entry["executedLinesByFile"] = {path: list(lines) for path, lines in sorted(record.lines.items())}
    return entry


def write_dedup_yaml(records: Iterable[RequestRecord], path: "str | os.PathLike[str]",
                     layout: str = LIST) -> int:
    """Write records as ``dedupData.yaml`` in one of :data:`LAYOUTS`; returns
    how many records were written.

    The nested layout is a map, so it holds each test once: the records of one
    test (its requests) are merged into one entry, and they must come grouped
    by test set and test, as :func:`requestcov.commands.export.natural_records`
    yields them. A reader never sees half a file: see :func:`atomic_text_output`.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown dedupData.yaml layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    counter = [0]

    def counted() -> Iterator[RequestRecord]:
        for record in records:
            counter[0] += 1
            yield record

    with atomic_text_output(path) as output:
        if layout == NESTED:
            yaml.emit(_nested_events(counted()), output, Dumper=_SafeDumper, allow_unicode=True, width=1 << 30)
        else:
            for record in counted():
                # One list item at a time keeps memory flat for large stores.
                yaml.dump([_entry(record, layout)], output, Dumper=_SafeDumper, sort_keys=False,
                          default_flow_style=False, allow_unicode=True)
            if counter[0] == 0:
                output.write("[]\n")
    return counter[0]


_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"


def _text(value: str) -> Any:
    """A string scalar, quoted by the emitter only when plain it would read as
    something else (``0``, ``true``, ``null``)."""
    plain = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR_TAG
    return yaml.ScalarEvent(None, _STR_TAG, (plain, True), value)


def _number(value: int) -> Any:
    return yaml.ScalarEvent(None, None, (True, False), str(value))


def _nested_events(records: Iterator[RequestRecord]) -> Iterator[Any]:
    """The events of the nested layout, one test at a time: the document is
    never built whole, so memory stays bounded by the largest test."""
    yield yaml.StreamStartEvent()
    yield yaml.DocumentStartEvent(explicit=False)
    yield yaml.MappingStartEvent(None, None, True, flow_style=False)
    seen_sets: Set[str] = set()
    current_set: Optional[str] = None
    seen_ids: Set[str] = set()
    pending: Optional[RequestRecord] = None
    pending_lines: Dict[str, Set[int]] = {}

    def test_events() -> Iterator[Any]:
        assert pending is not None
        yield _text(pending.test_id)
        yield yaml.MappingStartEvent(None, None, True, flow_style=False)
        for file_path in sorted(pending_lines):
            yield _text(file_path)
            yield yaml.SequenceStartEvent(None, None, True, flow_style=False)
            for number in sorted(pending_lines[file_path]):
                yield _number(number)
            yield yaml.SequenceEndEvent()
        yield yaml.MappingEndEvent()

    for record in records:
        if pending is not None and record.key == pending.key:
            for file_path, lines in record.lines.items():
                pending_lines.setdefault(file_path, set()).update(lines)
            continue
        if pending is not None:
            yield from test_events()
        if record.test_set != current_set:
            if record.test_set in seen_sets:
                raise ValueError(f"test set {record.test_set!r} comes twice: the nested layout needs "
                                 "records grouped by test set")
            if current_set is not None:
                yield yaml.MappingEndEvent()
            current_set = record.test_set
            seen_sets.add(current_set)
            seen_ids = set()
            yield _text(current_set)
            yield yaml.MappingStartEvent(None, None, True, flow_style=False)
        if record.test_id in seen_ids:
            raise ValueError(f"test {record.key} comes twice: the nested layout needs the records of "
                             "one test together")
        seen_ids.add(record.test_id)
        pending = record
        pending_lines = {file_path: set(lines) for file_path, lines in record.lines.items()}
    if pending is not None:
        yield from test_events()
    if current_set is not None:
        yield yaml.MappingEndEvent()
    yield yaml.MappingEndEvent()
    yield yaml.DocumentEndEvent(explicit=False)
    yield yaml.StreamEndEvent()


def write_duplicates_yaml(duplicates: Iterable["tuple[str, str]"], path: "str | os.PathLike[str]") -> int:
    """Write Keploy's ``duplicates.yaml``: each test set mapped to the list of
    its duplicate (droppable) test ids, in the order given, which is what
    ``keploy dedup --rm`` removes. ``duplicates`` are (test set, test id)
    pairs; returns how many tests were written."""
    by_set: Dict[str, List[str]] = {}
    for test_set, test_id in duplicates:
        by_set.setdefault(test_set, []).append(test_id)
    with atomic_text_output(path) as output:
        yaml.dump(by_set, output, Dumper=_SafeDumper, sort_keys=False, default_flow_style=False,
                  allow_unicode=True)
    return sum(len(ids) for ids in by_set.values())


def _where(path: Path, event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f"{path}:{mark.line + 1}" if mark is not None else str(path)


def yaml_error_message(source: Path, error: "yaml.YAMLError") -> str:
    """One line naming the file, the line (or byte) and the problem: PyYAML's
    own messages span several lines and repeat the file name."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if isinstance(error, yaml.reader.ReaderError):
        return f"{source}: not valid YAML ({error.reason} at byte {error.position})"
    where = f"{source}:{mark.line + 1}" if mark is not None else str(source)
    problem = getattr(error, "problem", None) or getattr(error, "context", None) or "syntax error"
    return f"{where}: not valid YAML ({' '.join(str(problem).split())})"


#: Line numbers above this are not lines of a source file: a file that holds
#: them is damaged, and is refused rather than stored.
MAX_LINE_NUMBER = 10_000_000
_EMPTY_SCALARS = ("", "null", "Null", "NULL", "~")


def read_dedup_yaml(path: "str | os.PathLike[str]") -> Iterator[RequestRecord]:
    """Read a ``dedupData.yaml`` file one test at a time, checking its shape as it goes.

    The file is read as a stream of YAML events, never as a whole document
    tree, so memory stays bounded by the largest single test however large the
    file is. YAML aliases (``*name``) are refused: the format never needs them
    and they are how a small file expands into a huge one. Raises
    :class:`InputError` naming the file and line of the first problem.
    """
    source = Path(path)
    try:
        handle = source.open("rb")
    except OSError as error:
        raise InputError(f"cannot read {source}: {error.strerror or error}") from error
    with handle:
        yield from _DedupReader(source, yaml.parse(handle, Loader=_SafeLoader)).records()


class _SyntaxProblem(InputError):
    """The text is not YAML at all: reported before any problem of shape."""


#: Keys of one test in the list layouts: at the top of a map they are not test sets.
_TEST_KEYS = ("id", "testSetId", "executedLinesByFile")
_OPENING = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
#: Far above the 4 levels of a dedupData.yaml (list, test, executedLinesByFile, lines).
_MAX_DEPTH = 64
_CLOSING = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


class _DedupReader:
    """Pulls YAML events and turns each list item into a record as it arrives."""

    def __init__(self, source: Path, events: Iterator[Any]) -> None:
        self.source = source
        self._events = events
        #: How many collections the last event left open.
        self._depth = 0

    def _next(self) -> Any:
        try:
            event = next(self._events)
        except StopIteration:
            raise InputError(f"{self.source}: the YAML ends early") from None
        except yaml.YAMLError as error:
            raise _SyntaxProblem(yaml_error_message(self.source, error)) from error
        except OSError as error:
            raise InputError(f"cannot read {self.source}: {error.strerror or error}") from error
        except UnicodeDecodeError as error:
            raise _SyntaxProblem(f"{self.source}: not valid YAML (not UTF-8 text: {error.reason})") from error
        if isinstance(event, _OPENING):
            self._depth += 1
            if self._depth > _MAX_DEPTH:
                # libyaml's parser slows down with the depth of nesting, to a
                # minute for 100,000 brackets: say no long before that.
                raise _SyntaxProblem(f"{_where(self.source, event)}: collections nested more than "
                                     f"{_MAX_DEPTH} deep; a dedupData.yaml nests 4 deep")
        elif isinstance(event, _CLOSING):
            self._depth -= 1
        return event

    def _fail(self, event: Any, message: str) -> "InputError":
        return InputError(f"{_where(self.source, event)}: {message}")

    def _value(self) -> Any:
        """The next event, refusing aliases wherever a value is expected."""
        event = self._next()
        if isinstance(event, yaml.AliasEvent):
            raise self._fail(event, f"YAML aliases (*{event.anchor}) are not supported in dedupData.yaml")
        return event

    def records(self) -> Iterator[RequestRecord]:
        self._next()  # StreamStartEvent
        event = self._next()
        if isinstance(event, yaml.StreamEndEvent):
            return  # an empty file: no tests
        root = self._value()  # after DocumentStartEvent
        if isinstance(root, yaml.ScalarEvent) and root.value in _EMPTY_SCALARS and root.implicit[0]:
            pass  # an empty document
        elif isinstance(root, yaml.MappingStartEvent):
            yield from self._nested()
        elif not isinstance(root, yaml.SequenceStartEvent):
            raise self._fail(root, "expected a list of tests (- id: ...) or a map of test sets")
        else:
            while True:
                item = self._value()
                if isinstance(item, yaml.SequenceEndEvent):
                    break
                yield self._checked(item, lambda item=item: self._record(item))
        self._next()  # DocumentEndEvent
        end = self._next()
        if not isinstance(end, yaml.StreamEndEvent):
            raise self._fail(end, "expected a single YAML document, found another one")

    def _scalar(self, event: Any, what: str) -> str:
        if not isinstance(event, yaml.ScalarEvent):
            raise self._fail(event, f"{what} must be a single value")
        return str(event.value)

    def _skip(self, event: Any) -> None:
        """Consume the rest of a value whose key this reader does not use."""
        depth = 1 if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)) else 0
        while depth:
            event = self._next()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1

    def _nested(self) -> Iterator[RequestRecord]:
        """``test-set: {test-id: {abs_path: [line, ...]}}``, after its opening event."""
        while True:
            set_event = self._value()
            if isinstance(set_event, yaml.MappingEndEvent):
                return
            test_set = self._scalar(set_event, "a test set")
            if test_set in _TEST_KEYS:
                raise self._fail(set_event, "expected a list of tests (- id: ...) or a map of test sets, "
                                 f"found the {test_set} of a single test")
            tests = self._value()
            if isinstance(tests, yaml.ScalarEvent) and tests.value in _EMPTY_SCALARS:
                continue  # a test set without tests
            if not isinstance(tests, yaml.MappingStartEvent):
                raise self._fail(tests, f"test set {test_set!r} must map test ids to their files and lines")
            while True:
                id_event = self._value()
                if isinstance(id_event, yaml.MappingEndEvent):
                    break
                test_id = self._scalar(id_event, "a test id")
                value = self._value()
                yield self._checked(value, lambda value=value, test_id=test_id: RequestRecord(
                    test_id=test_id, test_set=test_set, lines=self._lines_by_file(value, test_id)))

    def _checked(self, item: Any, build: Callable[[], RequestRecord]) -> RequestRecord:
        """One test, built by ``build`` from the events from ``item`` on; a
        problem of shape inside it is reported only once the rest of the test
        has parsed, so broken YAML is named as such."""
        depth = self._depth
        try:
            return build()
        except _SyntaxProblem:
            raise
        except InputError as error:
            while self._depth >= depth and isinstance(item, _OPENING):
                self._next()
            raise error

    def _record(self, item: Any) -> RequestRecord:
        if not isinstance(item, yaml.MappingStartEvent):
            raise self._fail(item, "each test must be a mapping with id and executedLinesByFile")
        test_id: "str | None" = None
        test_set: Optional[str] = None
        lines: Dict[str, List[int]] = {}
        while True:
            key_event = self._value()
            if isinstance(key_event, yaml.MappingEndEvent):
                break
            key = self._scalar(key_event, "a key")
            value = self._value()
            if key == "id":
                test_id = self._scalar(value, "id")
            elif key == "testSetId":
                test_set = self._scalar(value, "testSetId")
            elif key == "executedLinesByFile":
                lines = self._lines_by_file(value, test_id)
            else:
                self._skip(value)
        if test_id is None:
            raise self._fail(item, "a test has no id")
        if test_set is None:
            # A qualified id, test-set-0/test-1, names its set (the first slash
            # ends it); an explicit testSetId, even empty, keeps the id whole.
            test_set, slash, rest = test_id.partition("/")
            test_set, test_id = (test_set, rest) if slash and test_set and rest else ("", test_id)
        return RequestRecord(test_id=test_id, test_set=test_set, lines=lines)

    def _lines_by_file(self, event: Any, test_id: "str | None") -> Dict[str, List[int]]:
        name = "this test" if test_id is None else repr(test_id)
        if isinstance(event, yaml.ScalarEvent) and event.value in _EMPTY_SCALARS:
            return {}
        if not isinstance(event, yaml.MappingStartEvent):
            raise self._fail(event, f"executedLinesByFile of {name} must map file paths to line lists")
        lines: Dict[str, List[int]] = {}
        while True:
            key_event = self._value()
            if isinstance(key_event, yaml.MappingEndEvent):
                return lines
            file_path = self._scalar(key_event, "a file path")
            lines[file_path] = self._line_numbers(self._value(), name)

    def _line_numbers(self, event: Any, name: str) -> List[int]:
        if isinstance(event, yaml.ScalarEvent) and event.value in _EMPTY_SCALARS:
            return []
        if not isinstance(event, yaml.SequenceStartEvent):
            raise self._fail(event, f"the lines of {name} must be a list of numbers")
        numbers = set()
        while True:
            number_event = self._value()
            if isinstance(number_event, yaml.SequenceEndEvent):
                return sorted(numbers)
            text = self._scalar(number_event, "a line number")
            try:
                number = int(text)
            except ValueError:
                raise self._fail(number_event, f"{text[:40]!r} is not a line number") from None
            if number < 0:
                raise self._fail(number_event, f"line numbers are never negative ({number})")
            if number > MAX_LINE_NUMBER:
                raise self._fail(number_event, f"{number} is not a plausible line number")
            numbers.add(number)
