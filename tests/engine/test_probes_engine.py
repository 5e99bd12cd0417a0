"""The probes engine in a real interpreter: import hook, live functions, scopes, threads, stop.

Each case runs tests/engine/probes_scenario.py in a fresh process (so the
test process's own code is never rewritten), once per core.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from requestcov.engine import ENGINE_VARIABLE
from tests.support.servers import REPOSITORY

pytestmark = pytest.mark.skipif(not (3, 9) <= sys.version_info < (3, 12), reason="probes are for Python 3.9-3.11")

EARLY = textwrap.dedent("""\
    def work(n):
        total = 0
        for i in range(n):
            total += i
        if total:
            return total
        return -1
""")

LATE = textwrap.dedent("""\
    CONSTANT = 1


    class AtImport:
        value = 2


    def view():
        class Local:
            value = 3
        items = [x for x in range(2)]
        return helper(Local.value + len(items))


    def helper(value):
        return value * 2
""")


# Imported before the engine starts, and starts it itself, from inside an
# app factory called by its module body: both are running at the start.
STARTER = textwrap.dedent("""\
    import builtins


    def create():
        builtins.start_engine()

        def view(n):
            return n + 1
        return view


    VIEW = create()


    def later(n):
        return n * 3
""")


SCRIPT = textwrap.dedent("""\
    def view(n):
        class Form:
            size = n
        return [Form.size for _ in range(n)]


    if __name__ == "__main__":
        READY = True
""")


def run_scenario(tmp_path: Path, core: str) -> dict:
    source = tmp_path / "src"
    source.mkdir()
    (source / "early.py").write_text(EARLY)
    (source / "late.py").write_text(LATE)
    (source / "script.py").write_text(SCRIPT)
    (source / "starter.py").write_text(STARTER)
    environment = {"PYTHONPATH": str(REPOSITORY), ENGINE_VARIABLE: "probes", "REQUESTCOV_CORE": core,
                   "PATH": "/usr/bin:/bin"}
    completed = subprocess.run(
        [sys.executable, "-m", "tests.engine.probes_scenario", str(source)],
        cwd=str(REPOSITORY), env=environment, capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_probes_engine_records_each_request(tmp_path: Path, core: str) -> None:
    results = run_scenario(tmp_path, core)
    assert results["engine"] == ("probes (compiled core)" if core == "compiled" else "probes (Python core)")
    # No trace function once requests run: unmeasured code pays nothing.
    assert results["tracer"] == "None"
    # A function imported before the start runs its probed copy.
    assert results["early"] == {"early.py": [2, 3, 4, 5, 6]}
    assert results["early_again"] == {"early.py": [2, 3, 5, 7]}
    # Imported after: the function body and the class body in it are the request's.
    assert results["late"] == results["late_again"] == {"late.py": [9, 10, 11, 12, 16]}
    assert results["threads"] == {"t1": {"early.py": [2, 3, 4, 5, 6]}, "t2": {"early.py": [2, 3, 5, 7]}}
    assert results["unrecorded"] == {}
    # The module body and the class body run at import belong to start-up.
    assert results["startup"]["late.py"] == [1, 4, 5, 8, 15]
    if core == "compiled":
        # Code running when the engine started: what it defines afterwards
        # is probed (the factory's view, the module's later function).
        assert results["factory_view"] == {"starter.py": [8]}
        assert results["module_later"] == {"starter.py": [16]}
        # Functions defined by code run through exec are probed (their
        # code objects are put among its constants before it runs), and its
        # top-level lines are traced until the first request.
        assert results["bridge"] == "LineTracer"
        assert results["script"] == {"script.py": [2, 3, 4]}
        assert results["dynamic"] == {"dynamic.py": [2]}
        assert results["startup"]["script.py"] == [1, 7, 8]
    else:
        assert results["bridge"] == "NoneType"
        assert results["script"] == results["dynamic"] == {}
        assert results["factory_view"] == results["module_later"] == {}
        assert "script.py" not in results["startup"]
    # Stopped: functions patched at the start have their own code back, and
    # nothing records, the code probed since included.
    assert results["early_code_back"] is True
    assert results["after_stop"] == results["late_after_stop"] == {}
