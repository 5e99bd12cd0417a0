"""A real git repository in a test's folder: write files, commit, ask git."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

__all__ = ["GitRepo", "needs_git"]

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

_IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
             "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


class GitRepo:
    """``git init`` at ``root`` (made when missing), or an existing work tree there."""

    def __init__(self, root: Path, *, init: bool = True) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        if init:
            self.git("init", "-q")
            self.git("config", "commit.gpgsign", "false")

    def git(self, *arguments: str) -> str:
        completed = subprocess.run(
            ["git", *arguments], cwd=self.root, check=True, capture_output=True, text=True, timeout=60,
            env={**os.environ, **_IDENTITY},
        )
        return completed.stdout.strip()

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def commit(self, message: str) -> str:
        """Commit everything; the new commit's id."""
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")
