"""The source of a measured file as the HTML report shows it: its text and
which lines are executable, the way ``coverage report`` counts them."""

from __future__ import annotations

import tokenize
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from requestcov.analysis.statements import FileStatements, UnparsableSource, parse_statements

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
    _parsed: Optional[FileStatements] = None
    _translated: Dict[Tuple[int, ...], Tuple[int, ...]] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return bool(self.lines) or self.statements is not None

    def translate(self, recorded: Sequence[int]) -> Tuple[int, ...]:
        """Recorded lines mapped to the first line of their statement, as
        coverage.py maps them. Many requests record the same lines of a file,
        so each distinct set is translated once."""
        key = tuple(recorded)
        known = self._translated.get(key)
        if known is None:
            if self._parsed is None:
                known = key
            else:
                known = tuple(sorted(self._parsed.translate(key)))
            self._translated[key] = known
        return known


def load_source(path: str, exclude: Optional[str] = None) -> SourceFile:
    """Read and parse ``path``; a missing or non-Python file gives a
    :class:`SourceFile` that says why instead of failing the whole report."""
    try:
        with tokenize.open(path) as handle:
            text = handle.read()
    except (OSError, SyntaxError, UnicodeDecodeError) as error:
        return SourceFile(path, problem=f"source not available here ({_reason(error)})")
    lines = text.splitlines()
    try:
        parsed = parse_statements(path, exclude)
    except (OSError, UnparsableSource) as error:
        return SourceFile(path, lines=lines, problem=f"not parsed as Python ({_reason(error)})")
    return SourceFile(path, lines=lines, statements=set(parsed.statements), _parsed=parsed)


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error).splitlines()[0][:120] if str(error) else type(error).__name__


def covered_statements(source: SourceFile, lines: Iterable[int]) -> Set[int]:
    """The lines of ``lines`` that count as covered statements."""
    if source.statements is None:
        return set(lines)
    return set(lines) & source.statements
