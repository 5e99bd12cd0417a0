"""A stand-in for Keploy's side of its coverage-agent protocol, as Keploy
Enterprise drives it during ``keploy test --dedup``: it listens on the data
socket, sends ``START <id>`` and ``END <id>`` on the control socket, one line a
connection, reads the ``ACK`` and collects the JSON object sent for the test.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

__all__ = ["KeployStandIn", "send_command"]

TIMEOUT = 30.0


def send_command(control_socket: Path, line: str, timeout: float = TIMEOUT) -> bytes:
    """Send one command line and return everything the agent answered until it closed."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(str(control_socket))
        connection.sendall(line.encode("utf-8") + b"\n")
        answer = b""
        while True:
            chunk = connection.recv(4096)
            if not chunk:
                return answer
            answer += chunk


class KeployStandIn:
    """Listens on ``data_socket`` while the block runs; each connection's
    bytes, read to the end, are one payload."""

    def __init__(self, control_socket: Path, data_socket: Path) -> None:
        self.control_socket = control_socket
        self.data_socket = data_socket
        #: Raw payloads in the order they arrived.
        self.raw: List[bytes] = []
        self._arrived = threading.Condition()
        self._listener: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "KeployStandIn":
        if self.data_socket.exists():
            os.unlink(self.data_socket)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.data_socket))
        listener.listen(8)
        listener.settimeout(0.2)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        listener, self._listener = self._listener, None
        if self._thread is not None:
            self._thread.join(5)
        if listener is not None:
            listener.close()

    def _accept(self) -> None:
        while self._listener is not None:
            try:
                connection, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with connection:
                connection.settimeout(TIMEOUT)
                data = b""
                while True:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            with self._arrived:
                self.raw.append(data)
                self._arrived.notify_all()

    def wait_for_agent(self, timeout: float = TIMEOUT) -> None:
        """Until the agent's control socket takes connections (an app that
        serves it itself binds it while its workers boot)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.settimeout(1.0)
                    probe.connect(str(self.control_socket))
                    return
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def ids(self) -> List[str]:
        """The ids of the payloads received so far, in order."""
        with self._arrived:
            return [json.loads(data)["id"] for data in self.raw]

    def start(self, test: str) -> bytes:
        return send_command(self.control_socket, f"START {test}")

    def end(self, test: str) -> bytes:
        """``END``; returns the answer (Keploy waits for it before the next test)."""
        return send_command(self.control_socket, f"END {test}")

    def payload(self, test: str, timeout: float = TIMEOUT) -> Dict[str, List[int]]:
        """The lines the agent sent for ``test``; fails when it sent none."""
        with self._arrived:
            found = self._arrived.wait_for(lambda: self._find(test) is not None, timeout)
        assert found, f"no payload for {test} within {timeout} s (got {self.raw!r})"
        message = self._find(test)
        assert message is not None
        return message["executedLinesByFile"]

    def _find(self, test: str) -> Optional[dict]:
        for data in self.raw:
            message = json.loads(data)
            if message["id"] == test:
                return message
        return None
