"""The version of each measured file, as the writer thread finds it: real
files, real git repositories (worktrees, detached HEAD, packed refs)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from requestcov.fileversions import FileVersions, find_repository, head_commit
from requestcov.records import FileVersion
from tests.support.gitrepo import GitRepo, needs_git


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_outside_any_repository_has_a_hash_and_no_commit(tmp_path: Path) -> None:
    path = tmp_path / "loose.py"
    path.write_text("x = 1\n")
    assert find_repository(str(tmp_path)) is None
    assert FileVersions().version(str(path)) == FileVersion(sha256=_sha(path))


def test_a_file_is_hashed_once_and_again_only_in_a_new_batch_after_it_changed(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    path.write_text("x = 1\n")
    versions = FileVersions()
    first = versions.version(str(path))
    path.write_text("x = 2  # edited\n")
    assert versions.version(str(path)) == first  # same batch: not even stat-ed again
    versions.new_batch()
    second = versions.version(str(path))
    assert second is not None and second.sha256 == _sha(path) != first.sha256  # type: ignore[union-attr]
    versions.new_batch()
    assert versions.version(str(path)) is second  # unchanged: the cached version
    path.unlink()
    versions.new_batch()
    assert versions.version(str(path)) is None
    assert versions.versions([str(path), str(tmp_path / "never.py")]) == {}


@needs_git
def test_commit_of_a_branch_a_detached_head_packed_refs_and_a_worktree(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    app = repo.write("pkg/app.py", "x = 1\n")
    first = repo.commit("one")
    repo.write("pkg/app.py", "x = 2\n")
    second = repo.commit("two")
    root = str(repo.root)
    assert find_repository(str(app.parent)) == root
    assert head_commit(root) == second
    assert FileVersions().version(str(app)) == FileVersion(sha256=_sha(app), commit=second, repo=root)
    repo.git("pack-refs", "--all")
    assert not (repo.root / ".git" / "refs" / "heads" / "master").exists()
    assert head_commit(root) == second
    repo.git("checkout", "-q", first)  # detached
    assert head_commit(root) == first
    repo.git("checkout", "-q", "-")
    other = tmp_path / "other"
    repo.git("worktree", "add", "-q", "-b", "side", str(other), first)
    assert (other / ".git").is_file()
    assert find_repository(str(other / "pkg")) == str(other)
    assert head_commit(str(other)) == first
    version = FileVersions().version(str(other / "pkg" / "app.py"))
    assert version == FileVersion(sha256=_sha(other / "pkg" / "app.py"), commit=first, repo=str(other))


@needs_git
def test_a_repository_without_commits_gives_no_commit_and_a_file_change_reads_head_again(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    app = repo.write("app.py", "x = 1\n")
    versions = FileVersions()
    assert versions.version(str(app)) == FileVersion(sha256=_sha(app), commit=None, repo=str(repo.root))
    app.write_text("x = 10\n")
    commit = repo.commit("first")
    versions.new_batch()
    assert versions.version(str(app)) == FileVersion(sha256=_sha(app), commit=commit, repo=str(repo.root))


def test_a_broken_dot_git_never_fails_a_version(tmp_path: Path) -> None:
    (tmp_path / ".git").write_text("gitdir: /nowhere/at/all\n")
    path = tmp_path / "app.py"
    path.write_text("x = 1\n")
    version = FileVersions().version(str(path))
    assert version is not None and version.commit is None
    os.chmod(path, 0)
    try:
        if not os.access(path, os.R_OK):  # root reads it anyway
            versions = FileVersions()
            assert versions.version(str(path)) is None
    finally:
        os.chmod(path, 0o644)
