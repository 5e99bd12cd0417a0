"""One measurement in a fresh process; prints a JSON object on its last line.

Run by ``bench/overhead.py`` as ``python -m benchlib.worker KIND ...`` with
``bench/`` on the path. A fresh process per mode is the point: coverage.py's
tracer, requestcov's engine and ``sys.monitoring`` tool registrations live for
the life of the interpreter and would skew whatever ran next.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Dict

from benchlib import inprocess, modes


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def measure_inprocess(args: argparse.Namespace) -> Dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix="bench-")
    os.chdir(workdir)
    wrapped = modes.build(args.app, args.mode, workdir)
    samples, timed = inprocess.run(
        wrapped.app, wrapped.interface, warmup=args.warmup, requests=args.requests,
        max_seconds=args.max_seconds, test_ids=wrapped.test_ids, mix=modes.mix_for(args.app),
    )
    started = time.perf_counter()
    facts = wrapped.finish()
    facts["finish_seconds"] = time.perf_counter() - started
    return {
        "median_s": statistics.median(samples), "mean_s": statistics.fmean(samples),
        "min_s": min(samples), "requests": timed, "facts": facts,
    }


def measure_memory(args: argparse.Namespace) -> Dict[str, Any]:
    """RSS while ``requests`` requests go through the Flask app in-process.

    Requests are sent in chunks; after each chunk RSS is read (and the
    writer's backlog, for requestcov), so growth shows as a curve rather
    than one number. The run stops early at ``max_seconds``.
    """
    workdir = tempfile.mkdtemp(prefix="bench-mem-")
    os.chdir(workdir)
    wrapped = modes.build(args.app, args.mode, workdir)
    from requestcov.recorder import current_recorder

    recorder = current_recorder() if args.mode.startswith("requestcov") else None
    mix = modes.mix_for(args.app)
    chunk = max(len(mix), args.requests // 20)
    points = [{"requests": 0, "rss_mb": _rss_mb(), "queued": 0}]
    sent = 0
    deadline = time.monotonic() + args.max_seconds
    started = time.perf_counter()
    while sent < args.requests and time.monotonic() < deadline:
        inprocess.run(wrapped.app, wrapped.interface, warmup=0, requests=chunk,
                      max_seconds=args.max_seconds, first_id=sent, mix=mix)
        # run() always sends one warm-up rotation before the timed ones.
        sent += chunk + len(mix)
        queued = recorder.writer._queue.qsize() if recorder is not None else 0
        points.append({"requests": sent, "rss_mb": _rss_mb(), "queued": queued})
    elapsed = time.perf_counter() - started
    facts = wrapped.finish()
    db = os.path.join(workdir, "requestcov.db")
    return {
        "points": points, "requests": sent, "seconds": elapsed,
        "rss_after_flush_mb": _rss_mb(), "facts": facts,
        "db_mb": (sum(os.path.getsize(db + suffix) for suffix in ("", "-wal") if os.path.exists(db + suffix))
                  / 2**20) if recorder is not None else 0.0,
    }


def measure_writer(args: argparse.Namespace) -> Dict[str, Any]:
    from benchlib import writerbench

    return writerbench.measure(args.requests, args.profile_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["inprocess", "memory", "writer"])
    parser.add_argument("--app", default="flask", choices=sorted(modes.APPS))
    parser.add_argument("--mode", default="none", choices=list(modes.MODES))
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--profile-out", default="writer-profile.txt")
    args = parser.parse_args()
    measure = {"inprocess": measure_inprocess, "memory": measure_memory, "writer": measure_writer}[args.kind]
    result = measure(args)
    result.update(kind=args.kind, app=args.app, mode=args.mode, python=sys.version.split()[0])
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
