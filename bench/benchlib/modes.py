"""The recording modes compared, and how each one wraps an app.

A mode is applied to a freshly imported app inside a process of its own. Modes
that need a requestcov feature this checkout does not have (branch coverage,
sampling) report themselves as unavailable instead of silently measuring
something else.
"""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from benchlib import APPS_DIR
from benchlib.mix import MIXES, Spec

#: Mode name -> one-line description, in the order tables and charts show them.
MODES: Dict[str, str] = {
    "none": "no coverage",
    "requestcov": "requestcov middleware",
    "naive": "new coverage.Coverage per request + dedupData.yaml",
    "coverage-contexts": "one coverage.Coverage, switch_context per request",
    "coverage-sysmon": "one coverage.Coverage on the whole process, no per-request data "
                       "(its sys.monitoring core on 3.12+, its C tracer before)",
    "requestcov-branch": "requestcov with branch coverage",
    **{f"requestcov-sample-{percent}": f"requestcov recording {percent}% of untagged requests"
       for percent in (1, 10, 50)},
}

DEFAULT_MODES = list(MODES)

#: App name -> (module, interface, request mix of ``benchlib.mix.MIXES``).
APPS: Dict[str, Tuple[str, str, str]] = {
    "flask": ("apps.flask_shop", "wsgi", "shop"),
    "fastapi": ("apps.fastapi_shop", "asgi", "shop"),
    "django": ("apps.django_shop", "wsgi", "shop"),
    "flask-thin": ("apps.flask_thin", "wsgi", "thin"),
    "starlette-thin": ("apps.starlette_thin", "asgi", "thin"),
}


def mix_for(app_name: str) -> List[Spec]:
    """The requests ``app_name`` is loaded with."""
    return MIXES[APPS[app_name][2]]

SAMPLING_PREFIX = "requestcov-sample-"


def _middleware_parameters() -> List[str]:
    """The recording options this checkout knows (the middleware passes its
    keyword arguments to Config.resolve)."""
    from requestcov.config import Config

    return list(inspect.signature(Config.resolve).parameters)


def requestcov_options(mode: str) -> Optional[Dict[str, Any]]:
    """Extra middleware options for a requestcov mode, or None when the
    installed requestcov lacks the feature."""
    if mode == "requestcov":
        return {}
    parameters = _middleware_parameters()
    if mode == "requestcov-branch":
        return {"branch": True} if "branch" in parameters else None
    if mode.startswith(SAMPLING_PREFIX):
        if "sample_rate" not in parameters:
            return None
        return {"sample_rate": int(mode[len(SAMPLING_PREFIX):]) / 100}
    raise ValueError(mode)


def sends_test_ids(mode: str) -> bool:
    """Sampling is for production traffic, which carries no test ids: requests
    with a test id are tests, and requestcov always records those."""
    return not mode.startswith(SAMPLING_PREFIX)


def unavailable_reason(mode: str) -> Optional[str]:
    """Why a mode cannot run with this checkout, or None when it can."""
    if mode not in MODES:
        return f"unknown mode (known: {', '.join(MODES)})"
    if mode.startswith("requestcov-") and requestcov_options(mode) is None:
        wanted = "branch" if mode == "requestcov-branch" else "sample_rate"
        return f"requestcov's middleware has no {wanted} option yet"
    return None


@dataclass
class Wrapped:
    """An app wrapped for one mode, and how to tell what the mode recorded."""

    app: Any
    interface: str
    #: Called after the measurement: flushes and returns facts to report.
    finish: Callable[[], Dict[str, Any]] = field(default=lambda: {})
    #: Whether requests carry a test-id header (see sends_test_ids).
    test_ids: bool = True


