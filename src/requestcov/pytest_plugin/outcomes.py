"""A test's outcome as the integer status a record holds.

Records keep an HTTP-style ``status`` (the store's column is an integer),
and every analysis groups by it: ``dedup`` never calls a failing test a
duplicate of a passing one, as it never calls a 404 request a duplicate of a
200 one. So each pytest outcome gets a code of its own, chosen so that
``requestcov report`` colours them as a reader expects (failures red,
expected failures yellow):

======================  ======
outcome                 status
======================  ======
passed                  200
xpassed (not strict)    202
skipped in the test     204
xfailed                 417
interrupted (Ctrl-C)    499
failed                  500
======================  ======

A test skipped before its call phase (``@pytest.mark.skip``, a ``skipif``,
a fixture that skips) never ran its body and gets no record at all.
"""

from __future__ import annotations

from typing import Any, Dict

__all__ = ["PASSED", "XPASSED", "SKIPPED", "XFAILED", "INTERRUPTED", "FAILED", "OUTCOMES", "status_of"]

PASSED = 200
XPASSED = 202
SKIPPED = 204
XFAILED = 417
INTERRUPTED = 499
FAILED = 500

#: Status -> pytest's name of the outcome, for exports that name results.
OUTCOMES: Dict[int, str] = {
    PASSED: "passed", XPASSED: "xpassed", SKIPPED: "skipped", XFAILED: "xfailed",
    INTERRUPTED: "interrupted", FAILED: "failed",
}


def status_of(report: Any) -> int:
    """The status of a call-phase ``TestReport``, after pytest's xfail handling
    has had its say (a strict xpass is already a failure there)."""
    if hasattr(report, "wasxfail"):
        return XFAILED if report.skipped else XPASSED
    if report.failed:
        return FAILED
    if report.skipped:
        return SKIPPED
    return PASSED
