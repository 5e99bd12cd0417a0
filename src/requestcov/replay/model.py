"""The plain data a replay passes around: what to send, what came back, the tally."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

__all__ = ["ReplayRequest", "LoadedRequests", "ReplayResult", "ReplaySummary", "MATCHED", "MISMATCHED",
           "UNCHECKED", "FAILED"]

#: The app answered with the recorded status.
MATCHED = "matched"
#: The app answered, with another status than the recorded one.
MISMATCHED = "mismatched"
#: The app answered and there was no recorded status to compare with.
UNCHECKED = "unchecked"
#: No answer: connection refused, timeout, broken response.
FAILED = "failed"


@dataclass(frozen=True)
class ReplayRequest:
    """One recorded request, ready to send again."""

    test_id: str
    method: str
    #: Path and query of the recorded URL (``/users/1?full=yes``).
    target: str
    headers: Tuple[Tuple[str, str], ...] = ()
    body: bytes = b""
    #: The status the recording got back; None when it is not known.
    expected_status: Optional[int] = None
    #: Keploy's test set (the folder name); empty when there is none.
    test_set: str = ""
    #: Where the request was read from, for messages.
    origin: str = ""
    #: ``scheme://host:port`` of the recorded URL ("" when it had none): where
    #: the app listened when it was recorded, the default target of a replay.
    base_url: str = ""
    #: The last test of its Keploy test set in this replay: sent with
    #: ``KEPLOY-LAST-TESTCASE: true``, as Keploy's replayer does.
    last_in_set: bool = False

    @property
    def label(self) -> str:
        return f"{self.test_set}/{self.test_id}" if self.test_set else self.test_id


@dataclass
class LoadedRequests:
    """Requests read from recordings, and one warning per input that was skipped."""

    requests: List[ReplayRequest] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReplayResult:
    request: ReplayRequest
    outcome: str
    status: Optional[int] = None
    elapsed_ms: float = 0.0
    #: Why the request failed, when it did.
    error: str = ""


@dataclass
class ReplaySummary:
    """What a replay did. ``sent`` counts requests that got an answer."""

    results: List[ReplayResult] = field(default_factory=list)
    #: Inputs skipped while loading (malformed files or entries).
    skipped: int = 0
    warnings: List[str] = field(default_factory=list)

    def _count(self, outcome: str) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    @property
    def sent(self) -> int:
        return sum(1 for result in self.results if result.outcome != FAILED)

    @property
    def matched(self) -> int:
        return self._count(MATCHED)

    @property
    def mismatched(self) -> int:
        return self._count(MISMATCHED)

    @property
    def unchecked(self) -> int:
        return self._count(UNCHECKED)

    @property
    def failed(self) -> int:
        return self._count(FAILED)

    @property
    def mismatches(self) -> List[ReplayResult]:
        return [result for result in self.results if result.outcome == MISMATCHED]
