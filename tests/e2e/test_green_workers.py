"""Green workers: gunicorn's gevent and eventlet workers under ``requestcov run``
(no code change) and with the Flask adapter added by hand, and eventlet's own
WSGI server with the adapter.

Their monkey-patching makes ``threading`` green before (``requestcov run``)
or after (an app wired by hand) requestcov is imported; every handler of the
app switches greenlets in the middle of its request. The session differs from
the harness's (:func:`tests.e2e.harness.run_session`) where green workers are
fragile:

1. cold: the server gets no request before a burst of requests with distinct
   test ids, all of them held in flight together in the worker (a rendezvous
   of the whole burst: the first record is written while all are running);
2. every spec alone, one after the other: the reference records, which must
   also equal what coverage.py alone records for the same request to the same
   app unpatched (``ORACLE``);
3. more requests napping when SIGTERM arrives: every request the client got
   an answer for, then and before, is recorded exactly once.

gunicorn 26 dropped its eventlet worker: with a newer gunicorn the
``-k eventlet`` sessions are skipped, and eventlet is tested under its own
WSGI server.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

import pytest

from requestcov.store import SQLiteStore
from tests.e2e.checks import *  # noqa: F401,F403  (the shared tests; this module's session is its own)
from tests.e2e.harness import (
    OMIT,
    REQUEST_TIMEOUT,
    SERVED,
    START_TIMEOUT,
    Session,
    Spec,
    clean_environment,
    free_port,
    send_spec,
    stop_server,
    tool,
)
from tests.support.matrix import heavy

pytestmark = [pytest.mark.slow, heavy]

SPECS = [
    Spec("nap-even", "GET", "/nap/4", 200, "/nap/<int:user_id>", waiting_path="/nap/4",
         runs=(("green_server.py", 'after = served_logic.price_with_tax(100, "DE")'),
               ("served_logic.py", "rate = 0.19"), ("served_logic.py", 'kind = "even"')),
         skips=(("green_server.py", '"XX")'),)),
    Spec("nap-odd", "GET", "/nap/7", 200, "/nap/<int:user_id>", waiting_path="/nap/7",
         runs=(("green_server.py", 'after = served_logic.price_with_tax(100, "XX")'),
               ("served_logic.py", "rate = 0.0"), ("served_logic.py", 'kind = "odd"')),
         skips=(("green_server.py", '"DE")'),)),
    Spec("nap-cart", "POST", "/nap/cart", 200, "/nap/cart", waiting_path="/nap/cart",
         json={"items": [{"price": 3, "quantity": 2}, {"price": 5, "free": True}]},
         runs=(("green_server.py", "total = served_logic.total(items)"),
               ("green_server.py", 'return jsonify({"total": total})'), ("served_logic.py", "continue"))),
    # The generator naps while the server sends the body, after the view returned.
    Spec("nap-stream", "GET", "/nap/stream/3", 200, "/nap/stream/<int:count>",
         runs=(("green_server.py", "yield chunk"), ("served_logic.py", 'yield "liftoff'))),
    Spec("nap-boom", "GET", "/nap/boom", 500, "/nap/boom",
         runs=(("green_server.py", 'raise RuntimeError("handler failed after a nap")'),)),
]

#: Requests held in flight together on the cold worker (its connections:
#: gunicorn's and eventlet's defaults are far above).
COLD_BURST = 18
#: Requests napping this long when SIGTERM arrives, this long after they were sent.
STOP_NAP, STOP_AFTER, STOP_REQUESTS = 1.5, 0.5, 8


@dataclass(frozen=True)
class Case:
    command: Tuple[str, ...]
    #: Under ``requestcov run``; else the app records through its adapter.
    launch: bool
    environment: Tuple[Tuple[str, str], ...] = ()
    needs_gunicorn_worker: Optional[str] = None
    #: The server finishes the requests in flight when told to stop
    #: (gunicorn); eventlet's own server has no SIGTERM handler and dies of
    #: it once requestcov's handler wrote the records, as without requestcov.
    graceful: bool = True


APP_ROOT = SERVED
#: The same app unpatched on werkzeug's server, for coverage.py to measure alone.
ORACLE = lambda port: [sys.executable, "green_server.py", str(port)]  # noqa: E731


def _gunicorn(worker: str, app: str) -> Tuple[str, ...]:
    # One worker: the whole burst meets in it.
    return (tool("gunicorn"), "-k", worker, "-w", "1", "-b", "127.0.0.1:{port}", app)


#: One session each (``tests/e2e/conftest.py`` parametrizes ``server_name``).
SERVERS: Dict[str, Case] = {
    "gevent-run": Case(_gunicorn("gevent", "green_server:app"), launch=True),
    "gevent-run-python-core": Case(_gunicorn("gevent", "green_server:app"), launch=True,
                                   environment=(("REQUESTCOV_CORE", "python"),)),
    "gevent-adapter": Case(_gunicorn("gevent", "green_adapted:app"), launch=False),
    "eventlet-run": Case(_gunicorn("eventlet", "green_server:app"), launch=True, needs_gunicorn_worker="eventlet"),
    "eventlet-adapter": Case(_gunicorn("eventlet", "green_adapted:app"), launch=False,
                             needs_gunicorn_worker="eventlet"),
    "eventlet-wsgi-adapter": Case((sys.executable, "eventlet_server.py", "{port}"), launch=False, graceful=False),
}


@dataclass
class GreenSession(Session):
    graceful: bool = True
    #: Test ids sent in the last phase that got no answer (SIGTERM came first).
    unanswered: Set[str] = field(default_factory=set)


def _skip_reason(case: Case) -> Optional[str]:
    uses_eventlet = case.needs_gunicorn_worker == "eventlet" or "eventlet_server.py" in case.command
    if uses_eventlet and importlib.util.find_spec("eventlet") is None:
        return f"eventlet is not installed for Python {sys.version_info[0]}.{sys.version_info[1]}"
    if case.needs_gunicorn_worker == "eventlet" and importlib.util.find_spec("gunicorn.workers.geventlet") is None:
        import gunicorn

        return f"gunicorn {gunicorn.__version__} has no eventlet worker (gunicorn 26 dropped it)"
    return None


def _wait_until_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    """A bare TCP connection, no request: the worker stays cold."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} did not listen within {START_TIMEOUT} s:\n{log.read_text()}")


