"""Source files, records and a headless Chromium for the HTML report tests."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List

import pytest

from requestcov.records import RequestRecord
from tests.support.parsecache import own_parse_cache  # noqa: F401 - autouse: every test here

CHROMIUM = Path("/usr/bin/chromium")

SHOP_SOURCE = '''\
"""A tiny shop."""


def price(amount, country):
    if country == "FR":
        return amount * 1.2
    return amount


def describe(user_id):
    name = f"user-{user_id}"
    return {"id": user_id,
            "name": name}
'''

HOSTILE_ID = '<img src=x onerror="alert(1)">&amp;'
TRAVERSAL_ID = "../../../etc/passwd"



@pytest.fixture
def shop_file(tmp_path: Path) -> Path:
    """A real source file whose name needs escaping in HTML."""
    folder = tmp_path / "app"
    folder.mkdir()
    source = folder / "shop<b>&views.py"
    source.write_text(SHOP_SOURCE)
    return source


@pytest.fixture
def shop_records(shop_file: Path) -> List[RequestRecord]:
    path = str(shop_file)
    france = [4, 5, 6]
    return [
        RequestRecord(test_id="test-1", test_set="test-set-0", method="GET", path="/price/FR",
                      route="/price/<country>", status=200, duration_ms=3.5, lines={path: france}),
        RequestRecord(test_id="test-2", test_set="test-set-0", method="GET", path="/price/FR",
                      route="/price/<country>", status=200, duration_ms=2.0, lines={path: france}),
        RequestRecord(test_id="test-3", test_set="test-set-0", method="GET", path="/price/US",
                      route="/price/<country>", status=200, lines={path: [4, 5, 7]}),
        RequestRecord(test_id="test-4", test_set="test-set-0", method="GET", path="/price/DE",
                      route="/price/<country>", status=200, lines={path: [4, 5]}),
        # Lines 12 and 13 are one statement: coverage.py counts it at line 12.
        RequestRecord(test_id=HOSTILE_ID, method="GET", path="/users/3", route="/users/<id>",
                      status=200, lines={path: [10, 11, 12, 13]}),
        RequestRecord(test_id=TRAVERSAL_ID, method="GET", path="/users/<script>", route=None,
                      status=404, lines={}),
    ]


def run_chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", *extra, url],
        capture_output=True, text=True, timeout=90,
    )
