"""Fixtures shared by the whole suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from tests.support.servers import REPOSITORY


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist's workers start with COLUMNS=80 and LINES=24 set; without
    # them a command's output goes to no terminal and is as wide as a pipe's.
    # Tests that need a width set COLUMNS themselves.
    if hasattr(config, "workerinput"):
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)


def coverage_oracle(kind: str, specs: List[dict], *, branch: bool = False) -> Dict[str, Dict[str, list]]:
    """coverage.py's lines (or arcs) for each request spec, each measured alone."""
    completed = subprocess.run(
        [sys.executable, "-m", "tests.support.oracle", kind, *(["--branch"] if branch else [])],
        input=json.dumps(specs),
        capture_output=True, text=True, cwd=str(REPOSITORY), timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "requestcov.db"
