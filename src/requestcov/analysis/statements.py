"""Which lines of a Python file are executable, the way coverage.py sees them.

``gaps`` and ``impact`` must agree with ``coverage report`` on the same traffic,
so they use coverage.py's own parser and its exclusion patterns (``# pragma: no
cover`` and the rest, plus whatever the coverage configuration in the current
folder adds), and map recorded lines of a multi-line statement to its first
line as coverage.py does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Optional, Set, Tuple, Union

__all__ = ["FileStatements", "FunctionSpan", "UnparsableSource", "exclusion_regex", "parse_source", "parse_statements"]


@dataclass(frozen=True)
class FunctionSpan:
    """A function or method: its dotted name, its ``def`` line and the lines of its body."""

    name: str
    line: int
    body_start: int
    body_end: int


@dataclass
class FileStatements:
    """What coverage.py's parser says of one file, as plain data: nothing of
    the parser (its syntax tree is most of a parse's memory) is kept, so a
    parse and a cached parse (:mod:`requestcov.analysis.statement_cache`)
    are the same thing."""

    path: str
    statements: Set[int]
    excluded: Set[int]
    functions: List[FunctionSpan]
    #: Each line of a multi-line statement whose first line is another one ->
    #: that first line (coverage.py's multi-line map, identities left out).
    first_lines: Dict[int, int]
    #: Lines of the source (its newlines, plus one).
    line_count: int

    def translate(self, lines: Iterable[int]) -> Set[int]:
        """Recorded line numbers mapped to the first line of their statement."""
        return {self.first_line(line) for line in lines}

    def first_line(self, line: int) -> int:
        """coverage.py's ``PythonParser.first_line``: a negative number (an
        arc's exit) maps as its positive."""
        if line < 0:
            return -self.first_lines.get(-line, -line)
        return self.first_lines.get(line, line)


def exclusion_regex(config_file: Union[str, bool] = True) -> str:
    """The exclusion regex ``coverage report`` would use (its defaults plus the
    configuration file, found as coverage.py finds it)."""
    return _exclusion_regex(config_file)


@lru_cache(maxsize=8)
def _exclusion_regex(config_file: Union[str, bool]) -> str:
    import coverage

    patterns = coverage.Coverage(data_file=None, config_file=config_file).get_exclude_list()
    return "|".join(f"(?:{pattern})" for pattern in patterns)


class UnparsableSource(Exception):
    """The file is not Python coverage.py can parse."""


def parse_statements(path: str, exclude: Optional[str] = None, *, cache: bool = True) -> FileStatements:
    """Parse ``path``; raises ``OSError`` when it cannot be read and
    :class:`UnparsableSource` when it is not valid Python.

    With ``cache`` (the default) a parse of the same bytes, with the same
    exclusions, coverage.py and Python, is read back instead of parsed again
    (:mod:`requestcov.analysis.statement_cache`): a large code base took
    seconds to parse in every command."""
    if exclude is None:
        exclude = exclusion_regex()
    if not cache:
        return parse_source(path, exclude)
    from requestcov.analysis.statement_cache import cached_parse

    return cached_parse(path, exclude, parse_source)


def parse_source(path: str, exclude: str) -> FileStatements:
    """coverage.py's parse of ``path`` as it is now, never cached."""
    from coverage.exceptions import NoSource, NotPython
    from coverage.parser import PythonParser
    from coverage.python import get_python_source

    try:
        source = get_python_source(path)
    except NoSource as error:  # coverage.py's word for a file it cannot read
        raise FileNotFoundError(2, str(error), path) from error
    parser = PythonParser(text=source, filename=path, exclude=exclude or None)
    try:
        parser.parse_source()
    except NotPython as error:
        raise UnparsableSource(str(error)) from error
    # coverage.py parsed the tree already: parsing it again cost a tenth of a
    # large code base's statement table.
    tree = getattr(parser, "_ast_root", None)
    if not isinstance(tree, ast.AST):
        try:
            tree = ast.parse(source, filename=path)
        except SyntaxError as error:  # pragma: no cover - PythonParser rejects these first
            raise UnparsableSource(str(error)) from error
    statements, excluded = set(parser.statements), set(parser.excluded)
    line_count = source.count("\n") + 1
    # Every line a statement can start on or span, and whatever else the
    # parser maps: first_line() then answers for any line as the parser does.
    mapped = getattr(parser, "multiline_map", None) or getattr(parser, "_multiline", None) or {}
    highest = max(line_count, max(statements | excluded, default=0), max(mapped, default=0))
    first_lines = {}
    for line in range(1, highest + 1):
        first = parser.first_line(line)
        if first != line:
            first_lines[line] = first
    return FileStatements(
        path=path, statements=statements, excluded=excluded, functions=_functions(tree),
        first_lines=first_lines, line_count=line_count,
    )


#: The fields that hold statements (of compound statements, ``except``
#: handlers and ``case`` clauses): a ``def`` is a statement, so it is found
#: without walking the expressions, most of a tree's nodes.
_STATEMENT_LISTS = ("body", "orelse", "finalbody", "handlers", "cases")


def _statement_children(node: ast.AST) -> Iterator[ast.AST]:
    for name in _STATEMENT_LISTS:
        children = getattr(node, name, None)
        if isinstance(children, list):
            yield from children


def _functions(tree: ast.AST) -> List[FunctionSpan]:
    found: List[FunctionSpan] = []

    def visit(node: ast.AST, prefix: Tuple[str, ...]) -> None:
        for child in _statement_children(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = ".".join(prefix + (child.name,))
                body = child.body
                # A docstring never runs as a line: the body starts after it.
                if (len(body) > 1 and isinstance(body[0], ast.Expr)
                        and isinstance(getattr(body[0], "value", None), ast.Constant)
                        and isinstance(body[0].value.value, str)):
                    body = body[1:]
                start = body[0].lineno
                end = getattr(child, "end_lineno", None) or max(
                    getattr(item, "end_lineno", item.lineno) or item.lineno for item in body
                )
                found.append(FunctionSpan(name=name, line=child.lineno, body_start=start, body_end=end))
                visit(child, prefix + (child.name, "<locals>"))
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + (child.name,))
            else:
                visit(child, prefix)

    visit(tree, ())
    found.sort(key=lambda span: span.line)
    return found
