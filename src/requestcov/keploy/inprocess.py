"""The Keploy agent for an app that records through requestcov's middleware or
adapters (``REQUESTCOV_KEPLOY_AGENT=1``), with no ``requestcov run`` around it.

Every recording process of the server maps the shared file, and the first one
to take the ``flock`` beside the control socket serves it, on a thread of its
own, for all of them. The kernel drops the lock when that process ends, so a
worker that replaces it (gunicorn's, uvicorn's) takes over. Under
``requestcov run --keploy-agent`` the launcher's agent process holds the lock
from before the server starts, and the server's processes only read.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import threading
from pathlib import Path
from typing import Dict, Optional, Tuple

from requestcov._threads import RealThread
from requestcov.config import Config
from requestcov.keploy.attribution import KeployAttribution
from requestcov.keploy.protocol import DEFAULT_CONTROL_SOCKET, DEFAULT_DATA_SOCKET
from requestcov.keploy.server import AgentError, AgentServer
from requestcov.keploy.shared import lock_path, open_private_file, shared_test, state_path
from requestcov.log import log_once, logger

__all__ = ["attach", "socket_paths", "take_ownership"]

_attached: Dict[str, KeployAttribution] = {}
_attached_lock = threading.Lock()


def socket_paths(config: Config) -> Tuple[str, str]:
    """The control and data sockets, absolute: Keploy's paths unless moved."""
    return (os.path.abspath(config.keploy_control_socket or DEFAULT_CONTROL_SOCKET),
            os.path.abspath(config.keploy_data_socket or DEFAULT_DATA_SOCKET))


def take_ownership(control_socket: str) -> Optional[int]:
    """The descriptor holding the owner's lock of ``control_socket``, or None
    when another process holds it. Raises OSError when the lock file cannot be used."""
    fd = open_private_file(lock_path(control_socket))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def attach(config: Config, db: Path) -> Optional[KeployAttribution]:
    """This process's part in the agent: the current test for its requests,
    and the control socket when no other process serves it yet. None when
    the shared file cannot be used (logged once; the app runs as usual)."""
    control, data = socket_paths(config)
    with _attached_lock:
        found = _attached.get(control)
        if found is not None:
            return found
        try:
            shared = shared_test(state_path(control))
        except Exception as error:
            log_once("keploy-state", "requestcov: cannot share the current Keploy test through %s (%s); "
                     "requests are not attributed to Keploy's tests", state_path(control), error)
            return None
        attribution = _attached[control] = KeployAttribution(shared)
    try:
        _serve_if_free(control, data, db, attribution)
    except Exception:
        log_once("keploy-serve", "requestcov: cannot serve Keploy's control socket %s", control, exc_info=True)
    return attribution


def _serve_if_free(control: str, data: str, db: Path, attribution: KeployAttribution) -> None:
    try:
        lock = take_ownership(control)
    except OSError as error:
        log_once("keploy-lock", "requestcov: cannot use %s (%s); Keploy gets no coverage from this server",
                 lock_path(control), error)
        return
    if lock is None:
        return  # another process of the server (or requestcov run's agent) serves it
    server = AgentServer(control, data, db, attribution.shared)
    try:
        server.bind()
    except AgentError as error:
        os.close(lock)
        log_once("keploy-bind", "requestcov: %s; Keploy gets no coverage from this server", error)
        return
    RealThread(server.serve, lambda: log_once("keploy-accept", "requestcov: the Keploy control socket "
                                              "stopped", exc_info=True)).start()
    atexit.register(server.close)

    def in_child() -> None:
        # The child shares the parent's lock and listener: it must neither
        # release the one nor serve (or remove) the other.
        server.forget_in_child()
        try:
            os.close(lock)
        except OSError:
            pass

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=in_child)
    logger.info("requestcov: serving Keploy's coverage agent on %s (pid %d)", control, os.getpid())
