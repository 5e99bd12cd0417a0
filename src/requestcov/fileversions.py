"""The version of each measured file when its records are made.

A record's line numbers belong to one version of a file: after an edit, line
41 is other code. So each record carries, per file it ran, the SHA-256 of the
file's bytes (and the git commit checked out, when the file is in a git work
tree), for the analyses to tell recorded lines of another version apart and
for ``impact`` to map them through the diff.

All of it runs on the writer thread, never on the request path, and cheaply:
a file is read and hashed once per process, and after that only ``stat``-ed
once per batch of records, re-hashed only when its size, modification time or
inode changed (code that a process reloads after an edit gets the new hash).
The commit is read once per repository from ``.git`` itself (HEAD, loose refs,
``packed-refs``; a worktree's ``.git`` file and its common folder; a detached
HEAD), with one ``git rev-parse HEAD`` as the fallback, and read again only
when a file of that repository changed. Nothing here ever fails a record: a
file that cannot be read has no version (unknown), a repository whose HEAD
cannot be found has no commit.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from typing import Dict, Iterable, Optional, Tuple

from requestcov.records import FileVersion

__all__ = ["FileVersions", "file_sha256", "find_repository", "head_commit"]

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
#: What identifies a file's content cheaply: a new size, time or inode means a new read.
_Stamp = Tuple[int, int, int]


def file_sha256(path: str) -> Optional[str]:
    """SHA-256 of a file's bytes, or None when it cannot be read (the one
    hash recording and the analyses compare)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _git_folder(root: str) -> Optional[str]:
    """The git folder of the work tree at ``root``: ``root/.git``, or where a
    ``.git`` file (a linked worktree, a submodule) points."""
    dot_git = os.path.join(root, ".git")
    if os.path.isdir(dot_git):
        return dot_git
    try:
        with open(dot_git, encoding="utf-8") as handle:
            first = handle.readline().strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not first.startswith("gitdir:"):
        return None
    return os.path.normpath(os.path.join(root, first[len("gitdir:"):].strip()))


def find_repository(folder: str, cache: Optional[Dict[str, Optional[str]]] = None) -> Optional[str]:
    """The root of the git work tree holding ``folder``, or None."""
    cache = {} if cache is None else cache
    visited = []
    current = os.path.abspath(folder)
    found: Optional[str] = None
    while True:
        if current in cache:
            found = cache[current]
            break
        visited.append(current)
        if os.path.exists(os.path.join(current, ".git")):
            found = current if _git_folder(current) is not None else None
            break
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for seen in visited:
        cache[seen] = found
    return found


def _read_first_line(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _packed_ref(common: str, ref: str) -> Optional[str]:
    try:
        with open(os.path.join(common, "packed-refs"), encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref and _SHA.match(parts[0]):
                    return parts[0]
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _head_from_files(git_folder: str) -> Optional[str]:
    """HEAD's commit read from the git folder, following symbolic refs; None
    when the layout is one this does not know (a reftable, say)."""
    common_line = _read_first_line(os.path.join(git_folder, "commondir"))
    common = os.path.normpath(os.path.join(git_folder, common_line)) if common_line else git_folder
    content = _read_first_line(os.path.join(git_folder, "HEAD"))
    for _ in range(5):  # symbolic refs pointing at symbolic refs, a few deep
        if content is None:
            return None
        if _SHA.match(content):
            return content
        if not content.startswith("ref:"):
            return None
        ref = content[len("ref:"):].strip()
        if ".." in ref.split("/"):
            return None
        content = _read_first_line(os.path.join(git_folder, ref))
        if content is None and common != git_folder:
            content = _read_first_line(os.path.join(common, ref))
        if content is None:
            return _packed_ref(common, ref)
    return None


def head_commit(root: str) -> Optional[str]:
    """The commit checked out in the work tree at ``root``, or None (no
    commit yet, or no way to tell)."""
    git_folder = _git_folder(root)
    if git_folder is None:
        return None
    commit = _head_from_files(git_folder)
    if commit is not None:
        return commit
    if getattr(subprocess.Popen, "__module__", "subprocess") != "subprocess":
        # gevent's or eventlet's patched subprocess would wait on their hub,
        # which the writer's real thread does not run.
        return None
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=root, capture_output=True, text=True,
            timeout=10, check=False, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    output = completed.stdout.strip()
    return output if completed.returncode == 0 and _SHA.match(output) else None


class FileVersions:
    """The writer thread's cache of file versions, one per process."""

    def __init__(self) -> None:
        #: Which batch this is: versions looked up in an earlier one may be
        #: stale. Moved on only by :meth:`new_batch`; read for every record
        #: (a plain attribute: a property would cost a Python call each time).
        self.batch = 0
        #: path -> (batch last checked, stamp, version or None)
        self._files: Dict[str, Tuple[int, Optional[_Stamp], Optional[FileVersion]]] = {}
        self._repository_of_folder: Dict[str, Optional[str]] = {}
        #: repository root -> its HEAD commit (None: none found).
        self._commits: Dict[str, Optional[str]] = {}

    def new_batch(self) -> None:
        """Files are ``stat``-ed again once a new batch of records begins."""
        self.batch += 1

    def versions(self, paths: Iterable[str]) -> Dict[str, FileVersion]:
        """The version of each path that has one; never raises."""
        found: Dict[str, FileVersion] = {}
        for path in paths:
            try:
                version = self.version(path)
            except Exception:  # never fail a record over its versions
                version = None
            if version is not None:
                found[path] = version
        return found

    def version(self, path: str) -> Optional[FileVersion]:
        cached = self._files.get(path)
        if cached is not None and cached[0] == self.batch:
            return cached[2]
        try:
            status = os.stat(path)
            stamp: Optional[_Stamp] = (status.st_size, status.st_mtime_ns, status.st_ino)
        except OSError:
            stamp = None
        if cached is not None and cached[1] == stamp:
            self._files[path] = (self.batch, stamp, cached[2])
            return cached[2]
        sha256 = file_sha256(path) if stamp is not None else None
        version: Optional[FileVersion] = None
        if sha256 is not None:
            repository = find_repository(os.path.dirname(path), self._repository_of_folder)
            commit = None
            if repository is not None:
                if cached is not None or repository not in self._commits:
                    # First sight, or a file of it changed (a checkout, a commit?).
                    self._commits[repository] = head_commit(repository)
                commit = self._commits[repository]
            version = FileVersion(sha256=sha256, commit=commit, repo=repository)
        self._files[path] = (self.batch, stamp, version)
        return version
