"""impact: diff parsing and mapping changed lines to recorded tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from requestcov.analysis.diff import git_diff, git_toplevel, parse_unified_diff
from requestcov.analysis.impact import find_impact
from requestcov.analysis.index import build_index
from requestcov.errors import InputError
from requestcov.records import RequestRecord

ZERO_CONTEXT = textwrap.dedent("""\
    diff --git a/app/shop.py b/app/shop.py
    index 1111111..2222222 100644
    --- a/app/shop.py
    +++ b/app/shop.py
    @@ -3 +3 @@ def price(amount):
    -    return amount
    +    return amount * 2
    @@ -10,2 +9,0 @@ def gone():
    -    x = 1
    -    y = 2
    @@ -20,0 +19,2 @@ def added():
    +    z = 3
    +    w = 4
    diff --git a/app/old.py b/app/old.py
    deleted file mode 100644
    --- a/app/old.py
    +++ /dev/null
    @@ -1,2 +0,0 @@
    -a = 1
    -b = 2
    diff --git a/app/new.py b/app/new.py
    new file mode 100644
    --- /dev/null
    +++ b/app/new.py
    @@ -0,0 +1,2 @@
    +c = 1
    +-- not a header
""")


def test_zero_context_hunks():
    changes = parse_unified_diff(ZERO_CONTEXT)
    # Old lines 10-11 went after new line 9: new lines 9 and 10 stand for them.
    assert sorted(changes["app/shop.py"].lines) == [3, 9, 10, 19, 20]
    assert changes["app/old.py"].deleted and sorted(changes["app/old.py"].lines) == [1, 2]
    assert sorted(changes["app/new.py"].lines) == [1, 2]


def test_context_diff_marks_lines_around_a_deletion():
    text = textwrap.dedent("""\
        --- a/m.py
        +++ b/m.py
        @@ -1,6 +1,4 @@
         one
         two
        --- removed line that looks like a header
         four
         five
        -six
    """)
    # "two"/"four" (2, 3) surround the first deletion; the last line "five" (4)
    # and the end of the file (5) surround the second.
    assert sorted(parse_unified_diff(text)["m.py"].lines) == [2, 3, 4, 5]


def test_a_hunk_without_a_file_header_is_an_input_error():
    with pytest.raises(InputError):
        parse_unified_diff("@@ -1 +1 @@\n-a\n+b\n")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_tests_hitting_changed_lines_and_untested_changes(tmp_path: Path):
    _write(tmp_path / "app" / "shop.py", """\
        def price(amount):
            if amount > 100:
                return amount * 0.9
            return amount


        def refund(amount):
            return -amount
    """)
    shop = str(tmp_path / "app" / "shop.py")
    index = build_index([
        RequestRecord(test_id="cheap", lines={shop: [2, 4]}),
        RequestRecord(test_id="expensive", lines={shop: [2, 3]}),
        RequestRecord(test_id="cheap", test_set="other-set", lines={shop: [2, 4]}),
    ])
    diff = "--- a/app/shop.py\n+++ b/app/shop.py\n@@ -3 +3 @@\n-x\n+y\n@@ -8 +8 @@\n-x\n+y\n"
    result = find_impact(index, parse_unified_diff(diff), str(tmp_path))
    assert [str(index.tests[test].key) for test in result.tests] == ["expensive"]
    assert result.lines_hit[1] == {shop: [3]}
    assert result.untested == {shop: [8]}


def test_recorded_paths_from_another_machine_match_by_suffix(tmp_path: Path):
    _write(tmp_path / "app" / "shop.py", "def f():\n    return 1\n")
    index = build_index([RequestRecord(test_id="t", lines={"/container/app/shop.py": [2]})])
    diff = "--- a/app/shop.py\n+++ b/app/shop.py\n@@ -2 +2 @@\n-x\n+y\n"
    result = find_impact(index, parse_unified_diff(diff), str(tmp_path))
    assert result.tests == [0]
    assert result.untested == {}
    assert result.matched_by_suffix == {str(tmp_path / "app" / "shop.py"): "/container/app/shop.py"}


def test_new_python_file_no_test_runs_is_untested_unless_only_recorded(tmp_path: Path):
    _write(tmp_path / "fresh.py", "import os\n\n\ndef g():\n    return os.sep\n")
    diff = "--- /dev/null\n+++ b/fresh.py\n@@ -0,0 +1,5 @@\n+import os\n+\n+\n+def g():\n+    return os.sep\n"
    index = build_index([])
    fresh = str(tmp_path / "fresh.py")
    assert find_impact(index, parse_unified_diff(diff), str(tmp_path)).untested == {fresh: [1, 4, 5]}
    assert find_impact(index, parse_unified_diff(diff), str(tmp_path), only_recorded=True).untested == {}


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_diff_between_revisions(tmp_path: Path):
    def git(*arguments: str) -> None:
        subprocess.run(["git", *arguments], cwd=tmp_path, check=True, capture_output=True,
                       env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})

    git("init", "-q")
    _write(tmp_path / "m.py", "a = 1\nb = 2\nc = 3\n")
    git("add", "m.py")
    git("commit", "-q", "-m", "one")
    _write(tmp_path / "m.py", "a = 1\nb = 20\nc = 3\n")
    git("commit", "-q", "-am", "two")
    root = git_toplevel(str(tmp_path))
    assert os.path.samefile(root, tmp_path)
    changes = parse_unified_diff(git_diff("HEAD~1..HEAD", root))
    assert sorted(changes["m.py"].lines) == [2]
    # Against the work tree too.
    _write(tmp_path / "m.py", "a = 1\nb = 20\nc = 30\n")
    assert sorted(parse_unified_diff(git_diff("HEAD", root))["m.py"].lines) == [3]
    with pytest.raises(InputError):
        git_diff("--output=/tmp/x", root)


def test_line_map_carries_old_lines_to_new_and_back():
    """ZERO_CONTEXT's shop.py: line 3 edited in place, 10-11 removed, two
    lines added after old line 20."""
    line_map = parse_unified_diff(ZERO_CONTEXT)["app/shop.py"].line_map()
    assert [line_map.forward(line) for line in (1, 3, 9, 10, 11, 12, 20, 21, 30)] == [
        1, 3, 9, None, None, 10, 18, 21, 30]
    assert [line_map.backward(line) for line in (3, 9, 10, 18, 19, 20, 21, 30)] == [
        (3,), (9,), (12,), (20,), (20, 21), (20, 21), (21,), (30,)]
    assert parse_unified_diff("--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-a\n+b\n")["m.py"].line_map().forward(5) == 5


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_tests_recorded_at_two_versions_are_each_read_in_their_own(tmp_path: Path):
    """One test recorded before two lines were inserted above price(), one
    after; the work tree then edits the discount line: both ran it, each at
    its own line number, and the one recorded where the line is now is
    reported the same."""
    from requestcov.analysis.diff import git_diff
    from requestcov.analysis.impact import GitLineMaps
    from requestcov.analysis.versions import RecordedVersions
    from requestcov.fileversions import FileVersions
    from tests.support.gitrepo import GitRepo

    repo = GitRepo(tmp_path)
    source = "def price(amount):\n    if amount > 100:\n        return amount * 0.9\n    return amount\n"
    shop = repo.write("shop.py", source)
    repo.commit("one")
    first = FileVersions().version(str(shop))
    shop.write_text("import os\nimport sys\n" + source)
    repo.commit("two")
    second = FileVersions().version(str(shop))
    assert first is not None and second is not None and first.commit != second.commit
    shop.write_text("import os\nimport sys\n" + source.replace("0.9", "0.8"))
    records = [
        RequestRecord(test_id="old", lines={str(shop): [2, 3]}, versions={str(shop): first}),
        RequestRecord(test_id="new", lines={str(shop): [4, 5]}, versions={str(shop): second}),
        RequestRecord(test_id="new-cheap", lines={str(shop): [4, 6]}, versions={str(shop): second}),
        RequestRecord(test_id="unknown", lines={str(shop): [5]}),
    ]
    versions = RecordedVersions(per_test=True)
    index = build_index(versions.watch(records))
    root = str(tmp_path)
    result = find_impact(index, parse_unified_diff(git_diff("HEAD", root)), root, versions=versions,
                         line_maps=GitLineMaps(root, None))
    assert [str(index.tests[test].key) for test in result.tests] == ["old", "new", "unknown"]
    assert all(hits == {str(shop): [5]} for hits in result.lines_hit.values())
    assert result.mapped == {str(shop): [first.commit, second.commit]}
    assert result.untested == {}


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_versions_that_cannot_be_mapped_are_compared_as_recorded_and_said(tmp_path: Path):
    from requestcov.analysis.diff import git_diff
    from requestcov.analysis.impact import GitLineMaps
    from requestcov.analysis.versions import RecordedVersions
    from requestcov.records import FileVersion
    from tests.support.gitrepo import GitRepo

    repo = GitRepo(tmp_path)
    shop = repo.write("shop.py", "a = 1\nb = 2\n")
    commit = repo.commit("one")
    shop.write_text("a = 1\nb = 3\n")
    path = str(shop)
    records = [
        RequestRecord(test_id="outside-git", lines={path: [2]}, versions={path: FileVersion(sha256="0" * 64)}),
        RequestRecord(test_id="unknown-commit", lines={path: [2]},
                      versions={path: FileVersion(sha256="1" * 64, commit="f" * 40, repo=str(tmp_path))}),
        RequestRecord(test_id="dirty", lines={path: [2]},
                      versions={path: FileVersion(sha256="2" * 64, commit=commit, repo=str(tmp_path))}),
    ]
    for record in records:
        versions = RecordedVersions(per_test=True)
        index = build_index(versions.watch([record]))
        result = find_impact(index, parse_unified_diff(git_diff("HEAD", str(tmp_path))), str(tmp_path),
                             versions=versions, line_maps=GitLineMaps(str(tmp_path), None))
        assert result.tests == [0], record.test_id
        reason = result.unmapped[path]
        expected = {"outside-git": "recorded outside git", "unknown-commit": "which", "dirty": "uncommitted edits"}
        assert expected[record.test_id] in reason, reason
