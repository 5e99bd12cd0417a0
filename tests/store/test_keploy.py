"""Keploy's dedupData.yaml in each of its layouts, its duplicates.yaml, and clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from requestcov.errors import InputError
from requestcov.records import RequestRecord
from requestcov.store import read_dedup_yaml, write_dedup_yaml
from requestcov.store.keploy import LAYOUTS, write_duplicates_yaml


def test_written_file_has_keploys_exact_layout(tmp_path: Path) -> None:
    output = tmp_path / "dedupData.yaml"
    records = [
        RequestRecord(test_id="test-1", lines={"/abs/path/app.py": [33, 34], "/abs/path/db.py": [7]}),
        RequestRecord(test_id="test-2", lines={}),
    ]
    assert write_dedup_yaml(records, output) == 2
    assert output.read_text() == (
        "- id: test-1\n"
        "  executedLinesByFile:\n"
        "    /abs/path/app.py:\n"
        "    - 33\n"
        "    - 34\n"
        "    /abs/path/db.py:\n"
        "    - 7\n"
        "- id: test-2\n"
        "  executedLinesByFile: {}\n"
    )


def test_reads_a_file_written_the_way_keploys_python_middleware_writes_it(tmp_path: Path) -> None:
    # The old per-request middleware dumped a list with yaml.dump(sort_keys=False).
    source = tmp_path / "dedupData.yaml"
    source.write_text(
        "- id: test-1\n  executedLinesByFile:\n    /app/main.py:\n    - 3\n    - 4\n"
        "- id: test-2\n  executedLinesByFile:\n    /app/main.py:\n    - 3\n"
    )
    records = list(read_dedup_yaml(source))
    assert [(record.test_id, record.lines) for record in records] == [
        ("test-1", {"/app/main.py": [3, 4]}),
        ("test-2", {"/app/main.py": [3]}),
    ]


def test_test_sets_survive_a_round_trip(tmp_path: Path) -> None:
    output = tmp_path / "dedupData.yaml"
    records = [
        RequestRecord(test_id="test-1", test_set="test-set-0", lines={"/a.py": [1]}),
        RequestRecord(test_id="test-1", test_set="test-set-1", lines={"/a.py": [2]}),
    ]
    write_dedup_yaml(records, output)
    back = list(read_dedup_yaml(output))
    assert [(record.key, record.lines) for record in back] == [(record.key, record.lines) for record in records]


def test_an_empty_store_writes_an_empty_list(tmp_path: Path) -> None:
    output = tmp_path / "dedupData.yaml"
    assert write_dedup_yaml([], output) == 0
    assert list(read_dedup_yaml(output)) == []


@pytest.mark.parametrize(
    "text, message",
    [
        ("- id: test-1\n  executedLinesByFile:\n    /a.py:\n    - seven\n", r"dedupData.yaml:4: 'seven' is not a line number"),
        ("- id: test-1\n  executedLinesByFile: [1, 2]\n", r"dedupData.yaml:2: executedLinesByFile of 'test-1'"),
        ("- executedLinesByFile: {}\n", r"dedupData.yaml:1: a test has no id"),
        ("id: test-1\n", r"dedupData.yaml:1: expected a list of tests"),
        ("- id: [unclosed\n", r"dedupData.yaml:2: not valid YAML"),
        ("- id: test-1\n  executedLinesByFile:\n    /a.py:\n    - -3\n", r"never negative"),
        # The nested layout.
        ("test-set-0: [test-1]\n", r"dedupData.yaml:1: test set 'test-set-0' must map test ids"),
        ("test-set-0:\n  test-1: [3]\n", r"dedupData.yaml:2: executedLinesByFile of 'test-1'"),
        ("test-set-0:\n  test-1:\n    /a.py: [x]\n", r"dedupData.yaml:3: 'x' is not a line number"),
        ("test-set-0:\n  *alias: {}\n", r"aliases"),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    source = tmp_path / "dedupData.yaml"
    source.write_text(text)
    with pytest.raises(InputError, match=message):
        list(read_dedup_yaml(source))


def test_yaml_tags_that_would_run_code_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "dedupData.yaml"
    source.write_text("- id: !!python/object/apply:os.system ['echo unsafe']\n  executedLinesByFile: {}\n")
    with pytest.raises(InputError):
        list(read_dedup_yaml(source))


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path: Path) -> None:
    output = tmp_path / "dedupData.yaml"
    write_dedup_yaml([RequestRecord(test_id="kept", lines={"/a.py": [1]})], output)

    def broken_records():
        yield RequestRecord(test_id="new", lines={"/a.py": [1]})
        raise RuntimeError("store went away")

    with pytest.raises(RuntimeError):
        write_dedup_yaml(broken_records(), output)
    assert [record.test_id for record in read_dedup_yaml(output)] == ["kept"]
    assert [path.name for path in tmp_path.iterdir()] == ["dedupData.yaml"]


# --- The three layouts: list (bare ids), qualified ids, nested map -----------

_BY_HAND = {
    # (a) bare ids, as Keploy's per-language middlewares wrote them
    "list": (
        "- id: test-1\n"
        "  executedLinesByFile:\n"
        "    /app/main.py: [3, 4]\n"
        "- id: test-2\n"
        "  executedLinesByFile:\n"
        "    /app/main.py: [3]\n"
    ),
    # (b) qualified ids, as Keploy's v2 coverage services append them
    "qualified": (
        "- id: test-set-0/test-1\n"
        "  executedLinesByFile:\n"
        "    /app/main.py:\n"
        "    - 4\n"
        "    - 3\n"
        "- id: test-set-1/test-2\n"
        "  executedLinesByFile:\n"
        "    /app/main.py: [3]\n"
    ),
    # (c) nested, as Keploy Enterprise writes it today: lines not sorted
    "nested": (
        "test-set-0:\n"
        "  test-1:\n"
        "    /app/main.py:\n"
        "    - 4\n"
        "    - 3\n"
        "    - 4\n"
        "test-set-1:\n"
        "  test-2:\n"
        "    /app/main.py: [3]\n"
        "    /app/db.py: []\n"
        "test-set-2: {}\n"
        "test-set-3:\n"
    ),
}


def test_a_hand_written_list_file_has_bare_ids(tmp_path: Path) -> None:
    source = tmp_path / "dedupData.yaml"
    source.write_text(_BY_HAND["list"])
    assert [(str(record.key), record.lines) for record in read_dedup_yaml(source)] == [
        ("test-1", {"/app/main.py": [3, 4]}), ("test-2", {"/app/main.py": [3]}),
    ]


def test_a_hand_written_qualified_file_splits_set_and_id(tmp_path: Path) -> None:
    source = tmp_path / "dedupData.yaml"
    source.write_text(_BY_HAND["qualified"])
    assert [(record.test_set, record.test_id, record.lines) for record in read_dedup_yaml(source)] == [
        ("test-set-0", "test-1", {"/app/main.py": [3, 4]}), ("test-set-1", "test-2", {"/app/main.py": [3]}),
    ]


def test_a_hand_written_nested_file_is_read_with_its_lines_sorted(tmp_path: Path) -> None:
    source = tmp_path / "dedupData.yaml"
    source.write_text(_BY_HAND["nested"])
    assert [(record.test_set, record.test_id, record.lines) for record in read_dedup_yaml(source)] == [
        ("test-set-0", "test-1", {"/app/main.py": [3, 4]}),
        ("test-set-1", "test-2", {"/app/main.py": [3], "/app/db.py": []}),
    ]


def test_an_explicit_test_set_keeps_a_slash_in_the_id(tmp_path: Path) -> None:
    source = tmp_path / "dedupData.yaml"
    source.write_text("- id: tests/test_a.py::test_x\n  testSetId: ''\n  executedLinesByFile: {}\n"
                      "- id: tests/test_a.py::test_y\n  testSetId: session\n  executedLinesByFile: {}\n")
    assert [(record.test_set, record.test_id) for record in read_dedup_yaml(source)] == [
        ("", "tests/test_a.py::test_x"), ("session", "tests/test_a.py::test_y"),
    ]


def test_the_nested_layout_has_keploy_enterprises_exact_form(tmp_path: Path) -> None:
    output = tmp_path / "dedupData.yaml"
    records = [
        RequestRecord(test_id="test-1", test_set="test-set-0", lines={"/app/main.py": [3, 4], "/app/db.py": [7]}),
        # a second request of the same test: merged into its entry
        RequestRecord(test_id="test-1", test_set="test-set-0", lines={"/app/main.py": [9]}),
        RequestRecord(test_id="test-2", test_set="test-set-0", lines={}),
        RequestRecord(test_id="0", test_set="true", lines={"/app/main.py": [1]}),
    ]
    assert write_dedup_yaml(records, output, "nested") == 4
    assert output.read_text() == (
        "test-set-0:\n"
        "  test-1:\n"
        "    /app/db.py:\n"
        "    - 7\n"
        "    /app/main.py:\n"
        "    - 3\n"
        "    - 4\n"
        "    - 9\n"
        "  test-2: {}\n"
        "'true':\n"
        "  '0':\n"
        "    /app/main.py:\n"
        "    - 1\n"
    )
    # Keploy reads it with a plain YAML loader: check it as one.
    assert yaml.safe_load(output.read_text()) == {
        "test-set-0": {"test-1": {"/app/db.py": [7], "/app/main.py": [3, 4, 9]}, "test-2": {}},
        "true": {"0": {"/app/main.py": [1]}},
    }


def test_the_qualified_layout_writes_set_slash_id(tmp_path: Path) -> None:
    output = tmp_path / "dedupData.yaml"
    write_dedup_yaml([RequestRecord(test_id="test-1", test_set="test-set-0", lines={"/a.py": [1]}),
                      RequestRecord(test_id="solo", lines={"/a.py": [2]})], output, "qualified")
    assert yaml.safe_load(output.read_text()) == [
        {"id": "test-set-0/test-1", "executedLinesByFile": {"/a.py": [1]}},
        {"id": "solo", "executedLinesByFile": {"/a.py": [2]}},
    ]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_round_trips(tmp_path: Path, layout: str) -> None:
    output = tmp_path / "dedupData.yaml"
    records = [
        RequestRecord(test_id="test-1", test_set="test-set-0", lines={"/a.py": [1, 2], "/b.py": [5]}),
        RequestRecord(test_id="test-2", test_set="test-set-0", lines={"/a.py": [1]}),
        RequestRecord(test_id="test-1", test_set="test-set-1", lines={"/a.py": [3]}),
        RequestRecord(test_id="tests/t.py::test_x", test_set="", lines={"/c.py": [8]}),
        RequestRecord(test_id="null", test_set="yes", lines={}),
    ]
    assert write_dedup_yaml(records, output, layout) == len(records)
    back = list(read_dedup_yaml(output))
    assert [(record.key, record.lines) for record in back] == [(record.key, record.lines) for record in records]


def test_an_empty_nested_file_is_an_empty_map(tmp_path: Path) -> None:
    output = tmp_path / "dedupData.yaml"
    assert write_dedup_yaml([], output, "nested") == 0
    assert yaml.safe_load(output.read_text()) == {}
    assert list(read_dedup_yaml(output)) == []


def test_the_nested_layout_refuses_records_out_of_order(tmp_path: Path) -> None:
    output = tmp_path / "dedupData.yaml"
    scattered = [RequestRecord(test_id="t1", test_set="a"), RequestRecord(test_id="t1", test_set="b"),
                 RequestRecord(test_id="t2", test_set="a")]
    with pytest.raises(ValueError, match="test set 'a' comes twice"):
        write_dedup_yaml(scattered, output, "nested")
    assert not output.exists()


def test_duplicates_yaml_maps_each_set_to_its_duplicate_ids(tmp_path: Path) -> None:
    output = tmp_path / "duplicates.yaml"
    assert write_duplicates_yaml([("test-set-0", "test-2"), ("test-set-0", "test-10"), ("test-set-1", "test-1")],
                                 output) == 3
    assert output.read_text() == "test-set-0:\n- test-2\n- test-10\ntest-set-1:\n- test-1\n"
    assert yaml.safe_load(output.read_text()) == {"test-set-0": ["test-2", "test-10"], "test-set-1": ["test-1"]}
