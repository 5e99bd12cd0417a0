"""The one definition of a covered statement, on a known module."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from requestcov.analysis.covered import StatementTable, display_percent, fold_records, tally
from requestcov.records import RequestRecord

#: Statements (coverage.py's): 2, 4, 10, 11, 15, 16, 17, 24, 25, 26; 20-21 excluded;
#: 4-7 and 11-14 are one statement each.
KNOWN = textwrap.dedent('''\
    """Known-answer module."""
    import os

    LIMIT = (
        10
        + 5
    )


    def total(values):
        result = sum(
            value
            for value in values
        )
        if result > LIMIT:
            return LIMIT
        return result


    def debug():  # pragma: no cover
        print(os.getcwd())


    def never(value):
        doubled = value * 2
        return doubled
''')


@pytest.fixture
def known(tmp_path: Path) -> str:
    path = tmp_path / "known.py"
    path.write_text(KNOWN)
    return str(path)


def test_continuation_lines_fold_into_their_statement_and_excluded_lines_count_for_nothing(known: str) -> None:
    table = StatementTable()
    assert table.statements(known) == {2, 4, 10, 11, 15, 16, 17, 24, 25, 26}
    assert table.fold(known, [1, 5, 6, 13, 15, 21]) == [4, 11, 15]  # 1 is a docstring, 21 excluded
    assert table.fold(known, [14, 12, 11, 400, -1]) == [11]  # no line past the end, none negative
    assert table.count({known: [11, 12, 13, 15, 17]}) == 3
    folded = list(fold_records([RequestRecord(test_id="a", lines={known: [13, 16], "/gone.py": [3, 1, 3]})], table))
    assert folded[0].lines == {known: [11, 16], "/gone.py": [1, 3]}  # no source: the lines as recorded
    assert table.problem("/gone.py") == "file no longer exists" and table.problem(known) == ""


def test_tally_splits_statements_into_requests_start_up_and_missed(known: str) -> None:
    counted = tally({known: [11, 12, 13, 15, 17, 13, 16, 21], "/gone.py": [1]},
                    {known: [1, 2, 4, 5, 6, 10, 20, 24, 11]})
    (gone, item) = counted.files
    assert item.by_requests == {11, 15, 16, 17}
    assert item.startup_only == {2, 4, 10, 24}  # 11 ran in a request too: a request's
    assert item.missed == {25, 26}
    assert (counted.statements, counted.by_requests, counted.startup_only, counted.missed) == (10, 4, 4, 2)
    assert counted.percent == pytest.approx(80.0) and counted.percent_by_requests == pytest.approx(40.0)
    assert gone.statements is None and counted.skipped == [("/gone.py", "file no longer exists")]


def test_percentages_round_as_coverage_report_rounds() -> None:
    assert display_percent(99.96, 1) == "99.9%" and display_percent(99.6) == "99%"
    assert display_percent(0.01, 1) == "0.1%" and display_percent(0.0) == "0%"
    assert display_percent(100.0) == "100%" and display_percent(88.888, 1) == "88.9%"


def test_fold_flat_folds_many_files_at_once_as_coverage_py_maps_each_line(known: str, tmp_path: Path) -> None:
    from coverage.parser import PythonParser

    import numpy as np

    other = tmp_path / "other.py"
    other.write_text("x = (\n    1,\n)\nif x:\n    y = 2  # pragma: no cover\nz = 3\n")
    oracle = {}
    for path in (known, str(other)):
        parser = PythonParser(filename=path, exclude=StatementTable().exclude)
        parser.parse_source()
        oracle[path] = (parser.statements, parser.first_line)
    recorded = {known: [-1, 0, *range(1, 30), 400], "/gone.py": [7, 3, 7], str(other): list(range(1, 9))}
    table = StatementTable()
    paths = list(recorded)
    counts = np.asarray([len(lines) for lines in recorded.values()])
    numbers = np.asarray([line for lines in recorded.values() for line in lines], dtype=np.int64)
    folded, kept = table.fold_flat(paths, counts, numbers)
    start = 0
    for path, count in zip(paths, counts.tolist()):
        got = sorted(set(folded[start:start + count][kept[start:start + count]].tolist()))
        start += count
        assert got == table.fold(path, recorded[path])
        if path in oracle:
            statements, first_line = oracle[path]
            assert got == sorted({first_line(line) for line in recorded[path] if line > 0} & statements)
        else:
            assert got == [3, 7]  # no source: the lines as recorded


def test_index_folded_by_the_table_is_the_index_of_the_folded_records(known: str) -> None:
    from requestcov.analysis.index import build_index, build_keyed_index

    records = [
        RequestRecord(test_id="a", lines={known: [13, 16, 21], "/gone.py": [3, 1]}),
        RequestRecord(test_id="b", lines={known: [20, 21]}),  # excluded only: the test covers nothing
        RequestRecord(test_id="a", lines={known: [24, 25]}),  # a second request of test a
        RequestRecord(test_id="c", lines={known: [1, 5]}),
    ]
    table = StatementTable()
    direct = build_keyed_index([(None, record) for record in records], table)
    folded = build_index(fold_records(records, StatementTable()))
    assert direct.files == folded.files == ["/gone.py", known]
    assert direct.flat.tolist() == folded.flat.tolist() and direct.offsets.tolist() == folded.offsets.tolist()
    assert direct.signatures == folded.signatures
    assert [info.line_count for info in direct.tests] == [info.line_count for info in folded.tests] == [6, 0, 1]
    assert direct.lines_by_file(direct.elements(0)) == {"/gone.py": [1, 3], known: [11, 16, 24, 25]}
