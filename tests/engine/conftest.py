"""Engine tests run once per core: the compiled one and the pure-Python one."""

from __future__ import annotations

import pytest

from requestcov.engine.core import CORE_VARIABLE, compiled_core


@pytest.fixture(params=["compiled", "python"])
def core(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Selects the core through the environment, so servers started by the
    test get it too. The compiled core must exist: the test command builds it
    (a C compiler is part of this machine), and a missing one would leave
    half of these tests testing nothing new."""
    monkeypatch.setenv(CORE_VARIABLE, request.param)
    if request.param == "compiled":
        assert compiled_core() is not None, "the compiled core (requestcov.engine._speedups) was not built"
    return str(request.param)
