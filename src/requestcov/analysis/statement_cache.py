"""Parses of measured files kept between commands.

Parsing with coverage.py's parser costs some 50 ms per thousand-line file,
seconds for a large code base, in every command that counts statements. A
parse depends only on the file's bytes, the exclusion regex, coverage.py's
version and Python's (its tokenizer and syntax tree), so it is kept under
those and read back when they are all the same; any edit to the file changes
its SHA-256 and it is parsed again. What is kept is all of
:class:`~requestcov.analysis.statements.FileStatements` (statements,
exclusions, functions, the multi-line map), which holds nothing but what the
parse gave: a cached parse answers every question exactly as a fresh one.

The cache is one small JSON file per source path and interpreter (so an
edited file replaces its entry and the cache stays as large as the code
base), in
``REQUESTCOV_CACHE_DIR``, else ``$XDG_CACHE_HOME/requestcov``, else
``~/.cache/requestcov``; ``REQUESTCOV_CACHE_DIR=""`` turns it off. Never
beside the store: reading commands leave the store's folder as it was. A
cache that cannot be read or written (a read-only home, a damaged entry) is
passed over and the file parsed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from requestcov.analysis.statements import FileStatements, FunctionSpan
from requestcov.fileversions import file_sha256

__all__ = ["CACHE_DIR_VARIABLE", "cache_folder", "cached_parse", "parse_key"]

CACHE_DIR_VARIABLE = "REQUESTCOV_CACHE_DIR"
#: Changes whenever what an entry holds, or what the parse gives, changes.
_FORMAT = "requestcov-statements-1"


def cache_folder() -> Optional[Path]:
    """Where parses are kept; None when the cache is turned off."""
    chosen = os.environ.get(CACHE_DIR_VARIABLE)
    if chosen is not None:
        return Path(chosen) / "statements" if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "requestcov" / "statements"


def parse_key(exclude: str) -> str:
    """Everything besides the file's bytes that the parse depends on."""
    import coverage

    return f"{_FORMAT} python {sys.version} coverage {coverage.__version__} exclude {exclude}"


def _entry_path(folder: Path, path: str) -> Path:
    name = hashlib.blake2b(os.path.abspath(path).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    # One entry per path and interpreter: commands run by 3.11 and 3.12 in
    # turn would otherwise replace each other's parse every time.
    return folder / f"{name}.{sys.implementation.cache_tag or 'python'}.json"


def cached_parse(path: str, exclude: str, parse: Callable[[str, str], FileStatements]) -> FileStatements:
    """``parse(path, exclude)``, or the kept result of it for these very bytes."""
    folder = cache_folder()
    if folder is None:
        return parse(path, exclude)
    sha256 = file_sha256(path)
    if sha256 is None:  # cannot be read: the parse says why
        return parse(path, exclude)
    key = parse_key(exclude)
    entry = _entry_path(folder, path)
    found = _read(entry, path, sha256, key)
    if found is not None:
        return found
    parsed = parse(path, exclude)
    if file_sha256(path) == sha256:  # not edited while it was parsed
        _write(entry, path, sha256, key, parsed)
    return parsed


def _read(entry: Path, path: str, sha256: str, key: str) -> Optional[FileStatements]:
    try:
        with open(entry, encoding="utf-8") as handle:
            data = json.load(handle)
        if data["sha256"] != sha256 or data["key"] != key or data["path"] != os.path.abspath(path):
            return None
        return FileStatements(
            path=path, statements=set(map(int, data["statements"])), excluded=set(map(int, data["excluded"])),
            functions=[FunctionSpan(name=str(name), line=int(line), body_start=int(start), body_end=int(end))
                       for name, line, start, end in data["functions"]],
            first_lines={int(line): int(first) for line, first in data["first_lines"]},
            line_count=int(data["line_count"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(entry: Path, path: str, sha256: str, key: str, parsed: FileStatements) -> None:
    data: Dict[str, Any] = {
        "path": os.path.abspath(path), "sha256": sha256, "key": key,
        "statements": sorted(parsed.statements), "excluded": sorted(parsed.excluded),
        "functions": [[span.name, span.line, span.body_start, span.body_end] for span in parsed.functions],
        "first_lines": sorted(parsed.first_lines.items()), "line_count": parsed.line_count,
    }
    temporary = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{entry.stem}-", suffix=".tmp", dir=entry.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as output:
            json.dump(data, output, separators=(",", ":"))
        os.replace(temporary, entry)  # a reader sees the old entry or the new one, never half
        temporary = None
    except OSError:
        pass  # a cache that cannot be written: the next command parses again
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
