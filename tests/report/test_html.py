"""The HTML report: pages, escaping, per-line requests, redundancy, the CLI."""

from __future__ import annotations

import json
import re
import time
from html import unescape
from pathlib import Path
from typing import Dict, List, Set

from click.testing import CliRunner
from coverage.parser import PythonParser

from requestcov.cli import main
from requestcov.records import RequestRecord
from requestcov.report.html import line_ranges, write_html_report
from requestcov.store import SQLiteStore, write_dedup_yaml
from tests.report.conftest import HOSTILE_ID, SHOP_SOURCE, TRAVERSAL_ID

SAFE_PAGE = re.compile(r"^(index\.html|(tests|files|endpoints)/[a-z0-9-]+-[0-9a-f]{10}\.html|assets/report\.(css|js))$")


def pages(folder: Path) -> Dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8")
        for path in folder.rglob("*") if path.is_file()
    }


def line_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="line-data">(.*?)</script>', page, re.S)
    assert match is not None
    return json.loads(match.group(1))


def requests_per_line(page: str) -> Dict[int, Set[str]]:
    data = line_data(page)
    return {int(line): {data["requests"][index][0] for index in data["sets"][set_id]}
            for line, set_id in data["lines"].items()}


def file_page(folder: Path) -> str:
    (only,) = [text for name, text in pages(folder).items() if name.startswith("files/")]
    return only


def test_every_page_has_a_safe_name_and_hostile_values_stay_text(
    tmp_path: Path, shop_records: List[RequestRecord]
) -> None:
    output = tmp_path / "report"
    report = write_html_report(shop_records, output)
    written = pages(output)
    assert report.pages == len(written) - 2  # the stylesheet and the script are not pages
    assert all(SAFE_PAGE.match(name) for name in written), sorted(written)
    assert all(path.resolve().is_relative_to(output.resolve()) for path in output.rglob("*"))
    assert not (tmp_path / "etc").exists()
    for name, text in written.items():
        assert "<img" not in text, name
        assert "<b>" not in text and "<script>" not in text.replace('<script type="application/json"', ""), name
    index = written["index.html"]
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;amp;" in index
    assert "shop&lt;b&gt;&amp;views.py" in index
    assert TRAVERSAL_ID in unescape(index)
    # In the JSON table of a file page the id is escaped for a <script> element.
    assert "\\u003cimg src=x onerror=\\\"alert(1)\\\"\\u003e\\u0026amp;" in file_page(output)


def test_file_page_marks_statements_and_names_the_requests_of_each_line(
    tmp_path: Path, shop_records: List[RequestRecord]
) -> None:
    write_html_report(shop_records, tmp_path / "report")
    page = file_page(tmp_path / "report")
    parser = PythonParser(text=SHOP_SOURCE)
    parser.parse_source()
    states = dict(re.findall(r'<tr id="L(\d+)" data-line="\d+"(?: class="(\w+)")?>', page))
    assert len(states) == len(SHOP_SOURCE.splitlines())
    ran = {4, 5, 6, 7, 10, 11, 12}
    for line in range(1, len(SHOP_SOURCE.splitlines()) + 1):
        expected = "run" if line in ran else ("miss" if line in parser.statements else "")
        assert states[str(line)] == expected, line
    assert "13" not in requests_per_line(page)  # the second line of a statement counts at its first
    per_line = requests_per_line(page)
    assert per_line[6] == {"test-set-0/test-1", "test-set-0/test-2"}
    assert per_line[7] == {"test-set-0/test-3"}
    assert per_line[5] == {"test-set-0/test-1", "test-set-0/test-2", "test-set-0/test-3", "test-set-0/test-4"}
    assert per_line[12] == {HOSTILE_ID}
    covered = len(ran & parser.statements)
    assert (f"of {len(parser.statements)} statements run: {covered} by requests, 0 only at start-up, "
            f"{len(parser.statements) - covered} missed") in page


