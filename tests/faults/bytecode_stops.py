"""Send this process a signal at exactly the n-th bytecode of some code, once
per n, each in a forked child: the machinery of the stop-at-any-bytecode tests.

Imported by the scripts those tests run, and by the tests for running them
(:func:`stopped_positions`, :func:`records_per_test`): a signal handler runs
between two bytecodes of whatever the main thread runs, so a stop's every
possible moment is one position here.
"""

import collections
import faulthandler
import json
import os
import signal
import subprocess
import sys
import threading
import time

#: A child whose code ended before its position came exits with this.
PAST_THE_END = 3

_TOOL_ID = 5


class SignalAt:
    """Given to :func:`start_counting`: sends ``signum`` to this process at
    the ``position``-th bytecode the thread that made it runs, then stops
    the counting (``stop``, set once counting has begun: the bytecodes of
    :func:`start_counting` itself are not counted)."""

    def __init__(self, position, signum=signal.SIGTERM):
        self.position = position
        self.signum = signum
        self.seen = 0
        self.thread = threading.get_ident()
        self.stop = None

    def __call__(self):
        if self.stop is None or threading.get_ident() != self.thread:
            return
        self.seen += 1
        if self.seen == self.position:
            self.stop()
            os.kill(os.getpid(), self.signum)

    @property
    def sent(self):
        return self.seen >= self.position


def run_with_signal_at(position, run, signum=signal.SIGTERM):
    """Run ``run()``, sending ``signum`` to this process at its
    ``position``-th bytecode on this thread; whether it was sent."""
    signal_at = SignalAt(position, signum)
    signal_at.stop = start_counting(signal_at)
    try:
        run()
    finally:
        signal_at.stop()
    return signal_at.sent


def start_counting(count):
    """Call ``count()`` before each bytecode; returns the function that stops it."""
    if sys.version_info >= (3, 12):  # opcode tracing there is sys.monitoring's
        monitoring = sys.monitoring
        if monitoring.get_tool(_TOOL_ID) is None:
            monitoring.use_tool_id(_TOOL_ID, "bytecode-stops")
        # The caller's own frame is seen too, there: run_with_signal_at's
        # last bytecodes before the code it runs are not that code's.
        harness = run_with_signal_at.__code__
        monitoring.register_callback(
            _TOOL_ID, monitoring.events.INSTRUCTION, lambda code, offset: code is harness or count())
        monitoring.set_events(_TOOL_ID, monitoring.events.INSTRUCTION)
        return lambda: monitoring.set_events(_TOOL_ID, 0)

    def step(frame, event, arg):
        if event == "opcode":
            count()
        return step

    def trace(frame, event, arg):
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        return step

    sys.settrace(trace)
    return lambda: sys.settrace(None)


def every_position(child, directory, batch=24, limit=5000, timeout=30.0, dense=None, stride=1, sample=1):
    """Fork ``child(position)`` for position 1, 2, ... until children come
    back having run past the end; {position: exit code, minus the signal
    number, or "hung:" and the child's stacks}.

    With ``dense`` set, every position up to it is tried and only every
    ``stride``-th one after: for code whose dangerous moments come first
    and whose long tail would take minutes position by position.
    With ``sample`` > 1 only every ``sample``-th of those is tried: the
    tests sweep every position on the interpreters of the heavy matrices
    and every third elsewhere (:func:`sample_for_this_python`), where the
    same code runs as other bytecode and a whole sweep takes a minute.

    A child that returns exits with :data:`PAST_THE_END`; one that raises
    ``SystemExit`` exits through the interpreter's own end (``atexit``)."""
    outcomes = {}
    running = {}
    position = 0
    while True:
        position += sample if dense is None or position < dense else max(stride, sample)
        pid = os.fork()
        if pid == 0:
            # A child that hangs tells where: every thread's stack, shortly before it is killed.
            faulthandler.dump_traceback_later(timeout - 5, file=open(_stacks_of(directory, os.getpid()), "w"))
            child(position)  # it ends the process itself, or returns having run past the end
            os._exit(PAST_THE_END)
        running[position] = pid
        if len(running) >= batch:
            for waited, pid_waited in list(running.items()):
                outcomes[waited] = _outcome(pid_waited, directory, timeout)
                del running[waited]
            if PAST_THE_END in outcomes.values() or position > limit:
                break
    for waited, pid_waited in running.items():
        outcomes[waited] = _outcome(pid_waited, directory, timeout)
    return outcomes


def sample_for_this_python():
    """``every_position``'s ``sample`` for the interpreter running the tests."""
    from tests.support.matrix import FULL_MATRIX

    return 1 if FULL_MATRIX else 3


def _outcome(pid, directory, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    with open(_stacks_of(directory, pid)) as stacks:
        return "hung:\n" + stacks.read()


def _stacks_of(directory, pid):
    return os.path.join(directory, f"stacks-{pid}.txt")


def stopped_positions(script, repository, timeout, expected_exit):
    """Run ``script`` (whose last line prints :func:`every_position`'s
    outcomes) in a fresh interpreter; the positions whose child got its
    signal, once each of them is checked to have ended with ``expected_exit``."""
    completed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=timeout, cwd=str(repository),
        env={"PYTHONPATH": str(repository), "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr
    outcomes = {int(position): outcome for position, outcome in json.loads(completed.stdout).items()}
    interrupted = sorted(position for position, outcome in outcomes.items() if outcome != PAST_THE_END)
    wrong = {position: outcomes[position] for position in interrupted if outcomes[position] != expected_exit}
    assert not wrong, (
        f"children that did not end as the handler says ({expected_exit}): {wrong}\n{completed.stderr[-3000:]}")
    return interrupted


def records_per_test(db):
    """How many records of each test id the store at ``db`` holds."""
    from requestcov.store import SQLiteStore

    with SQLiteStore(db, create=False) as store:
        return collections.Counter(record.test_id for record in store.records())
