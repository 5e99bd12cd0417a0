"""One truth in every answer: gaps, report, the HTML report, the JSON export
and ``coverage report`` on requestcov's coverage.py export give the same
figures for one store, counted as statements (a multi-line statement once,
excluded lines never), with start-up code its own category."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from html import unescape
from pathlib import Path
from typing import Dict, List

import coverage
import pytest

from requestcov.commands import export, gaps, hot, html, minimize, report
from requestcov.records import STARTUP, RequestRecord
from requestcov.store import SQLiteStore, load_records, write_dedup_yaml
from tests.analysis.test_covered import KNOWN
from tests.commands.conftest import run, run_json

#: A module the app imports and never uses: all start-up or missed.
UNUSED = "def helper():\n    return 1\n"


def _coverage(folder: Path, data_file: Path, *arguments: str) -> str:
    result = subprocess.run([sys.executable, "-m", "coverage", *arguments, "--data-file", str(data_file)],
                            cwd=folder, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def known_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dict[str, str]:
    """A real store of hand-built records over real files: a multi-line
    statement recorded by its continuation lines, an excluded line recorded,
    start-up lines, a never-run function, and code served unrecorded."""
    monkeypatch.chdir(tmp_path)  # gaps and coverage.py read the same (absent) configuration
    app = tmp_path / "known.py"
    app.write_text(KNOWN)
    unused = tmp_path / "unused.py"
    unused.write_text(UNUSED)
    database = tmp_path / "requestcov.db"
    with SQLiteStore(database) as store:
        store.write([
            RequestRecord(test_id="test-1", test_set="set-0", method="GET", path="/total", route="/total",
                          status=200, start=1.0, lines={str(app): [11, 12, 13, 15, 17]}),
            RequestRecord(test_id="test-2", test_set="set-0", method="GET", path="/total", route="/total",
                          status=200, start=2.0, lines={str(app): [13, 15, 16, 21]}),
            RequestRecord(test_id="startup", kind=STARTUP, pid=7, start=0.0,
                          lines={str(app): [1, 2, 4, 5, 6, 10, 20, 24], str(unused): [1]}),
            RequestRecord(test_id="served-unrecorded", kind=STARTUP, pid=7, start=3.0, lines={str(app): [25, 26]}),
        ])
    return {"db": str(database), "app": str(app), "unused": str(unused), "folder": str(tmp_path)}


def test_gaps_report_json_export_and_coverage_report_give_one_total(known_store: Dict[str, str]) -> None:
    folder, db, app = Path(known_store["folder"]), known_store["db"], known_store["app"]
    data = run_json(gaps.command, "--db", db)
    # Known answer: 12 statements; requests ran 11 (by its lines 12-13), 15, 16, 17; start-up
    # 2, 4, 10, 24 and unused.py's def; nothing ran never()'s body or helper()'s.
    assert (data["statements"], data["run_by_requests"], data["startup_only"], data["missed"]) == (12, 4, 5, 3)
    assert data["percent"] == pytest.approx(75.0) and data["percent_by_requests"] == pytest.approx(33.33)
    assert data["files"][app]["missing"] == [25, 26]
    assert data["files"][known_store["unused"]]["missing"] == [2]
    assert [item["name"] for item in data["files"][app]["functions_never_entered"]] == ["never"]

    exported = folder / "exported.coverage"
    run(export.command, "--db", db, "--format", "coverage", "-o", str(exported))
    _coverage(folder, exported, "json", "--show-contexts", "-o", str(folder / "coverage.json"))
    measured = json.loads((folder / "coverage.json").read_text())
    totals = measured["totals"]
    assert (totals["num_statements"], totals["covered_lines"], totals["missing_lines"]) == (
        data["statements"], data["executed"], data["missed"])
    assert round(totals["percent_covered"], 2) == data["percent"]
    contexts = measured["files"]["known.py"]["contexts"]
    assert contexts["10"] == ["startup"] and sorted(contexts["15"]) == ["set-0/test-1", "set-0/test-2"]
    assert "25" not in contexts  # served-unrecorded code counts as nothing
    text = _coverage(folder, exported, "report", "--precision", "1")
    assert re.search(r"^TOTAL\s+12\s+3\s+75\.0%$", text, re.M), text
    table = " ".join(run(gaps.command, "--db", db).stdout.split())  # the title may wrap
    assert "75.0% of 12 statements run (4 by requests, 5 only at start-up), 3 missed" in table

    summary = run_json(report.command, "--db", db)
    assert {key: summary["totals"][key] for key in ("statements", "run_by_requests", "startup_only", "missed")} == {
        "statements": 12, "run_by_requests": 4, "startup_only": 5, "missed": 3}
    assert [(row["id"], row["statements"]) for row in summary["requests"]] == [("set-0/test-1", 3), ("set-0/test-2", 3)]
    assert "2 requests ran 4 of 12 statements (33.3%)" in " ".join(run(report.command, "--db", db).stdout.split())

    run(export.command, "--db", db, "--format", "json", "-o", str(folder / "requestcov.json"))
    dumped = json.loads((folder / "requestcov.json").read_text())
    assert dumped["startup"]["lines"][app] == [1, 2, 4, 5, 6, 10, 20, 24]
    assert dumped["served_unrecorded"] == {"pids": [7], "lines": {app: [25, 26]}}
    assert {key: dumped["statements"][key] for key in ("statements", "run_by_requests", "startup_only", "missed")} == {
        "statements": 12, "run_by_requests": 4, "startup_only": 5, "missed": 3}
    assert dumped["statements"]["percent"] == data["percent"]


def test_hot_and_minimize_count_statements_as_report_does(known_store: Dict[str, str]) -> None:
    db = known_store["db"]
    per_test = {row["id"]: row["statements"] for row in run_json(report.command, "--db", db)["requests"]}
    (endpoint,) = run_json(hot.command, "--db", db)["endpoints"]
    assert {tuple(path["ids"]): path["statements"] for path in endpoint["paths"]} == {
        ("set-0/test-1",): per_test["set-0/test-1"], ("set-0/test-2",): per_test["set-0/test-2"]}
    table = run(minimize.command, "--db", db).stdout
    assert "stmts" in table and re.search(r"set-0/test-1 .* 3 ", table)


def _test_rows(index: str) -> Dict[str, int]:
    rows = re.findall(r'<tr><td><a class="test" href="[^"]+">([^<]+)</a></td>.*?\n<td class="num">(\d+)</td>',
                      index)
    return {unescape(label): int(count) for label, count in rows}


def test_html_total_and_per_test_counts_are_gaps_and_reports(known_store: Dict[str, str]) -> None:
    folder, db = Path(known_store["folder"]), known_store["db"]
    written = run(html.command, "--db", db, "-o", str(folder / "html"))
    assert "75.0% of 12 statements run: 4 by requests, 5 only at start-up, 3 missed" in written.stderr
    index = (folder / "html" / "index.html").read_text()
    total = re.search(r'<div class="card" id="total"><div class="value">([^<]+)</div><div class="label">([^<]+)', index)
    assert total is not None
    data = run_json(gaps.command, "--db", db)
    assert total.group(1) == f"{data['percent']:.1f}%"
    assert total.group(2).startswith(
        f"of {data['statements']} statements run: {data['run_by_requests']} by requests, "
        f"{data['startup_only']} only at start-up, {data['missed']} missed")
    rows = run_json(report.command, "--db", db)["requests"]
    assert _test_rows(index) == {row["id"]: row["statements"] for row in rows}

    (page,) = [path.read_text() for path in (folder / "html" / "files").glob("known-*.html")]
    states = dict(re.findall(r'<tr id="L(\d+)" data-line="\d+"(?: class="(\w+)")?>', page))
    assert [line for line, state in sorted(states.items(), key=lambda item: int(item[0])) if state == "startup"] == [
        "2", "4", "10", "24"]
    assert states["11"] == "run" and states["12"] == "" and states["21"] == ""  # folded; excluded
    assert states["25"] == "miss" and states["26"] == "miss"
    assert '<span class="key startup"></span> only start-up code ran it' in page
    css = (folder / "html" / "assets" / "report.css").read_text()
    assert "tr.startup td.code { background: var(--startup)" in css


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gaps_equals_coverage_py_run_for_real_with_start_up_and_requests_as_contexts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module really runs under coverage.py: its import as the context
    ``startup``, two calls as two requests. Records made from coverage.py's
    own per-context lines give gaps the total coverage.py reports."""
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "really_run.py"
    source.write_text(KNOWN)
    cov = coverage.Coverage(data_file=str(tmp_path / ".coverage"), config_file=False)
    cov.start()
    try:
        cov.switch_context("startup")
        module = _load(source)
        cov.switch_context("r1")
        module.total([1, 2])
        cov.switch_context("r2")
        module.total([20])
    finally:
        cov.stop()
    cov.save()
    path = str(source.resolve())
    data = cov.get_data()
    by_context: Dict[str, List[int]] = {}
    for context in ("startup", "r1", "r2"):
        data.set_query_contexts([context])
        by_context[context] = sorted(data.lines(path) or [])
    data.set_query_contexts(None)
    with open(tmp_path / "report.txt", "w") as sink:
        expected_percent = cov.report(morfs=[path], file=sink)
    _, statements, _, missing, _ = cov.analysis2(path)

    database = tmp_path / "requestcov.db"
    with SQLiteStore(database) as store:
        store.write([RequestRecord(test_id=context, start=float(number), lines={path: by_context[context]})
                     for number, context in enumerate(("r1", "r2"), start=1)]
                    + [RequestRecord(test_id="startup", kind=STARTUP, lines={path: by_context["startup"]})])
    result = run_json(gaps.command, "--db", str(database))
    assert result["statements"] == len(statements)
    assert result["missed"] == len(missing) and result["files"][path]["missing"] == sorted(missing)
    assert result["percent"] == pytest.approx(expected_percent)
    assert result["startup_only"] == 4 and result["run_by_requests"] == 4  # 2, 4, 10, 24; 11, 15, 16, 17


def test_without_start_up_records_the_figures_say_so(known_store: Dict[str, str]) -> None:
    folder = Path(known_store["folder"])
    dedup = folder / "dedupData.yaml"
    write_dedup_yaml(load_records(known_store["db"]), dedup)
    text = " ".join(run(report.command, "--from", str(dedup)).stdout.split())
    # unused.py, which only start-up touched, is not in the file at all.
    assert "2 requests ran 4 of 10 statements (40.0%)" in text
    assert "start-up code unknown (no start-up records in a dedupData.yaml), 6 never ran" in text
    result = run(gaps.command, "--from", str(dedup), "--json")
    assert "holds no start-up records" in result.stderr
    run(html.command, "--from", str(dedup), "-o", str(folder / "html"))
    index = (folder / "html" / "index.html").read_text()
    assert "no start-up records here, so start-up code counts as missed" in index
