"""A real store and a real dedupData.yaml with known duplicates, and a runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List

import click
import pytest
from click.testing import CliRunner, Result

from requestcov.records import RequestRecord
from requestcov.store import SQLiteStore, write_dedup_yaml
from tests.support.parsecache import own_parse_cache  # noqa: F401 - autouse: every test here

APP_SOURCE = '''\
def list_items(page):
    if page > 1:
        return "more"
    return "first"


def create_item(name):
    if not name:
        return "missing"
    return "created"


def admin():
    return "never"
'''



@pytest.fixture
def app_file(tmp_path: Path) -> str:
    path = tmp_path / "app" / "views.py"
    path.parent.mkdir(parents=True)
    path.write_text(APP_SOURCE)
    return str(path)


def suite(app: str) -> List[RequestRecord]:
    """t1/t2 exact duplicates, t3 inside t4, t5 a 404 with t1's lines, and
    test-1 in two Keploy sets with the same id."""

    def make(test_id: str, lines: List[int], status: int = 200, method: str = "GET",
             route: str = "/items", test_set: str = "") -> RequestRecord:
        return RequestRecord(test_id=test_id, test_set=test_set, method=method, path=route, route=route,
                             status=status, lines={app: lines}, start=1.0, duration_ms=2.0)

    return [
        make("t1", [2, 4]),
        make("t2", [2, 4]),
        make("t3", [8], method="POST"),
        make("t4", [8, 9], method="POST"),
        make("t5", [2, 4], status=404),
        make("test-1", [2, 3], test_set="set-a"),
        make("test-1", [2, 3], test_set="set-b"),
    ]


@pytest.fixture
def store(tmp_path: Path, app_file: str) -> str:
    path = tmp_path / "store" / "requestcov.db"
    with SQLiteStore(path) as opened:
        opened.write(suite(app_file))
    return str(path)


@pytest.fixture
def dedup_yaml(tmp_path: Path, app_file: str) -> str:
    path = tmp_path / "dedupData.yaml"
    write_dedup_yaml(suite(app_file), path)
    return str(path)


def _runner() -> CliRunner:
    """A runner keeping stderr apart (click before 8.2 mixes it in by default)."""
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


def run(command: click.Command, *arguments: str, expect: int = 0) -> Result:
    result = _runner().invoke(command, list(arguments), catch_exceptions=False)
    assert result.exit_code == expect, (result.output, result.stderr)
    return result


def run_json(command: click.Command, *arguments: str) -> Any:
    return json.loads(run(command, *arguments, "--json").stdout)
