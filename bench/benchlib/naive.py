"""The naive per-request recorder requestcov is compared with.

It is what Keploy's original Flask/FastAPI coverage middleware did: a new
``coverage.Coverage`` for every request, started before the app call and
stopped after it, and the executed lines appended to ``dedupData.yaml``. The
one difference is ``data_file=None``: with the default data file every request
would add its lines to the previous requests' data on disk, which is both
wrong per request and slower, so the comparison is kinder to it than reality.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List

import coverage
import yaml

DEDUP_FILE = "dedupData.yaml"


def _write_dedup(data: "coverage.CoverageData", test_id: str) -> None:
    executed: Dict[str, List[int]] = {}
    for filename in data.measured_files():
        executed[filename] = sorted(data.lines(filename) or [])
    with open(DEDUP_FILE, "a", encoding="utf-8") as stream:
        yaml.dump([{"id": test_id, "executedLinesByFile": executed}], stream, sort_keys=False)


def _new_coverage(source: List[str]) -> "coverage.Coverage":
    return coverage.Coverage(cover_pylib=False, source=source, data_file=None)


class NaiveWSGIMiddleware:
    def __init__(self, app: Callable, source: List[str]) -> None:
        self.app = app
        self.source = source

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        test_id = environ.get("HTTP_KEPLOY_TEST_ID")
        if test_id is None:
            return self.app(environ, start_response)
        cov = _new_coverage(self.source)
        cov.start()
        try:
            response = self.app(environ, start_response)
        finally:
            cov.stop()
        _write_dedup(cov.get_data(), test_id)
        return response


class NaiveASGIMiddleware:
    def __init__(self, app: Callable, source: List[str]) -> None:
        self.app = app
        self.source = source

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        test_id = next((value.decode("latin-1") for name, value in scope.get("headers", ())
                        if name.lower() == b"keploy-test-id"), None)
        if test_id is None:
            await self.app(scope, receive, send)
            return
        cov = _new_coverage(self.source)
        cov.start()
        try:
            await self.app(scope, receive, send)
        finally:
            cov.stop()
        _write_dedup(cov.get_data(), test_id)
