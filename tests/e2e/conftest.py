"""Each framework module's servers: one module-scoped session per ``SERVERS`` entry."""

from __future__ import annotations

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    servers = getattr(metafunc.module, "SERVERS", None)
    if servers is not None and "server_name" in metafunc.fixturenames:
        metafunc.parametrize("server_name", sorted(servers), scope="module")
