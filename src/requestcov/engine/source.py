"""Which files are measured.

The engines ask this once per code object (the answer is cached by file name),
so the rules can afford to be thorough: the app's own source, never the
standard library, virtualenvs or installed packages unless a source root was
deliberately pointed inside them (measuring an installed app package).
"""

from __future__ import annotations

import fnmatch
import functools
import os
import site
import sys
import sysconfig
from types import CodeType
from typing import Dict, Iterable, List, Optional, Sequence, Tuple


__all__ = ["SourceMatcher", "canonical_path", "is_third_party"]

#: Folder names that hold third-party or generated code, wherever they appear
#: below a source root.
_THIRD_PARTY_FOLDER_NAMES = frozenset(
    {"site-packages", "dist-packages", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__", ".git"}
)


def canonical_path(filename: str) -> str:
    """Absolute, symlink-free path, as coverage.py canonicalises file names."""
    return os.path.normcase(os.path.realpath(os.path.abspath(filename)))


@functools.lru_cache(maxsize=None)
def _third_party_roots() -> Tuple[str, ...]:
    """Folders of the interpreter itself and of installed packages."""
    roots = set()
    # "scripts": console scripts (bin/uvicorn, bin/gunicorn) are installed
    # code too, and the caller that makes the app when a server starts.
    for name in ("stdlib", "platstdlib", "purelib", "platlib", "scripts"):
        path = sysconfig.get_paths().get(name)
        if path:
            roots.add(path)
    try:
        roots.update(site.getsitepackages())
    except AttributeError:  # pragma: no cover - some embedded interpreters
        pass
    user_site = getattr(site, "getusersitepackages", lambda: None)()
    if user_site:
        roots.add(user_site)
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        roots.add(os.path.join(prefix, "lib"))
    own_package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    roots.add(own_package)
    return tuple(sorted({canonical_path(root) for root in roots}))


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def is_third_party(filename: str) -> bool:
    """True for the standard library, installed packages and requestcov itself."""
    path = canonical_path(filename)
    return any(_is_under(path, root) for root in _third_party_roots())


def _prepare_patterns(patterns: Iterable[str]) -> List[str]:
    """Patterns starting with ``*`` match anywhere; others are made absolute,
    the way coverage.py treats ``--include`` and ``--omit``."""
    prepared = []
    for pattern in patterns:
        pattern = pattern.strip()
        if not pattern:
            continue
        prepared.append(pattern if pattern.startswith("*") else canonical_path(pattern))
    return prepared


class SourceMatcher:
    """Decides whether a file (or code object) is part of the measured source."""

    def __init__(
        self,
        source: Sequence[str],
        include: Sequence[str] = (),
        omit: Sequence[str] = (),
    ) -> None:
        self.roots: Tuple[str, ...] = tuple(canonical_path(root) for root in source)
        self.include = _prepare_patterns(include)
        self.omit = _prepare_patterns(omit)
        self._third_party = _third_party_roots()
        #: File name -> its canonical path when measured, else None: every
        #: decision so far. Read whole by the record builder (one C call for
        #: all of a request's files); filled only by :meth:`measured_path`.
        self.decided: Dict[str, Optional[str]] = {}

    def measured_path(self, filename: str) -> Optional[str]:
        """The canonical path of ``filename`` if it is measured, else None."""
        try:
            return self.decided[filename]
        except KeyError:
            pass
        result = self._decide(filename)
        self.decided[filename] = result
        return result

    def is_measured_file(self, filename: str) -> bool:
        return self.measured_path(filename) is not None

    def is_measured_code(self, code: CodeType) -> bool:
        return self.is_measured_file(code.co_filename)

    def _decide(self, filename: str) -> Optional[str]:
        if not filename or filename.startswith("<") or not filename.endswith((".py", ".pyw")):
            return None
        path = canonical_path(filename)
        root = next((root for root in self.roots if _is_under(path, root)), None)
        if root is None:
            return None
        # Third-party code below the chosen root is skipped; a root that is
        # itself inside site-packages (an installed app) is measured.
        for third_party in self._third_party:
            if _is_under(path, third_party) and _is_under(third_party, root) and third_party != root:
                return None
        relative_parts = os.path.relpath(path, root).split(os.sep)[:-1]
        if any(part in _THIRD_PARTY_FOLDER_NAMES for part in relative_parts):
            return None
        if self.include and not any(fnmatch.fnmatch(path, pattern) for pattern in self.include):
            return None
        if any(fnmatch.fnmatch(path, pattern) for pattern in self.omit):
            return None
        return path
