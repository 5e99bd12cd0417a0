"""``requestcov run --replay``: start, replay, stop and summarise in one command,
with real servers in processes of their own (Flask, gunicorn and uvicorn with
two workers, werkzeug's and Django's reloaders); the check that every answered
request was recorded; and the failure paths."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from requestcov.launcher import launch_environment
from requestcov.launcher.supervise import ReplayPlan, SupervisorError, load_plan, run_and_replay
from requestcov.config import Config
from requestcov.replay import load_recordings, recorded_base_url
from requestcov.store import SQLiteStore
from tests.e2e.harness import DJANGO_SITE, SERVED, tool
from tests.replay.test_keploy_replay import keploy_test, write_test
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

APP = textwrap.dedent('''
    """A tiny shop served on 127.0.0.1:$APP_PORT; its pid goes to $APP_PID_FILE."""
    import os

    from flask import Flask, abort, jsonify, request

    app = Flask(__name__)


    def price_of(item_id):
        if item_id % 2:
            return 3
        return 4


    @app.get("/items/<int:item_id>")
    def item(item_id):
        if item_id > 100:
            abort(404)
        return jsonify({"id": item_id, "price": price_of(item_id)})


    @app.post("/orders")
    def order():
        lines = request.get_json(force=True)
        return jsonify({"total": sum(price_of(line) for line in lines)})


    if __name__ == "__main__":
        with open(os.environ["APP_PID_FILE"], "w") as handle:
            handle.write(str(os.getpid()))
        app.run(host="127.0.0.1", port=int(os.environ["APP_PORT"]))
''')

#: Servers that never become one: the pid first, then exit or sleep.
EXITS_AT_ONCE = "import os, sys; open(os.environ['APP_PID_FILE'], 'w').write(str(os.getpid())); sys.exit(3)"
NEVER_LISTENS = "import os, time; open(os.environ['APP_PID_FILE'], 'w').write(str(os.getpid())); time.sleep(120)"
#: Notes every SIGINT and SIGTERM it gets, and exits a moment after the first.
COUNTS_SIGNALS = textwrap.dedent('''
    import os, signal, time
    seen = []
    def note(signum, frame):
        seen.append(signum)
        with open(os.environ["APP_PID_FILE"] + ".signals", "a") as handle:
            handle.write(signal.Signals(signum).name + "\\n")
    signal.signal(signal.SIGINT, note)
    signal.signal(signal.SIGTERM, note)
    open(os.environ["APP_PID_FILE"], "w").write(str(os.getpid()))
    while not seen:
        time.sleep(0.05)
    time.sleep(0.5)
''')
IGNORES_SIGTERM = (
    "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "open(os.environ['APP_PID_FILE'], 'w').write(str(os.getpid())); time.sleep(120)"
)


def make_test_sets(folder: Path, port: int) -> Path:
    """Two Keploy test sets against 127.0.0.1:port; test-set-0's test-1 and
    test-2 run the very same lines (odd item ids), a known duplicate pair."""
    keploy = folder / "keploy"
    base = f"http://127.0.0.1:{port}"
    write_test(keploy, "test-set-0", "test-1", keploy_test("test-1", "GET", f"{base}/items/1", 200))
    write_test(keploy, "test-set-0", "test-2", keploy_test("test-2", "GET", f"{base}/items/3", 200))
    write_test(keploy, "test-set-0", "test-3", keploy_test(
        "test-3", "POST", f"{base}/orders", 200, body="[1, 2]", headers={"Content-Type": "application/json"},
    ))
    write_test(keploy, "test-set-1", "test-1", keploy_test("test-1", "GET", f"{base}/items/2", 200))
    # The app answers 404 where 200 was recorded: reported, not fatal.
    write_test(keploy, "test-set-1", "test-2", keploy_test("test-2", "GET", f"{base}/items/500", 200))
    return keploy


def environment(port: int, pid_file: Path) -> Dict[str, str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("REQUESTCOV_")}
    clean.update({"APP_PORT": str(port), "APP_PID_FILE": str(pid_file), "PYTHONUNBUFFERED": "1"})
    return clean


def requestcov_run(workdir: Path, options: List[str], server: List[str], port: int,
                   timeout: float = 120.0) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "requestcov.cli", "run", *options, "--", *server]
    return subprocess.run(
        command, cwd=str(workdir), env=environment(port, workdir / "server.pid"), capture_output=True,
        text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def assert_gone(pid_file: Path) -> None:
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_run_replay_records_every_test_and_prints_both_summaries(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "app.py").write_text(APP)
    keploy = make_test_sets(tmp_path, port)
    db = tmp_path / "store.db"
    completed = requestcov_run(
        tmp_path, ["--replay", f"keploy:{keploy}", "--db", str(db), "--replay-concurrency", "2"],
        [sys.executable, "app.py"], port,
    )
    output = completed.stdout
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr
    assert f"replaying 5 requests to http://127.0.0.1:{port}" in completed.stderr
    assert "mismatch  test-set-1/test-2  GET /items/500: got 404, recorded 200" in output
    summary_row = [line for line in output.splitlines() if line.count("│") >= 6][0]
    assert [cell.strip() for cell in summary_row.strip("│ ").split("│")] == ["5", "4", "1", "0", "0", "0"]
    assert "Duplicate tests: 1 of 5 can go, 4 stay" in output
    duplicate_row = next(line for line in output.splitlines() if "test-set-0/test-2" in line)
    assert "test-set-0/test-1" in duplicate_row and "exact" in duplicate_row

    with SQLiteStore(db, create=False) as store:
        records = store.records()
    assert sorted((record.test_set, record.test_id) for record in records) == [
        ("test-set-0", "test-1"), ("test-set-0", "test-2"), ("test-set-0", "test-3"),
        ("test-set-1", "test-1"), ("test-set-1", "test-2"),
    ]
    statuses = {(record.test_set, record.test_id): record.status for record in records}
    assert statuses[("test-set-1", "test-2")] == 404
    assert_gone(tmp_path / "server.pid")


def test_run_replay_of_a_har_file_with_an_explicit_url(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "app.py").write_text(APP)
    har = tmp_path / "session.har"
    entries = [
        {"request": {"method": "GET", "url": f"https://shop.example/items/{item}", "headers": []},
         "response": {"status": 200}}
        for item in (5, 7)
    ]
    har.write_text(json.dumps({"log": {"entries": entries}}))
    db = tmp_path / "store.db"
    completed = requestcov_run(
        tmp_path, ["--replay", f"har:{har}", "--url", f"http://127.0.0.1:{port}", "--db", str(db), "--quiet"],
        [sys.executable, "app.py"], port,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Duplicate tests: 1 of 2 can go, 1 stay" in completed.stdout
    with SQLiteStore(db, create=False) as store:
        assert sorted(record.test_id for record in store.records()) == ["har-1", "har-2"]
    assert_gone(tmp_path / "server.pid")


def test_a_server_that_exits_at_once_fails_the_command(tmp_path: Path) -> None:
    port = free_port()
    keploy = make_test_sets(tmp_path, port)
    started = time.monotonic()
    completed = requestcov_run(
        tmp_path, ["--replay", f"keploy:{keploy}", "--db", str(tmp_path / "store.db"), "--wait-timeout", "30"],
        [sys.executable, "-c", EXITS_AT_ONCE], port,
    )
    assert completed.returncode == 1
    assert f"Error: the server exited with code 3 before it listened on 127.0.0.1:{port}" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert time.monotonic() - started < 20
    assert_gone(tmp_path / "server.pid")


def test_a_server_that_never_listens_times_out_and_is_killed(tmp_path: Path) -> None:
    port = free_port()
    keploy = make_test_sets(tmp_path, port)
    started = time.monotonic()
    completed = requestcov_run(
        tmp_path, ["--replay", f"keploy:{keploy}", "--db", str(tmp_path / "store.db"), "--wait-timeout", "1.5"],
        [sys.executable, "-c", NEVER_LISTENS], port,
    )
    assert completed.returncode == 1
    assert (f"Error: the server did not listen on 127.0.0.1:{port} within 1.5 s; it was stopped "
            "(give --url if it listens elsewhere)") in completed.stderr
    assert "Traceback" not in completed.stderr
    assert time.monotonic() - started < 30
    assert_gone(tmp_path / "server.pid")


def test_a_server_ignoring_sigterm_is_killed_after_the_stop_timeout(tmp_path: Path) -> None:
    port = free_port()
    keploy = make_test_sets(tmp_path, port)
    pid_file = tmp_path / "server.pid"
    plan = ReplayPlan("keploy", str(keploy), wait_timeout=1.0, stop_timeout=1.0, group_grace=1.0)
    launch = launch_environment(Config.resolve(db=str(tmp_path / "store.db")), environment(port, pid_file))
    with pytest.raises(SupervisorError, match="did not listen"):
        run_and_replay([sys.executable, "-c", IGNORES_SIGTERM], launch, plan)
    assert_gone(pid_file)


def test_ctrl_c_is_forwarded_once_and_the_server_stopped(tmp_path: Path) -> None:
    port = free_port()
    keploy = make_test_sets(tmp_path, port)
    pid_file = tmp_path / "server.pid"
    command = [sys.executable, "-m", "requestcov.cli", "run", "--replay", f"keploy:{keploy}",
               "--db", str(tmp_path / "store.db"), "--", sys.executable, "-c", COUNTS_SIGNALS]
    process = subprocess.Popen(command, cwd=str(tmp_path), env=environment(port, pid_file),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, errors
    assert "requestcov: interrupted by SIGINT; the server was stopped" in errors
    assert "Traceback" not in errors
    assert (tmp_path / "server.pid.signals").read_text() == "SIGINT\n"
    assert_gone(pid_file)


def test_nothing_to_replay_fails_before_any_server_starts(tmp_path: Path) -> None:
    keploy = tmp_path / "keploy"
    write_test(keploy, "test-set-0", "test-1", "kind: Http\nname: test-1\nspec: [unclosed\n")
    completed = requestcov_run(
        tmp_path, ["--replay", f"keploy:{keploy}", "--db", str(tmp_path / "store.db")],
        [sys.executable, "-c", EXITS_AT_ONCE], free_port(),
    )
    assert completed.returncode == 1
    assert "not valid YAML" in completed.stderr
    assert f"Error: nothing to replay: {keploy} holds no request that can be replayed" in completed.stderr
    assert not (tmp_path / "server.pid").exists()


@pytest.mark.parametrize("options, message", [
    (["--replay", "yaml:somewhere"], "'yaml:somewhere': use keploy:DIR (Keploy test sets) or har:FILE"),
    (["--wait-timeout", "5"], "--wait-timeout only applies with --replay KIND:PATH"),
])
def test_option_mistakes_are_one_line_usage_errors(tmp_path: Path, options: List[str], message: str) -> None:
    completed = requestcov_run(tmp_path, options, [sys.executable, "-c", EXITS_AT_ONCE], free_port())
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


def test_something_already_listening_is_refused(tmp_path: Path) -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        keploy = make_test_sets(tmp_path, port)
        with pytest.raises(SupervisorError, match=f"something already listens on 127.0.0.1:{port}"):
            run_and_replay([sys.executable, "-c", EXITS_AT_ONCE], environment(port, tmp_path / "server.pid"),
                           ReplayPlan("keploy", str(keploy)))
    assert not (tmp_path / "server.pid").exists()


@pytest.mark.parametrize("urls, expected", [
    (["http://localhost:8080/a", "http://localhost:8080/b?x=1", "https://cdn.example/lib.js"],
     "http://localhost:8080"),
    (["https://shop.example/a"], "https://shop.example"),
    (["http://[::1]:9000/a"], "http://[::1]:9000"),
    (["/relative/only"], None),
])
def test_the_base_url_of_recorded_requests(tmp_path: Path, urls: List[str], expected: Optional[str]) -> None:
    keploy = tmp_path / "keploy"
    for number, url in enumerate(urls, start=1):
        write_test(keploy, "test-set-0", f"test-{number}", keploy_test(f"test-{number}", "GET", url, 200))
    assert recorded_base_url(load_recordings("keploy", keploy).requests) == expected
    if expected is None:
        with pytest.raises(SupervisorError, match="name no http\\(s\\) host and port: give the app's --url"):
            load_plan(ReplayPlan("keploy", str(keploy)))


# -- every server stops cleanly, and every answered request is recorded ------

#: werkzeug's reloader re-runs this script in a child that serves; the parent
#: only watches files and waits for it.
FLASK_DEBUG = textwrap.dedent(f'''
    import sys
    sys.path.insert(0, {str(SERVED)!r})
    from flask_server import app
    app.run(host="127.0.0.1", port=int(sys.argv[1]), debug=True)
''')

#: Server name -> (working folder, command for a port). Each one runs the
#: requests in processes other than the one requestcov starts, and stops them
#: itself when that one gets SIGTERM.
SERVERS = {
    "gunicorn-2-workers": (SERVED, lambda port, folder: [
        tool("gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "flask_server:app"]),
    "uvicorn-2-workers": (SERVED, lambda port, folder: [
        tool("uvicorn"), "--workers", "2", "--port", str(port), "fastapi_server:app"]),
    "flask-debug-reloader": (SERVED, lambda port, folder: [sys.executable, str(folder / "flask_debug.py"), str(port)]),
    "django-runserver": (DJANGO_SITE, lambda port, folder: [sys.executable, "manage.py", "runserver", str(port)]),
}
#: (test set, test id) of the requests ``make_served_test_sets`` records.
SERVED_KEYS = [
    ("test-set-0", "test-1"), ("test-set-0", "test-2"), ("test-set-0", "test-3"), ("test-set-0", "test-4"),
    ("test-set-0", "test-5"), ("test-set-1", "test-1"),
]


def make_served_test_sets(folder: Path, port: int) -> Path:
    """Requests every app of tests/apps/served answers alike; test-1 is in both
    sets, which the store must keep apart."""
    keploy = folder / "keploy"
    base = f"http://127.0.0.1:{port}"
    for number, path in enumerate(["/hello", "/users/4", "/users/7", "/users/500"], start=1):
        write_test(keploy, "test-set-0", f"test-{number}", keploy_test(
            f"test-{number}", "GET", base + path, 404 if path == "/users/500" else 200))
    write_test(keploy, "test-set-0", "test-5", keploy_test(
        "test-5", "POST", f"{base}/cart/total", 200, body='{"items": [{"price": 3, "quantity": 2}]}',
        headers={"Content-Type": "application/json"},
    ))
    write_test(keploy, "test-set-1", "test-1", keploy_test("test-1", "GET", f"{base}/users/2", 200))
    return keploy


def processes_of_this_test(token: str) -> List[int]:
    """Pids of the live processes whose environment holds ``token`` (every
    process a server of this test started, whatever its group), so no test
    lets a worker outlive it unnoticed."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("State:"))
        except (OSError, StopIteration):
            continue
        if token.encode() in environ and "zombie" not in state:
            found.append(int(entry.name))
    return found


