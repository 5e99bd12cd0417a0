"""requestcov export --format testwise: Teamscale's Testwise Coverage JSON
from a real store, checked against the records it holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import pytest

from requestcov.commands import export
from requestcov.pytest_plugin import outcomes
from requestcov.records import RequestRecord
from requestcov.store import SQLiteStore
from requestcov.store.testwise import line_ranges
from tests.commands.conftest import run, run_json


def _expand(ranges: str) -> List[int]:
    numbers: List[int] = []
    for part in ranges.split(","):
        first, _, last = part.partition("-")
        numbers.extend(range(int(first), int(last or first) + 1))
    return numbers


@pytest.mark.parametrize("lines, text", [
    ([], ""), ([4], "4"), ([1, 2, 3, 5, 7, 8], "1-3,5,7-8"), ([9, 3, 2, 2, 10], "2-3,9-10"),
])
def test_line_ranges(lines: List[int], text: str) -> None:
    assert line_ranges(lines) == text


def test_a_real_store_exports_every_test_with_its_lines(store: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the app's files are inside: folders come relative
    output = tmp_path / "testwise.json"
    data = run_json(export.command, "--db", store, "--format", "testwise", "-o", str(output))
    assert data == {"format": "testwise", "output": str(output), "requests": 7}
    report = json.loads(output.read_text())
    assert report["partial"] is False
    tests = {test["uniformPath"]: test for test in report["tests"]}
    assert list(tests) == ["t1", "t2", "t3", "t4", "t5", "set-a/test-1", "set-b/test-1"]
    with SQLiteStore(store, read_only=True) as opened:
        records = list(opened.iter_records())
    for record in records:
        name = f"{record.test_set}/{record.test_id}" if record.test_set else record.test_id
        test = tests[name]
        assert set(test) == {"uniformPath", "sourcePath", "content", "duration", "result", "paths"}
        assert test["duration"] == pytest.approx(record.duration_ms / 1000)
        assert test["result"] == ("PASSED" if record.status == 200 else "FAILURE")
        covered: Dict[str, List[int]] = {}
        for folder in test["paths"]:
            assert not folder["path"].startswith("/")
            for file in folder["files"]:
                covered[str(tmp_path / folder["path"] / file["fileName"])] = _expand(file["coveredLines"])
        assert covered == {path: lines for path, lines in record.lines.items() if lines}
    assert tests["t5"]["result"] == "FAILURE"  # its 404


def test_one_test_of_several_requests_is_one_entry_with_its_worst_result(tmp_path: Path) -> None:
    db, output = tmp_path / "requestcov.db", tmp_path / "testwise.json"
    with SQLiteStore(db) as opened:
        opened.write([
            RequestRecord(test_id="test-1", test_set="s", method="GET", path="/a", status=200, start=1.0,
                          duration_ms=250.0, lines={"/srv/app.py": [1, 2, 3]}),
            RequestRecord(test_id="test-1", test_set="s", method="POST", path="/b", status=302, start=2.0,
                          duration_ms=500.0, lines={"/srv/app.py": [3, 4, 9]}),
            RequestRecord(test_id="test-2", test_set="s", method="GET", path="/c", status=None, start=3.0,
                          duration_ms=1.0, lines={}),
        ])
    run(export.command, "--db", str(db), "--format", "testwise", "-o", str(output))
    first, second = json.loads(output.read_text())["tests"]
    assert first["uniformPath"] == "s/test-1" and first["result"] == "PASSED"
    assert first["duration"] == pytest.approx(0.75)
    assert first["paths"] == [{"path": "/srv", "files": [{"fileName": "app.py", "coveredLines": "1-4,9"}]}]
    assert second == {"uniformPath": "s/test-2", "sourcePath": "s/test-2", "content": None,
                      "duration": pytest.approx(0.001), "result": "ERROR", "paths": []}


def test_pytest_plugin_records_map_their_outcomes(tmp_path: Path) -> None:
    db, output = tmp_path / "requestcov.db", tmp_path / "testwise.json"
    statuses = {"passed": outcomes.PASSED, "xpassed": outcomes.XPASSED, "skipped": outcomes.SKIPPED,
                "xfailed": outcomes.XFAILED, "interrupted": outcomes.INTERRUPTED, "failed": outcomes.FAILED}
    with SQLiteStore(db) as opened:
        # As the plugin writes them: no method, the node id as path and id.
        opened.write([
            RequestRecord(test_id=f"tests/test_a.py::test_{name}", test_set="session", method="",
                          path=f"tests/test_a.py::test_{name}", status=status, start=float(index),
                          duration_ms=10.0, lines={"/srv/lib.py": [index + 1]})
            for index, (name, status) in enumerate(statuses.items())
        ])
    run(export.command, "--db", str(db), "--format", "testwise", "-o", str(output))
    results = {test["uniformPath"].rsplit("test_", 1)[1]: test["result"]
               for test in json.loads(output.read_text())["tests"]}
    assert results == {"passed": "PASSED", "xpassed": "PASSED", "skipped": "SKIPPED", "xfailed": "SKIPPED",
                       "interrupted": "ERROR", "failed": "FAILURE"}


def test_an_empty_report_from_a_dedup_yaml_without_tests_is_refused_like_every_export(tmp_path: Path) -> None:
    source = tmp_path / "dedupData.yaml"
    source.write_text("{}\n")
    run(export.command, "--from", str(source), "--format", "testwise", "-o", str(tmp_path / "t.json"),
        expect=1)
