"""Django under ``manage.py runserver`` (autoreloader on: the server runs in a
re-executed child), gunicorn (WSGI) and uvicorn (ASGI), recorded by
``requestcov run``. The route is the URL pattern that matched."""

from __future__ import annotations

import os
import sys
from typing import Dict

import pytest

from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests)
from tests.e2e.harness import DJANGO_SITE, Session, Spec, tool
from tests.support.scopes import import_time_lines

pytestmark = pytest.mark.slow

SPECS = [
    Spec("hello", "GET", "/hello", 200, "hello", runs=(("views.py", 'return HttpResponse("hello")'),)),
    Spec("user-even", "GET", "/users/4", 200, "users/<int:user_id>",
         runs=(("logic.py", 'kind = "even"'),), skips=(("logic.py", 'kind = "odd"'),)),
    Spec("user-odd", "GET", "/users/7", 200, "users/<int:user_id>",
         runs=(("logic.py", 'kind = "odd"'),), skips=(("logic.py", 'kind = "even"'),)),
    Spec("user-missing", "GET", "/users/500", 404, "users/<int:user_id>",
         runs=(("views.py", 'raise Http404("no such user")'),), skips=(("logic.py", "def describe_user"),)),
    Spec("price-de", "GET", "/price/DE", 200, "price/<str:country>", waiting_path="/price/DE",
         runs=(("logic.py", "rate = 0.19"),), skips=(("logic.py", "rate = 0.20"),)),
    Spec("cart", "POST", "/cart/total", 200, "cart/total",
         json={"items": [{"price": 3, "quantity": 2}, {"price": 5, "free": True}]},
         runs=(("logic.py", "continue"),)),
    # The generator runs while the server sends the body, after the view returned.
    Spec("stream", "GET", "/stream/3", 200, "stream/<int:count>", runs=(("logic.py", 'yield "liftoff'),)),
    Spec("boom", "GET", "/boom", 500, "boom", runs=(("views.py", 'raise RuntimeError("handler failed")'),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]

SERVERS: Dict[str, tuple] = {
    "runserver": (lambda port: [sys.executable, "manage.py", "runserver", str(port)], 2),
    "gunicorn": (
        lambda port: [tool("gunicorn"), "-w", "2", "--threads", "2", "-b", f"127.0.0.1:{port}", "shopsite.wsgi"], 0,
    ),
    # Sync views of ASGI Django share one thread: requests cannot wait for each other.
    "uvicorn-asgi": (lambda port: [tool("uvicorn"), "--port", str(port), "shopsite.asgi:application"], 0),
}


APP_ROOT = DJANGO_SITE
#: A single-process server coverage.py measures alone.
ORACLE = lambda port: [sys.executable, "manage.py", "runserver", "--noreload", str(port)]
#: On every interpreter (the rest on 3.11 and the newest).
LIGHT = ("runserver", "gunicorn")


def test_every_serving_process_has_its_start_up_record(session: Session) -> None:
    """Each process that served requests also wrote its start-up record. Under
    runserver the requests are served by the reloader's child process, which
    the bootstrap reached through the environment it inherited: two processes
    start up, one serves."""
    request_pids = {record.pid for record in session.records}
    startup_pids = {record.pid for record in session.startup}
    assert request_pids and request_pids <= startup_pids
    if session.name == "runserver":
        assert len(request_pids) == 1
        assert len(startup_pids) == 2 and request_pids < startup_pids


def test_the_lazily_loaded_urlconf_and_views_are_start_up_code(session: Session) -> None:
    """Django imports the URLconf, and the views with it, when the first
    request needs them (gunicorn and uvicorn; runserver's system checks do it
    at start): their module bodies are in the start-up record of each serving
    process, and in no request's record, not even the first request's."""
    startup_by_pid: Dict[int, Dict[str, list]] = {}
    for record in session.startup:
        for path, lines in record.lines.items():
            startup_by_pid.setdefault(record.pid, {}).setdefault(path, []).extend(lines)
    for module in (DJANGO_SITE / "shopsite" / "urls.py", DJANGO_SITE / "shop" / "views.py"):
        path = os.path.realpath(module)
        at_import = import_time_lines(module.read_text())
        for record in session.records:
            assert not set(record.lines.get(path, ())) & at_import, (record.test_id, module.name)
        for pid in {record.pid for record in session.records}:
            assert at_import <= set(startup_by_pid.get(pid, {}).get(path, ())), (pid, module.name)
