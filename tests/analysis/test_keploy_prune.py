"""Planning and applying the removal of duplicate Keploy test files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import pytest

from requestcov import records as record_types
from requestcov.analysis.dedup import find_duplicates
from requestcov.analysis.index import build_index
from requestcov.analysis.keploy_prune import (
    BACKUP_FOLDER,
    LAST_COVER,
    MISSING,
    REMOVE,
    UNSAFE,
    apply_removal,
    keploy_test_path,
    plan_removal,
)
from requestcov.errors import InputError
from tests.analysis.builders import record


def keploy_folder(root: Path, tests: Dict[str, List[str]]) -> Path:
    """``{set: [test ids]}`` -> a Keploy folder with one yaml per test."""
    for test_set, ids in tests.items():
        folder = root / test_set / "tests"
        folder.mkdir(parents=True)
        for test_id in ids:
            (folder / f"{test_id}.yaml").write_text(
                f"version: api.keploy.io/v1beta1\nkind: Http\nname: {test_id}\nspec:\n  req:\n    method: GET\n"
            )
        (root / test_set / "mocks.yaml").write_text("# mocks stay\n")
    return root


def actions(planned) -> Dict[str, str]:
    return {str(item.key): item.action for item in planned}


def test_plan_removes_duplicates_but_never_the_last_cover(tmp_path: Path):
    root = keploy_folder(tmp_path / "keploy", {"test-set-0": ["test-1", "test-2", "test-3", "test-4"]})
    base = list(range(1, 101))
    index = build_index([
        record("test-1", base, test_set="test-set-0"),
        record("test-2", base, test_set="test-set-0"),           # exact copy of test-1
        record("test-3", base[:50], test_set="test-set-0"),      # inside test-1
        record("test-4", base[:-1] + [700], test_set="test-set-0"),  # near, alone covers 700
    ])
    result = find_duplicates(index, threshold=0.9)
    planned = plan_removal(index, result, root)
    assert actions(planned) == {
        "test-set-0/test-2": REMOVE, "test-set-0/test-3": REMOVE, "test-set-0/test-4": LAST_COVER,
    }
    assert next(item for item in planned if item.action == LAST_COVER).only_cover == 1


def test_two_near_duplicates_covering_each_others_gap_do_not_both_go(tmp_path: Path):
    root = keploy_folder(tmp_path / "keploy", {"s": ["a", "b", "c"]})
    base = list(range(1, 101))
    index = build_index([
        record("a", base + [500], test_set="s"),
        record("b", base + [600], test_set="s"),
        record("c", base + [500, 600], test_set="s"),
    ])
    result = find_duplicates(index, threshold=0.9)
    # a and b are both inside c.
    planned = plan_removal(index, result, root)
    assert actions(planned) == {"s/a": REMOVE, "s/b": REMOVE}
    kept = [item for item in range(3) if str(index.tests[item].key) not in actions(planned)]
    assert [str(index.tests[item].key) for item in kept] == ["s/c"]


def test_apply_backs_up_then_removes_and_writes_a_report(tmp_path: Path):
    root = keploy_folder(tmp_path / "keploy", {"test-set-0": ["test-1", "test-2"], "test-set-1": ["test-1"]})
    index = build_index([
        record("test-1", [1, 2], test_set="test-set-0"),
        record("test-2", [1, 2], test_set="test-set-0"),
        record("test-1", [1, 2], test_set="test-set-1"),
    ])
    result = find_duplicates(index)
    planned = plan_removal(index, result, root)
    original = (root / "test-set-1" / "tests" / "test-1.yaml").read_text()
    backup = apply_removal(planned, root, index, timestamp=0)
    assert backup == root.resolve() / BACKUP_FOLDER / "19700101T000000Z"
    assert (root / "test-set-0" / "tests" / "test-1.yaml").exists()
    assert not (root / "test-set-0" / "tests" / "test-2.yaml").exists()
    assert not (root / "test-set-1" / "tests" / "test-1.yaml").exists()
    assert (root / "test-set-1" / "mocks.yaml").exists()
    assert (backup / "test-set-1" / "tests" / "test-1.yaml").read_text() == original
    assert (backup / "test-set-0" / "tests" / "test-2.yaml").exists()
    report = json.loads((backup / "removed.json").read_text())
    assert sorted(entry["test"] for entry in report["removed"]) == ["test-set-0/test-2", "test-set-1/test-1"]
    assert {entry["duplicate_of"] for entry in report["removed"]} == {"test-set-0/test-1"}
    # A second run at the same second gets its own backup folder.
    again = keploy_folder(tmp_path / "again", {"s": ["a", "b"]})
    index = build_index([record("a", [1], test_set="s"), record("b", [1], test_set="s")])
    planned = plan_removal(index, find_duplicates(index), again)
    (again / BACKUP_FOLDER / "19700101T000000Z").mkdir(parents=True)
    assert apply_removal(planned, again, index, timestamp=0).name == "19700101T000000Z-2"


def test_nothing_to_remove_makes_no_backup(tmp_path: Path):
    root = keploy_folder(tmp_path / "keploy", {"s": ["a"]})
    index = build_index([record("a", [1], test_set="s")])
    assert apply_removal(plan_removal(index, find_duplicates(index), root), root, index) is None
    assert not (root / BACKUP_FOLDER).exists()


@pytest.mark.parametrize("test_set, test_id", [
    ("..", "test-1"), ("s", "../../etc/passwd"), ("s", "a/b"), ("s", ".hidden"), ("s", "..x"),
    ("s", ""), ("a\\b", "t"), ("s", "t\x00"),
])
def test_unsafe_ids_never_become_paths(tmp_path: Path, test_set: str, test_id: str):
    with pytest.raises(InputError):
        keploy_test_path(tmp_path, record_types.TestKey(test_set, test_id))


def test_symlink_leading_outside_is_refused(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.yaml").write_text("keep me\n")
    root = keploy_folder(tmp_path / "keploy", {"s": []})
    (root / "s" / "tests" / "victim.yaml").symlink_to(outside / "victim.yaml")
    with pytest.raises(InputError):
        keploy_test_path(root, record_types.TestKey("s", "victim"))


def test_unsafe_and_missing_tests_are_reported_not_removed(tmp_path: Path):
    root = keploy_folder(tmp_path / "keploy", {"s": ["a"]})
    # "a" is kept: the lowest natural id of the three.
    index = build_index([record("a", [1], test_set="s"), record("z/../a", [1], test_set="s"),
                         record("ghost", [1], test_set="s")])
    planned = plan_removal(index, find_duplicates(index), root)
    assert actions(planned) == {"s/z/../a": UNSAFE, "s/ghost": MISSING}
    assert apply_removal(planned, root, index) is None
    assert (root / "s" / "tests" / "a.yaml").exists()


def test_tests_without_a_set_live_directly_in_the_folder(tmp_path: Path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test-1.yaml").write_text("x\n")
    assert keploy_test_path(tmp_path, record_types.TestKey("", "test-1")) == (tmp_path / "tests" / "test-1.yaml").resolve()
