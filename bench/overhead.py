"""Measure what recording coverage per request costs a web app.

Compares, side by side in one run, an app with no coverage, with requestcov,
with a naive per-request ``coverage.Coverage`` (what Keploy's first middleware
did) and with one ``coverage.Coverage`` switching dynamic contexts, on Flask,
FastAPI and Django apps that do realistic work per request.

Why it is built the way it is:

* every (app, mode) measurement runs in a fresh subprocess, because tracers
  and ``sys.monitoring`` registrations outlive whatever started them;
* repetitions are interleaved (each repetition runs every mode once, in a
  rotated order) and summarised by their median with min/max, because the two
  cores are shared and noisy: a burst of someone else's work then lands on
  one sample of every mode rather than on all samples of one;
* the in-process load calls the WSGI/ASGI app directly (the recorder's cost
  alone), the server load goes through gunicorn/uvicorn on 127.0.0.1 (what a
  user sees: throughput and p50/p99), both bounded in count and time.

Results of this interpreter go to ``bench/results/raw-<X.Y>.json``;
``bench/report.py`` turns every such file into ``overhead.md`` and
``overhead.png``. Usually run through ``bench/run``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from typing import Any, Dict, List, Optional

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from benchlib import modes, server  # noqa: E402

RESULTS_DIR = os.path.join(BENCH_DIR, "results")
LIBRARIES = ("requestcov", "coverage", "Flask", "Werkzeug", "fastapi", "starlette", "Django",
             "gunicorn", "uvicorn", "Jinja2", "PyYAML")

#: Sizes of a full run and of ``--quick``: repetitions, requests per sample,
#: and the time caps that keep the slow modes bounded.
PROFILES = {
    "full": dict(reps=7, requests=300, warmup=40, max_seconds=1.5, server_reps=2, server_requests=1200,
                 server_warmup=80, server_seconds=8.0, memory_requests=100_000, memory_baseline=20_000,
                 memory_seconds=150.0, writer_records=20_000),
    "quick": dict(reps=3, requests=120, warmup=20, max_seconds=0.8, server_reps=1, server_requests=300,
                  server_warmup=40, server_seconds=3.0, memory_requests=10_000, memory_baseline=4_000,
                  memory_seconds=40.0, writer_records=10_000),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_worker(arguments: List[str], timeout: float) -> Optional[Dict[str, Any]]:
    """Run ``benchlib.worker`` in a fresh interpreter; its last line is JSON."""
    environ = dict(os.environ, PYTHONPATH=BENCH_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        completed = subprocess.run([sys.executable, "-m", "benchlib.worker", *arguments], cwd=BENCH_DIR,
                                   env=environ, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"  worker {' '.join(arguments)} timed out after {timeout:.0f}s")
        return None
    if completed.returncode != 0:
        log(f"  worker {' '.join(arguments)} failed:\n{completed.stderr[-3000:]}")
        return None
    return json.loads(completed.stdout.strip().splitlines()[-1])


def rotated(items: List[str], by: int) -> List[str]:
    by %= len(items)
    return items[by:] + items[:by]


def inprocess(apps: List[str], mode_names: List[str], size: Dict[str, Any]) -> List[Dict[str, Any]]:
    results = []
    for rep in range(size["reps"]):
        log(f"in-process repetition {rep + 1}/{size['reps']}")
        for app in apps:
            for mode in rotated(mode_names, rep):
                result = run_worker(
                    ["inprocess", "--app", app, "--mode", mode, "--requests", str(size["requests"]),
                     "--warmup", str(size["warmup"]), "--max-seconds", str(size["max_seconds"])],
                    timeout=120)
                if result is not None:
                    result["rep"] = rep
                    results.append(result)
    return results


def servers(apps: List[str], mode_names: List[str], size: Dict[str, Any]) -> List[Dict[str, Any]]:
    results = []
    for rep in range(size["server_reps"]):
        log(f"server repetition {rep + 1}/{size['server_reps']}")
        for app in apps:
            for mode in rotated(mode_names, rep):
                try:
                    result = server.measure(app, mode, requests=size["server_requests"],
                                            warmup=size["server_warmup"], concurrency=4,
                                            deadline_seconds=size["server_seconds"])
                except RuntimeError as error:
                    log(f"  server {app}/{mode} failed: {error}")
                    continue
                result.update(app=app, mode=mode, rep=rep)
                if result["errors"]:
                    log(f"  server {app}/{mode}: {result['errors']} failed requests")
                results.append(result)
    return results


def memory(size: Dict[str, Any]) -> List[Dict[str, Any]]:
    results = []
    for mode, requests in (("none", size["memory_baseline"]), ("requestcov", size["memory_requests"])):
        log(f"memory: flask/{mode}, {requests} requests")
        result = run_worker(["memory", "--app", "flask", "--mode", mode, "--requests", str(requests),
                             "--max-seconds", str(size["memory_seconds"])],
                            timeout=size["memory_seconds"] + 120)
        if result is not None:
            results.append(result)
    return results


def writer(size: Dict[str, Any], version: str) -> Optional[Dict[str, Any]]:
    log(f"writer: {size['writer_records']} records")
    profile_path = os.path.join(RESULTS_DIR, f"writer-profile-{version}.txt")
    return run_worker(["writer", "--requests", str(size["writer_records"]), "--profile-out", profile_path],
                      timeout=600)


def reference_loop_ns(steps: int = 2_000_000) -> float:
    """Nanoseconds per step of a plain Python loop, best of three: the
    machine's speed, so absolute figures (the writer's records per second)
    of runs on different machines or days can be compared; ratios need not."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for step in range(steps):
            total += step
        best = min(best, time.perf_counter() - started)
    return best / steps * 1e9