def _cold_burst(specs: Sequence[Spec], name: str) -> List[Tuple[str, Spec, str]]:
    """COLD_BURST requests that meet before their naps, and two of each other spec beside them."""
    waiting = [spec for spec in specs if spec.waiting_path]
    query = f"?group={name}-cold&parties={COLD_BURST}"
    jobs = [(f"cold-{waiting[n % len(waiting)].name}-{n}", waiting[n % len(waiting)], query) for n in range(COLD_BURST)]
    others = [spec for spec in specs if not spec.waiting_path]
    jobs += [(f"cold-{spec.name}-{n}", spec, "") for spec in others for n in range(2)]
    return jobs


def _answers(futures: Dict[str, "Future[int]"]) -> Tuple[Dict[str, int], Set[str]]:
    answered: Dict[str, int] = {}
    unanswered: Set[str] = set()
    for test_id, future in futures.items():
        try:
            answered[test_id] = future.result(timeout=REQUEST_TIMEOUT * 2)
        except Exception:  # refused, reset or cut short by the stop
            unanswered.add(test_id)
    return answered, unanswered


def run_green_session(name: str, case: Case, workdir: Path) -> GreenSession:
    port = free_port()
    db, log = workdir / f"{name}.db", workdir / f"{name}.log"
    command = [part.format(port=port) for part in case.command]
    environment = clean_environment()
    environment.update(dict(case.environment))
    if case.launch:
        command = [sys.executable, "-m", "requestcov.cli", "run", "--db", str(db), "--omit", OMIT, "--", *command]
    else:
        environment.update({"REQUESTCOV_DB": str(db), "REQUESTCOV_OMIT": OMIT})
    session = GreenSession(name=name, db=db, log=log, returncode=None, stopped_in_time=False, graceful=case.graceful)
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=str(SERVED), env=environment, stdout=output, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    burst = _cold_burst(SPECS, name)
    napping = [spec for spec in SPECS if spec.route == "/nap/<int:user_id>"]  # these take ?nap=SECONDS
    stopping = [(f"stopping-{napping[n % len(napping)].name}-{n}", napping[n % len(napping)], f"?nap={STOP_NAP}")
                for n in range(STOP_REQUESTS)]
    try:
        with ThreadPoolExecutor(max_workers=len(burst)) as pool:
            _wait_until_listening(port, process, log)
            futures = {test_id: pool.submit(send_spec, base_url, spec, test_id, waiting=query)
                       for test_id, spec, query in burst}
            for test_id, spec, _ in burst:
                session.sent[test_id] = spec.name
            answered, unanswered = _answers(futures)
            assert not unanswered, (sorted(unanswered), log.read_text())
            session.received.update(answered)
            for spec in SPECS:
                test_id = f"solo-{spec.name}"
                session.sent[test_id] = spec.name
                session.received[test_id] = send_spec(base_url, spec, test_id)
            futures = {test_id: pool.submit(send_spec, base_url, spec, test_id, waiting=query)
                       for test_id, spec, query in stopping}
            time.sleep(STOP_AFTER)
            session.returncode, session.stopped_in_time = stop_server(process)
            answered, session.unanswered = _answers(futures)
            for test_id, spec, _ in stopping:
                if test_id in answered:
                    session.sent[test_id] = spec.name
                    session.received[test_id] = answered[test_id]
    finally:
        if session.returncode is None:
            session.returncode, session.stopped_in_time = stop_server(process)
    with SQLiteStore(db, create=False) as store:
        session.records = store.records()
        session.startup = store.startup_records()
    return session


