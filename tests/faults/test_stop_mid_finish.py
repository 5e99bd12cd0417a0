"""A stop signal between any two bytecodes of a request's end loses nothing.

A signal handler runs on the main thread between two bytecodes of whatever
that thread runs, and on a single-threaded server (wsgiref, an event loop)
that is often requestcov's own code finishing the request just answered. A
record claimed but not yet queued, or a lock held by the interrupted code
that the handler's last flush then wants, loses the request or hangs the
process.

So a real process records a request whose response is fully sent, forks one
child per bytecode position of the request's end (the WSGI body's
``close()``, the middleware and the recorder under it), and in each child
sends itself SIGTERM at exactly that position (opcodes counted by a trace
function, or by ``sys.monitoring`` on 3.12+). Every child must die of SIGTERM, promptly, with that request's
record written exactly once.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.faults.bytecode_stops import records_per_test, sample_for_this_python, stopped_positions
from tests.support.matrix import heavy
from tests.support.servers import REPOSITORY

APPS = REPOSITORY / "tests" / "apps"

SCRIPT = """
import json, os, signal, sys, time

import requestcov
from tests.apps import plain_wsgi
from tests.faults.bytecode_stops import every_position, run_with_signal_at

HANDLER = {handler!r}
if HANDLER == "app-exits":  # the app's own handler, set before requestcov starts: requestcov keeps it
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
app = requestcov.WSGIMiddleware(plain_wsgi.app, source=[{apps!r}], db={db!r})
if HANDLER == "app-exits-server-goes-on":
    # Set after requestcov started (an app imported in a server's worker),
    # it replaces requestcov's handler; the server catches what comes out of
    # close() and serves on (gunicorn's gevent worker), until it is killed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))


def answered(test_id):
    environ = {{"REQUEST_METHOD": "GET", "PATH_INFO": "/stream", "HTTP_KEPLOY_TEST_ID": test_id}}
    body = app(environ, lambda status, headers, exc_info=None: None)
    list(body)  # the whole response is sent; close() is left
    return body


answered("warm-up").close()  # the writer runs, then sleeps
time.sleep(0.1)


def recorded(test_id):
    import sqlite3
    with sqlite3.connect({db!r}) as connection:
        return connection.execute("SELECT count(*) FROM request WHERE test_id = ?", (test_id,)).fetchone()[0]


def child(position):
    body = answered(f"t-{{position}}")
    if HANDLER != "app-exits-server-goes-on":
        if run_with_signal_at(position, body.close):
            time.sleep(5)  # the signal came: its handler is on its way
        return
    try:
        sent = run_with_signal_at(position, body.close)
    except SystemExit:
        sent = True
    if sent:
        # Killed later without any exit hook: the record must be in the
        # store by then, as it is within 100 ms of any response.
        deadline = time.monotonic() + 2
        while not recorded(f"t-{{position}}") and time.monotonic() < deadline:
            time.sleep(0.05)
        os._exit(0)


print(json.dumps(every_position(child, os.path.dirname({db!r}), sample={sample})))
"""


@pytest.mark.parametrize(
    "handler",
    ["requestcov", pytest.param("app-exits", marks=heavy), pytest.param("app-exits-server-goes-on", marks=heavy)],
)
def test_sigterm_at_any_bytecode_of_a_requests_end_records_it_once(tmp_path: Path, handler: str) -> None:
    """With its own handler requestcov writes, then dies of the signal; an
    app's handler that raises SystemExit (here, maybe out of requestcov's
    code: the writer thread's start, the queue) exits 0 through atexit; and
    where the server swallows that SystemExit and serves on, to be killed
    later, the request just answered is in the store all the same."""
    db = tmp_path / "requestcov.db"
    script = tmp_path / "stop_mid_finish.py"
    script.write_text(textwrap.dedent(SCRIPT).format(
        apps=str(APPS), db=str(db), handler=handler, sample=sample_for_this_python()))
    interrupted = stopped_positions(script, REPOSITORY, timeout=110, expected_exit=0 if handler != "requestcov" else -15)
    # The request's end runs many bytecodes; every one of them was a stop's moment.
    assert len(interrupted) > 30 // sample_for_this_python(), interrupted
    counts = records_per_test(db)
    not_once = {position: counts[f"t-{position}"] for position in interrupted if counts[f"t-{position}"] != 1}
    assert not not_once, f"positions whose request was not recorded exactly once: {not_once}"
