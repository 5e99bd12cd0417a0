"""Flask under its dev server (``python app.py``, ``flask run``, each also
with the reloader and debugger) and gunicorn
(sync and gthread workers) and waitress, recorded by ``requestcov run`` without code changes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List

import pytest

from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests)
from tests.e2e.harness import SERVED, Session, Spec, lines_with, tool

pytestmark = pytest.mark.slow

SPECS = [
    Spec("hello", "GET", "/hello", 200, "/hello", runs=(("flask_server.py", 'return "hello"'),)),
    Spec("user-even", "GET", "/users/4", 200, "/users/<int:user_id>",
         runs=(("served_logic.py", 'kind = "even"'),), skips=(("served_logic.py", 'kind = "odd"'),)),
    Spec("user-odd", "GET", "/users/7", 200, "/users/<int:user_id>",
         runs=(("served_logic.py", 'kind = "odd"'),), skips=(("served_logic.py", 'kind = "even"'),)),
    Spec("user-missing", "GET", "/users/500", 404, "/users/<int:user_id>",
         runs=(("flask_server.py", "abort(404)"),), skips=(("served_logic.py", "def describe_user"),)),
    Spec("price-de", "GET", "/price/DE", 200, "/price/<country>", waiting_path="/price/DE",
         runs=(("served_logic.py", "rate = 0.19"),), skips=(("served_logic.py", "rate = 0.20"),)),
    Spec("price-other", "GET", "/price/XX", 200, "/price/<country>", waiting_path="/price/XX",
         runs=(("served_logic.py", "rate = 0.0"),), skips=(("served_logic.py", "rate = 0.19"),)),
    Spec("cart", "POST", "/cart/total", 200, "/cart/total",
         json={"items": [{"price": 3, "quantity": 2}, {"price": 5, "free": True}]},
         runs=(("served_logic.py", "continue"), ("served_logic.py", 'result += item["price"]'))),
    # The generator runs while the server sends the body, after the view returned.
    Spec("stream", "GET", "/stream/3", 200, "/stream/<int:count>",
         runs=(("served_logic.py", 'yield "liftoff'), ("flask_server.py", "yield chunk"))),
    Spec("boom", "GET", "/boom", 500, "/boom", runs=(("flask_server.py", 'raise RuntimeError("handler failed")'),)),
    Spec("not-found", "GET", "/no/such/page", 404, None),
]

#: name -> (command for a port, waiting groups: only threaded single-process servers)
SERVERS: Dict[str, tuple] = {
    "python-app-py": (lambda port: [sys.executable, "flask_server.py", str(port)], 2),
    "flask-run": (lambda port: [tool("flask"), "--app", "flask_server", "run", "--port", str(port)], 2),
    # Under the reloader and the debugger, which wraps the Flask object.
    "python-app-py-debug": (lambda port: [sys.executable, "flask_server.py", str(port), "--debug"], 2),
    "flask-run-debug": (
        lambda port: [tool("flask"), "--app", "flask_server", "run", "--port", str(port), "--debug"], 2
    ),
    "gunicorn-sync": (lambda port: [tool("gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "flask_server:app"], 0),
    "gunicorn-gthread": (
        lambda port: [tool("gunicorn"), "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}", "flask_server:app"],
        0,
    ),
    "waitress": (lambda port: [tool("waitress-serve"), "--threads", "8", "--listen", f"127.0.0.1:{port}",
                                    "flask_server:app"], 2),
}


APP_ROOT = SERVED
#: A single-process server coverage.py measures alone.
ORACLE = SERVERS["python-app-py"][0]
#: On every interpreter (the rest on 3.11 and the newest): the reloader, and workers with threads.
LIGHT = ("python-app-py-debug", "gunicorn-gthread")


def test_functions_of_the_script_are_measured(session: Session) -> None:
    """``python flask_server.py``: the views live in ``__main__``."""
    reference: Dict[str, List[int]] = session.reference("hello").lines
    assert any(Path(path).name == "flask_server.py" for path in reference)


def test_the_module_level_lines_of_every_served_module_are_start_up(session: Session) -> None:
    """Imports, ``def`` lines and module constants run once per process, before
    any request: the serving process's start-up record has them, including
    those of the script itself when it runs as ``__main__`` (``python
    flask_server.py``), which never passes the import system."""
    serving_pids = {record.pid for record in session.records}
    startup_lines: Dict[str, set] = {}
    for record in session.startup:
        if record.pid in serving_pids:
            for path, lines in record.lines.items():
                startup_lines.setdefault(Path(path).name, set()).update(lines)
    for name, texts in [("flask_server.py", ["app = Flask(__name__)", "def hello():", "import served_logic"]),
                        ("served_logic.py", ["def describe_user"])]:
        expected = {line for text in texts for line in lines_with(SERVED / name, text)}
        assert expected and expected <= startup_lines.get(name, set()), (name, sorted(startup_lines.get(name, ())))
