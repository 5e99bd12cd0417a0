"""The loader requestcov hands granian's workers in place of granian's own,
in a process of its own (wrapping an app starts a recorder)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.e2e.harness import clean_environment

pytest.importorskip("granian", reason="granian does not install on this Python")

SCRIPT = """
    import json, logging, pickle, sys
    from functools import partial
    from granian._internal import load_target
    from requestcov.integrations.granian import InterfaceLoader
    from requestcov.middleware import ASGIMiddleware, WSGIMiddleware

    logging.basicConfig(stream=sys.stderr)

    async def rsgi_app(scope, protocol):
        pass

    # As granian builds it: its own loader for the target, which a spawned
    # worker receives pickled.
    flask = pickle.loads(pickle.dumps(InterfaceLoader(partial(load_target, "flask_server:app"), "wsgi")))
    fastapi = InterfaceLoader(partial(load_target, "fastapi_server:app"), "asginl")
    print(json.dumps({
        "flask": isinstance(flask().wsgi_app, WSGIMiddleware),
        "fastapi": isinstance(fastapi(), ASGIMiddleware),
        "rsgi": InterfaceLoader(lambda: rsgi_app, "rsgi")() is rsgi_app,
    }))
"""


def test_the_loader_pickles_and_wraps_for_the_interface_and_leaves_rsgi_alone(tmp_path: Path) -> None:
    environment = clean_environment()
    environment["REQUESTCOV_DB"] = str(tmp_path / "requestcov.db")
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT)], capture_output=True, text=True, timeout=120,
        cwd=str(Path(__file__).parent / "apps" / "served"), env=environment,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == {"flask": True, "fastapi": True, "rsgi": True}
    assert "granian's RSGI interface is not recorded; the app runs unmeasured" in completed.stderr
