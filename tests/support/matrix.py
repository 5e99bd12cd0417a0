"""Where the heavy server matrices run.

Every interpreter runs the unit tests, the engine's coverage.py oracle and
the end-to-end sessions of the core frameworks (Flask, FastAPI, Django,
Bottle, the adapters). The matrices of every other framework and server, and
of every way to stop them, run on 3.11 (the last trace-function engine) and
on the newest Python (the newest sys.monitoring), which is enough to keep the
whole suite within CI's time; ``REQUESTCOV_FULL_MATRIX=1`` runs them on every
interpreter.
"""

from __future__ import annotations

import os
import sys

import pytest

__all__ = ["FULL_MATRIX", "heavy"]

#: The interpreters that run the heavy matrices by default.
MATRIX_VERSIONS = ((3, 11), (3, 13))

FULL_MATRIX = sys.version_info[:2] in MATRIX_VERSIONS or os.environ.get("REQUESTCOV_FULL_MATRIX") == "1"

#: Put on a heavy module: ``pytestmark = [pytest.mark.slow, heavy]``.
heavy = pytest.mark.skipif(
    not FULL_MATRIX,
    reason="heavy server matrices run on 3.11 and the newest Python (REQUESTCOV_FULL_MATRIX=1: everywhere)",
)
