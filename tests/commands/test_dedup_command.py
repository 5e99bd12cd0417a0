"""requestcov dedup on a real store, a real dedupData.yaml and a real Keploy folder."""

from __future__ import annotations

import json
from pathlib import Path

from requestcov.commands.dedup import command
from requestcov.records import RequestRecord
from requestcov.store import SQLiteStore, write_dedup_yaml
from tests.commands.conftest import run, run_json


def test_json_from_the_store(store: str):
    data = run_json(command, "--db", store)
    groups = {(group["keep"], group["kind"]): group for group in data["groups"]}
    assert sorted(groups) == [("set-a/test-1", "exact"), ("t1", "exact"), ("t4", "subsumed")]
    assert groups[("t1", "exact")]["drop"] == ["t2"]
    assert groups[("set-a/test-1", "exact")]["drop"] == ["set-b/test-1"]
    assert groups[("t4", "subsumed")]["drop"] == ["t3"]
    assert groups[("t4", "subsumed")]["similarity"] == 0.5
    # t5 has t1's lines but answered 404: never dropped.
    assert all("t5" not in group["drop"] for group in data["groups"])
    assert (data["kept"], data["dropped"]) == (4, 3)


def test_table_from_the_store(store: str):
    output = run(command, "--db", store).stdout
    assert "3 of 7 can go, 4 stay" in output
    assert "t1" in output and "t2" in output and "subsumed" in output
    assert "set-b/test-1" in output


def test_by_none_lets_the_404_go(store: str):
    data = run_json(command, "--db", store, "--by", "none")
    (exact,) = [group for group in data["groups"] if group["keep"] == "t1"]
    assert exact["drop"] == ["t2", "t5"]


def test_environment_variable_names_the_store(store: str, monkeypatch):
    monkeypatch.setenv("REQUESTCOV_DB", store)
    assert run_json(command)["dropped"] == 3


def test_dedup_yaml_has_no_status_so_everything_is_comparable(dedup_yaml: str):
    data = run_json(command, "--from", dedup_yaml)
    groups = {(group["keep"], group["kind"]): sorted(group["drop"]) for group in data["groups"]}
    # Without methods and statuses t5 joins t1, and t3..t4 compare with all.
    assert groups[("t1", "exact")] == ["t2", "t5"]
    assert groups[("set-a/test-1", "exact")] == ["set-b/test-1"]
    assert groups[("t4", "subsumed")] == ["t3"]


def test_threshold_makes_near_duplicates(tmp_path: Path):
    path = tmp_path / "near.yaml"
    base = list(range(1, 31))  # the two share 29 of 31 lines: Jaccard 0.935
    write_dedup_yaml([
        RequestRecord(test_id="a", lines={"/x.py": base}),
        RequestRecord(test_id="b", lines={"/x.py": base[:-1] + [99]}),
    ], path)
    assert run_json(command, "--from", str(path))["groups"] == []
    (group,) = run_json(command, "--from", str(path), "--threshold", "0.9")["groups"]
    assert (group["keep"], group["drop"], group["kind"]) == ("a", ["b"], "near")
    assert abs(group["similarity"] - 29 / 31) < 1e-6


def test_keep_policy_option(tmp_path: Path):
    path = tmp_path / "s.db"
    with SQLiteStore(path) as opened:
        opened.write([
            RequestRecord(test_id="slow", lines={"/x.py": [1]}, duration_ms=90.0, start=1.0),
            RequestRecord(test_id="fast", lines={"/x.py": [1]}, duration_ms=3.0, start=2.0),
        ])
    assert run_json(command, "--db", str(path), "--keep", "shortest")["groups"][0]["keep"] == "fast"
    assert run_json(command, "--db", str(path), "--keep", "oldest")["groups"][0]["keep"] == "slow"


