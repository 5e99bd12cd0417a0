"""Replay recorded traffic (Keploy test sets, browser HAR files) against a
running app, each request carrying its test id, so the app's requestcov
middleware records one test per recorded request.

``replay_directory`` is the one entry point: the ``replay`` command and
``requestcov run --replay`` both call it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable, Optional, Sequence

from requestcov.config import DEFAULT_ID_HEADER, DEFAULT_TEST_SET_HEADER
from requestcov.errors import InputError
from requestcov.replay.har import load_har
from requestcov.replay.keploy import load_keploy_tests, mark_last_in_each_set
from requestcov.replay.model import LoadedRequests, ReplayRequest, ReplayResult, ReplaySummary
from requestcov.replay.sender import parse_app_url, send_requests

__all__ = [
    "KINDS",
    "load_recordings",
    "recorded_base_url",
    "replay_directory",
    "ReplayRequest",
    "ReplayResult",
    "ReplaySummary",
    "LoadedRequests",
]

#: Recording formats ``replay_directory`` reads, by the name used on the command line.
KINDS = ("keploy", "har")


def load_recordings(kind: str, path: "str | Path", *, test_set: str = "") -> LoadedRequests:
    """Requests from a Keploy folder (``keploy``) or a HAR file (``har``).

    ``test_set`` names the test set of HAR requests; Keploy requests take the
    name of their test-set folder.
    """
    if kind == "keploy":
        return load_keploy_tests(path)
    if kind == "har":
        return load_har(path, test_set=test_set)
    raise InputError(f"unknown recording kind {kind!r}: use one of {', '.join(KINDS)} (e.g. keploy:DIR)")


def recorded_base_url(requests: Sequence[ReplayRequest]) -> Optional[str]:
    """The ``scheme://host:port`` most of ``requests`` were recorded against
    (the first one seen on a tie), or None when none has an absolute URL.

    ``requestcov run --replay`` starts the app where it was recorded, so that
    is where it sends the replay and waits for the app to listen; a HAR file
    may also hold a few requests to other hosts (a CDN), which the majority
    outvotes.
    """
    counts = Counter(request.base_url for request in requests if request.base_url)
    if not counts:
        return None
    return counts.most_common(1)[0][0]


def replay_directory(
    kind: str,
    path: "str | Path",
    url: str,
    *,
    timeout: float = 10.0,
    concurrency: int = 1,
    limit: Optional[int] = None,
    test_set: str = "",
    id_header: str = DEFAULT_ID_HEADER,
    test_set_header: str = DEFAULT_TEST_SET_HEADER,
    on_result: Optional[Callable[[ReplayResult], None]] = None,
    on_warning: Optional[Callable[[str], None]] = None,
    loaded: Optional[LoadedRequests] = None,
) -> ReplaySummary:
    """Load recordings of ``kind`` from ``path`` and send them to the app at ``url``.

    Keploy tests carry ``KEPLOY-TEST-ID`` and ``KEPLOY-TEST-SET-ID`` (or the
    headers named), and the last one sent of each test set
    ``KEPLOY-LAST-TESTCASE: true``, as Keploy's replayer sends them.

    Never stops at a bad recording or a failed request: those are counted in
    the summary (and reported through ``on_warning`` / ``on_result`` as they
    happen). Raises :class:`InputError` only when the input cannot be read at all.

    ``loaded`` is what :func:`load_recordings` already read from ``path``
    (``requestcov run --replay`` reads it before starting the app, to find the
    app's URL and to fail before a server is started for nothing).
    """
    address = parse_app_url(url)
    if limit is not None and limit < 0:
        raise InputError(f"--limit must be 0 or more, not {limit}")
    if loaded is None:
        loaded = load_recordings(kind, path, test_set=test_set)
    if on_warning is not None:
        for warning in loaded.warnings:
            on_warning(warning)
    requests = loaded.requests if limit is None else loaded.requests[:limit]
    if kind == "keploy":
        requests = mark_last_in_each_set(requests)
    results = send_requests(
        requests, address, timeout=timeout, concurrency=concurrency,
        id_header=id_header, test_set_header=test_set_header, on_result=on_result,
    )
    return ReplaySummary(results=results, skipped=len(loaded.warnings), warnings=list(loaded.warnings))
