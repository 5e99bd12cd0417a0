"""The parse cache: a cached parse is exactly the parse, and an edited file is parsed again.

Real files on disk, coverage.py's real parser, a real cache folder; the only
thing wrapped is the parse function, to count how often it really ran."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, List

import pytest

import requestcov
from requestcov.analysis.covered import StatementTable
from requestcov.analysis.statement_cache import CACHE_DIR_VARIABLE, cache_folder, cached_parse
from requestcov.analysis.statements import FileStatements, exclusion_regex, parse_source, parse_statements
from tests.support.readonly import read_only

SOURCE = '''\
"""A module with multi-line statements, exclusions and nested functions."""
import os


def handler(request):
    total = (1 +
             2)
    if request:  # pragma: no cover
        return "excluded"
    data = {
        "a": 1,
        "b": [
            2,
        ],
    }

    def inner():
        return data
    return inner


class View:
    def get(self):
        """A docstring."""
        return os.getcwd()
'''


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(folder))
    return folder


def counted(calls: List[str]) -> Callable[[str, str], FileStatements]:
    """The real parse, each call noted."""
    def parse(path: str, exclude: str) -> FileStatements:
        calls.append(path)
        return parse_source(path, exclude)
    return parse


def assert_same(cached: FileStatements, fresh: FileStatements) -> None:
    assert cached.statements == fresh.statements
    assert cached.excluded == fresh.excluded
    assert cached.functions == fresh.functions
    assert cached.line_count == fresh.line_count
    for line in range(-fresh.line_count - 3, fresh.line_count + 4):
        assert cached.first_line(line) == fresh.first_line(line), line


def test_a_cached_parse_is_what_coverage_py_parses(tmp_path: Path, cache: Path) -> None:
    """On a file of ours and on requestcov's analysis modules: statements,
    exclusions, functions and the first line of every line, as coverage.py's
    own parser gives them."""
    from coverage.parser import PythonParser
    from coverage.python import get_python_source

    module = tmp_path / "module.py"
    module.write_text(SOURCE)
    paths = [str(module)] + sorted(
        str(path) for path in (Path(requestcov.__file__).parent / "analysis").glob("*.py"))
    exclude = exclusion_regex()
    for path in paths:
        fresh = parse_statements(path, exclude, cache=False)
        parse_statements(path, exclude)  # parsed, and kept
        calls: List[str] = []
        cached = cached_parse(path, exclude, counted(calls))
        assert calls == [], path  # read back, not parsed
        assert_same(cached, fresh)
        parser = PythonParser(text=get_python_source(path), filename=path, exclude=exclude)
        parser.parse_source()
        assert cached.statements == set(parser.statements) and cached.excluded == set(parser.excluded)
        assert all(cached.first_line(line) == parser.first_line(line) for line in range(1, cached.line_count + 2))
    assert len(list((cache / "statements").iterdir())) == len(paths)
    parsed = parse_statements(str(module), exclude)
    assert parsed.first_line(7) == 6 and 6 in parsed.statements and 7 not in parsed.statements
    assert 9 in parsed.excluded and "handler.<locals>.inner" in [span.name for span in parsed.functions]


def test_an_edited_file_is_parsed_again_and_replaces_its_entry(tmp_path: Path, cache: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(SOURCE)
    exclude = exclusion_regex()
    calls: List[str] = []
    first = cached_parse(str(module), exclude, counted(calls))
    again = cached_parse(str(module), exclude, counted(calls))
    assert calls == [str(module)] and again.statements == first.statements
    module.write_text(SOURCE + "\n\ndef added():\n    return 1\n")  # same size class, same second
    edited = cached_parse(str(module), exclude, counted(calls))
    assert calls == [str(module)] * 2
    assert_same(edited, parse_source(str(module), exclude))
    assert edited.statements - first.statements == {28, 29}
    assert len(list((cache / "statements").iterdir())) == 1  # one entry per path, the edited one
    module.write_text(SOURCE)  # back as it was: parsed again, not the stale entry
    assert cached_parse(str(module), exclude, counted(calls)).statements == first.statements
    assert len(calls) == 3


def test_an_edited_file_changes_the_figures_of_a_new_statement_table(tmp_path: Path, cache: Path) -> None:
    module = tmp_path / "views.py"
    module.write_text("def view():\n    return 1\n")
    assert StatementTable().count({str(module): [1, 2]}) == 2
    module.write_text("def view():\n    value = (1 +\n             2)\n    return value\n")
    table = StatementTable()
    assert table.statements(str(module)) == {1, 2, 4}
    assert table.fold(str(module), [1, 2, 3, 4]) == [1, 2, 4]


def test_other_exclusions_are_another_parse(tmp_path: Path, cache: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(SOURCE)
    calls: List[str] = []
    default = cached_parse(str(module), exclusion_regex(), counted(calls))
    more = cached_parse(str(module), exclusion_regex() + "|(?:return inner)", counted(calls))
    assert len(calls) == 2
    assert 19 in default.statements and 19 in more.excluded


def test_a_damaged_entry_is_parsed_again_and_rewritten(tmp_path: Path, cache: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(SOURCE)
    exclude = exclusion_regex()
    calls: List[str] = []
    cached_parse(str(module), exclude, counted(calls))
    [entry] = (cache / "statements").iterdir()
    for damage in ("{not json", json.dumps({"sha256": "x"}), json.dumps([1, 2])):
        entry.write_text(damage)
        assert_same(cached_parse(str(module), exclude, counted(calls)), parse_source(str(module), exclude))
    assert len(calls) == 4
    assert json.loads(entry.read_text())["statements"] == sorted(parse_source(str(module), exclude).statements)


def test_the_cache_can_be_turned_off_or_be_unwritable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "module.py"
    module.write_text(SOURCE)
    exclude = exclusion_regex()
    monkeypatch.setenv(CACHE_DIR_VARIABLE, "")
    assert cache_folder() is None
    calls: List[str] = []
    cached_parse(str(module), exclude, counted(calls))
    cached_parse(str(module), exclude, counted(calls))
    assert len(calls) == 2
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(locked))
    with read_only(locked):
        assert_same(cached_parse(str(module), exclude, counted(calls)), parse_source(str(module), exclude))
        assert sorted(locked.iterdir()) == []
    assert len(calls) == 3