@pytest.fixture(scope="module")
def session(server_name: str, tmp_path_factory: pytest.TempPathFactory) -> GreenSession:
    case = SERVERS[server_name]
    reason = _skip_reason(case)
    if reason is not None:
        pytest.skip(reason)
    return run_green_session(server_name, case, tmp_path_factory.mktemp(server_name))


def test_every_request_recorded_once(session: GreenSession) -> None:  # type: ignore[no-redef]
    """Every answered request, once; nothing else (no probe here), but a
    request SIGTERM cut short may have been recorded or not."""
    counts: Dict[str, int] = {}
    for record in session.records:
        counts[record.test_id] = counts.get(record.test_id, 0) + 1
    missing = sorted(test_id for test_id in session.sent if test_id not in counts)
    repeated = sorted(test_id for test_id, count in counts.items() if count != 1)
    strays = sorted(set(counts) - set(session.sent) - session.unanswered)
    assert (missing, repeated, strays) == ([], [], []), session.log_text()
    assert len(session.sent) >= len(_cold_burst(SPECS, session.name)) + len(SPECS)


def test_requests_answered_after_sigterm_are_recorded(session: GreenSession) -> None:
    """gunicorn answers the requests napping at SIGTERM before its worker
    exits: their records are written after the stop began."""
    answered_after = [test_id for test_id in session.sent if test_id.startswith("stopping-")]
    recorded = {record.test_id for record in session.records}
    assert set(answered_after) <= recorded
    if session.graceful:
        assert answered_after, session.log_text()


def test_the_burst_was_in_flight_together_in_one_worker(session: GreenSession) -> None:
    """The rendezvous lets no request of the burst go on before all arrived
    (with fewer in flight at once they would time out and answer 500)."""
    burst = [record for record in session.records if record.test_id.startswith("cold-")]
    assert len(burst) == len(_cold_burst(SPECS, session.name))
    assert len({record.pid for record in burst}) == 1
    waiting = [record for record in burst if session.sent[record.test_id] in ("nap-even", "nap-odd", "nap-cart")]
    assert len(waiting) == COLD_BURST and {record.status for record in waiting} == {200}
