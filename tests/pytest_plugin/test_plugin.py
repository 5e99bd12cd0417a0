"""``pytest --requestcov`` on a real project, in real pytest processes.

The oracle is coverage.py itself, through pytest-cov's per-test contexts
(``--cov-context=test``), in a run of its own: each test's record holds
exactly the lines of its ``NODEID|run`` context, fixtures' lines are in the
start-up record and not in the test's, as coverage.py has them in
``|setup`` and ``|teardown``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from requestcov.cli import main
from requestcov.pytest_plugin.outcomes import FAILED, PASSED, SKIPPED, XFAILED
from tests.pytest_plugin.project import NODE, Runs, coverage_contexts, line_of, lines_of, startup_records_of

pytestmark = pytest.mark.slow


def test_one_record_per_called_test(runs: Runs) -> None:
    assert set(runs.records) == set(NODE.values())  # not the one skipped by a mark
    for node_id, record in runs.records.items():
        assert (record.test_set, record.path, record.method) == ("pytest", node_id, "")
    assert runs.records[NODE["classify-3"]].route == "tests/test_calc.py::test_classify"
    assert runs.records[NODE["add"]].route == NODE["add"]
    assert f"{len(NODE)} tests recorded into {runs.db}" in runs.output
    assert "requestcov: recording" in runs.output and "test set 'pytest'" in runs.output


def test_lines_equal_coverage_per_test_contexts(runs: Runs) -> None:
    """Sync, async (pytest-asyncio; anyio in a runner task made during a
    module fixture's set-up), a thread the test starts, a failing test, a
    test whose subtests report before it ends."""
    assert set(runs.oracle) == set(runs.records)
    for node_id, record in runs.records.items():
        assert lines_of(record) == runs.oracle[node_id], node_id
    calc = str((runs.project / "shop" / "calc.py").resolve())
    assert lines_of(runs.records[NODE["anyio2"]])[calc]  # the async body's lines are the test's
    total = line_of(runs.project, "result = 0")
    assert total in lines_of(runs.records[NODE["subtests"]])[calc]  # after its subtests


def test_fixtures_are_start_up(runs: Runs) -> None:
    calc = str((runs.project / "shop" / "calc.py").resolve())
    fixture_context = {line for phase in ("setup", "teardown")
                       for line in runs.oracle_contexts[f"{NODE['fixture']}|{phase}"].get(calc, ())}
    assert fixture_context  # prepare() and clean_up() ran around the test
    assert not fixture_context & lines_of(runs.records[NODE["fixture"]])[calc]
    startup = startup_records_of(runs.db)
    assert len(startup) == 1
    assert fixture_context <= set(startup[0].lines[calc])


def test_outcomes_and_durations(runs: Runs) -> None:
    statuses = {node_id: record.status for node_id, record in runs.records.items()}
    assert statuses[NODE["fails"]] == FAILED
    assert statuses[NODE["xfail"]] == XFAILED
    assert statuses[NODE["skips"]] == SKIPPED
    assert statuses[NODE["add"]] == statuses[NODE["anyio2"]] == PASSED
    slow = runs.records[NODE["slow"]].duration_ms
    assert 190 <= slow < 20_000
    assert all(record.duration_ms < slow for node_id, record in runs.records.items() if node_id != NODE["slow"])


def test_export_coverage_has_one_context_per_test(runs: Runs, tmp_path: Path) -> None:
    output = tmp_path / "unit.coverage"
    result = CliRunner().invoke(main, ["export", "--db", str(runs.db), "--format", "coverage", "-o", str(output)])
    assert result.exit_code == 0, result.output
    exported = coverage_contexts(output)
    startup = exported.pop("startup", None)  # the start-up records' context, where the export writes one
    if startup is not None:
        assert startup == lines_of(startup_records_of(runs.db)[0])
    assert set(exported) == {f"pytest/{node_id}" for node_id in runs.records}
    for node_id in runs.records:
        assert exported[f"pytest/{node_id}"] == runs.oracle[node_id]


def test_analyses_read_unit_tests(runs: Runs, tmp_path: Path) -> None:
    runner = CliRunner()
    dedup = runner.invoke(main, ["dedup", "--db", str(runs.db), "--json"])
    assert dedup.exit_code == 0, dedup.output
    groups = json.loads(dedup.output)["groups"]
    # The two positive cases run the same lines; the negative one does not.
    assert [(group["keep"], group["drop"]) for group in groups if group["kind"] == "exact"] == [
        (f"pytest/{NODE['classify1']}", [f"pytest/{NODE['classify2']}"])
    ]
    diff = tmp_path / "change.diff"
    negative_line = line_of(runs.project, 'return "negative"')
    diff.write_text(
        f"--- a/shop/calc.py\n+++ b/shop/calc.py\n@@ -{negative_line} +{negative_line} @@\n"
        f'-        return "negative"\n+        return "below zero"\n'
    )
    impact = runner.invoke(main, ["impact", "--db", str(runs.db), "--diff-file", str(diff),
                                  "--repo", str(runs.project), "--json"])
    assert impact.exit_code == 0, impact.output
    assert sorted(impact.output.count(NODE[name]) > 0 for name in ("classify-3", "anyio2", "add")) == [
        False, True, True]
    for command in (["gaps", "--json"], ["minimize", "--json"], ["html", "-o", str(tmp_path / "html")]):
        result = runner.invoke(main, [command[0], "--db", str(runs.db), *command[1:]])
        assert result.exit_code == 0, (command, result.output)
    assert (tmp_path / "html" / "index.html").is_file()
