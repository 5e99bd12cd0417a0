"""Keploy's dedupData.yaml: the exact layout Keploy reads, and clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from requestcov.errors import InputError
from requestcov.records import RequestRecord
from requestcov.store import read_dedup_yaml, write_dedup_yaml


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
