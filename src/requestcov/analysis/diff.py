"""Changed lines from a unified diff, on the new side of the change.

Added and modified lines count at their new line numbers. A pure deletion has
no new line of its own, so the lines just before and just after the deletion
point stand for it: the code that ran around the removed code. A deleted file
keeps its old line numbers, since no new side exists.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set

from requestcov.errors import InputError, RequestcovError

__all__ = ["FileChange", "parse_unified_diff", "git_diff", "git_toplevel"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class FileChange:
    """Changed lines of one file, path relative to the diff's root."""

    path: str
    lines: Set[int] = field(default_factory=set)
    deleted: bool = False


def _strip_prefix(name: str) -> Optional[str]:
    name = name.split("\t", 1)[0].strip()
    if name == "/dev/null":
        return None
    if name.startswith('"') and name.endswith('"'):
        name = name[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode(
            "latin-1").decode("utf-8", "replace")
    if name[:2] in ("a/", "b/"):
        name = name[2:]
    return name


def parse_unified_diff(text: str) -> Dict[str, FileChange]:
    """Changed lines per file from the text of a unified diff (any context size).

    Hunk bodies are read by the line counts in their headers, so a removed line
    that itself starts with ``--`` is never mistaken for a file header.
    """
    changes: Dict[str, FileChange] = {}
    old_name: Optional[str] = None
    current: Optional[FileChange] = None
    new_line = old_line = 0
    old_left = new_left = 0
    pending_deletion = False

    def close_deletion() -> None:
        nonlocal pending_deletion
        if pending_deletion and current is not None and not current.deleted:
            for line in (new_line - 1, new_line):
                if line >= 1:
                    current.lines.add(line)
        pending_deletion = False

    for number, raw in enumerate(text.splitlines(), start=1):
        if old_left > 0 or new_left > 0:
            assert current is not None
            if raw.startswith("+"):
                pending_deletion = False
                current.lines.add(new_line)
                new_line += 1
                new_left -= 1
            elif raw.startswith("-"):
                if current.deleted:
                    current.lines.add(old_line)
                else:
                    pending_deletion = True
                old_line += 1
                old_left -= 1
            elif raw.startswith(" ") or raw == "":
                close_deletion()
                new_line += 1
                old_line += 1
                new_left -= 1
                old_left -= 1
            elif not raw.startswith("\\"):
                raise InputError(f"line {number} of the diff: unexpected line inside a hunk")
            if old_left <= 0 and new_left <= 0:
                close_deletion()
            continue
        if raw.startswith("--- "):
            old_name = _strip_prefix(raw[4:])
            continue
        if raw.startswith("+++ "):
            new_name = _strip_prefix(raw[4:])
            if new_name is None and old_name is None:
                raise InputError(f"line {number} of the diff: both sides of a file are /dev/null")
            path = new_name if new_name is not None else old_name
            current = changes.setdefault(path, FileChange(path=path))  # type: ignore[arg-type]
            current.deleted = new_name is None
            continue
        match = _HUNK.match(raw)
        if match:
            if current is None:
                raise InputError(f"line {number} of the diff: a hunk before any '+++' file header")
            old_line, new_line = int(match.group(1)), int(match.group(3))
            old_left = int(match.group(2)) if match.group(2) is not None else 1
            new_left = int(match.group(4)) if match.group(4) is not None else 1
            # An empty side names the line *before* the change; step past it.
            if old_left == 0:
                old_line += 1
            if new_left == 0:
                new_line += 1
    close_deletion()
    return changes


def git_toplevel(folder: str) -> str:
    """The root of the git work tree holding ``folder``."""
    completed = _git(["rev-parse", "--show-toplevel"], folder)
    return completed.strip()


def git_diff(revisions: str, folder: str) -> str:
    """``git diff -U0`` for ``REV`` (against the work tree) or ``A..B``."""
    if revisions.startswith("-"):
        raise InputError(f"{revisions!r} is not a revision (it starts with '-')")
    return _git(["diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", revisions, "--"], folder)


def _git(arguments: List[str], folder: str) -> str:
    try:
        completed = subprocess.run(
            ["git", *arguments], cwd=folder, capture_output=True, text=True, check=False,
        )
    except FileNotFoundError:
        raise RequestcovError("git is not installed; pass the changes with --diff-file instead") from None
    except NotADirectoryError:
        raise RequestcovError(f"{folder} is not a folder") from None
    if completed.returncode != 0:
        message = (completed.stderr.strip().splitlines() or ["git failed"])[-1]
        raise RequestcovError(f"git {' '.join(arguments[:1])} in {folder}: {message}")
    return completed.stdout
