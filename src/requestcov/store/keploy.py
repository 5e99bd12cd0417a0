"""Keploy's ``dedupData.yaml``: the file Keploy's dedup flow reads.

The layout is a YAML list of ``{id, executedLinesByFile: {abs_path: [line, ...]}}``.
We add ``testSetId`` when a test came from a named Keploy test set, because ids
such as ``test-1`` repeat across sets; readers that do not know the key ignore it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Iterator, List

import yaml

from requestcov.errors import InputError
from requestcov.records import RequestRecord
from requestcov.store.atomic import atomic_text_output

__all__ = ["read_dedup_yaml", "write_dedup_yaml"]

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


def _where(path: Path, node: Any) -> str:
    mark = getattr(node, "start_mark", None)
    return f"{path}:{mark.line + 1}" if mark is not None else str(path)


def read_dedup_yaml(path: "str | os.PathLike[str]") -> Iterator[RequestRecord]:
    """Read a ``dedupData.yaml`` file, checking its shape as it goes.

    Raises :class:`InputError` naming the file and line of the first problem.
    """
    source = Path(path)
    try:
        with source.open("rb") as handle:
            root = yaml.compose(handle, Loader=_SafeLoader)
    except OSError as error:
        raise InputError(f"cannot read {source}: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else str(source)
        problem = getattr(error, "problem", None) or str(error)
        raise InputError(f"{where}: not valid YAML ({problem})") from error
    if root is None:
        return
    if not isinstance(root, yaml.SequenceNode):
        raise InputError(f"{_where(source, root)}: expected a list of tests (- id: ...)")
    for item in root.value:
        yield _record_from_node(source, item)


def _scalar(source: Path, node: Any, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise InputError(f"{_where(source, node)}: {what} must be a single value")
    return str(node.value)


def _record_from_node(source: Path, item: Any) -> RequestRecord:
    if not isinstance(item, yaml.MappingNode):
        raise InputError(f"{_where(source, item)}: each test must be a mapping with id and executedLinesByFile")
    fields = {_scalar(source, key, "a key"): value for key, value in item.value}
    if "id" not in fields:
        raise InputError(f"{_where(source, item)}: a test has no id")
    test_id = _scalar(source, fields["id"], "id")
    test_set = _scalar(source, fields["testSetId"], "testSetId") if "testSetId" in fields else ""
    lines_node = fields.get("executedLinesByFile")
    lines: dict = {}
    if lines_node is not None and not (isinstance(lines_node, yaml.ScalarNode) and lines_node.value in ("", "null", "~", "{}")):
        if not isinstance(lines_node, yaml.MappingNode):
            raise InputError(f"{_where(source, lines_node)}: executedLinesByFile of {test_id!r} must map file paths to line lists")
        for path_node, numbers_node in lines_node.value:
            file_path = _scalar(source, path_node, "a file path")
            lines[file_path] = _line_numbers(source, numbers_node, test_id)
    return RequestRecord(test_id=test_id, test_set=test_set, lines=lines)


def _line_numbers(source: Path, node: Any, test_id: str) -> List[int]:
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "null", "~", "[]"):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise InputError(f"{_where(source, node)}: the lines of {test_id!r} must be a list of numbers")
    numbers = set()
    for number_node in node.value:
        text = _scalar(source, number_node, "a line number")
        try:
            number = int(text)
        except ValueError:
            raise InputError(f"{_where(source, number_node)}: {text!r} is not a line number") from None
        if number < 0:
            raise InputError(f"{_where(source, number_node)}: line numbers are never negative ({number})")
        numbers.add(number)
    return sorted(numbers)
