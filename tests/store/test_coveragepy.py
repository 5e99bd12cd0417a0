"""The coverage.py export, checked with coverage.py's own commands."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
from click.testing import CliRunner

from requestcov.cli import main
from requestcov.errors import InputError
from requestcov.records import RequestRecord
from requestcov.store import SQLiteStore, load_records
from requestcov.store.coveragepy import write_coverage_data

SHOP_SOURCE = '''\
def price(amount, country):
    if country == "FR":
        return amount * 1.2
    return amount


def describe(user_id):
    name = f"user-{user_id}"
    return {"id": user_id, "name": name}
'''


def run_coverage(folder: Path, *arguments: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "coverage", *arguments, "--data-file", str(folder / ".coverage")],
        cwd=folder, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return result


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    source = tmp_path / "shop.py"
    source.write_text(SHOP_SOURCE)
    return source


def line_records(shop: Path) -> List[RequestRecord]:
    path = str(shop)
    return [
        RequestRecord(test_id="test-1", test_set="test-set-0", method="GET", path="/price/FR",
                      lines={path: [1, 2, 3]}),
        RequestRecord(test_id="test-1", test_set="test-set-1", method="GET", path="/price/US",
                      lines={path: [1, 2, 4]}),
        RequestRecord(test_id="GET /users/<id> #1", method="GET", path="/users/3", lines={path: [7, 8, 9]}),
    ]


def test_contexts_reach_coverage_json_report_html_and_lcov(tmp_path: Path, shop: Path) -> None:
    written = write_coverage_data(line_records(shop), tmp_path / ".coverage")
    assert written == 3

    run_coverage(tmp_path, "json", "--show-contexts", "-o", str(tmp_path / "coverage.json"))
    report = json.loads((tmp_path / "coverage.json").read_text())
    # coverage.py names files relative to the folder it runs in.
    file_report = report["files"]["shop.py"]
    assert file_report["executed_lines"] == [1, 2, 3, 4, 7, 8, 9]
    contexts = file_report["contexts"]
    assert sorted(contexts["2"]) == ["test-set-0/test-1", "test-set-1/test-1"]
    assert contexts["3"] == ["test-set-0/test-1"]
    assert contexts["4"] == ["test-set-1/test-1"]
    assert contexts["8"] == ["GET /users/<id> #1"]

    text = run_coverage(tmp_path, "report", "--show-missing").stdout
    assert "shop.py" in text and "100%" in text

    run_coverage(tmp_path, "html", "--show-contexts", "-d", str(tmp_path / "htmlcov"))
    page = next(page for page in (tmp_path / "htmlcov").glob("*shop_py.html"))
    assert "test-set-1/test-1" in page.read_text()

    run_coverage(tmp_path, "lcov", "-o", str(tmp_path / "coverage.lcov"))
    lcov = (tmp_path / "coverage.lcov").read_text()
    assert "SF:shop.py" in lcov
    assert "DA:3,1" in lcov and "LH:7" in lcov


def test_arcs_become_branch_coverage(tmp_path: Path, shop: Path) -> None:
    path = str(shop)
    records = [
        RequestRecord(test_id="fr", lines={path: [1, 2, 3]}, arcs={path: [(-1, 1), (1, 2), (2, 3), (3, -1)]}),
        RequestRecord(test_id="us", lines={path: [1, 2, 4]}, arcs={path: [(-1, 1), (1, 2), (2, 4), (4, -1)]}),
    ]
    assert write_coverage_data(records, tmp_path / ".coverage") == 2
    run_coverage(tmp_path, "json", "--show-contexts", "-o", str(tmp_path / "coverage.json"))
    file_report = json.loads((tmp_path / "coverage.json").read_text())["files"]["shop.py"]
    assert file_report["summary"]["num_branches"] == 2
    assert file_report["summary"]["covered_branches"] == 2
    assert file_report["contexts"]["3"] == ["fr"]
    assert file_report["contexts"]["4"] == ["us"]


def test_mixed_branch_and_line_records_are_refused_without_touching_the_old_file(
    tmp_path: Path, shop: Path
) -> None:
    destination = tmp_path / ".coverage"
    destination.write_bytes(b"previous")
    path = str(shop)
    records = [
        RequestRecord(test_id="with-arcs", arcs={path: [(1, 2)]}, lines={path: [1, 2]}),
        RequestRecord(test_id="lines-only", lines={path: [1]}),
    ]
    with pytest.raises(InputError, match="lines-only"):
        write_coverage_data(records, destination)
    assert destination.read_bytes() == b"previous"
    assert sorted(item.name for item in tmp_path.iterdir()) == [".coverage", "shop.py"]


def test_store_records_export_and_an_empty_store_gives_a_valid_file(tmp_path: Path, shop: Path) -> None:
    database = tmp_path / "store.db"
    with SQLiteStore(database) as store:
        store.write(line_records(shop))
    assert write_coverage_data(load_records(database), tmp_path / ".coverage") == 3
    connection = sqlite3.connect(tmp_path / ".coverage")
    contexts = sorted(row[0] for row in connection.execute("SELECT context FROM context"))
    connection.close()
    assert contexts == ["GET /users/<id> #1", "test-set-0/test-1", "test-set-1/test-1"]

    empty = tmp_path / "empty"
    empty.mkdir()
    assert write_coverage_data([], empty / ".coverage") == 0
    result = subprocess.run(
        [sys.executable, "-m", "coverage", "report", "--data-file", str(empty / ".coverage")],
        cwd=empty, capture_output=True, text=True, timeout=60,
    )
    assert "No data to report" in result.stdout + result.stderr


def test_export_command_writes_the_coverage_format(tmp_path: Path, shop: Path) -> None:
    database = tmp_path / "store.db"
    with SQLiteStore(database) as store:
        store.write(line_records(shop))
    destination = tmp_path / ".coverage"
    result = CliRunner().invoke(main, ["export", "--db", str(database), "--format", "coverage", "-o", str(destination)])
    assert result.exit_code == 0, result.output
    run_coverage(tmp_path, "json", "--show-contexts", "-o", str(tmp_path / "coverage.json"))
    contexts = json.loads((tmp_path / "coverage.json").read_text())["files"]["shop.py"]["contexts"]
    assert contexts["9"] == ["GET /users/<id> #1"]


def test_start_up_code_is_the_startup_context_and_served_unrecorded_code_is_left_out(tmp_path: Path, shop: Path) -> None:
    path = str(shop)
    startup = [
        RequestRecord(test_id="startup", kind="startup", pid=1, lines={path: [1, 7]}),
        RequestRecord(test_id="startup", kind="startup", pid=2, lines={path: [1]}),
        RequestRecord(test_id="served-unrecorded", kind="startup", pid=2, lines={path: [8, 9]}),
    ]
    requests = [RequestRecord(test_id="fr", lines={path: [2, 3]})]
    assert write_coverage_data(requests, tmp_path / ".coverage", startup) == 1
    run_coverage(tmp_path, "json", "--show-contexts", "-o", str(tmp_path / "coverage.json"))
    file_report = json.loads((tmp_path / "coverage.json").read_text())["files"]["shop.py"]
    assert file_report["executed_lines"] == [1, 2, 3, 7]
    assert file_report["contexts"]["1"] == ["startup"] and file_report["contexts"]["7"] == ["startup"]
    assert file_report["missing_lines"] == [4, 8, 9]

    arcs = [RequestRecord(test_id="fr", lines={path: [2, 3]}, arcs={path: [(-1, 2), (2, 3), (3, -1)]})]
    with_arcs = [RequestRecord(test_id="startup", kind="startup", lines={path: [1]}, arcs={path: [(-1, 1), (1, -1)]})]
    branch = tmp_path / "branch"
    branch.mkdir()
    write_coverage_data(arcs, branch / ".coverage", with_arcs)
    connection = sqlite3.connect(branch / ".coverage")
    contexts = sorted(row[0] for row in connection.execute("SELECT context FROM context"))
    connection.close()
    assert contexts == ["fr", "startup"]