def test_overview_endpoints_and_test_pages_show_paths_duplicates_and_subsumption(
    tmp_path: Path, shop_records: List[RequestRecord]
) -> None:
    output = tmp_path / "report"
    write_html_report(shop_records, output)
    written = {name: unescape(text) for name, text in pages(output).items()}
    index = written["index.html"]
    assert re.search(r'<div class="value">6</div><div class="label">requests</div>', index)
    assert re.search(r'<div class="value">3</div><div class="label">endpoints</div>', index)
    assert "GET /users/<script>" in index  # no route: the path stands in

    (price_page,) = [text for name, text in written.items()
                     if name.startswith("endpoints/") and "Endpoint</span> GET /price/<country>" in text]
    assert re.search(r'<div class="value">3</div><div class="label">distinct paths</div>', price_page)

    def test_page(label: str) -> str:
        (text,) = [text for name, text in written.items()
                   if name.startswith("tests/") and f"Test</span> {label}</h1>" in text]
        return text

    def related(page: str, heading: str) -> List[str]:
        cell = re.search(rf"<th>{heading}</th><td>(.*?)</td>", page, re.S)
        assert cell is not None
        return re.findall(r'class="test" href="[^"]+">([^<]+)</a>', cell.group(1))

    first = test_page("test-set-0/test-1")
    assert related(first, re.escape("Duplicates (same statements)")) == ["test-set-0/test-2"]
    # test-4 ran lines 4-5 only: inside test-1 and test-3; dedup keeps the first.
    assert related(first, "Subsumes") == ["test-set-0/test-4"]
    assert related(test_page("test-set-0/test-4"), "Subsumed by") == ["test-set-0/test-1"]
    assert related(test_page("test-set-0/test-3"), "Subsumes") == []
    assert ">4–6</a>" in first  # its lines, as ranges linking into the file page


def test_cli_writes_the_report_from_the_store_and_from_dedup_yaml(
    tmp_path: Path, shop_records: List[RequestRecord]
) -> None:
    database = tmp_path / "store.db"
    with SQLiteStore(database) as store:
        store.write(shop_records)
    runner = CliRunner()
    result = runner.invoke(main, ["html", "--db", str(database), "-o", str(tmp_path / "from-store")])
    assert result.exit_code == 0, result.output
    assert "for 6 requests and 1 file" in result.output
    assert "test-set-0/test-3" in (tmp_path / "from-store" / "index.html").read_text()

    dedup = tmp_path / "dedupData.yaml"
    write_dedup_yaml(shop_records, dedup)
    result = runner.invoke(main, ["html", "--from", str(dedup), "-o", str(tmp_path / "from-yaml")])
    assert result.exit_code == 0, result.output
    index = (tmp_path / "from-yaml" / "index.html").read_text()
    assert "(no endpoint recorded)" in index and "test-set-0/test-4" in index

    missing = runner.invoke(main, ["html", "--db", str(tmp_path / "absent.db"), "-o", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "absent.db does not exist" in missing.output
    assert "Traceback" not in missing.output


def test_missing_source_still_lists_the_lines_that_ran(tmp_path: Path) -> None:
    gone = str(tmp_path / "deleted.py")
    records = [RequestRecord(test_id="t", method="GET", path="/", lines={gone: [3, 4]})]
    write_html_report(records, tmp_path / "report")
    page = file_page(tmp_path / "report")
    assert "source not available here" in page
    assert set(requests_per_line(page)) == {3, 4}


def test_thousands_of_requests_share_one_request_table_per_file(tmp_path: Path) -> None:
    source = tmp_path / "big.py"
    source.write_text("".join(f"def function_{n}(x):\n    return x + {n}\n\n" for n in range(200)))
    records = [
        RequestRecord(test_id=f"test-{n}", method="GET", path=f"/f/{n % 20}", route="/f/<n>", status=200,
                      lines={str(source): sorted({2 + 3 * (n % 20), 2 + 3 * ((n * 7) % 200), 2})})
        for n in range(2000)
    ]
    started = time.perf_counter()
    write_html_report(records, tmp_path / "report")
    assert time.perf_counter() - started < 30
    page = file_page(tmp_path / "report")
    data = line_data(page)
    assert len(data["requests"]) == 2000
    assert sum(len(members) for members in data["sets"]) <= 3 * 2000
    assert len(page) < 600_000
    assert page.count('"test-1999"') == 1  # each id once, in the shared table


def test_line_ranges() -> None:
    assert line_ranges([7, 1, 2, 3, 9, 10]) == [(1, 3), (7, 7), (9, 10)]
    assert line_ranges([]) == []


def test_no_records_still_give_an_index_page(tmp_path: Path) -> None:
    report = write_html_report([], tmp_path / "report")
    assert (report.pages, report.requests, report.percent) == (1, 0, None)
    index = (tmp_path / "report" / "index.html").read_text()
    assert "No request duplicates another." in index and "n/a" in index
