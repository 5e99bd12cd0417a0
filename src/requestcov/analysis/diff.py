"""Changed lines from a unified diff, on the new side of the change.

Added and modified lines count at their new line numbers. A pure deletion has
no new line of its own, so the lines just before and just after the deletion
point stand for it: the code that ran around the removed code. A deleted file
keeps its old line numbers, since no new side exists.

Each file's hunks are kept too, as a :class:`LineMap`: it carries a line
number of the old side to the new side (lines below a change shift by what
was added and removed above them) and back, which is how ``impact`` finds
the tests of code whose lines moved since it was recorded.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

from requestcov.errors import InputError, RequestcovError

__all__ = [
    "FileChange", "Hunk", "LineMap", "parse_unified_diff", "looks_like_a_diff", "git_diff", "git_toplevel",
    "git_file_diff", "git_file_bytes", "diff_target",
]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class Hunk(NamedTuple):
    """One change: old lines ``old_first .. old_first + old_count - 1`` became
    new lines ``new_first .. new_first + new_count - 1``. A side with no
    lines starts at the line after the change point (the header names the
    line before it)."""

    old_first: int
    old_count: int
    new_first: int
    new_count: int


class LineMap:
    """Line numbers of one file through a diff's hunks.

    Lines outside the hunks shift by the lines added and removed above them;
    inside a hunk, old and new lines pair up in order (a line edited in place
    keeps its partner). A new line with no old partner (added code) stands
    for the old lines just around the change, as a deletion's neighbours
    stand for it on the new side.
    """

    def __init__(self, hunks: Sequence[Hunk]) -> None:
        self.hunks: Tuple[Hunk, ...] = tuple(sorted(hunks))

    def __bool__(self) -> bool:
        return bool(self.hunks)

    def forward(self, line: int) -> Optional[int]:
        """The new number of old line ``line``; None when it was removed."""
        for hunk in self.hunks:
            if line < hunk.old_first:
                return line + hunk.new_first - hunk.old_first
            if line < hunk.old_first + hunk.old_count:
                offset = line - hunk.old_first
                return hunk.new_first + offset if offset < hunk.new_count else None
        return line + self._shift_after()

    def backward(self, line: int) -> Tuple[int, ...]:
        """The old line(s) new line ``line`` stands for."""
        for hunk in self.hunks:
            if line < hunk.new_first:
                return (line - hunk.new_first + hunk.old_first,)
            if line < hunk.new_first + hunk.new_count:
                offset = line - hunk.new_first
                if offset < hunk.old_count:
                    return (hunk.old_first + offset,)
                end = hunk.old_first + hunk.old_count
                return tuple(old for old in (end - 1, end) if old >= 1)
        return (line - self._shift_after(),)

    def _shift_after(self) -> int:
        if not self.hunks:
            return 0
        last = self.hunks[-1]
        return last.new_first + last.new_count - last.old_first - last.old_count


@dataclass
class FileChange:
    """Changed lines of one file, path relative to the diff's root."""

    path: str
    lines: Set[int] = field(default_factory=set)
    deleted: bool = False
    hunks: List[Hunk] = field(default_factory=list)

    def line_map(self) -> LineMap:
        return LineMap(self.hunks)


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
            current.hunks.append(Hunk(old_line, old_left, new_line, new_left))
    close_deletion()
    return changes


_DIFF_START = re.compile(r"^(diff --git |--- |\+\+\+ |@@ -|Binary files |index [0-9a-f]+\.\.)", re.MULTILINE)


def looks_like_a_diff(text: str) -> bool:
    """True for a diff, even one that changes no line (modes, binary files),
    and for an empty text (no changes); False for any other text, which would
    otherwise read as a diff changing nothing."""
    return not text.strip() or _DIFF_START.search(text) is not None


def diff_target(revisions: str) -> Optional[str]:
    """The revision ``git diff REVISIONS`` compares to: ``B`` of ``A..B`` or
    ``A...B`` (``HEAD`` when empty), None for the work tree (a single ``REV``)."""
    if ".." not in revisions:
        return None
    target = revisions.split("..", 1)[1].lstrip(".")
    return target or "HEAD"


def git_file_diff(old: str, new: Optional[str], relative: str, root: str) -> str:
    """``git diff -U0`` of one file from revision ``old`` to ``new`` (None: the work tree)."""
    for revision in (old, new or ""):
        if revision.startswith("-"):
            raise InputError(f"{revision!r} is not a revision (it starts with '-')")
    revisions = [old] if new is None else [old, new]
    return _git(["diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", *revisions, "--", relative], root)


def git_file_bytes(revision: str, relative: str, root: str) -> Optional[bytes]:
    """A file's bytes at ``revision``, or None when it has none there."""
    if revision.startswith("-"):
        return None
    try:
        completed = subprocess.run(
            ["git", "show", f"{revision}:{relative.replace(os.sep, '/')}"], cwd=root, capture_output=True,
            check=False, stdin=subprocess.DEVNULL,
        )
    except OSError:
        return None
    return completed.stdout if completed.returncode == 0 else None


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