def build(app_name: str, mode: str, workdir: str) -> Wrapped:
    """Import ``app_name`` and wrap it for ``mode``; files go to ``workdir``."""
    module_name, interface, _ = APPS[app_name]
    app = importlib.import_module(module_name).application
    source = [APPS_DIR]
    if mode == "none":
        return Wrapped(app, interface)
    if mode.startswith("requestcov"):
        wrapped = _requestcov(app, interface, source, workdir, requestcov_options(mode) or {})
        wrapped.test_ids = sends_test_ids(mode)
        return wrapped
    if mode == "naive":
        from benchlib.naive import NaiveASGIMiddleware, NaiveWSGIMiddleware

        middleware = NaiveWSGIMiddleware if interface == "wsgi" else NaiveASGIMiddleware
        return Wrapped(middleware(app, source), interface, lambda: _naive_facts(workdir))
    if mode == "coverage-contexts":
        return _coverage_contexts(app, interface, source, workdir)
    if mode == "coverage-sysmon":
        return _coverage_whole_process(app, interface, source, workdir)
    raise ValueError(f"unknown mode {mode!r}")


def _requestcov(app: Any, interface: str, source: List[str], workdir: str, options: Dict) -> Wrapped:
    import requestcov
    from requestcov.recorder import current_recorder

    db = os.path.join(workdir, "requestcov.db")
    middleware = requestcov.WSGIMiddleware if interface == "wsgi" else requestcov.ASGIMiddleware
    wrapped = middleware(app, source=source, db=db, **options)

    def finish() -> Dict[str, Any]:
        recorder = current_recorder()
        if recorder is None:
            return {"error": "requestcov did not start"}
        recorder.writer.flush()
        return {"engine": recorder.engine.description, "records_written": recorder.writer.written,
                "records_dropped": recorder.writer.dropped}

    return Wrapped(wrapped, interface, finish)


def _naive_facts(workdir: str) -> Dict[str, Any]:
    path = os.path.join(workdir, "dedupData.yaml")
    if not os.path.exists(path):
        return {"records_written": 0}
    with open(path, encoding="utf-8") as stream:
        return {"records_written": sum(1 for line in stream if line.startswith("- id:"))}


def _coverage_contexts(app: Any, interface: str, source: List[str], workdir: str) -> Wrapped:
    import coverage

    cov = coverage.Coverage(source=source, data_file=os.path.join(workdir, ".coverage"))
    cov.start()
    seen = [0]

    if interface == "wsgi":
        def wrapped(environ: dict, start_response: Callable) -> Any:
            seen[0] += 1
            cov.switch_context(environ.get("HTTP_KEPLOY_TEST_ID", ""))
            return app(environ, start_response)
    else:
        async def wrapped(scope: dict, receive: Callable, send: Callable) -> None:  # type: ignore[misc]
            if scope.get("type") == "http":
                seen[0] += 1
                test_id = next((value.decode("latin-1") for name, value in scope.get("headers", ())
                                if name.lower() == b"keploy-test-id"), "")
                cov.switch_context(test_id)
            await app(scope, receive, send)

    def finish() -> Dict[str, Any]:
        cov.stop()
        data = cov.get_data()
        return {"records_written": len(data.measured_contexts()) - 1 if seen[0] else 0,
                "core": getattr(getattr(cov, "_collector", None), "tracer_name", lambda: "?")()}

    return Wrapped(wrapped, interface, finish)


def _coverage_whole_process(app: Any, interface: str, source: List[str], workdir: str) -> Wrapped:
    """coverage.py as a whole-process tool: the floor of line recording on
    this interpreter, with nothing per request (its ``sys.monitoring`` core
    cannot switch contexts, so it is also what per-request data costs over)."""
    import sys

    import coverage

    if sys.version_info >= (3, 12):
        os.environ["COVERAGE_CORE"] = "sysmon"
    cov = coverage.Coverage(source=source, data_file=os.path.join(workdir, ".coverage"))
    cov.start()

    def finish() -> Dict[str, Any]:
        cov.stop()
        return {"records_written": 0,
                "core": getattr(getattr(cov, "_collector", None), "tracer_name", lambda: "?")()}

    return Wrapped(app, interface, finish)