def records_of_this_run(db: Path, since: float) -> List[tuple]:
    with SQLiteStore(db, create=False) as store:
        return sorted((record.test_set, record.test_id) for record in store.records() if record.start >= since)


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_servers_with_workers_or_reloaders_stop_cleanly_and_record_every_request(tmp_path: Path, name: str) -> None:
    """requestcov signals only the process it started: each of these passes
    SIGTERM on to the processes that serve, which write every record."""
    folder, make_command = SERVERS[name]
    port = free_port()
    (tmp_path / "flask_debug.py").write_text(FLASK_DEBUG)
    keploy = make_served_test_sets(tmp_path, port)
    db = tmp_path / "store.db"
    started = time.time()
    command = [sys.executable, "-m", "requestcov.cli", "run", "--replay", f"keploy:{keploy}", "--db", str(db),
               "--omit", "*/sync_point.py", "--", *make_command(port, tmp_path)]
    token = str(tmp_path / "server.pid")
    try:
        completed = subprocess.run(command, cwd=str(folder), env=environment(port, Path(token)),
                                   capture_output=True, text=True, timeout=150, stdin=subprocess.DEVNULL)
        assert completed.returncode == 0, completed.stdout + completed.stderr
        assert "not recorded" not in completed.stderr
        assert "Traceback" not in completed.stderr
        assert "Duplicate tests" in completed.stdout
        assert records_of_this_run(db, started) == sorted(SERVED_KEYS)
        assert processes_of_this_test(token) == []
    finally:
        for pid in processes_of_this_test(token):
            os.kill(pid, signal.SIGKILL)


