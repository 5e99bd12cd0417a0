"""Records per second the background writer sustains, and instructions per record.

Two mixes of records shaped like real ones (~500 lines over 10 files, in runs
of consecutive lines as executed code has, every file with its version):

* ``realistic``: each request runs one of ``DISTINCT_PATHS`` code paths, as
  the requests to a handful of endpoints do (most requests of an endpoint run
  the same lines);
* ``worst``: every request runs lines of its own.

Three stages, each in a fresh process:

* ``store``: ``SQLiteStore.write`` in batches of 512 (the writer's batch
  size), records already built;
* ``writer``: the same records through ``BackgroundWriter`` (queue, thread,
  batching), timed from the first submit until ``flush()`` returns;
* ``read``: ``SQLiteStore.iter_records`` over the records ``store`` wrote,
  read-only, as the analyses read a store;
* ``writer+convert``: finished requests as the recorder queues them (a
  collector holding a set of lines per file), turned into records on the
  writer thread by the recorder's own conversion, file versions included: the
  path a server really takes.

Instructions per record (callgrind) are counted for ``store`` and for the
writer's batch routine with the conversion (``convert+store``, run on the main
thread: what the writer thread does per batch), as the difference between a
run writing ``3 * N`` records and one writing ``N``, both generating ``3 * N``
so the generation cancels out.

    python bench/writer_throughput.py [--records 20000] [--callgrind-records 1000] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from benchlib.writerbench import (  # noqa: E402
    DISTINCT_PATHS, FILES, LINES_PER_FILE, make_finished, make_records, recorder_builder, recorder_writer,
)

MIXES = {"realistic": DISTINCT_PATHS, "worst": 0}
TIMED_STAGES = ("store", "writer", "writer+convert", "read")
COUNTED_STAGES = ("store", "convert+store")
BATCH = 512
_TOTAL = re.compile(r"Collected\s*:\s*(\d+)")


def _items(stage: str, mix: str, count: int, root: str) -> List[Any]:
    if stage in ("store", "writer", "read"):
        return make_records(count, root, distinct_paths=MIXES[mix], with_versions=True)
    return make_finished(count, root, MIXES[mix])


def child(stage: str, mix: str, write: int, generate: int) -> Dict[str, Any]:
    """One stage of one mix in this process: generate ``generate`` items,
    write the first ``write`` of them; the elapsed time of the writing."""
    from requestcov.engine.source import SourceMatcher
    from requestcov.fileversions import FileVersions
    from requestcov.store.sqlite import SQLiteStore
    from requestcov.store.writer import BackgroundWriter

    workdir = tempfile.mkdtemp(prefix="bench-writer-throughput-")
    root = os.path.join(workdir, "app")
    os.makedirs(root)
    # All ``generate`` items stay alive, written or not: the collection
    # below then scans as many objects in every run, and the difference
    # between runs writing more and fewer records counts only the writing.
    generated = _items(stage, mix, generate, root)
    items = generated[:write]
    matcher = SourceMatcher([root])
    versions = FileVersions()

    builder = recorder_builder(matcher, versions)  # the recorder's own conversion

    # Long-lived test data would be rescanned by every collection, charging
    # the writer for the harness (a server's queue holds a handful of requests).
    gc.collect()
    gc.freeze()
    db = Path(workdir, "store.db")
    if stage == "read":
        store = SQLiteStore(db)
        for first in range(0, len(items), BATCH):
            store.write(items[first:first + BATCH])
        store.close()
        store = SQLiteStore(db, read_only=True)
        started, cpu_started = time.perf_counter(), time.process_time()
        read = sum(1 for _ in store.iter_records())
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        store.close()
        if read != len(items):
            raise RuntimeError(f"read {read} of {len(items)} records")
    elif stage == "store":
        store = SQLiteStore(db)
        started, cpu_started = time.perf_counter(), time.process_time()
        for first in range(0, len(items), BATCH):
            store.write(items[first:first + BATCH])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        store.close()
    elif stage == "convert+store":
        writer = recorder_writer(db, builder)
        store = SQLiteStore(db)
        started, cpu_started = time.perf_counter(), time.process_time()
        for first in range(0, len(items), BATCH):
            versions.new_batch()
            writer._write(store, items[first:first + BATCH])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        store.close()
    else:
        writer = BackgroundWriter(db, lambda item: item) if stage == "writer" else recorder_writer(db, builder)
        if stage == "writer+convert":
            writer.before_batch = versions.new_batch
        started, cpu_started = time.perf_counter(), time.process_time()
        for item in items:
            writer.submit(item)
        if not writer.flush(timeout=300):
            raise RuntimeError("writer did not finish")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        written = writer.written
        writer.close()
        if written != len(items):
            raise RuntimeError(f"writer wrote {written} of {len(items)} records")
    check = SQLiteStore(db, read_only=True)
    stored = check.count()
    check.close()
    if stored != len(items):
        raise RuntimeError(f"the store holds {stored} of {len(items)} records")
    return {"stage": stage, "mix": mix, "records": len(items), "seconds": elapsed,
            "per_s": len(items) / elapsed, "cpu_seconds": cpu, "per_cpu_s": len(items) / cpu}


def _child_command(stage: str, mix: str, write: int, generate: int) -> List[str]:
    return [sys.executable, os.path.abspath(__file__), "--child", stage, mix,
            "--write", str(write), "--generate", str(generate)]


def timed(stage: str, mix: str, records: int, repeats: int) -> Tuple[float, float]:
    """The best records per wall-clock second and per CPU second (the
    process's, writer thread included) of ``repeats`` fresh processes: on a
    shared machine the wall clock also counts the time others had the cores."""
    best_wall = best_cpu = 0.0
    for _ in range(repeats):
        completed = subprocess.run(_child_command(stage, mix, records, records), capture_output=True,
                                   text=True, timeout=900, check=True)
        measured = json.loads(completed.stdout.strip().splitlines()[-1])
        best_wall, best_cpu = max(best_wall, measured["per_s"]), max(best_cpu, measured["per_cpu_s"])
    return best_wall, best_cpu


def instructions(stage: str, mix: str, write: int, generate: int) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as workdir:
        completed = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={os.path.join(workdir, 'out')}",
             *_child_command(stage, mix, write, generate)],
            env=dict(os.environ, PYTHONHASHSEED="0"), capture_output=True, text=True, timeout=3600,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"{stage}/{mix} under callgrind failed:\n{completed.stderr[-3000:]}")
    match = _TOTAL.search(completed.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no total for {stage}/{mix}:\n{completed.stderr[-2000:]}")
    return int(match.group(1))


def per_record(stage: str, mix: str, count: int) -> float:
    small = instructions(stage, mix, count, 3 * count)
    large = instructions(stage, mix, 3 * count, 3 * count)
    return (large - small) / (2 * count)


def report(records: int, counted: int, repeats: int, skip_callgrind: bool) -> Tuple[str, Dict[str, Any]]:
    results: Dict[str, Any] = {"timed": {}, "instructions": {}}
    for mix in MIXES:
        for stage in TIMED_STAGES:
            print(f"timing {stage} / {mix} ...", file=sys.stderr, flush=True)
            results["timed"][f"{stage}/{mix}"] = timed(stage, mix, records, repeats)
    if not skip_callgrind:
        for mix in MIXES:
            for stage in COUNTED_STAGES:
                print(f"counting {stage} / {mix} under callgrind ...", file=sys.stderr, flush=True)
                results["instructions"][f"{stage}/{mix}"] = per_record(stage, mix, counted)
    version = sys.version.split()[0]
    lines = [
        f"Writer throughput, Python {version}, {datetime.date.today().isoformat()}, "
        f"{platform.machine()} ({os.cpu_count()} cores, shared: timings are noisy, counts are not).",
        "",
        f"Records of {FILES * LINES_PER_FILE} lines over {FILES} files with file versions; "
        f"`realistic`: one of {DISTINCT_PATHS} code paths per request; `worst`: every record distinct. "
        f"Timed: best of {repeats} fresh processes of {records:,} records each. "
        f"Instructions: callgrind, runs writing {3 * counted:,} and {counted:,} records, difference per record.",
        "",
        "Records/s: per wall-clock second / per CPU second of the process (writer thread included).",
        "",
        "| mix | store.write records/s | BackgroundWriter records/s | writer + conversion records/s "
        "| reading (iter_records) records/s | store.write instructions/record | conversion + store instructions/record |",
        "|---|---|---|---|---|---|---|",
    ]
    for mix in MIXES:
        timed_row = ["{:,.0f} / {:,.0f}".format(*results["timed"][f"{stage}/{mix}"]) for stage in TIMED_STAGES]
        counted_row = [f"{results['instructions'][f'{stage}/{mix}']:,.0f}" if results["instructions"] else "-"
                       for stage in COUNTED_STAGES]
        lines.append(f"| {mix} | " + " | ".join(timed_row + counted_row) + " |")
    return "\n".join(lines) + "\n", results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs=2, metavar=("STAGE", "MIX"))
    parser.add_argument("--write", type=int)
    parser.add_argument("--generate", type=int)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--callgrind-records", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-callgrind", action="store_true")
    parser.add_argument("--out", help="also write the markdown table to this file")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.write, args.generate)))
        return
    text, results = report(args.records, args.callgrind_records, args.repeats, args.no_callgrind)
    print(text)
    print(json.dumps(results), file=sys.stderr)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
