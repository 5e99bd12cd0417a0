"""Keploy's ``dedupData.yaml``: the file Keploy's dedup flow reads.

The layout is a YAML list of ``{id, executedLinesByFile: {abs_path: [line, ...]}}``.
We add ``testSetId`` when a test came from a named Keploy test set, because ids
such as ``test-1`` repeat across sets; readers that do not know the key ignore it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List

import yaml

from requestcov.errors import InputError
from requestcov.records import RequestRecord
from requestcov.store.atomic import atomic_text_output

__all__ = ["read_dedup_yaml", "write_dedup_yaml", "yaml_error_message", "MAX_LINE_NUMBER"]

try:  # the C loader is much faster on large files; both are safe loaders
    _SafeLoader: Any = yaml.CSafeLoader
    _SafeDumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _SafeLoader = yaml.SafeLoader
    _SafeDumper = yaml.SafeDumper


def _entry(record: RequestRecord) -> dict:
    entry: dict = {"id": record.test_id}
    if record.test_set:
        entry["testSetId"] = record.test_set
    entry["executedLinesByFile"] = {path: list(lines) for path, lines in sorted(record.lines.items())}
    return entry


def write_dedup_yaml(records: Iterable[RequestRecord], path: "str | os.PathLike[str]") -> int:
    """Write records as ``dedupData.yaml``; returns how many were written.

    A reader never sees half a file: see :func:`atomic_text_output`.
    """
    count = 0
    with atomic_text_output(path) as output:
        for record in records:
            # One list item at a time keeps memory flat for large stores.
            yaml.dump([_entry(record)], output, Dumper=_SafeDumper, sort_keys=False,
                      default_flow_style=False, allow_unicode=True)
            count += 1
        if count == 0:
            output.write("[]\n")
    return count


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


_OPENING = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
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
        elif not isinstance(root, yaml.SequenceStartEvent):
            raise self._fail(root, "expected a list of tests (- id: ...)")
        else:
            while True:
                item = self._value()
                if isinstance(item, yaml.SequenceEndEvent):
                    break
                yield self._checked_record(item)
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

    def _checked_record(self, item: Any) -> RequestRecord:
        """One test; a problem of shape inside it is reported only once the
        rest of the test has parsed, so broken YAML is named as such."""
        depth = self._depth
        try:
            return self._record(item)
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
        test_set = ""
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
