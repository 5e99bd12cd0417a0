"""granian, the Rust server, recorded by ``requestcov run``: FastAPI on its
ASGI interface with two worker processes, and Flask on its WSGI interface,
whose requests Rust threads hand to Python (streamed bodies included)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence

import pytest

pytest.importorskip("granian", reason="granian does not install on this Python")

from tests.e2e import test_fastapi_servers, test_flask_servers  # noqa: E402
from tests.e2e.checks import *  # noqa: F401,F403,E402  (the shared tests)
from tests.e2e.harness import SERVED, Session, Spec, free_port, run_session, tool  # noqa: E402
from tests.support.matrix import heavy

pytestmark = [pytest.mark.slow, heavy]

APP_ROOT = SERVED


def _granian(interface: str, target: str, *options: str):
    # A worker stopped under load sometimes never ends (granian's own, with or
    # without requestcov); the main process waits for it with no limit unless told.
    return lambda port: [tool("granian"), "--interface", interface, "--host", "127.0.0.1", "--port", str(port),
                         "--workers-kill-timeout", "10", *options, target]


#: name -> (command for a port, waiting groups: one process serves)
SERVERS: Dict[str, tuple] = {
    "granian-asgi-2-workers": (_granian("asgi", "fastapi_server:app", "--workers", "2"), 0),
    "granian-wsgi": (_granian("wsgi", "flask_server:app"), 2),
}
#: Each server's app, whose own test module says what its requests record.
FRAMEWORK = {"granian-asgi-2-workers": test_fastapi_servers, "granian-wsgi": test_flask_servers}


@pytest.fixture(scope="module")
def specs(server_name: str) -> Sequence[Spec]:
    return FRAMEWORK[server_name].SPECS


@pytest.fixture(scope="module")
def oracle_command(server_name: str) -> tuple:
    """The app's own single-process server, measured by coverage.py alone
    (granian reads its sockets in Rust, where the oracle cannot see requests)."""
    return FRAMEWORK[server_name].ORACLE, SERVED


@pytest.fixture(scope="module")
def session(server_name: str, specs: Sequence[Spec], tmp_path_factory: pytest.TempPathFactory) -> Session:
    make_command, waiting_groups = SERVERS[server_name]
    port = free_port()
    return run_session(
        server_name, make_command(port), cwd=SERVED, port=port, specs=specs,
        workdir=tmp_path_factory.mktemp(server_name), waiting_groups=waiting_groups,
    )


def test_every_worker_records(session: Session) -> None:
    """Each worker process loads the app itself (granian's main process never
    imports it): with two workers each wrote its start-up record, and the
    requests came from them."""
    serving = {record.pid for record in session.records}
    if not session.name.endswith("2-workers"):
        assert len(serving) == 1, serving
        return
    importers = {
        record.pid for record in session.startup
        if any(Path(path).name == "fastapi_server.py" for path in record.lines)
    }
    # A worker granian killed after it "refused to gracefully stop" (its own
    # shutdown hang) never reached the flush that writes its start-up record.
    killed = session.log_text().count("refused to gracefully stop")
    assert 2 - killed <= len(importers) <= 2, (importers, session.log_text()[-2000:])
    assert killed or serving <= importers, (serving, importers)
