"""requestcov export --format keploy-yaml --layout ...: each layout from a real
store, read back by every reading command through --from."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import yaml

from requestcov.commands import dedup, export
from requestcov.records import TestKey as Key
from requestcov.store import SQLiteStore, read_dedup_yaml
from requestcov.store.keploy import LAYOUTS
from tests.commands.conftest import run, run_json


def _by_test(records) -> Dict[Key, Dict[str, List[int]]]:
    merged: Dict[Key, Dict[str, set]] = {}
    for record in records:
        for path, lines in record.lines.items():
            merged.setdefault(record.key, {}).setdefault(path, set()).update(lines)
        merged.setdefault(record.key, {})
    return {key: {path: sorted(lines) for path, lines in files.items()} for key, files in merged.items()}


def test_the_default_layout_is_nested(store: str, tmp_path: Path) -> None:
    output = tmp_path / "dedupData.yaml"
    run(export.command, "--db", store, "-o", str(output))
    loaded = yaml.safe_load(output.read_text())
    assert isinstance(loaded, dict)
    # Records without a test set sit under the empty set; the two Keploy sets under theirs.
    assert sorted(loaded) == ["", "set-a", "set-b"]
    assert sorted(loaded[""]) == ["t1", "t2", "t3", "t4", "t5"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_round_trips_a_real_store(store: str, tmp_path: Path, layout: str) -> None:
    output = tmp_path / f"{layout}.yaml"
    run(export.command, "--db", store, "--layout", layout, "-o", str(output))
    with SQLiteStore(store, read_only=True) as opened:
        expected = _by_test(opened.iter_records())
    assert _by_test(read_dedup_yaml(output)) == expected
    # Every layout read back and written nested is the file the store itself gives.
    from_store, from_file = tmp_path / "from-store.yaml", tmp_path / "from-file.yaml"
    run(export.command, "--db", store, "-o", str(from_store))
    run(export.command, "--from", str(output), "-o", str(from_file))
    assert from_file.read_text() == from_store.read_text()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dedup_reads_each_layout_alike(store: str, tmp_path: Path, layout: str) -> None:
    output = tmp_path / f"{layout}.yaml"
    run(export.command, "--db", store, "--layout", layout, "-o", str(output))
    groups: List[Tuple[str, List[str]]] = [
        (group["keep"], group["drop"]) for group in run_json(dedup.command, "--from", str(output))["groups"]
    ]
    # No statuses in the file: t5 (a 404 with t1's lines) joins t1's group.
    assert sorted(groups) == [("set-a/test-1", ["set-b/test-1"]), ("t1", ["t2", "t5"]), ("t4", ["t3"])]
