"""``requestcov run --replay``: start a server under recording, replay recorded
requests to it, stop it.

Plain ``requestcov run`` replaces itself with the server. Here requestcov has to
outlive the server, to replay before it stops and to summarise what it
recorded after, so it runs the server as a child instead:

- The server gets a process group of its own (``start_new_session``): a Ctrl-C
  in the terminal then reaches requestcov only, which forwards it once.
- Readiness is a bare TCP connection to the host and port the requests go to,
  never an HTTP request, which the server would record as a request of its own.
- Every signal (the stopping SIGTERM, a forwarded Ctrl-C or SIGTERM) goes to
  the one process requestcov started, never to its whole group. The servers
  that run workers or a reloaded child (gunicorn's master, uvicorn's and
  hypercorn's supervisors, werkzeug's and Django's reloaders) pass it on to
  them themselves; a signal to the group as well would reach each worker twice
  a fraction of a millisecond apart, and the second one cuts the recorder's
  flush short.
- The group is signalled only as a last resort: when the main process has not
  exited within the stop timeout, or has exited and left processes of its
  group running for a grace period (a parent that does not pass SIGTERM on).
  Then the group gets SIGTERM, a grace to write what is queued, and SIGKILL,
  so nothing outlives the command and a hung server never hangs it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

from requestcov.config import DEFAULT_ID_HEADER, DEFAULT_TEST_SET_HEADER
from requestcov.errors import RequestcovError
from requestcov.replay import LoadedRequests, ReplayResult, ReplaySummary, load_recordings, recorded_base_url
from requestcov.replay import replay_directory
from requestcov.replay.sender import AppAddress, parse_app_url

__all__ = [
    "ReplayPlan",
    "SupervisedReplay",
    "SupervisorError",
    "Interrupted",
    "run_and_replay",
    "load_plan",
    "exit_description",
    "GROUP_GRACE",
]

#: Seconds between two readiness probes.
_PROBE_INTERVAL = 0.1
#: Seconds the rest of the server's process group gets to exit by itself once
#: the main process has, and again after the group's last-resort SIGTERM.
GROUP_GRACE = 5.0
#: Seconds SIGKILLed processes get to be gone (the kernel needs a moment under load).
_KILLED_GONE = 10.0


class SupervisorError(RequestcovError):
    """The server could not be started, died, or never listened; ``exit_code``
    is what the command exits with (127/126 when the command cannot be run,
    as a shell and plain ``requestcov run`` report it)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Interrupted(RequestcovError):
    """Ctrl-C or SIGTERM reached requestcov; it was forwarded and the server is stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}; the server was stopped")
        self.signum = signum


@dataclass(frozen=True)
class ReplayPlan:
    """What to replay, where, and how long to wait for what."""

    kind: str
    path: str
    #: The app's URL; None means where the requests were recorded.
    url: Optional[str] = None
    wait_timeout: float = 60.0
    request_timeout: float = 10.0
    concurrency: int = 1
    test_set: str = ""
    id_header: str = DEFAULT_ID_HEADER
    test_set_header: str = DEFAULT_TEST_SET_HEADER
    #: Seconds the server's main process gets to exit after SIGTERM before its
    #: group is stopped (SIGTERM, ``group_grace``, SIGKILL).
    stop_timeout: float = 30.0
    #: See :data:`GROUP_GRACE`.
    group_grace: float = GROUP_GRACE


@dataclass(frozen=True)
class SupervisedReplay:
    """What happened: the replay's tally and how the server ended."""

    url: str
    summary: ReplaySummary
    #: The server's exit status when it exited by itself during the replay.
    exited_early: Optional[int]
    #: The server's exit status once stopped.
    returncode: Optional[int]
    #: True when the server ignored SIGTERM for ``stop_timeout``, and the
    #: group's SIGTERM for ``group_grace``, and was killed.
    killed: bool
    #: Processes of the server's group that outlived its main process by the
    #: grace period got SIGTERM (``group_terminated``), and were still there to
    #: be killed after another (``group_killed``).
    group_terminated: bool = False
    group_killed: bool = False
    #: Unix time just before the server started: records of this run start later.
    started_at: float = 0.0


