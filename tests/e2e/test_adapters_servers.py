"""The one-line adapters under real servers, without ``requestcov run``:
``RequestCov(app)`` for Flask, ``app.add_middleware(ASGIMiddleware)`` for
FastAPI, the Django middleware first in ``MIDDLEWARE``. And the same apps under
``requestcov run`` too, which must notice the adapter and not record twice."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import pytest

from tests.support.matrix import server_params
from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests)
from tests.e2e.harness import DJANGO_SITE, SERVED, Session, Spec, free_port, run_session, tool
from tests.e2e.test_django_servers import SPECS as DJANGO_SPECS
from tests.e2e.test_fastapi_servers import SPECS as FASTAPI_SPECS
from tests.e2e.test_flask_servers import SPECS as FLASK_SPECS

pytestmark = pytest.mark.slow

RECORDED_SETTINGS = {"DJANGO_SETTINGS_MODULE": "shopsite.settings_recorded"}


@dataclass(frozen=True)
class Case:
    command: Callable[[int], List[str]]
    specs: Sequence[Spec]
    root: Path
    launch: bool = False
    waiting_groups: int = 0
    environment: Dict[str, str] = field(default_factory=dict)


CASES: Dict[str, Case] = {
    "flask-adapter-gunicorn": Case(
        lambda port: [tool("gunicorn"), "-w", "1", "--threads", "4", "-b", f"127.0.0.1:{port}", "flask_adapted:app"],
        FLASK_SPECS, SERVED, waiting_groups=1,
    ),
    "flask-adapter-under-requestcov-run": Case(
        lambda port: [tool("gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "flask_adapted:app"],
        FLASK_SPECS, SERVED, launch=True,
    ),
    "fastapi-middleware-uvicorn": Case(
        lambda port: [tool("uvicorn"), "--port", str(port), "fastapi_adapted:app"], FASTAPI_SPECS, SERVED,
        waiting_groups=2,
    ),
    "fastapi-middleware-under-requestcov-run": Case(
        lambda port: [tool("uvicorn"), "--port", str(port), "fastapi_adapted:app"], FASTAPI_SPECS, SERVED,
        launch=True,
    ),
    "django-middleware-runserver": Case(
        lambda port: [sys.executable, "manage.py", "runserver", "--noreload", str(port)], DJANGO_SPECS, DJANGO_SITE,
        waiting_groups=2, environment=RECORDED_SETTINGS,
    ),
    "django-middleware-gunicorn": Case(
        lambda port: [tool("gunicorn"), "-w", "2", "--threads", "2", "-b", f"127.0.0.1:{port}", "shopsite.wsgi"],
        DJANGO_SPECS, DJANGO_SITE, environment=RECORDED_SETTINGS,
    ),
    "django-middleware-uvicorn-asgi": Case(
        lambda port: [tool("uvicorn"), "--port", str(port), "shopsite.asgi:application"], DJANGO_SPECS,
        DJANGO_SITE, environment=RECORDED_SETTINGS,
    ),
    "django-middleware-under-requestcov-run": Case(
        lambda port: [tool("gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "shopsite.wsgi"],
        DJANGO_SPECS, DJANGO_SITE, launch=True, environment=RECORDED_SETTINGS,
    ),
}


#: On every interpreter (the rest on 3.11 and the newest): each framework's adapter once.
LIGHT = ("flask-adapter-under-requestcov-run", "fastapi-middleware-uvicorn", "django-middleware-gunicorn")


@pytest.fixture(scope="module", params=server_params(CASES, LIGHT))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


@pytest.fixture(scope="module")
def specs(case: Case) -> Sequence[Spec]:
    return case.specs


@pytest.fixture(scope="module")
def app_root(case: Case) -> Path:
    return case.root


@pytest.fixture(scope="module")
def session(case: Case, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Session:
    name = request.node.callspec.params["case"] if hasattr(request.node, "callspec") else "adapter"
    port = free_port()
    return run_session(
        name, case.command(port), cwd=case.root, port=port, specs=case.specs,
        workdir=tmp_path_factory.mktemp("adapter"), waiting_groups=case.waiting_groups,
        launch=case.launch, environment=case.environment,
    )
