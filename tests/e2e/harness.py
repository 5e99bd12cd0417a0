"""Run a real server under ``requestcov run``, send it requests, read what it recorded.

Every test module starts each of its servers once (module-scoped fixtures) and
runs the same session against it:

1. wait until it answers (the probe requests carry no test id);
2. send every request spec alone, one after the other: their records are the
   *reference* lines of each spec;
3. send every spec again, several copies at once, and, for threaded
   single-process servers, groups that wait for each other inside the handler
   so they are certainly in flight together;
4. stop the server with SIGTERM, as a process manager would, and read the store.

Everything is bounded: waits have timeouts and the whole process group of the
server is killed in teardown, whatever happened.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import requests

from requestcov.records import RequestRecord
from requestcov.store import SQLiteStore
from tests.support.servers import free_port  # noqa: F401 - the e2e tests take it from here

SERVED = Path(__file__).resolve().parents[1] / "apps" / "served"
DJANGO_SITE = SERVED / "django_site"
BIN = Path(sys.executable).parent
ID_HEADER = "KEPLOY-TEST-ID"
#: The waiting helper is test scaffolding, not app code (see sync_point.py).
OMIT = "*/sync_point.py"
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
STOP_TIMEOUT = 40.0


@dataclass(frozen=True)
class Spec:
    """One kind of request and what its record must say."""

    name: str
    method: str
    path: str
    status: int
    route: Optional[str]
    json: Optional[dict] = None
    #: (file name, text) of lines the request must run, and must not run.
    runs: Tuple[Tuple[str, str], ...] = ()
    skips: Tuple[Tuple[str, str], ...] = ()
    #: Path of the variant that waits for others (a query string added).
    waiting_path: Optional[str] = None


@dataclass
class Session:
    """What one server run produced."""

    name: str
    db: Path
    log: Path
    returncode: Optional[int]
    stopped_in_time: bool
    #: test id -> spec name, for every request sent with an id.
    sent: Dict[str, str] = field(default_factory=dict)
    #: test id -> status code the client received.
    received: Dict[str, int] = field(default_factory=dict)
    records: List[RequestRecord] = field(default_factory=list)
    #: One per process that ran measured code outside requests (imports).
    startup: List[RequestRecord] = field(default_factory=list)

    def by_id(self) -> Dict[str, List[RequestRecord]]:
        found: Dict[str, List[RequestRecord]] = {}
        for record in self.records:
            found.setdefault(record.test_id, []).append(record)
        return found

    def reference(self, spec_name: str) -> RequestRecord:
        (record,) = self.by_id()[f"solo-{spec_name}"]
        return record

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def tool(name: str) -> str:
    """A console script of the interpreter running the tests."""
    return str(BIN / name)


def clean_environment() -> Dict[str, str]:
    # REQUESTCOV_ENGINE passes: ``REQUESTCOV_ENGINE=probes pytest tests/e2e`` runs the servers with it.
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("REQUESTCOV_") or key == "REQUESTCOV_ENGINE"}
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def wait_until_answering(base_url: str, process: subprocess.Popen, log: Path, settle: float = 0.0) -> None:
    """Return once the server answers, and ``settle`` seconds more: a server
    may answer before its supervisor has finished starting (Sanic's manager,
    stopped before it saw its workers report ready, never exits)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering:\n{log.read_text()}")
        try:
            requests.get(base_url + "/hello", timeout=2.0)
            time.sleep(settle)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise TimeoutError(f"{base_url} did not answer within {START_TIMEOUT} s:\n{log.read_text()}")


def stop_server(process: subprocess.Popen) -> Tuple[Optional[int], bool]:
    """SIGTERM the server; then make sure nothing of its process group is left."""
    stopped_in_time = True
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            stopped_in_time = False
            process.kill()
            process.wait(10)
    kill_group(process.pid)
    return process.returncode, stopped_in_time


def kill_group(group: int) -> None:
    """Workers outliving their master (only after a failure) die with the group."""
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def send_spec(base_url: str, spec: Spec, test_id: str, *, waiting: str = "") -> int:
    path = spec.path if not waiting else f"{spec.waiting_path}{waiting}"
    response = requests.request(
        spec.method, base_url + path, json=spec.json, headers={ID_HEADER: test_id}, timeout=REQUEST_TIMEOUT,
    )
    response.content  # read the whole (possibly streamed) body
    return response.status_code