def test_a_server_requestcov_cannot_record_never_gives_a_green_replay(tmp_path: Path) -> None:
    """The standard library's http.server answers every request, and nothing
    wraps it: the replay is complete, the records are not, and the command
    says so and fails."""
    port = free_port()
    keploy = make_served_test_sets(tmp_path, port)
    db = tmp_path / "store.db"
    command = [sys.executable, "-m", "requestcov.cli", "run", "--replay", f"keploy:{keploy}", "--db", str(db),
               "--", sys.executable, "plain_http_server.py", str(port)]
    completed = subprocess.run(command, cwd=str(SERVED), env=environment(port, tmp_path / "server.pid"),
                               capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    summary_row = [line for line in completed.stdout.splitlines() if line.count("│") >= 6][0]
    assert [cell.strip() for cell in summary_row.strip("│ ").split("│")][:2] == ["6", "6"]
    assert "Error: 6 of 6 replayed requests were not recorded (test-set-0/test-1, " in completed.stderr
    assert "this server looks unsupported by requestcov run; wrap the app by hand" in completed.stderr
    assert "README's Record section" in completed.stderr
    assert "Duplicate tests" not in completed.stdout
    assert "Traceback" not in completed.stderr
    assert processes_of_this_test(str(tmp_path / "server.pid")) == []


def test_records_of_an_earlier_run_do_not_hide_a_loss(tmp_path: Path) -> None:
    """The same test ids recorded by a run before count for nothing: only
    records written while this server ran do."""
    port = free_port()
    (tmp_path / "app.py").write_text(APP)
    keploy = make_test_sets(tmp_path, port)
    db = tmp_path / "store.db"
    first = requestcov_run(tmp_path, ["--replay", f"keploy:{keploy}", "--db", str(db)], [sys.executable, "app.py"],
                           port)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "not recorded" not in first.stderr
    (tmp_path / "plain_http_server.py").write_text((SERVED / "plain_http_server.py").read_text())
    (tmp_path / "served_logic.py").write_text((SERVED / "served_logic.py").read_text())
    second = requestcov_run(tmp_path, ["--replay", f"keploy:{keploy}", "--db", str(db)],
                            [sys.executable, "plain_http_server.py", str(port)], port)
    assert second.returncode == 1, second.stdout + second.stderr
    assert "Error: 5 of 5 replayed requests were not recorded" in second.stderr
    with SQLiteStore(db, create=False) as store:
        assert len(store.records()) == 5  # the first run's, still there


@pytest.mark.parametrize("name", ["django-runserver", "flask-debug-reloader"])
def test_ctrl_c_stops_a_reloaded_server_cleanly(tmp_path: Path, name: str) -> None:
    """Ctrl-C reaches the reloader only, which passes it on to the serving
    child: the child stops as it would in a terminal and writes its records
    (its start-up record too, which only a clean stop writes), instead of
    being killed by the reloader a moment later."""
    folder, make_command = SERVERS[name]
    port = free_port()
    (tmp_path / "flask_debug.py").write_text(FLASK_DEBUG)
    keploy = tmp_path / "keploy"
    base = f"http://127.0.0.1:{port}"
    write_test(keploy, "test-set-0", "test-1", keploy_test("test-1", "GET", f"{base}/hello", 200))
    write_test(keploy, "test-set-0", "test-2", keploy_test("test-2", "GET", f"{base}/users/4", 200))
    # Waits in the handler for a second request that never comes: in flight when Ctrl-C arrives.
    write_test(keploy, "test-set-0", "test-3", keploy_test("test-3", "GET", f"{base}/price/DE?group=c&parties=2", 200))
    db = tmp_path / "store.db"
    token = str(tmp_path / "server.pid")
    started = time.time()
    command = [sys.executable, "-m", "requestcov.cli", "run", "--replay", f"keploy:{keploy}", "--db", str(db),
               "--omit", "*/sync_point.py", "--", *make_command(port, tmp_path)]
    process = subprocess.Popen(command, cwd=str(folder), env=environment(port, Path(token)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if db.exists() and len(records_of_this_run(db, started)) == 2:
                break
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=60)
        assert process.returncode == 130, errors
        assert "requestcov: interrupted by SIGINT; the server was stopped" in errors
        assert records_of_this_run(db, started)[:2] == [("test-set-0", "test-1"), ("test-set-0", "test-2")]
        with SQLiteStore(db, create=False) as store:
            startup_pids = {record.pid for record in store.startup_records() if record.start >= started}
        assert len(startup_pids) == 2  # the reloader's and the serving child's
        assert processes_of_this_test(token) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        for pid in processes_of_this_test(token):
            os.kill(pid, signal.SIGKILL)


#: A main process that starts a serving child in its own process group and,
#: on SIGTERM, exits without passing it on. Both note the signals they get.
LEAVES_A_CHILD = textwrap.dedent('''
    import os, signal, subprocess, sys, time
    log = os.environ["APP_PID_FILE"] + ".signals"
    def note(signum, frame):
        with open(log, "a") as handle:
            handle.write("main " + signal.Signals(signum).name + "\\n")
        sys.exit(0)
    signal.signal(signal.SIGTERM, note)
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]])
    open(os.environ["APP_PID_FILE"], "w").write(str(os.getpid()))
    child.wait()
''')
CHILD = textwrap.dedent('''
    import os, signal, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    log = os.environ["APP_PID_FILE"] + ".signals"
    def note(signum, frame):
        with open(log, "a") as handle:
            handle.write("child " + signal.Signals(signum).name + "\\n")
        if sys.argv[2] == "stops":
            os._exit(0)
    signal.signal(signal.SIGTERM, note)
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        def log_message(self, *args):
            pass
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
''')


@pytest.mark.parametrize("child", ["stops", "ignores"])
def test_processes_a_server_leaves_behind_get_sigterm_after_a_grace_then_sigkill(tmp_path: Path, child: str) -> None:
    """Only the main process gets the stopping SIGTERM; the rest of its group
    is signalled once the main process is gone and the grace has passed: SIGTERM,
    then SIGKILL for what still runs after another grace."""
    port = free_port()
    keploy = tmp_path / "keploy"
    write_test(keploy, "test-set-0", "test-1", keploy_test("test-1", "GET", f"http://127.0.0.1:{port}/hello", 200))
    pid_file = tmp_path / "server.pid"
    plan = ReplayPlan("keploy", str(keploy), wait_timeout=30.0, stop_timeout=10.0, group_grace=1.0)
    started = time.monotonic()
    outcome = run_and_replay([sys.executable, "-c", LEAVES_A_CHILD, CHILD, str(port), child],
                             environment(port, pid_file), plan)
    assert outcome.summary.sent == 1
    assert time.monotonic() - started < 20
    assert (tmp_path / "server.pid.signals").read_text().splitlines() == ["main SIGTERM", "child SIGTERM"]
    assert outcome.returncode == 0 and not outcome.killed
    assert outcome.group_terminated
    assert outcome.group_killed == (child == "ignores")
    assert processes_of_this_test(str(pid_file)) == []


def test_a_store_that_cannot_be_written_is_named_as_the_reason(tmp_path: Path) -> None:
    """The server answers while its recorder cannot open the store (the file
    is no SQLite database): the check says which store and why."""
    port = free_port()
    (tmp_path / "app.py").write_text(APP)
    keploy = make_test_sets(tmp_path, port)
    db = tmp_path / "store.db"
    db.write_bytes(b"not a database, " * 512)
    completed = requestcov_run(tmp_path, ["--replay", f"keploy:{keploy}", "--db", str(db)],
                               [sys.executable, "app.py"], port)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert (f"Error: 5 of 5 replayed requests were not recorded (test-set-0/test-1, test-set-0/test-2, "
            f"test-set-0/test-3, test-set-1/test-1, test-set-1/test-2): cannot open the requestcov store {db}"
            in completed.stderr)
    assert "Traceback" not in completed.stderr
