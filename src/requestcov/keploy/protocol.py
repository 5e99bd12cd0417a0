"""The bytes Keploy's coverage agents exchange with Keploy, and nothing else.

As keploy/python-sdk's ``keploy_agent`` and Keploy's Go and Java agents speak
it: the control socket takes one line per connection, ``START <id>`` or
``END <id>`` (the id is ``<test-set>/<test-id>``), split at the first space;
the agent answers ``ACK\\n``. The data socket gets one JSON object per test,
``{"id": "<id>", "executedLinesByFile": {"/abs/path.py": [lines]}}``, written
with Python's default JSON separators and closed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

from requestcov.middleware.testid import clean_test_id
from requestcov.records import RequestRecord, TestKey

__all__ = [
    "DEFAULT_CONTROL_SOCKET", "DEFAULT_DATA_SOCKET", "ACK", "START", "END", "MAX_COMMAND_BYTES",
    "Command", "parse_command", "key_of", "executed_lines", "encode_payload",
]

DEFAULT_CONTROL_SOCKET = "/tmp/coverage_control.sock"
DEFAULT_DATA_SOCKET = "/tmp/coverage_data.sock"
ACK = b"ACK\n"
START = "START"
END = "END"
#: A command line longer than this is no command of Keploy's.
MAX_COMMAND_BYTES = 4096


@dataclass(frozen=True)
class Command:
    action: str
    #: The id exactly as Keploy sent it: the payload echoes it.
    test: str

    @property
    def key(self) -> TestKey:
        return key_of(self.test)


def parse_command(line: bytes) -> Optional[Command]:
    """``b"START test-set-0/test-1\\n"`` -> ``Command("START", "test-set-0/test-1")``;
    None for anything else (Keploy's agents drop such lines unanswered)."""
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    action, _, test = text.partition(" ")
    test = test.strip()
    if action not in (START, END) or not test or not key_of(test).test_id:
        return None
    return Command(action, test)


def key_of(test: str) -> TestKey:
    """The store's key of a Keploy id: ``test-set-0/test-1`` is test ``test-1``
    of set ``test-set-0``, as the replayer's headers name it; a bare
    ``test-1`` has no set. Cleaned as header values are, so both compare equal."""
    test_set, _, test_id = test.rpartition("/")
    return TestKey(clean_test_id(test_set), clean_test_id(test_id))


def executed_lines(records: Iterable[RequestRecord]) -> Dict[str, List[int]]:
    """The union of the records' lines, by absolute path, files and lines sorted."""
    union: Dict[str, set] = {}
    for record in records:
        for path, lines in record.lines.items():
            if lines:
                union.setdefault(os.path.abspath(path), set()).update(lines)
    return {path: sorted(union[path]) for path in sorted(union)}


def encode_payload(test: str, lines_by_file: Dict[str, List[int]]) -> bytes:
    """The data-socket message, byte for byte as Keploy's Python agent writes it."""
    return json.dumps({"id": test, "executedLinesByFile": lines_by_file}).encode("utf-8")
