"""Test ids and test-set names come from request headers and recorded files:
end to end, hostile ones never become a path outside the folder they belong
in, neither in ``dedup --keploy-dir --apply`` nor in the HTML report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

from requestcov.middleware.testid import clean_test_id
from requestcov.records import RequestRecord
from requestcov.store import write_dedup_yaml
from tests.support.servers import REPOSITORY

#: (test set, raw id): each as a header or a recording could carry it.
HOSTILE: List[Tuple[str, str]] = [
    ("test-set-0", "../../../outside"),
    ("test-set-0", "../../etc/passwd"),
    ("test-set-0", "a/b"),
    ("test-set-0", "\x00"),
    ("test-set-0", "nul\x00byte"),
    ("test-set-0", "x" * 5000),
    ("test-set-0", "тест-ü-🙂"),
    ("test-set-0", ".."),
    ("test-set-0", "/abs/path"),
    ("test-set-0", "back\\slash"),
    ("..", "test-2"),
    ("../../outside-set", "test-3"),
    ("test-set-0/../..", "test-4"),
]


def _cli(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REQUESTCOV_")}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), environment.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "requestcov.cli", *arguments], capture_output=True, text=True,
                          timeout=120, cwd=str(cwd), env=environment)


def _tree(root: Path) -> Dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def _records(clean: bool) -> List[RequestRecord]:
    """One kept test and every hostile one, all covering lines the kept test
    covers: the hostile ones are all duplicates that dedup wants to remove
    (the kept one covers a line more, so it is kept whatever its id's place
    in natural order)."""
    lines = {"/app/views.py": [1, 2, 3]}
    records = [RequestRecord(test_id="test-1", test_set="test-set-0", method="GET", path="/a", status=200,
                             lines={"/app/views.py": [1, 2, 3, 4]})]
    for test_set, raw in HOSTILE:
        test_id = clean_test_id(raw) if clean else raw.replace("\x00", "")
        records.append(RequestRecord(test_id=test_id or "empty", test_set=test_set, method="GET", path="/a",
                                     status=200, lines=lines))
    return records


def _sandbox(tmp_path: Path) -> Tuple[Path, Path]:
    """A Keploy folder, and around it files a path escape would reach."""
    keploy = tmp_path / "box" / "keploy"
    tests = keploy / "test-set-0" / "tests"
    tests.mkdir(parents=True)
    for name in ("test-1", "a", "b"):
        (tests / f"{name}.yaml").write_text(f"kind: Http\nname: {name}\n")
    (tmp_path / "box" / "outside.yaml").write_text("precious\n")
    (tmp_path / "box" / "etc").mkdir()
    (tmp_path / "box" / "etc" / "passwd.yaml").write_text("precious\n")
    (tmp_path / "outside-set" / "tests").mkdir(parents=True)
    (tmp_path / "outside-set" / "tests" / "test-3.yaml").write_text("precious\n")
    (tmp_path / "box" / "tests").mkdir()
    (tmp_path / "box" / "tests" / "test-2.yaml").write_text("precious\n")
    return tmp_path, keploy


def test_dedup_apply_never_touches_a_file_outside_the_keploy_folder(tmp_path: Path) -> None:
    root, keploy = _sandbox(tmp_path)
    source = tmp_path / "dedupData.yaml"
    write_dedup_yaml(_records(clean=False), source)
    outside_before = {name: content for name, content in _tree(root).items() if not name.startswith("box/keploy")}
    completed = _cli("dedup", "--from", str(source), "--keploy-dir", str(keploy), "--apply", "--json", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    actions = {item["test"]: item["action"] for item in json.loads(completed.stdout)["keploy"]["tests"]}
    for test_set, raw in HOSTILE:
        if "/" in raw or ".." in raw or ".." in test_set:
            assert actions[f"{test_set}/{raw}"] == "skipped: unsafe test id", (test_set, raw)
    outside_after = {name: content for name, content in _tree(root).items() if not name.startswith("box/keploy")}
    assert outside_after == outside_before
    inside = _tree(keploy)
    # test-1 is kept; nothing a hostile id names was removed or created.
    assert "test-set-0/tests/test-1.yaml" in inside
    assert "test-set-0/tests/a.yaml" in inside and "test-set-0/tests/b.yaml" in inside
    assert not any(name.startswith("test-set-0/tests/") and name[len("test-set-0/tests/"):] not in
                   ("test-1.yaml", "a.yaml", "b.yaml") for name in inside)


def test_html_pages_have_safe_names_inside_the_output_folder(tmp_path: Path) -> None:
    source = tmp_path / "dedupData.yaml"
    write_dedup_yaml(_records(clean=False) + _records(clean=True), source)
    output = tmp_path / "site" / "html"
    completed = _cli("html", "--from", str(source), "-o", str(output), cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    written = [path for path in (tmp_path / "site").rglob("*") if path.is_file()]
    assert written and all(output in path.parents for path in written)
    assert [path for path in tmp_path.iterdir() if path.name not in ("site", "dedupData.yaml")] == []
    for path in written:
        relative = path.relative_to(output).as_posix()
        assert re.fullmatch(r"[A-Za-z0-9_./-]+", relative), relative
        assert ".." not in relative and len(path.name) <= 80, relative


def test_header_ids_are_bounded_and_printable() -> None:
    for _, raw in HOSTILE:
        cleaned = clean_test_id(raw)
        assert len(cleaned) <= 200
        assert not re.search(r"[\x00-\x1f\x7f-\x9f]", cleaned)