def run_session(
    name: str,
    command: Sequence[str],
    *,
    cwd: Path,
    port: int,
    specs: Sequence[Spec],
    workdir: Path,
    copies: int = 2,
    waiting_groups: int = 0,
    group_size: int = 3,
    launch: bool = True,
    environment: Optional[Dict[str, str]] = None,
    settle: float = 0.0,
    omit: str = OMIT,
) -> Session:
    """Start ``command`` under ``requestcov run`` and play the session above.

    With ``launch=False`` the command runs as it is, for apps that record
    through an adapter or middleware of their own; the store and the omitted
    files are then given through the environment.
    """
    db = workdir / f"{name}.db"
    log = workdir / f"{name}.log"
    server_environment = clean_environment()
    server_environment.update(environment or {})
    if launch:
        full_command = [sys.executable, "-m", "requestcov.cli", "run", "--db", str(db), "--omit", omit, "--", *command]
    else:
        full_command = list(command)
        server_environment.update({"REQUESTCOV_DB": str(db), "REQUESTCOV_OMIT": omit})
    session = Session(name=name, db=db, log=log, returncode=None, stopped_in_time=False)
    base_url = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        process = subprocess.Popen(
            full_command, cwd=str(cwd), env=server_environment, stdout=output, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        wait_until_answering(base_url, process, log, settle)
        for spec in specs:
            test_id = f"solo-{spec.name}"
            session.sent[test_id] = spec.name
            session.received[test_id] = send_spec(base_url, spec, test_id)
        jobs: List[Tuple[str, Spec, str]] = []
        for copy in range(copies):
            for spec in specs:
                jobs.append((f"together-{spec.name}-{copy}", spec, ""))
        waiting_specs = [spec for spec in specs if spec.waiting_path]
        for group in range(waiting_groups):
            spec = waiting_specs[group % len(waiting_specs)]
            for member in range(group_size):
                query = f"?group={name}-{group}&parties={group_size}"
                jobs.append((f"waiting-{spec.name}-{group}-{member}", spec, query))
        for test_id, spec, _ in jobs:
            session.sent[test_id] = spec.name
        # Enough threads that every member of a waiting group is sent at once.
        with ThreadPoolExecutor(max_workers=max(8, group_size * max(waiting_groups, 1))) as pool:
            futures = {
                test_id: pool.submit(send_spec, base_url, spec, test_id, waiting=query)
                for test_id, spec, query in jobs
            }
            for test_id, future in futures.items():
                session.received[test_id] = future.result(timeout=REQUEST_TIMEOUT * 2)
    finally:
        session.returncode, session.stopped_in_time = stop_server(process)
    with SQLiteStore(db, create=False) as store:
        session.records = store.records()
        session.startup = store.startup_records()
    return session


ORACLE_BOOT = Path(__file__).resolve().parents[1] / "support" / "coverage_boot"
#: The last request of an oracle run: its arrival saves the one before it.
ORACLE_END = "oracle-end"


def run_oracle(command: Sequence[str], *, cwd: Path, port: int, specs: Sequence[Spec],
               workdir: Path, omit: str = OMIT) -> Dict[str, Dict[str, List[int]]]:
    """coverage.py's lines for each spec's request sent alone (test id
    ``solo-NAME``), from ``command`` (a single-process server, without
    requestcov) run under coverage.py only (:mod:`tests.support.coverage_boot`)."""
    import coverage

    data_file = workdir / "oracle.coverage"
    log = workdir / "oracle.log"
    environment = clean_environment()
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ORACLE_BOOT), environment.get("PYTHONPATH")]))
    environment.update({"ORACLE_DATA": str(data_file), "ORACLE_OMIT": omit})
    base_url = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        process = subprocess.Popen(list(command), cwd=str(cwd), env=environment, stdout=output,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until_answering(base_url, process, log)
        for spec in specs:
            send_spec(base_url, spec, f"solo-{spec.name}")
            # Work the app does after the response (a background task) ends
            # before the next request switches coverage.py's context.
            time.sleep(0.1)
        send_spec(base_url, Spec(ORACLE_END, "GET", "/hello", 200, None), ORACLE_END)
    finally:
        stop_server(process)
    lines: Dict[str, Dict[str, List[int]]] = {}
    for path in workdir.glob("oracle.coverage.*"):
        data = coverage.CoverageData(str(path))
        data.read()
        for context in data.measured_contexts():
            if not context.startswith("solo-"):
                continue
            data.set_query_contexts([re.escape(context) + "$"])
            for measured in data.measured_files():
                found = data.lines(measured)
                # Code compiled under a made-up file name (Sanic rebuilds its
                # request handler from source at start-up) is no app file.
                if found and os.path.exists(measured):
                    lines.setdefault(context, {})[os.path.realpath(measured)] = sorted(found)
    return lines


def lines_with(path: Path, text: str) -> List[int]:
    """Line numbers of ``path`` whose text contains ``text``."""
    return [number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line]


def export_keploy(db: Path, output: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "requestcov.cli", "export", "--db", str(db), "--format", "keploy-yaml",
         "-o", str(output)],
        capture_output=True, text=True, timeout=60, env=clean_environment(),
    )
