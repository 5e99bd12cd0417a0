"""gaps agrees with coverage.py on the same execution."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import coverage
import pytest

from requestcov.analysis.gaps import find_gaps, format_ranges, line_ranges
from requestcov.analysis.index import build_index
from requestcov.records import RequestRecord

MODULE = textwrap.dedent('''\
    """A module with branches, a multi-line statement and excluded code."""


    def classify(number):
        if number < 0:
            return "negative"
        elif number == 0:
            return "zero"
        total = (
            number
            + 1
        )
        return "positive" if total else "never"


    def never_called(value):
        doubled = value * 2
        return doubled


    def debug_only():  # pragma: no cover
        print("excluded")


    class Shop:
        def price(self, amount):
            if amount > 100:
                return amount * 0.9
            return amount

        def refund(self, amount):
            return -amount


    def outer():
        def inner():
            return 1
        return inner()
''')


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_percent_and_missing_lines_match_coverage_report(tmp_path: Path):
    source = tmp_path / "measured_shop.py"
    source.write_text(MODULE)
    module = _load(source)
    cov = coverage.Coverage(data_file=str(tmp_path / ".coverage"), config_file=False)
    cov.start()
    try:
        module.classify(5)
        module.classify(0)
        module.Shop().price(10)
    finally:
        cov.stop()
    path = str(source.resolve())
    executed = sorted(cov.get_data().lines(path) or [])
    _, statements, _, missing, _ = cov.analysis2(path)
    expected_percent = 100.0 * (len(statements) - len(missing)) / len(statements)

    index = build_index([RequestRecord(test_id="t1", lines={path: executed})])
    result = find_gaps(index.covered_lines_by_file())
    (file_gaps,) = result.files
    assert file_gaps.statements == len(statements)
    assert file_gaps.missing == sorted(missing)
    assert file_gaps.percent == pytest.approx(expected_percent)
    assert result.percent == pytest.approx(expected_percent)
    report = cov.report(morfs=[path], file=open(tmp_path / "report.txt", "w"))
    assert round(file_gaps.percent, 6) == pytest.approx(report)

    never = {function.name for function in file_gaps.functions_never_entered}
    # debug_only is excluded; inner is not listed separately from outer.
    assert never == {"never_called", "Shop.refund", "outer"}


def test_multi_line_statement_counts_when_any_of_its_lines_ran(tmp_path: Path):
    source = tmp_path / "multi.py"
    source.write_text("def f():\n    x = (\n        1\n        + 2\n    )\n    return x\n")
    result = find_gaps({str(source): [4, 6]})  # a tracer may report line 4 for the statement on 2
    (file_gaps,) = result.files
    assert file_gaps.missing == [1]
    assert file_gaps.functions_never_entered == []


def test_missing_files_are_skipped_with_a_reason(tmp_path: Path):
    result = find_gaps({str(tmp_path / "gone.py"): [1, 2]})
    assert result.files == []
    assert result.skipped == [(str(tmp_path / "gone.py"), "file no longer exists")]


def test_files_that_are_not_python_are_skipped(tmp_path: Path):
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    result = find_gaps({str(broken): [1]})
    assert result.files == []
    assert "not parsable" in result.skipped[0][1]


def test_ranges_skip_lines_that_are_not_statements():
    statements = [1, 2, 3, 5, 8, 9, 12, 20]
    missing = [2, 3, 5, 9, 20]
    assert line_ranges(statements, missing) == [(2, 5), (9, 9), (20, 20)]
    assert format_ranges(line_ranges(statements, missing)) == "2-5, 9, 20"
    assert format_ranges([]) == ""