def exit_description(returncode: int) -> str:
    """``code 3`` or ``signal SIGKILL``, as people read an exit status."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"code {returncode}"


def load_plan(plan: ReplayPlan, on_warning: Optional[Callable[[str], None]] = None) -> Tuple[LoadedRequests, str]:
    """The requests to replay and the URL to send them to, read before any
    server starts: a recording that cannot be read or holds nothing to send
    should fail the command at once, not after a server was started for nothing."""
    loaded = load_recordings(plan.kind, plan.path, test_set=plan.test_set)
    if on_warning is not None:
        for warning in loaded.warnings:
            on_warning(warning)
    if not loaded.requests:
        raise SupervisorError(f"nothing to replay: {plan.path} holds no request that can be replayed")
    url = plan.url or recorded_base_url(loaded.requests)
    if url is None:
        raise SupervisorError(f"the requests in {plan.path} name no http(s) host and port: give the app's --url")
    parse_app_url(url)
    return loaded, url


def run_and_replay(
    arguments: Sequence[str],
    environment: Mapping[str, str],
    plan: ReplayPlan,
    *,
    on_status: Optional[Callable[[str], None]] = None,
    on_result: Optional[Callable[[ReplayResult], None]] = None,
    on_warning: Optional[Callable[[str], None]] = None,
) -> SupervisedReplay:
    """Start ``arguments`` with ``environment``, wait until it listens, replay
    ``plan`` to it, stop it. The server is stopped whatever happens.

    Raises :class:`SupervisorError` when the server cannot be run, exits before
    it listens or does not listen within ``plan.wait_timeout``, and
    :class:`Interrupted` after a forwarded Ctrl-C or SIGTERM.
    """
    status = on_status or (lambda message: None)
    loaded, url = load_plan(plan, on_warning)
    address = parse_app_url(url)
    where = f"{address.host}:{address.port}"
    if _listening(address, timeout=1.0):
        raise SupervisorError(
            f"something already listens on {where} before the server started: stop it, or give --url"
        )
    with _SignalForwarder() as forwarder:
        started_at = time.time()
        server = _start(arguments, environment)
        forwarder.server = server
        signalled = forwarder.forward_pending()
        summary = ReplaySummary()
        exited_early: Optional[int] = None
        try:
            status(f"waiting for the server to listen on {where} (up to {plan.wait_timeout:g} s)")
            _wait_until_listening(server, address, plan.wait_timeout, forwarder,
                                  hint="" if plan.url else " (give --url if it listens elsewhere)")
            status(f"replaying {len(loaded.requests)} requests to {url}")

            def result_seen(result: ReplayResult) -> None:
                if on_result is not None:
                    on_result(result)
                if forwarder.received:
                    raise _Stopped()

            summary = replay_directory(
                plan.kind, plan.path, url, timeout=plan.request_timeout, concurrency=plan.concurrency,
                test_set=plan.test_set, id_header=plan.id_header, test_set_header=plan.test_set_header,
                on_result=result_seen, loaded=loaded,
            )
            exited_early = server.poll()
        except _Stopped:
            pass
        except SupervisorError:
            if not forwarder.received:
                raise
        finally:
            signalled = signalled or bool(forwarder.received)
            if server.poll() is None and not signalled:
                status("stopping the server (SIGTERM)")
            stopped = _stop(server, plan.stop_timeout, plan.group_grace, terminate=not signalled)
        if forwarder.received:
            raise Interrupted(forwarder.received[0])
    return SupervisedReplay(
        url=url, summary=summary, exited_early=exited_early, returncode=stopped.returncode,
        killed=stopped.killed, group_terminated=stopped.group_terminated, group_killed=stopped.group_killed,
        started_at=started_at,
    )


class _Stopped(Exception):
    """Ends a replay early once a signal was forwarded to the server."""


class _SignalForwarder:
    """While active, SIGINT and SIGTERM sent to requestcov go to the server's
    main process instead of stopping requestcov, which then stops the replay
    and waits for the server. Only the main thread can own signal handlers;
    elsewhere (an embedding program's thread) signals keep their handlers."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.server: "Optional[subprocess.Popen[bytes]]" = None
        self.received: List[int] = []
        self._forwarded = 0
        self._previous: List[Tuple[int, object]] = []

    def __enter__(self) -> "_SignalForwarder":
        if threading.current_thread() is threading.main_thread():
            for signum in self._SIGNALS:
                self._previous.append((signum, signal.signal(signum, self._handle)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous:
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        self.received.append(signum)
        self.forward_pending()

    def forward_pending(self) -> bool:
        """Send the signals received so far that the server has not had yet;
        True when the server has had at least one."""
        if self.server is not None:
            while self._forwarded < len(self.received):
                _signal_process(self.server, self.received[self._forwarded])
                self._forwarded += 1
        return self._forwarded > 0


def _start(arguments: Sequence[str], environment: Mapping[str, str]) -> "subprocess.Popen[bytes]":
    try:
        return subprocess.Popen(
            list(arguments), env=dict(environment), stdin=subprocess.DEVNULL, start_new_session=True,
        )
    except OSError as error:
        raise SupervisorError(
            f"cannot run {arguments[0]}: {error.strerror or error}",
            exit_code=127 if isinstance(error, FileNotFoundError) else 126,
        ) from error


def _listening(address: AppAddress, timeout: float) -> bool:
    """True when a TCP connection to the app's host and port opens (and is
    closed at once, before any byte is sent)."""
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_until_listening(server: "subprocess.Popen[bytes]", address: AppAddress, timeout: float,
                          forwarder: _SignalForwarder, hint: str = "") -> None:
    where = f"{address.host}:{address.port}"
    deadline = time.monotonic() + timeout
    while True:
        if forwarder.received:  # first: the server may be gone because of the forwarded signal
            raise _Stopped()
        returncode = server.poll()
        if returncode is not None:
            raise SupervisorError(
                f"the server exited with {exit_description(returncode)} before it listened on {where}"
            )
        remaining = deadline - time.monotonic()
        if _listening(address, timeout=max(0.05, min(1.0, remaining))):
            return
        if time.monotonic() >= deadline:
            raise SupervisorError(f"the server did not listen on {where} within {timeout:g} s; it was stopped{hint}")
        time.sleep(_PROBE_INTERVAL)


@dataclass(frozen=True)
class _StopOutcome:
    returncode: Optional[int]
    #: The main process outlived its SIGTERM and the group's, and was killed.
    killed: bool
    #: The group got the last-resort SIGTERM, and then SIGKILL.
    group_terminated: bool = False
    group_killed: bool = False


def _stop(server: "subprocess.Popen[bytes]", timeout: float, grace: float, *, terminate: bool) -> _StopOutcome:
    """SIGTERM the server's main process (unless a forwarded signal already
    asked it to stop) and wait up to ``timeout`` for it; then see that nothing
    of its group is left (see the module's docstring)."""
    group = server.pid
    if terminate:
        _signal_process(server, signal.SIGTERM)
    try:
        server.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    else:
        if _wait_for_group(group, grace):
            return _StopOutcome(server.returncode, killed=False)
        return _StopOutcome(server.returncode, killed=False, group_terminated=True,
                            group_killed=not _end_group(group, grace))
    # The main process is still there: the whole group, itself included, gets
    # SIGTERM and the grace, as a last resort.
    _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    try:
        server.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    killed = server.poll() is None
    group_killed = not _wait_for_group(group, max(0.0, deadline - time.monotonic()))
    if group_killed:
        _signal_group(group, signal.SIGKILL)
    try:
        server.wait(10.0)  # reaped first: where no /proc tells, a zombie looks alive
    except subprocess.TimeoutExpired:
        return _StopOutcome(None, killed=True, group_terminated=True, group_killed=True)
    if group_killed:
        _wait_for_group(group, _KILLED_GONE)
    return _StopOutcome(server.returncode, killed=killed, group_terminated=True, group_killed=group_killed)


def _end_group(group: int, grace: float) -> bool:
    """The last resort for processes left behind by the main one: SIGTERM to
    the group, ``grace`` seconds to exit, then SIGKILL; True when SIGKILL was
    not needed."""
    _signal_group(group, signal.SIGTERM)
    if _wait_for_group(group, grace):
        return True
    _kill_group(group)
    return False


def _kill_group(group: int) -> None:
    """SIGKILL the group and wait (briefly) until its processes are gone, so
    none is still dying when the command exits."""
    _signal_group(group, signal.SIGKILL)
    _wait_for_group(group, _KILLED_GONE)


def _wait_for_group(group: int, timeout: float) -> bool:
    """True once no process of ``group`` is left, False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while _group_alive(group):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _signal_process(server: "subprocess.Popen[bytes]", signum: int) -> None:
    """``signum`` to the server's main process only, if it still runs (Popen
    checks, so a pid reused after the server was reaped is never signalled)."""
    try:
        server.send_signal(signum)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(group: int) -> bool:
    """True while a process of ``group`` still runs. A zombie does not count:
    an orphan that exited waits for init to reap it, which some container
    inits do late or never, and signalling it does nothing anyway."""
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return _running_member(group) is not False


def _running_member(group: int) -> Optional[bool]:
    """Whether ``/proc`` shows a process of ``group`` that is not a zombie;
    None where there is no ``/proc`` to ask."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and fields[2] == str(group).encode() and fields[0] not in (b"Z", b"X"):
            return True
    return False
