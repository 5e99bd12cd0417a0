"""A second stop at any bytecode of the process's exit loses nothing.

An app whose SIGTERM handler raises ``SystemExit`` exits through ``atexit``,
where requestcov writes what is left. A second SIGTERM can come meanwhile:
Django's autoreloader child gets one from the process group and another
from its parent. Before requestcov holds signals, that second stop raised
``SystemExit`` into the last flush and every record not yet written was lost
while the process exited 0.

So a real process answers requests (one closed, its record maybe still
queued; one whose response is sent but not closed), then exits through
``sys.exit(0)``, as the app's handler would; one child per bytecode position
of that exit sends itself SIGTERM there. Every child must exit 0 with both
records written exactly once.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.faults.bytecode_stops import records_per_test, sample_for_this_python, stopped_positions
from tests.support.servers import REPOSITORY

APPS = REPOSITORY / "tests" / "apps"

SCRIPT = """
import atexit, json, os, signal, sys, time

import requestcov
from tests.apps import plain_wsgi
from tests.faults.bytecode_stops import PAST_THE_END, SignalAt, every_position, start_counting

signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # the app's own handler
signal_at = []  # the child's SignalAt
PARENT = os.getpid()


def past_the_end():  # registered first, so it runs after requestcov's own atexit
    if os.getpid() == PARENT:
        return
    for signalling in signal_at:
        if signalling.stop is not None:
            signalling.stop()
        if not signalling.sent:
            os._exit(PAST_THE_END)


atexit.register(past_the_end)
app = requestcov.WSGIMiddleware(plain_wsgi.app, source=[{apps!r}], db={db!r})


def answered(test_id):
    environ = {{"REQUEST_METHOD": "GET", "PATH_INFO": "/stream", "HTTP_KEPLOY_TEST_ID": test_id}}
    body = app(environ, lambda status, headers, exc_info=None: None)
    list(body)  # the whole response is sent
    return body


answered("warm-up").close()  # the writer runs, then sleeps
time.sleep(0.1)


def child(position):
    answered(f"closed-{{position}}").close()
    sent = answered(f"sent-{{position}}")  # the server never gets to close() it
    signal_at.append(SignalAt(position))

    def count_from_here():
        signal_at[0].stop = start_counting(signal_at[0])

    # Registered last, so it runs first: counting spans requestcov's whole atexit.
    atexit.register(count_from_here)
    sys.exit(0)  # as the app's handler does on the first SIGTERM


# requestcov's own close comes first in the exit and holds signals within a
# few dozen bytecodes: every position up to well past that, then a sample of
# the flush and the interpreter's end (thousands of bytecodes).
print(json.dumps(every_position(child, os.path.dirname({db!r}), dense=600, stride=15, sample={sample})))
"""


def test_a_second_sigterm_at_any_bytecode_of_the_exit_loses_no_record(tmp_path: Path) -> None:
    db = tmp_path / "requestcov.db"
    script = tmp_path / "stop_mid_exit.py"
    sample = sample_for_this_python()
    script.write_text(textwrap.dedent(SCRIPT).format(apps=str(APPS), db=str(db), sample=sample))
    interrupted = stopped_positions(script, REPOSITORY, timeout=110, expected_exit=0)
    # The exit runs many bytecodes; each of the first hundreds was a stop's moment.
    assert len(interrupted) > 600 // sample, interrupted
    counts = records_per_test(db)
    not_once = {
        f"{kind}-{position}": counts[f"{kind}-{position}"]
        for position in interrupted for kind in ("closed", "sent")
        if counts[f"{kind}-{position}"] != 1
    }
    assert not not_once, f"requests not recorded exactly once: {dict(list(not_once.items())[:40])}"
