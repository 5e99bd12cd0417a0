"""Servers of tests/apps/served under ``requestcov run``, and their processes
as /proc shows them (to kill one worker, or to sample memory)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List, Sequence

from tests.e2e.harness import OMIT, SERVED, clean_environment, stop_server, wait_until_answering, tool

__all__ = ["launched", "descendants", "workers", "rss_mb", "gunicorn", "uvicorn"]


def gunicorn(port: int, workers: int, threads: int = 1) -> List[str]:
    return [tool("gunicorn"), "-w", str(workers), "--threads", str(threads), "-b", f"127.0.0.1:{port}",
            "--graceful-timeout", "20", "flask_server:app"]


def uvicorn(port: int, workers: int) -> List[str]:
    return [tool("uvicorn"), "--workers", str(workers), "--port", str(port), "--log-level", "warning",
            "--no-access-log", "fastapi_server:app"]


@contextlib.contextmanager
def launched(command: Sequence[str], db: Path, port: int, log: Path) -> Iterator[subprocess.Popen]:
    """``requestcov run --db DB -- command`` in the served apps' folder, until
    the block ends: then SIGTERM, and SIGKILL for the whole group if needed."""
    full = [sys.executable, "-m", "requestcov.cli", "run", "--db", str(db), "--omit", OMIT, "--", *command]
    with log.open("a") as output:
        process = subprocess.Popen(full, cwd=str(SERVED), env=clean_environment(), stdout=output,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until_answering(f"http://127.0.0.1:{port}", process, log)
        yield process
    finally:
        stop_server(process)


def descendants(pid: int) -> List[int]:
    """Every process below ``pid`` (children first, then theirs)."""
    found: List[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            text = Path(f"/proc/{parent}/task/{parent}/children").read_text()
        except OSError:
            continue
        children = [int(child) for child in text.split()]
        found.extend(children)
        pending.extend(children)
    return found


def workers(pid: int) -> List[int]:
    """The server's worker processes: descendants that have no children."""
    return [child for child in descendants(pid) if not descendants(child)]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0
