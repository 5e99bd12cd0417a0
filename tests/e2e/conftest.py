"""Each framework module's servers: one module-scoped session per ``SERVERS``
entry; only those the module names ``LIGHT`` (if it does) on every
interpreter (:mod:`tests.support.matrix`)."""

from __future__ import annotations

import pytest

from tests.support.matrix import server_params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    servers = getattr(metafunc.module, "SERVERS", None)
    if servers is not None and "server_name" in metafunc.fixturenames:
        metafunc.parametrize("server_name", server_params(servers, getattr(metafunc.module, "LIGHT", None)),
                             scope="module")
