"""A parse cache of the test's own, for the tests that run commands."""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["own_parse_cache"]


@pytest.fixture(autouse=True)
def own_parse_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's commands keep their parses in a folder of the test's own
    (never the user's cache), beside the store's folder, never in it."""
    folder = tmp_path / "parse-cache"
    monkeypatch.setenv("REQUESTCOV_CACHE_DIR", str(folder))
    return folder
