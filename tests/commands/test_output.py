"""What every command prints: natural order, the same bytes on every run and
for every recording order, tables that fold (never cut) at any width, one
width policy, and fields a dedupData.yaml does not have left out."""

from __future__ import annotations

import json
import time
import random
from pathlib import Path
from typing import Dict, List

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from requestcov.commands import dedup, export, gaps, hot, html, minimize, report
from requestcov.commands._common import PIPE_WIDTH
from requestcov.records import RequestRecord
from requestcov.store import SQLiteStore, write_dedup_yaml
from tests.commands.conftest import run

#: Keploy-style ids out of order, so lexical order (test-10 before test-2) and
#: recording order both differ from the natural one.
NUMBERS = [10, 2, 9, 7, 1, 12, 3, 11, 8]
IDS = [f"test-set-0/test-{number}" for number in sorted(NUMBERS)]
ROUTE = "/api/v1/catalogue/products/<int:product_id>"

TABLE_COMMANDS: Dict[str, click.Command] = {
    "report": report.command, "dedup": dedup.command, "minimize": minimize.command, "hot": hot.command,
    "gaps": gaps.command,
}


def _records(app: str) -> List[RequestRecord]:
    """Odd tests run lines 1-4 (copies of each other), even ones 1-5 (they
    subsume the odd ones); test-3 answered 404."""
    return [
        RequestRecord(test_id=f"test-{number}", test_set="test-set-0", method="GET", path="/api/v1/catalogue/products/7",
                      route=ROUTE, status=404 if number == 3 else 200,
                      lines={app: [1, 2, 3, 4] if number % 2 else [1, 2, 3, 4, 5]},
                      start=float(position), duration_ms=1.5, pid=4242)
        for position, number in enumerate(NUMBERS)
    ]


@pytest.fixture
def long_app(tmp_path: Path) -> str:
    folder = tmp_path / "catalogue" / "handlers"
    folder.mkdir(parents=True)
    path = folder / "product_views.py"
    path.write_text("a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\n")
    return str(path)


def _store(path: Path, records: List[RequestRecord]) -> str:
    with SQLiteStore(path) as opened:
        opened.write(records)
    return str(path)


@pytest.fixture
def ordered_store(tmp_path: Path, long_app: str) -> str:
    return _store(tmp_path / "a.db", _records(long_app))


@pytest.fixture
def shuffled_store(tmp_path: Path, long_app: str) -> str:
    records = _records(long_app)
    random.Random(5).shuffle(records)
    return _store(tmp_path / "b.db", records)


def _column_text(output: str, column: int) -> str:
    """The text of one column of every table in ``output``, its folded
    pieces joined: a folded id reads whole again."""
    pieces = []
    for line in output.splitlines():
        if "│" in line:
            cells = line.split("│")
            if len(cells) > column + 1:
                pieces.append(cells[column + 1].strip())
    return "".join(pieces)


def _widest(output: str) -> int:
    return max(len(line) for line in output.splitlines())


@pytest.mark.parametrize("name", sorted(TABLE_COMMANDS))
def test_ids_and_paths_appear_whole_at_80_columns(name: str, ordered_store: str, long_app: str, monkeypatch,
                                                  tmp_path: Path):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    output = run(TABLE_COMMANDS[name], "--db", ordered_store).stdout
    assert "…" not in output
    assert _widest(output) <= 80, output
    if name == "gaps":
        assert "catalogue/handlers/product_views.py" in output, output
    elif name == "dedup":
        for test_id in IDS:  # test-3, the 404, is no one's duplicate
            assert (test_id in output) == (test_id != "test-set-0/test-3"), output
    elif name == "minimize":
        assert "test-set-0/test-2" in output, output  # the one test kept: the lowest natural id
    elif name == "hot":
        assert "test-set-0/test-1," in output and "test-set-0/test-10" in output, output
    else:
        assert "test-set-0/test-12" in output and "test-set-0/test-1 " in output, output


