"""Other coverage tools in the same run.

On Python 3.12+ requestcov records through ``sys.monitoring`` under a tool
id of its own, and on 3.9-3.11 through probes in the measured code's
bytecode, beside coverage.py (pytest-cov), which then keeps working
unchanged; both measure, so the run pays for both: a warning says so. Where
requestcov needs the trace function (branch coverage, on every version; the
settrace engine, see ``requestcov.engine.engine_kind``) there is one
``sys.settrace`` hook per thread: recording beside pytest-cov, ``coverage
run`` or a debugger would silently break one of them, so the session is
refused with a message saying what to do instead.
"""

from __future__ import annotations

import sys

import pytest

from requestcov.engine import engine_kind
from requestcov.engine.base import other_tracer_description

__all__ = ["RequestcovWarning", "check_other_coverage"]


class RequestcovWarning(pytest.PytestWarning):
    """A warning of ``pytest --requestcov``."""


def pytest_cov_measures(config: pytest.Config) -> bool:
    """pytest-cov registers its plugin as ``_cov`` when ``--cov`` is given;
    ``--no-cov`` turns it off again."""
    return config.pluginmanager.getplugin("_cov") is not None and not getattr(config.option, "no_cov", False)


def check_other_coverage(config: pytest.Config, *, branch: bool, records_here: bool) -> None:
    """Refuse (UsageError) what cannot work, warn about what costs twice.

    ``records_here`` is False on an xdist controller, which runs no test:
    a trace function there (``coverage run -m pytest -n 2``) is no conflict.
    """
    needs_settrace = engine_kind(branch=branch) == "settrace"
    cov = pytest_cov_measures(config)
    if needs_settrace:
        if cov:
            other = "pytest-cov (--cov)"
        elif records_here and sys.gettrace() is not None:
            other = other_tracer_description() or "another trace function"
        else:
            return
        if branch:
            why, instead = "requestcov's branch coverage needs", "record line coverage only"
        else:
            why, instead = "requestcov's settrace engine needs", (
                "let requestcov pick its engine (no REQUESTCOV_ENGINE=settrace, no REQUESTCOV_CORE=python)")
        raise pytest.UsageError(
            f"--requestcov cannot record while {other} measures this run: {why} sys.settrace, "
            "and one would silently break the other. Run one of them at a time (requestcov export "
            f"--format coverage gives coverage.py data with one context per test), or {instead}: "
            "then requestcov records beside coverage.py."
        )
    if cov:
        config.issue_config_time_warning(
            RequestcovWarning(
                "requestcov and pytest-cov both measure this run (side by side: requestcov through "
                f"{'sys.monitoring' if sys.version_info >= (3, 12) else 'probes in the bytecode'}, coverage.py "
                "with its own core), so the tests pay for both; "
                "requestcov export --format coverage gives coverage.py data with one context per test"
            ),
            stacklevel=2,
        )
