"""The index built from a store's request rows and packed line sets, against
the index built from the records the same store reads back (the oracle)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import List

import numpy as np

from requestcov.analysis.covered import StatementTable
from requestcov.analysis.index import CoverageIndex, build_keyed_index, build_store_index
from requestcov.records import STARTUP, FileVersion, RequestRecord
from requestcov.store import SQLiteStore

SOURCE = "def view(value):\n    total = (value +\n             1)\n    return total\n\n\ndef other():\n    return 2\n"


def _assert_same(got: CoverageIndex, expected: CoverageIndex) -> None:
    assert got.tests == expected.tests
    assert got.files == expected.files
    assert got.signatures == expected.signatures
    assert got.arcs == expected.arcs and got.line_element_count == expected.line_element_count
    for name in ("flat", "offsets", "element_file", "element_line"):
        assert np.array_equal(getattr(got, name), getattr(expected, name)), name


def _records(source: Path) -> List[RequestRecord]:
    chooser = random.Random(3)
    paths = [str(source)] + [f"/app/module_{number}.py" for number in range(25)]
    version = FileVersion(sha256="0" * 64)
    records = []
    for number in range(2_300):  # more sets than are keyed together
        files = chooser.sample(paths[:4 + number // 100], 3)
        lines = {path: sorted(chooser.sample(range(1, 30 + number // 10), 5)) for path in files}
        if number % 400 == 9:
            lines[files[0]] = [5, 70_000]  # four bytes a number
        if number % 300 == 11:
            lines[files[1]] = []
        # Tests of several requests (their union), repeated sets, unknown and known versions.
        test_id = f"test-{number % 1_900}"
        record = RequestRecord(test_id=test_id, test_set=f"set-{number % 1_900 % 3}", method="GET", path=f"/item/{number}",
                               route="/item/<id>" if number % 5 else None, status=200 if number % 7 else 404,
                               start=float(number), duration_ms=number / 10, lines=lines,
                               versions={files[0]: version} if number % 2 else {})
        records.append(record)
        if number % 10 == 0:
            records.append(RequestRecord(test_id=f"again-{number}", lines=lines, start=float(number)))
    return records


def test_the_store_index_is_the_index_of_the_records_read_back(store_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "views.py"
    source.write_text(SOURCE)
    records = _records(source)
    with SQLiteStore(store_path) as store:
        store.write([RequestRecord(test_id="", kind=STARTUP, lines={"/app/only_at_start.py": [1, 2]})])
        for first in range(0, len(records), 500):
            store.write(records[first:first + 500])
    for fold in (True, False):
        with SQLiteStore(store_path, read_only=True) as store:
            rows, line_sets = store.request_rows(), store.keyed_line_numbers()
            assert rows is not None and line_sets is not None and not store.has_arcs()
            got = build_store_index(rows, line_sets, StatementTable() if fold else None)
            expected = build_keyed_index(store.iter_keyed_records(), StatementTable() if fold else None)
        _assert_same(got, expected)
        assert len(got) < len(records)  # tests of several requests are one test
        assert "/app/only_at_start.py" not in got.files


def test_only_the_sets_asked_for_are_read(store_path: Path) -> None:
    records = [RequestRecord(test_id=f"t{number}", lines={"/app/a.py": [number + 1]}) for number in range(5)]
    with SQLiteStore(store_path) as store:
        store.write(records)
    with SQLiteStore(store_path, read_only=True) as store:
        rows = list(store.request_rows() or ())
        wanted = [rows[1][12], rows[3][12], rows[3][12]]
        found = dict(store.keyed_line_numbers(set_ids=wanted) or ())
    assert sorted(found) == sorted(set(wanted))
    assert [found[set_id][0] for set_id in sorted(found)] == [["/app/a.py"], ["/app/a.py"]]


def test_a_store_with_arcs_says_so(store_path: Path) -> None:
    with SQLiteStore(store_path) as store:
        store.write([RequestRecord(test_id="t", lines={"/app/a.py": [1]})])
        assert not store.has_arcs()
        store.write([RequestRecord(test_id="u", lines={"/app/a.py": [1, 2]}, arcs={"/app/a.py": [(1, 2)]})])
        assert store.has_arcs()


def test_a_store_without_line_sets_has_no_rows_to_hand_out(store_path: Path) -> None:
    from tests.support.storefiles import a_version_3_store

    a_version_3_store(store_path)
    with SQLiteStore(store_path, read_only=True) as store:
        assert store.request_rows() is None and store.keyed_line_numbers() is None


def test_the_summary_of_the_store_rows_is_the_summary_of_the_records(store_path: Path, tmp_path: Path) -> None:
    from requestcov.analysis.lineunion import line_union, set_figures
    from requestcov.report.summary import summarize_keyed, summarize_rows

    source = tmp_path / "views.py"
    source.write_text(SOURCE)
    records = _records(source)
    with SQLiteStore(store_path) as store:
        for first in range(0, len(records), 500):
            store.write(records[first:first + 500])
    startup = {str(source): [1, 7]}
    for limit in (None, 0, 7):
        with SQLiteStore(store_path, read_only=True) as store:
            table = StatementTable()
            asked: List[int] = []

            def figures(set_ids: List[object]) -> object:
                asked.extend(set_ids)
                return set_figures(store.keyed_line_numbers(set_ids=set_ids) or (), table)

            ran = line_union(store.distinct_line_numbers() or ())
            got = summarize_rows(store.request_rows() or (), figures, ran, startup, table, limit)
            expected = summarize_keyed(store.iter_keyed_records(), startup, StatementTable(), limit)
            # The command on line sets hands the union over (and a limit of 0 reads no request, as before).
            assert summarize_keyed(store.iter_keyed_records(), startup, StatementTable(), limit, ran) == got
        if limit != 0:
            assert got == expected and got.totals.requests == len(records)
        assert len(asked) <= (len(records) if limit is None else limit)  # only the rows shown are folded