@pytest.mark.parametrize("name", sorted(TABLE_COMMANDS))
def test_tables_fold_and_never_cut_at_40_columns(name: str, ordered_store: str, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.chdir(tmp_path)
    output = run(TABLE_COMMANDS[name], "--db", ordered_store).stdout
    assert "…" not in output
    assert _widest(output) <= 40, output
    first_column = _column_text(output, 0)
    if name == "gaps":
        assert "catalogue/handlers/product_views.py" in first_column, output
    elif name == "hot":
        assert f"GET{ROUTE}" in first_column, output
        assert "test-set-0/test-10" in _column_text(output, 3), output
    elif name in ("dedup", "minimize"):
        assert "test-set-0/test-2" in first_column, output  # kept: the lowest natural id
    else:
        assert "test-set-0/test-12" in first_column, output


def test_one_width_when_piped(ordered_store: str, monkeypatch, tmp_path: Path):
    """No terminal and no COLUMNS: every command lays its table out for the
    same width (report used rich's 80, replay none at all)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    long_records = [RequestRecord(test_id="x" * 150 + str(number), method="GET", path="/p", route="/p",
                                  status=200, lines={"/srv/a.py": [1, 2]}) for number in range(3)]
    store = _store(tmp_path / "wide.db", long_records)
    for name, command in TABLE_COMMANDS.items():
        if name == "gaps":
            continue  # /srv/a.py is not there to parse
        output = run(command, "--db", store).stdout
        assert _widest(output) == PIPE_WIDTH, (name, output)


def test_natural_order_everywhere(ordered_store: str):
    listed = [row["id"] for row in json.loads(run(report.command, "--db", ordered_store, "--json").stdout)["requests"]]
    assert listed == IDS
    table = run(report.command, "--db", ordered_store).stdout
    positions = [table.index(f"{test_id} ") for test_id in IDS]
    assert positions == sorted(positions)
    keep = json.loads(run(minimize.command, "--db", ordered_store, "--json").stdout)
    assert keep["keep"] == sorted(keep["keep"], key=IDS.index)
    assert keep["drop"] == sorted(keep["drop"], key=IDS.index)
    groups = json.loads(run(dedup.command, "--db", ordered_store, "--json").stdout)["groups"]
    for group in groups:
        assert group["drop"] == sorted(group["drop"], key=IDS.index)
    paths = json.loads(run(hot.command, "--db", ordered_store, "--json").stdout)["endpoints"][0]["paths"]
    for path in paths:
        assert path["ids"] == sorted(path["ids"], key=IDS.index)


def test_recording_order_does_not_change_any_output(ordered_store: str, shuffled_store: str, tmp_path: Path,
                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    for name, command in TABLE_COMMANDS.items():
        for extra in ((), ("--json",)):
            first = run(command, "--db", ordered_store, *extra).stdout
            assert run(command, "--db", ordered_store, *extra).stdout == first, name  # and on every run
            assert run(command, "--db", shuffled_store, *extra).stdout == first, name
    for output_format in ("keploy-yaml", "json"):
        outputs = []
        for number, store in enumerate((ordered_store, shuffled_store)):
            target = tmp_path / f"export-{number}.{output_format}"
            run(export.command, "--db", store, "--format", output_format, "-o", str(target))
            outputs.append(target.read_text())
        if output_format == "json":  # the start time is each record's own, and differs
            outputs = [[(entry["test_set"], entry["id"], entry["lines"]) for entry in json.loads(text)["requests"]]
                       for text in outputs]
        assert outputs[0] == outputs[1], output_format


def test_export_sorts_in_batches_without_holding_everything(shuffled_store: str):
    from requestcov.store import SQLiteStore as Store

    with Store(shuffled_store, read_only=True) as opened:
        reads = []

        def read():
            reads.append(1)
            return opened.iter_records()

        keys = [str(record.key) for record in export.natural_records(read, batch_lines=10)]
    assert keys == IDS
    assert len(reads) > 2  # one pass for the keys, then one per batch of about 10 lines


def test_export_and_html_read_a_dedup_yaml_and_say_what_they_wrote(tmp_path: Path, long_app: str):
    source = tmp_path / "dedupData.yaml"
    write_dedup_yaml(_records(long_app), source)
    target = tmp_path / "again.yaml"
    data = json.loads(run(export.command, "--from", str(source), "-o", str(target), "--layout", "list",
                          "--json").stdout)
    assert data == {"format": "keploy-yaml", "output": str(target), "requests": len(NUMBERS)}
    # Natural order: the same file with its tests sorted.
    ids = [line.split(": ", 1)[1] for line in target.read_text().splitlines() if line.startswith("- id: ")]
    assert ids == [test_id.split("/")[1] for test_id in IDS]
    written = json.loads(run(html.command, "--from", str(source), "-o", str(tmp_path / "html"), "--json").stdout)
    assert written["requests"] == len(NUMBERS) and Path(written["index"]).is_file()


def test_report_from_a_dedup_yaml_shows_only_what_it_holds(tmp_path: Path, long_app: str):
    source = tmp_path / "dedupData.yaml"
    write_dedup_yaml(_records(long_app), source)
    table = run(report.command, "--from", str(source)).stdout
    header = next(line for line in table.splitlines() if "┃" in line)
    assert [cell.strip() for cell in header.split("┃") if cell.strip()] == ["id", "stmts", "files"]
    assert "process" not in table and "0.0" not in table
    data = json.loads(run(report.command, "--from", str(source), "--json").stdout)
    assert data["totals"]["processes"] is None
    assert {(row["duration_ms"], row["pid"]) for row in data["requests"]} == {(None, None)}
    from_store = run(report.command, "--db", _store(tmp_path / "s.db", _records(long_app))).stdout
    store_header = next(line for line in from_store.splitlines() if "┃" in line)
    assert "from 1 process" in from_store and "ms" in [cell.strip() for cell in store_header.split("┃")]


def test_dedup_by_none_labels_each_test_with_its_own_endpoint(ordered_store: str, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    data = json.loads(run(dedup.command, "--db", ordered_store, "--by", "none", "--json").stdout)
    dropped = {item["id"]: (item["endpoint"], item["status"]) for group in data["groups"]
               for item in group["dropped_tests"]}
    assert dropped["test-set-0/test-3"] == (f"GET {ROUTE}", 404)
    assert dropped["test-set-0/test-1"] == (f"GET {ROUTE}", 200)
    table = run(dedup.command, "--db", ordered_store, "--by", "none").stdout
    assert f"test-set-0/test-3 (GET {ROUTE} 404)" in table, table
    assert "test-set-0/test-1 (" not in table  # same endpoint and status as the kept test: no label


def _hard_store(tmp_path: Path) -> str:
    import numpy as np

    rng = np.random.default_rng(3)
    records = [RequestRecord(test_id=f"t{number}", lines={"/x.py": sorted(
        set((rng.choice(3000, size=30, replace=False) + 1).tolist()) | {number + 1, number + 1501})})
        for number in range(1500)]
    return _store(tmp_path / "hard.db", records)


def _scipy_releases_the_gil() -> bool:
    import scipy

    return tuple(int(part) for part in scipy.__version__.split(".")[:2]) >= (1, 15)


def test_minimize_exact_shows_progress_on_stderr_and_an_honest_label(tmp_path: Path):
    pytest.importorskip("scipy")
    store = _hard_store(tmp_path)
    started = time.monotonic()
    result = run(minimize.command, "--db", store, "--exact", "--time-limit", "2.5", "--json")
    took = time.monotonic() - started
    data = json.loads(result.stdout)  # stdout holds the JSON only
    assert "minimize: solving exactly with HiGHS" in result.stderr or "solving exactly with HiGHS" in result.stderr
    assert data["optimal"] == (len(data["keep"]) == data["lower_bound"])
    if data["solver_status"] == "time limit":
        # HiGHS's clock is its own: on a busy machine it may stop within the
        # first second; and scipy before 1.15 holds the GIL while it solves,
        # so no thread can report meanwhile.
        if took > 2.0 and _scipy_releases_the_gil():
            assert "minimize: solving exactly: " in result.stderr, result.stderr
        assert data["verdict"] == f"best found, lower bound {data['lower_bound']}"
        table = run(minimize.command, "--db", store, "--exact", "--time-limit", "2.5", "--quiet")
        assert table.stderr == ""
        assert "stopped at the 2.5 s time limit" in table.stdout
        assert f"best found, lower bound {data['lower_bound']}" in table.stdout
        assert "(optimal)" not in table.stdout


_WORDS = st.text(alphabet="abcdefghij-/0123456789[]", min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(_WORDS, min_size=1, max_size=4),
       others=st.lists(st.lists(_WORDS, min_size=1, max_size=3), min_size=1, max_size=4),
       width=st.integers(20, 120))
def test_any_table_at_any_width_folds_and_keeps_ids_whole_while_they_fit(ids, others, width):
    """Random cells: nothing is ever cut (every id reads whole from its
    column once folded pieces are joined), no line is wider than the
    console, and each id is unbroken whenever the console leaves it room
    (its longest id plus a cell per other column)."""
    from io import StringIO

    from rich.console import Console

    from requestcov.report.terminal import ID, PLAIN, Col, FoldingTable

    columns = [Col("id", whole=ID)] + [Col(f"c{number}", whole=PLAIN) for number in range(len(others))]
    table = FoldingTable("t", columns)
    for row, test_id in enumerate(ids):
        table.add_row(test_id, *(" ".join(words[:row + 1]) for words in others))
    buffer = StringIO()
    table.print(Console(file=buffer, width=width, color_system=None))
    output = buffer.getvalue()
    assert "…" not in output
    overhead = 3 * len(columns) + 1
    if width >= overhead + len(columns):
        assert _widest(output) <= width, output
    joined = _column_text(output, 0)
    for test_id in ids:
        assert test_id in joined, output
    if max(len(test_id) for test_id in ids) + len(others) + overhead <= width:
        body = [line.split("│")[1].strip() for line in output.splitlines() if line.count("│") > 1]
        for test_id in ids:
            assert test_id in body, output
