"""Which test a request belongs to while Keploy runs one: the request path's part."""

from __future__ import annotations

from typing import Tuple

from requestcov.keploy.shared import SharedTest
from requestcov.log import log_once

__all__ = ["KeployAttribution"]


class KeployAttribution:
    """Reads the current Keploy test from the shared file (one memory read a
    request) and counts the requests begun for it."""

    def __init__(self, shared: SharedTest) -> None:
        self.shared = shared

    def identify(self, test_id: str, test_set: str) -> Tuple[str, str]:
        """A request's own test id wins; without one it belongs to the
        current test. Either way, a request of the current test is counted,
        so the agent knows how many records to wait for at ``END``. Never
        raises: the request goes on with the identity it came with."""
        try:
            generation, current = self.shared.current()
            if current is None:
                return test_id, test_set
            if not test_id:
                test_id, test_set = current.test_id, current.test_set
            elif (test_set, test_id) != (current.test_set, current.test_id):
                return test_id, test_set
            self.shared.count(generation)
        except Exception:
            log_once("keploy-identify", "requestcov: cannot read the current Keploy test; requests go on "
                     "without it", exc_info=True)
        return test_id, test_set
