"""``pytest --requestcov``: one requestcov record per test.

The ``pytest11`` entry point (``-p no:requestcov`` turns it off). Without
``--requestcov`` it adds its options and nothing else: the recorder is
imported only for a session that records.
"""

from __future__ import annotations

import pytest

from requestcov.pytest_plugin.options import add_options

__all__ = ["pytest_addoption", "pytest_configure"]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("requestcov"):
        return
    from requestcov.pytest_plugin.session import start

    start(config)
