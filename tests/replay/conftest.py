"""A real recorded app server for the replay tests, in a process of its own."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

import pytest

from requestcov.records import RequestRecord
from requestcov.store import load_records

REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class ShopServer:
    url: str
    db: Path
    process: subprocess.Popen

    def stop(self) -> None:
        """SIGTERM, as a process manager would: the recorder writes what is queued."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def records(self) -> List[RequestRecord]:
        self.stop()
        return list(load_records(self.db))


@pytest.fixture
def shop_server(tmp_path: Path) -> Iterator[ShopServer]:
    db = tmp_path / "store.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.replay.serve_shop", str(db)],
        cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    if not port.isdigit():
        process.kill()
        pytest.fail(f"the test server did not start (printed {port!r})")
    server = ShopServer(f"http://127.0.0.1:{port}", db, process)
    try:
        yield server
    finally:
        server.stop()
        process.stdout.close()