def library_versions() -> Dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and requests (~1 minute)")
    parser.add_argument("--modes", default=",".join(modes.DEFAULT_MODES),
                        help="comma-separated modes (default: all): " + ", ".join(modes.MODES))
    parser.add_argument("--apps", default=",".join(modes.APPS),
                        help="comma-separated apps: " + ", ".join(modes.APPS))
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: "
                        "inprocess, server, memory, writer")
    args = parser.parse_args()
    size = PROFILES["quick" if args.quick else "full"]
    skip = {part for part in args.skip.split(",") if part}
    apps = [app for app in args.apps.split(",") if app]
    version = "%d.%d" % sys.version_info[:2]

    mode_names, notes = [], []
    for mode in (mode for mode in args.modes.split(",") if mode):
        reason = modes.unavailable_reason(mode)
        if reason is None:
            mode_names.append(mode)
        else:
            notes.append(f"{mode} skipped: {reason}")
            log(f"note: {notes[-1]}")
    if "none" not in mode_names:
        mode_names.insert(0, "none")  # every ratio is to "no coverage"

    os.makedirs(RESULTS_DIR, exist_ok=True)
    started = time.monotonic()
    report: Dict[str, Any] = {
        "python": platform.python_version(), "implementation": platform.python_implementation(),
        "version": version, "platform": platform.platform(), "cpus": os.cpu_count(),
        "libraries": library_versions(), "profile": "quick" if args.quick else "full", "size": size,
        "apps": apps, "modes": mode_names, "notes": notes, "load_before": os.getloadavg(),
        "reference_loop_ns": reference_loop_ns(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if "inprocess" not in skip:
        report["inprocess"] = inprocess(apps, mode_names, size)
    if "server" not in skip:
        report["server"] = servers(apps, mode_names, size)
    if "memory" not in skip:
        report["memory"] = memory(size)
    if "writer" not in skip:
        report["writer"] = writer(size, version)
    report["load_after"] = os.getloadavg()
    report["seconds"] = time.monotonic() - started
    path = os.path.join(RESULTS_DIR, f"raw-{version}.json")
    with open(path, "w", encoding="utf-8") as output:
        json.dump(report, output, indent=1)
    log(f"Python {version}: done in {report['seconds']:.0f}s, results in {path}")


if __name__ == "__main__":
    main()
