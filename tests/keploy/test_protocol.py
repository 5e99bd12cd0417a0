"""The wire format, byte for byte as Keploy's Python agent (keploy/python-sdk) speaks it."""

from __future__ import annotations

import json

from requestcov.keploy.protocol import Command, encode_payload, executed_lines, parse_command, key_of
from requestcov.records import RequestRecord
from requestcov.records import TestKey as Key


def test_commands_are_one_line_split_at_the_first_space() -> None:
    assert parse_command(b"START test-set-0/test-1\n") == Command("START", "test-set-0/test-1")
    assert parse_command(b"END test-set-0/test-1") == Command("END", "test-set-0/test-1")
    assert parse_command(b"START test-7\n") == Command("START", "test-7")  # a bare id
    assert parse_command(b"START a set/test 1\r\n") == Command("START", "a set/test 1")
    for line in (b"", b"START", b"START \n", b"STOP test-1", b"start test-1", b"START set/\n", b"\xff\xfe"):
        assert parse_command(line) is None, line


def test_an_id_is_a_test_set_and_a_test_as_the_replayer_headers_name_them() -> None:
    assert key_of("test-set-0/test-1") == Key("test-set-0", "test-1")
    assert key_of("test-1") == Key("", "test-1")
    assert key_of("suite/a/test-13") == Key("suite/a", "test-13")
    assert key_of("set/te\x00st") == Key("set", "test")  # cleaned as header values are


def test_the_payload_is_the_json_keploys_python_agent_writes() -> None:
    lines = {"/srv/app.py": [3, 4, 10], "/srv/logic.py": [1]}
    payload = encode_payload("test-set-0/test-1", lines)
    assert payload == (b'{"id": "test-set-0/test-1", "executedLinesByFile": '
                       b'{"/srv/app.py": [3, 4, 10], "/srv/logic.py": [1]}}')
    assert payload == json.dumps({"id": "test-set-0/test-1", "executedLinesByFile": lines}).encode("utf-8")


def test_lines_are_the_union_of_the_records_sorted() -> None:
    records = [
        RequestRecord("t", lines={"/srv/b.py": [5, 2], "/srv/a.py": [1]}),
        RequestRecord("t", lines={"/srv/b.py": [2, 9], "/srv/empty.py": []}),
    ]
    union = executed_lines(records)
    assert union == {"/srv/a.py": [1], "/srv/b.py": [2, 5, 9]}
    assert list(union) == ["/srv/a.py", "/srv/b.py"]
