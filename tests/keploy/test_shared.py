"""The shared file through which every process of a server sees the current
Keploy test and counts its requests: real processes, a real mapped file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from requestcov.keploy.shared import SLOT_COUNT, SharedTest
from requestcov.records import TestKey as Key

REPOSITORY = Path(__file__).resolve().parents[2]


def run_reader(path: Path, script: str) -> str:
    """Run ``script`` in a new Python process with ``shared`` opened on ``path``."""
    code = "from requestcov.keploy.shared import SharedTest\nshared = SharedTest(%r)\n" % str(path)
    completed = subprocess.run([sys.executable, "-c", code + textwrap.dedent(script)], capture_output=True,
                               text=True, timeout=60, cwd=str(REPOSITORY))
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def test_another_process_sees_the_test_and_its_counts_reach_the_owner(tmp_path: Path) -> None:
    path = tmp_path / "control.sock.state"
    owner = SharedTest(str(path))
    owner.reset()
    assert run_reader(path, "print(shared.current()[1])") == "None"
    generation = owner.publish(Key("test-set-0", "test-1"))
    printed = run_reader(path, """
        generation, key = shared.current()
        for _ in range(3):
            shared.count(generation)
        print(generation, key.test_set, key.test_id)
    """)
    assert printed == f"{generation} test-set-0 test-1"
    assert owner.begun(generation) == 3
    # Two processes at once, each in a slot of its own. The first reader is
    # gone, and its lock with it: its slot is taken again and counts anew.
    run_reader(path, """
        import subprocess, sys
        generation, _ = shared.current()
        shared.count(generation)
        other = subprocess.run([sys.executable, "-c", "from requestcov.keploy.shared import SharedTest\\n"
                                "s = SharedTest(%r)\\ng, _ = s.current()\\ns.count(g)\\ns.count(g)" % shared.path])
        assert other.returncode == 0
    """)
    assert owner.begun(generation) == 1 + 2
    ended = owner.publish(None)
    assert ended > generation and owner.begun(ended) == 0
    assert run_reader(path, "print(shared.current())") == f"({ended}, None)"


# Other tests of the worker leave threads behind; the child only counts in
# shared memory and leaves by os._exit, taking no lock another thread held.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_counts_in_a_slot_of_its_own(tmp_path: Path) -> None:
    owner = SharedTest(str(tmp_path / "state"))
    owner.reset()
    generation = owner.publish(Key("", "test-1"))
    owner.count(generation)
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's part
        try:
            owner.count(generation)
            owner.count(generation)
        finally:
            os._exit(0)
    _, status = os.waitpid(child, 0)
    assert status == 0
    assert owner.begun(generation) == 3


def test_names_too_long_for_their_field_are_cut_on_a_character(tmp_path: Path) -> None:
    owner = SharedTest(str(tmp_path / "state"))
    owner.reset()
    owner.publish(Key("é" * 600, "t" * 5000))
    _, key = owner.current()
    assert key is not None and key.test_set == "é" * 512 and key.test_id == "t" * 1024


def test_a_symlink_or_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(OSError):
        SharedTest(str(tmp_path / "link"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(OSError):
        SharedTest(str(tmp_path / "folder"))
    assert (tmp_path / "target").read_text() == ""


def test_slots_are_plenty() -> None:
    assert SLOT_COUNT >= 256
