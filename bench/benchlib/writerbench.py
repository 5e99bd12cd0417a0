"""How many records per second the store and the background writer take.

Records are shaped like real ones: ~500 lines spread over 10 files, in runs
of consecutive lines as executed code has. Five figures:

* ``store``: ``SQLiteStore.write`` in batches of 512 (the writer's batch
  size), records already built;
* ``writer``: the same records through ``BackgroundWriter`` (queue, thread,
  batching), timed from the first submit until ``flush()`` returns;
* ``convert``: the recorder's conversion alone, on one thread;
* ``writer+convert``: finished requests as the recorder queues them, with
  collectors holding a line set per file, turned into records by the recorder's own
  conversion on the writer thread: the path a server really takes. Every
  request runs different lines here, the worst case;
* ``writer+convert, repeating paths``: the same, but requests take one of
  ``DISTINCT_PATHS`` code paths, as requests to a handful of endpoints do.

A cProfile of the writer's work on one thread says where the time goes.
"""

from __future__ import annotations

import cProfile
import gc
import io
import os
import pstats
import random
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from requestcov.context import Collector
from requestcov.engine.source import SourceMatcher
from requestcov.fileversions import FileVersions
from requestcov.records import REQUEST, FileVersion, RequestRecord
from requestcov.recordbuilder import RecordBuilder
from requestcov.recorder import ActiveRequest, _compiled_request_path, _Finished
from requestcov.store.sqlite import SQLiteStore
from requestcov.store.writer import BackgroundWriter

FILES = 10
LINES_PER_FILE = 50
#: Code paths of the "repeating" traffic: a few endpoints with a few branches each.
DISTINCT_PATHS = 40


def _line_runs(generator: random.Random, count: int) -> List[int]:
    lines: set = set()
    while len(lines) < count:
        start = generator.randint(1, 600)
        lines.update(range(start, start + generator.randint(3, 12)))
    return sorted(lines)[:count]


def make_records(count: int, root: str, distinct_paths: int = 0, with_versions: bool = False) -> List[RequestRecord]:
    """Built records; with ``distinct_paths`` each one holds the lines of one
    of that many code paths, else lines of its own. ``with_versions`` gives
    every file a version, one object per file as the recorder's cache does."""
    generator = random.Random(1)
    paths = [os.path.join(root, f"module_{number}.py") for number in range(FILES)]
    code_paths = [{path: _line_runs(generator, LINES_PER_FILE) for path in paths} for _ in range(distinct_paths)]
    versions = ({path: FileVersion(sha256=f"{number:064x}", commit="0" * 40, repo=root)
                 for number, path in enumerate(paths)} if with_versions else {})
    return [
        RequestRecord(
            test_id=f"test-{index}", method="GET", path=f"/api/items/{index}", route="/api/items/<id>",
            status=200, start=time.time(), duration_ms=1.5, pid=os.getpid(),
            lines=({path: list(lines) for path, lines in code_paths[generator.randrange(distinct_paths)].items()}
                   if code_paths else {path: _line_runs(generator, LINES_PER_FILE) for path in paths}),
            versions=dict(versions),
        )
        for index in range(count)
    ]


def _measured_files(root: str) -> List[str]:
    """Real files under ``root``, as the engine would have seen them compiled."""
    filenames = []
    for number in range(FILES):
        filename = os.path.join(root, f"module_{number}.py")
        Path(filename).write_text("".join(f"x = {line}\n" for line in range(700)))
        filenames.append(filename)
    return filenames


