"""Where the heavy server matrices run.

Every interpreter runs the unit tests, the engine's coverage.py oracle and
the end-to-end sessions of the core frameworks (Flask, FastAPI, Django,
Bottle, the adapters) under the servers each module names ``LIGHT`` (one
single-process server and one with workers, at least). The rest of their
servers, the matrices of every other framework and server, and of every way
to stop them, run on 3.11 (the last trace-function engine) and on the newest
Python (the newest sys.monitoring), which is enough to keep the whole suite
within CI's time; ``REQUESTCOV_FULL_MATRIX=1`` runs them on every
interpreter. So do the scale and load tests (inputs of hundreds of megabytes, a
request running 50,000 lines, servers under load and their workers killed)
and the pytest plugin beside other ways pytest runs (xdist, pytest-cov, an
interrupted session: whole pytest runs in subprocesses), whose code is the
same on every interpreter and whose engine side both engines' interpreters
cover; the plugin's own records are checked on every interpreter.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterable, List, Optional

import pytest

__all__ = ["FULL_MATRIX", "heavy", "server_params"]

#: The interpreters that run the heavy matrices by default.
MATRIX_VERSIONS = ((3, 11), (3, 13))

FULL_MATRIX = sys.version_info[:2] in MATRIX_VERSIONS or os.environ.get("REQUESTCOV_FULL_MATRIX") == "1"

#: Put on a heavy module: ``pytestmark = [pytest.mark.slow, heavy]``.
heavy = pytest.mark.skipif(
    not FULL_MATRIX,
    reason="heavy matrices and scale tests run on 3.11 and the newest Python (REQUESTCOV_FULL_MATRIX=1: everywhere)",
)


def server_params(names: Iterable[str], light: Optional[Iterable[str]]) -> List[Any]:
    """``names`` sorted, as pytest parameters; those not in ``light`` (when
    given) are heavy."""
    kept = None if light is None else set(light)
    return [name if kept is None or name in kept else pytest.param(name, marks=heavy) for name in sorted(names)]
