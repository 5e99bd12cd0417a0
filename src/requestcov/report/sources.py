"""The source of a measured file as the HTML report shows it: its text and
which lines are statements, from the same :class:`StatementTable` every other
figure is counted with."""

from __future__ import annotations

import tokenize
from dataclasses import dataclass, field
from typing import List, Optional, Set

from requestcov.analysis.covered import StatementTable

__all__ = ["SourceFile", "load_source"]


@dataclass
class SourceFile:
    path: str
    #: The file's lines, without line ends; empty when the file cannot be read.
    lines: List[str] = field(default_factory=list)
    #: Executable lines; None when the file is missing or not Python.
    statements: Optional[Set[int]] = None
    #: Why the source or its statements are missing, for the page to say.
    problem: str = ""

    @property
    def available(self) -> bool:
        return bool(self.lines) or self.statements is not None


def load_source(path: str, table: StatementTable) -> SourceFile:
    """Read ``path`` and take its statements from ``table``; a missing or
    non-Python file gives a :class:`SourceFile` that says why instead of
    failing the whole report."""
    try:
        with tokenize.open(path) as handle:
            text = handle.read()
    except (OSError, SyntaxError, UnicodeDecodeError) as error:
        return SourceFile(path, problem=f"source not available here ({_reason(error)})")
    lines = text.splitlines()
    statements = table.statements(path)
    if statements is None:
        return SourceFile(path, lines=lines, problem=table.problem(path))
    return SourceFile(path, lines=lines, statements=set(statements))


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error).splitlines()[0][:120] if str(error) else type(error).__name__