def make_finished(count: int, root: str, distinct_paths: int = 0) -> List[Any]:
    """Finished requests, their collectors holding one line set per file as
    the engine fills them; with ``distinct_paths`` each one runs the lines of
    one of that many code paths, else lines of its own."""
    generator = random.Random(2)
    filenames = _measured_files(root)
    paths = [[_line_runs(generator, LINES_PER_FILE) for _ in filenames] for _ in range(distinct_paths)]
    finished = []
    for index in range(count):
        collector = Collector()
        lines_of_path = paths[generator.randrange(distinct_paths)] if paths else None
        for number, filename in enumerate(filenames):
            lines = lines_of_path[number] if lines_of_path else _line_runs(generator, LINES_PER_FILE)
            collector.lines[filename] = set(lines)
        request = ActiveRequest(collector=collector, token=None, test_id=f"test-{index}", test_set="",
                                method="GET", path=f"/api/items/{index}", start=time.time(),
                                started_counter=0.0)
        request.route, request.status = "/api/items/<id>", 200
        finished.append((request, 1.5, os.getpid(), REQUEST))
    return finished


def recorder_writer(db: Path, builder: RecordBuilder) -> BackgroundWriter:
    """A writer that converts finished requests as the recorder's does: a
    row made directly for a request of a set known in the batch, else its
    record (``builder``: see :func:`recorder_builder`)."""
    return BackgroundWriter(db, builder.convert, ready_rows=builder.ready_rows)


def recorder_builder(matcher: SourceMatcher, versions: Optional[FileVersions] = None) -> RecordBuilder:
    """A record builder like the recorder's: the compiled request path's rows when built."""
    path = _compiled_request_path()
    return RecordBuilder(matcher, branch=False, versions=versions,
                         ready_rows=path.ready_rows if path is not None else None)


def _time_writer(writer: BackgroundWriter, items: List[Any]) -> float:
    started = time.perf_counter()
    for item in items:
        writer.submit(item)
    if not writer.flush(timeout=300):
        raise RuntimeError("writer did not finish")
    elapsed = time.perf_counter() - started
    written = writer.written
    writer.close()
    if written != len(items):
        raise RuntimeError(f"writer wrote {written} of {len(items)} records")
    return elapsed


def measure(count: int, profile_path: str) -> Dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix="bench-writer-")
    root = os.path.join(workdir, "app")
    os.makedirs(root)
    records = make_records(count, root)
    finished = make_finished(count, root)
    matcher = SourceMatcher([root])
    # The test data is long-lived here but would not be in a server (the
    # queue holds a handful of requests): keep the collector from rescanning
    # it on every collection, which would charge the writer for the harness.
    gc.collect()
    gc.freeze()

    builder = recorder_builder(matcher)  # the recorder's own conversion
    convert = builder.build  # (build: the items stay unwritten for the runs after)

    results: Dict[str, Any] = {"records": count, "lines_per_record": FILES * LINES_PER_FILE,
                               "files_per_record": FILES}
    store = SQLiteStore(os.path.join(workdir, "store.db"))
    started = time.perf_counter()
    for first in range(0, count, 512):
        store.write(records[first:first + 512])
    results["store_per_s"] = count / (time.perf_counter() - started)
    store.close()
    results["writer_per_s"] = count / _time_writer(BackgroundWriter(Path(workdir, "writer.db"), lambda item: item), records)
    results["writer_convert_per_s"] = count / _time_writer(recorder_writer(Path(workdir, "convert.db"), builder),
                                                           make_finished(count, root))
    repeating = make_finished(count, root, DISTINCT_PATHS)
    results["distinct_paths"] = DISTINCT_PATHS
    results["writer_convert_repeating_per_s"] = count / _time_writer(
        recorder_writer(Path(workdir, "repeating.db"), builder), repeating)
    del repeating
    started = time.perf_counter()
    for item in finished:
        convert(item)
    results["convert_only_per_s"] = count / (time.perf_counter() - started)

    # Where the time goes: the writer's own batch routine on this thread, so
    # cProfile sees it (a profiler only follows the thread it is enabled on).
    writer = recorder_writer(Path(workdir, "profiled.db"), builder)
    store = SQLiteStore(writer.db_path)
    profiler = cProfile.Profile()
    profiler.enable()
    for first in range(0, count, 512):
        writer._write(store, finished[first:first + 512])
    profiler.disable()
    store.close()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(18)
    stats.sort_stats("cumulative").print_stats(18)
    with open(profile_path, "w", encoding="utf-8") as output:
        output.write(text.getvalue())
    return results
