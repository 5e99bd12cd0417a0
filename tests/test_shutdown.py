"""The last flush is not cut short: signals that arrive while the recorder
writes its last records wait until it is done, then reach their handlers.

Each scenario is a real process that records requests through the WSGI
middleware, slows its writer down so the flush at exit takes a while, and
sends itself signals (from a thread, as another process would) while the
flush runs.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from requestcov.store import SQLiteStore
from tests.support.servers import REPOSITORY

APPS = REPOSITORY / "tests" / "apps"
REQUESTS = 120

SCENARIO = """
import os, signal, sys, threading, time
{handlers}
import requestcov
from tests.apps import plain_wsgi

app = requestcov.WSGIMiddleware(plain_wsgi.app, source=[{apps!r}], db={db!r})
from requestcov.recorder import current_recorder

writer = current_recorder().writer
convert = writer.convert

def slow_convert(item):  # about 0.3 s of writing for the whole flush
    time.sleep(0.0025)
    return convert(item)

writer.convert = slow_convert
for number in range({requests}):
    environ = {{"REQUEST_METHOD": "GET", "PATH_INFO": "/stream", "HTTP_KEPLOY_TEST_ID": f"t-{{number}}"}}
    body = app(environ, lambda status, headers, exc_info=None: None)
    list(body)
    body.close()

def signals_during_the_flush():
    time.sleep(0.1)
    for signum in {during!r}:
        os.kill(os.getpid(), signum)
        time.sleep(0.02)

threading.Thread(target=signals_during_the_flush, daemon=True).start()
{ending}
"""


def run_scenario(tmp_path: Path, *, handlers: str, during: list, ending: str) -> subprocess.CompletedProcess:
    db = tmp_path / "requestcov.db"
    script = tmp_path / "scenario.py"
    script.write_text(textwrap.dedent(SCENARIO).format(
        handlers=handlers, apps=str(APPS), db=str(db), requests=REQUESTS, during=during, ending=ending,
    ))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          cwd=str(REPOSITORY), env={"PYTHONPATH": str(REPOSITORY), "PATH": "/usr/bin:/bin"})


def recorded(tmp_path: Path) -> int:
    with SQLiteStore(tmp_path / "requestcov.db", create=False) as store:
        return sum(1 for record in store.records() if record.test_id.startswith("t-"))


def test_a_reloaders_exit_handler_hit_again_during_the_flush_loses_nothing(tmp_path: Path) -> None:
    """Werkzeug's and Django's reloaders install ``SIGTERM -> sys.exit(0)``;
    the serving child gets SIGTERM twice (the group's and the parent's)."""
    completed = run_scenario(
        tmp_path, handlers="signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))",
        during=[15, 15], ending="sys.exit(0)",
    )
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr, completed.stderr
    assert recorded(tmp_path) == REQUESTS


def test_ctrl_c_twice_during_the_flush_loses_nothing(tmp_path: Path) -> None:
    completed = run_scenario(tmp_path, handlers="", during=[2, 2], ending="raise KeyboardInterrupt")
    assert recorded(tmp_path) == REQUESTS, completed.stderr
    assert "requestcov" not in completed.stderr.split("KeyboardInterrupt")[-1], completed.stderr


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_a_stop_signal_at_its_default_writes_everything_then_ends_the_process_with_it(
    tmp_path: Path, signal_name: str
) -> None:
    """No handler of the app's: the process dies of the signal, as it would
    without requestcov, but only after every record is written; the same
    signal again during the flush changes nothing."""
    import signal

    signum = int(getattr(signal, signal_name))
    completed = run_scenario(
        tmp_path, handlers="", during=[signum], ending=f"os.kill(os.getpid(), {signum}); time.sleep(30)",
    )
    assert completed.returncode == -signum, completed.stderr
    assert recorded(tmp_path) == REQUESTS


def test_an_apps_own_handler_still_runs_after_the_flush(tmp_path: Path) -> None:
    """A held signal reaches the handler the app installed, once the records are safe."""
    completed = run_scenario(
        tmp_path,
        handlers="signal.signal(signal.SIGINT, lambda signum, frame: print('app handler ran', flush=True))",
        during=[2], ending="sys.exit(0)",
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.count("app handler ran") == 1, completed.stdout
    assert recorded(tmp_path) == REQUESTS


LATE_REQUEST = """
import sys, threading, time
import requestcov
from tests.apps import plain_wsgi

begun = threading.Event()


def slow_app(environ, start_response):
    begun.set()
    time.sleep(0.3)
    return plain_wsgi.app(environ, start_response)


app = requestcov.WSGIMiddleware(slow_app, source=[{apps!r}], db={db!r})
from requestcov.recorder import current_recorder

writer = current_recorder().writer


def serve(test_id):
    environ = {{"REQUEST_METHOD": "GET", "PATH_INFO": "/stream", "HTTP_KEPLOY_TEST_ID": test_id}}
    body = app(environ, lambda status, headers, exc_info=None: None)
    list(body)
    body.close()


serve("t-early")
go = threading.Event()


def serve_late():
    go.wait()
    serve("t-late")


# A daemon serving thread that accepted a connection just before the stop,
# and gets the GIL only after the drain's last look and the writer's close.
threading.Thread(target=serve_late, daemon=True).start()
real_close = writer.close


def close_then_a_request_begins(timeout=30.0):
    real_close(timeout)
    begun.clear()
    go.set()
    if not begun.wait(10):
        sys.stderr.write("the late request never began\\n")


writer.close = close_then_a_request_begins
sys.exit(0)
"""


def test_a_request_that_begins_after_the_drain_is_waited_for_and_written(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    script = tmp_path / "late_request.py"
    script.write_text(textwrap.dedent(LATE_REQUEST).format(apps=str(APPS), db=str(db)))
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                               cwd=str(REPOSITORY), env={"PYTHONPATH": str(REPOSITORY), "PATH": "/usr/bin:/bin"})
    assert completed.returncode == 0 and "never began" not in completed.stderr, completed.stderr
    with SQLiteStore(db, create=False) as store:
        assert sorted(record.test_id for record in store.records() if record.test_id) == ["t-early", "t-late"]
