"""Which lines of a source file run at import: its module body and the bodies
of the classes defined there (not in functions), loops included.

What the engines attribute to the start-up record wherever the module is
imported (``requestcov.engine.scope``), worked out from the syntax tree
independently of them: each statement's first line, as coverage.py counts it.
"""

from __future__ import annotations

import ast
from typing import List, Set

__all__ = ["import_time_lines"]


def import_time_lines(source: str) -> Set[int]:
    lines: Set[int] = set()

    def visit(body: List[ast.stmt]) -> None:
        for statement in body:
            lines.add(statement.lineno)
            if isinstance(statement, ast.ClassDef):
                visit(statement.body)
            elif isinstance(statement, (ast.For, ast.While, ast.If, ast.With, ast.Try)):
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(statement, field, []))
                for handler in getattr(statement, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(source).body)
    return lines