def test_missing_store_is_a_one_line_error(tmp_path: Path):
    result = run(command, "--db", str(tmp_path / "none.db"), expect=2)
    assert result.stderr.startswith(f"Error: {tmp_path / 'none.db'} does not exist")
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_broken_yaml_is_a_one_line_error(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("- id: a\n  executedLinesByFile: [1, 2\n")
    result = run(command, "--from", str(path), expect=1)
    assert "not valid YAML" in result.stderr and "Traceback" not in result.output


def test_unknown_by_field_is_refused(store: str):
    result = run(command, "--db", store, "--by", "endpoint,colour", expect=1)
    assert "unknown field 'colour'" in result.stderr


def test_apply_needs_a_keploy_folder(store: str):
    assert "--keploy-dir" in run(command, "--db", store, "--apply", expect=1).stderr


def _keploy_tests(root: Path) -> set:
    return {str(path.relative_to(root)) for path in root.rglob("*.yaml") if ".requestcov-backup" not in path.parts}


def test_keploy_dry_run_then_apply(tmp_path: Path):
    root = tmp_path / "keploy"
    records = []
    for test_set, lines_by_test in {
        "test-set-0": {"test-1": [1, 2, 3], "test-2": [1, 2, 3], "test-3": [1, 2], "test-4": [7]},
        "test-set-1": {"test-1": [1, 2, 3], "test-2": [8]},
    }.items():
        (root / test_set / "tests").mkdir(parents=True)
        for test_id, lines in lines_by_test.items():
            (root / test_set / "tests" / f"{test_id}.yaml").write_text(f"name: {test_id}\n")
            records.append(RequestRecord(test_id=test_id, test_set=test_set, lines={"/app.py": lines}))
    dedup_file = tmp_path / "dedupData.yaml"
    write_dedup_yaml(records, dedup_file)
    before = _keploy_tests(root)

    dry = run_json(command, "--from", str(dedup_file), "--keploy-dir", str(root))
    assert _keploy_tests(root) == before
    assert not (root / ".requestcov-backup").exists()
    assert dry["keploy"]["applied"] is False and dry["keploy"]["would_remove"] == 3
    assert sorted(item["test"] for item in dry["keploy"]["tests"]) == [
        "test-set-0/test-2", "test-set-0/test-3", "test-set-1/test-1"]
    table = run(command, "--from", str(dedup_file), "--keploy-dir", str(root)).stdout
    assert "dry run, nothing removed" in table and "Would remove 3 test files" in table
    assert _keploy_tests(root) == before

    applied = run_json(command, "--from", str(dedup_file), "--keploy-dir", str(root), "--apply")
    removed = {"test-set-0/tests/test-2.yaml", "test-set-0/tests/test-3.yaml", "test-set-1/tests/test-1.yaml"}
    assert _keploy_tests(root) == before - removed
    backup = Path(applied["keploy"]["backup"])
    assert backup.parent == (root / ".requestcov-backup").resolve()
    assert {str(path.relative_to(backup)) for path in backup.rglob("*.yaml")} == removed
    report = json.loads((backup / "removed.json").read_text())
    assert {entry["file"] for entry in report["removed"]} == removed
    assert applied["keploy"]["removed"] == 3


def test_keploy_out_writes_keploys_duplicates_yaml(store: str, tmp_path: Path):
    import yaml

    output = tmp_path / "out" / "duplicates.yaml"
    output.parent.mkdir()
    data = run_json(command, "--db", store, "--keploy-out", str(output))
    assert data["keploy_out"] == str(output.resolve())
    # t2 duplicates t1 and t3 lies inside t4 (no test set: the empty one);
    # set-b's test-1 duplicates set-a's.
    assert output.read_text() == "'':\n- t2\n- t3\nset-b:\n- test-1\n"
    assert yaml.safe_load(output.read_text()) == {"": ["t2", "t3"], "set-b": ["test-1"]}
    dropped = sorted(name for group in data["groups"] for name in group["drop"])
    assert dropped == ["set-b/test-1", "t2", "t3"]


def test_keploy_out_with_nothing_to_drop_writes_an_empty_map(tmp_path: Path):
    import yaml

    source, output = tmp_path / "dedupData.yaml", tmp_path / "duplicates.yaml"
    write_dedup_yaml([RequestRecord(test_id="a", test_set="s", lines={"/x.py": [1]}),
                      RequestRecord(test_id="b", test_set="s", lines={"/x.py": [2]})], source)
    run(command, "--from", str(source), "--keploy-out", str(output))
    assert yaml.safe_load(output.read_text()) == {}


def test_keploy_out_says_what_it_wrote(store: str, tmp_path: Path):
    output = tmp_path / "duplicates.yaml"
    result = run(command, "--db", store, "--keploy-out", str(output))
    assert f"wrote 3 duplicate tests to {output.resolve()}" in result.stderr
    assert "3 of 7 can go" in result.stdout


def test_table_to_a_pipe_is_the_table_rich_writes(tmp_path: Path):
    """A real store of many copied tests with long ids (some not ASCII):
    ``dedup``'s table written to a file (rows laid out without rich) reads
    byte for byte as rich renders it on a terminal without colours."""
    import io
    import random

    from rich.console import Console

    from requestcov.analysis.dedup import find_duplicates
    from requestcov.commands._common import load_index_or_fail
    from requestcov.commands.dedup import print_duplicates
    from tests.analysis.builders import record

    chooser = random.Random(3)
    bases = [sorted(chooser.sample(range(1, 300), 40)) for _ in range(6)]
    records = [record(f"test-{number}" + ("-é中" if number % 13 == 0 else ""),
                      bases[number % 6] if number % 4 else bases[number % 6][: 20 + number % 7],
                      test_set=f"set-{number % 2}", route=f"/items/{number % 3}/<id>", status=200)
               for number in range(300)]
    path = tmp_path / "many.db"
    with SQLiteStore(path) as store:
        store.write(records)
    index = load_index_or_fail(str(path), None, progress=False)
    result = find_duplicates(index)
    assert result.dropped > 200
    for width in (40, 80, 160):
        outputs = []
        for terminal in (False, True):
            buffer = io.StringIO()
            print_duplicates(index, result, Console(file=buffer, width=width, color_system=None,
                                                    force_terminal=terminal, soft_wrap=False))
            outputs.append(buffer.getvalue())
        assert outputs[0] == outputs[1]
        assert "é中" in outputs[0] and outputs[0].count("\n") > 20
    cli = run(command, "--db", str(path)).stdout
    assert "can go" in cli
