"""``requestcov run --keploy-agent``: the agent as a process of its own beside the server.

``requestcov run`` replaces itself with the server, so the server keeps its
process id, its exit code and its signals. Just before, it forks the agent
(twice, so the agent is nobody's child: no server reaps or waits for it); the
agent takes the owner's lock, binds the control socket, says it is ready
through a pipe, and serves until the server's process is gone, then removes
the socket and the shared file. It stays in the server's process group, so a
signal to the group reaches it too: SIGTERM ends it, while SIGINT and SIGHUP
(a Ctrl-C, a closed terminal) leave it serving until the server has stopped.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import traceback
from types import FrameType
from typing import Callable, NoReturn, Optional

from requestcov.config import Config
from requestcov.keploy.inprocess import socket_paths, take_ownership
from requestcov.keploy.server import AgentError, AgentServer
from requestcov.keploy.shared import SharedTest, lock_path, state_path

__all__ = ["start_agent_process", "READY_TIMEOUT"]

#: Seconds the launcher waits for the agent to serve.
READY_TIMEOUT = 15.0
_READY = b"ready"


def start_agent_process(config: Config, watch_pid: int, *, timeout: float = READY_TIMEOUT) -> None:
    """Fork the agent for the server that will run as ``watch_pid``; return
    once it serves. Raises :class:`AgentError` with the agent's reason."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - measured in the agent's own process
        try:
            os.close(read_end)
            if os.fork() == 0:
                _agent_main(config, watch_pid, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        os.waitpid(child, 0)
        answer, timed_out = _read_answer(read_end, timeout)
    finally:
        os.close(read_end)
    if answer != _READY:
        reason = answer.decode("utf-8", "replace").strip()
        if not reason:
            reason = (f"the Keploy agent did not start within {timeout:g} s" if timed_out
                      else "the Keploy agent's process ended before it served")
        raise AgentError(reason)


def _read_answer(fd: int, timeout: float) -> "tuple[bytes, bool]":
    """What the agent wrote until it closed its end, and whether ``timeout`` passed first."""
    answer = b""
    while True:
        readable, _, _ = select.select([fd], [], [], timeout)
        if not readable:
            return answer, True
        chunk = os.read(fd, 4096)
        if not chunk:
            return answer, False
        answer += chunk


def _agent_main(config: Config, watch_pid: int, ready: int) -> NoReturn:  # pragma: no cover - own process
    code = 0
    server: Optional[AgentServer] = None
    owned = False
    control, data = socket_paths(config)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, _exit_on_signal)
        _stdin_from_devnull()
        lock = take_ownership(control)
        if lock is None:
            raise AgentError(f"another requestcov agent already serves {control}")
        owned = True
        shared = SharedTest(state_path(control))
        server = AgentServer(control, data, config.db or "", shared)
        server.bind()
        watch_fd = _pidfd(watch_pid)
        os.write(ready, _READY)
        os.close(ready)
        ready = -1
        server.serve(keep_going=_alive_check(watch_pid, watch_fd), watch_fd=watch_fd)
    except AgentError as error:
        code = 1
        _tell(ready, str(error))
    except SystemExit:
        pass
    except BaseException as error:
        code = 1
        if ready >= 0:
            _tell(ready, f"the Keploy agent failed: {error!r}")
        else:
            traceback.print_exc()
    finally:
        try:
            if server is not None:
                server.close()
            if owned:
                for path in (state_path(control), lock_path(control)):
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
        finally:
            os._exit(code)


def _exit_on_signal(signum: int, frame: Optional[FrameType]) -> None:
    raise SystemExit(128 + signum)


def _stdin_from_devnull() -> None:
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
    except OSError:
        pass


def _tell(fd: int, message: str) -> None:
    if fd < 0:
        sys.stderr.write(f"requestcov: {message}\n")
        return
    try:
        os.write(fd, message.encode("utf-8", "replace"))
    except OSError:
        pass


def _pidfd(pid: int) -> Optional[int]:
    """A descriptor that becomes readable when ``pid`` exits (Linux 5.3+), else None."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:
        return None


def _alive_check(pid: int, watch_fd: Optional[int]) -> Callable[[], bool]:
    """Where a pidfd watches the server, nothing else to check; elsewhere a
    signal 0 every half second (an exited server its parent has not reaped
    yet counts as alive until it is)."""
    if watch_fd is not None:
        return lambda: True

    def alive() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    return alive
