"""The HTML report in a real browser: headless Chromium renders the pages and
runs their script; the DOM it dumps must hold the content and the parts the
script builds."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import List

from requestcov.records import RequestRecord
from requestcov.report.html import write_html_report
from tests.analysis.test_covered import KNOWN
from tests.report.conftest import HOSTILE_ID, run_chromium


def dump_dom(tmp_path: Path, url: str) -> str:
    result = run_chromium(tmp_path, url, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<html" in result.stdout, result.stderr[-2000:]
    return result.stdout


def test_chromium_renders_the_file_panel_and_the_filters(
    tmp_path: Path, shop_records: List[RequestRecord]
) -> None:
    output = tmp_path / "report"
    write_html_report(shop_records, output)
    (file_page,) = list((output / "files").glob("*.html"))

    dom = dump_dom(tmp_path, file_page.resolve().as_uri() + "#L5")
    # The script opened the panel for line 5 and listed the four requests that ran it.
    assert re.search(r'<h3 id="panel-heading">Line 5: ran in 4 requests</h3>', dom)
    panel = re.search(r'<ol id="panel-requests">(.*?)</ol>', dom, re.S)
    assert panel is not None
    names = [unescape(name) for name in re.findall(r'<a class="test" href="[^"]+">([^<]+)</a>', panel.group(1))]
    assert names == ["test-set-0/test-1", "test-set-0/test-2", "test-set-0/test-3", "test-set-0/test-4"]
    assert '<tr id="L5" data-line="5" class="run selected">' in dom
    assert '<tr id="L8" data-line="8" class="miss">' not in dom  # line 8 is blank
    assert re.search(r'<tr id="L11" data-line="11" class="run">', dom)

    dom = dump_dom(tmp_path, file_page.resolve().as_uri() + "#L12")
    panel = re.search(r'<ol id="panel-requests">(.*?)</ol>', dom, re.S)
    assert panel is not None
    # The hostile id is text in the DOM, not an element.
    assert unescape(re.sub(r"<[^>]+>", "", panel.group(1))).startswith(HOSTILE_ID)
    assert "<img" not in dom

    index = dump_dom(tmp_path, (output / "index.html").resolve().as_uri())
    assert '<span class="filter-count" data-count-for="tests-table">6 of 6 shown</span>' in index
    assert "test-set-0/test-3" in index


def test_screenshot_of_a_file_page(tmp_path: Path, shop_records: List[RequestRecord]) -> None:
    output = tmp_path / "report"
    write_html_report(shop_records, output)
    (file_page,) = list((output / "files").glob("*.html"))
    picture = tmp_path / "file.png"
    result = run_chromium(tmp_path, file_page.resolve().as_uri() + "#L5",
                          f"--screenshot={picture}", "--window-size=1200,800")
    assert result.returncode == 0, result.stderr[-2000:]
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size > 20_000  # a rendered page, not a blank one


def test_chromium_shows_start_up_code_as_its_own_category(tmp_path: Path) -> None:
    source = tmp_path / "known.py"
    source.write_text(KNOWN)
    path = str(source)
    records = [RequestRecord(test_id="t1", method="GET", path="/total", lines={path: [11, 12, 13, 15, 17]})]
    output = tmp_path / "report"
    write_html_report(records, output, startup={path: [1, 2, 4, 5, 6, 10, 20, 24]})
    (file_page,) = list((output / "files").glob("*.html"))
    dom = dump_dom(tmp_path, file_page.resolve().as_uri() + "#L24")
    assert '<tr id="L24" data-line="24" class="startup selected">' in dom
    assert "Only start-up code ran this statement" in dom
    dom = dump_dom(tmp_path, file_page.resolve().as_uri() + "#L25")
    assert "Nothing ran this statement" in dom
