"""Instructions per request of the writer's batch routine on a warm thin app.

Once a server is warm, the writer thread turns every finished request of a
batch into its store row in one C call and the store inserts the batch's
rows: on thin endpoints, the larger part of requestcov's fixed cost a
request. ``bench/instructions.py`` counts it inside whole runs, where the
writer thread's batches form by timing and move the count by thousands; here
the routine itself (``BackgroundWriter._write``) runs on the main thread, on
batches of 150 requests of four line sets over two files, each with its test
id, after three batches have made the store warm. A run writing 30 batches
and one writing 10, both making 30, differ by 20 batches: their difference
per request is the count, start-up and the making of the requests cancelled
out.

    python bench/writer_rows.py
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, List, Tuple

BATCH = 150
MADE = 30
#: One process's id, one object, as the recorder hands it to the request path
#: and the request path puts it in every finished request.
PID = os.getpid()
_TOTAL = re.compile(r"Collected\s*:\s*(\d+)")


def _finished(views: str, models: str, number: int) -> Tuple[Any, ...]:
    """A finished request as the compiled request path queues it."""
    from requestcov.context import Collector
    from requestcov.recorder import ActiveRequest
    from requestcov.records import REQUEST

    sets = [{views: {1, 2, 3}}, {views: {1, 2, 3}, models: {5}}, {models: {7, 8}}, {views: {9}}]
    collector = Collector()
    collector.lines = {name: set(lines) for name, lines in sets[number % len(sets)].items()}
    request = ActiveRequest(collector=collector, token=None, test_id=f"test-{number}", test_set="set",
                            method="GET", path=f"/items/{number}", start=1700000000.0 + number,
                            started_counter=0.0)
    request.route, request.status = "/items/<id>", 200
    return (request, 1.5, PID, REQUEST)


def child(written: int) -> None:
    """Make ``MADE`` batches, write ``written`` of them."""
    from requestcov.engine.source import SourceMatcher
    from requestcov.fileversions import FileVersions
    from requestcov.recordbuilder import RecordBuilder
    from requestcov.recorder import _compiled_request_path
    from requestcov.records import REQUEST
    from requestcov.store import SQLiteStore
    from requestcov.store.writer import BackgroundWriter

    workdir = Path(tempfile.mkdtemp(prefix="bench-writer-rows-"))
    app = workdir / "app"
    app.mkdir()
    for name in ("views.py", "models.py"):
        (app / name).write_text("".join(f"x = {line}\n" for line in range(100)))
    views, models = str(app / "views.py"), str(app / "models.py")
    path = _compiled_request_path()
    if path is None:
        raise SystemExit("the compiled core is not built")
    builder = RecordBuilder(SourceMatcher([str(app)]), branch=False, versions=FileVersions(),
                            ready_rows=path.ready_rows)
    writer = BackgroundWriter(workdir / "store.db", builder.convert, ready_rows=builder.ready_rows,
                              before_batch=builder.versions.new_batch)  # type: ignore[union-attr]
    path.set_finish(writer.submit, PID, REQUEST)  # as the recorder does
    with SQLiteStore(workdir / "store.db") as store:
        for warm in range(3):
            writer._write(store, [_finished(views, models, warm * BATCH + number) for number in range(BATCH)])
        batches: List[List[Any]] = [
            [_finished(views, models, 10**6 + batch * BATCH + number) for number in range(BATCH)]
            for batch in range(MADE)
        ]
        for batch in batches[:written]:
            writer._write(store, batch)


def count(written: int) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as workdir:
        completed = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={os.path.join(workdir, 'out')}",
             sys.executable, os.path.abspath(__file__), "--child", str(written)],
            env=dict(os.environ, PYTHONHASHSEED="0"), capture_output=True, text=True, timeout=1800,
        )
    match = _TOTAL.search(completed.stderr)
    if completed.returncode != 0 or match is None:
        raise SystemExit(f"the run under callgrind failed:\n{completed.stderr[-3000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child is not None:
        child(arguments.child)
        return
    small, large = count(10), count(MADE)
    print(f"Python {sys.version.split()[0]}: the writer's batch routine, {(large - small) / (20 * BATCH):,.0f} "
          f"instructions a request (batches of {BATCH}, warm store, rows of known sets)")


if __name__ == "__main__":
    main()
