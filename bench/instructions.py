"""Instructions per request, counted by valgrind's callgrind.

Timings on a shared two-core machine move by 10-30% from one minute to the
next, more than the few percent requestcov adds on 3.12. An instruction count
does not move: the same code on the same input executes the same instructions
whatever else the machine is doing (here two runs an hour apart, one of them
beside a busy benchmark, agreed to within 0.1%; what differs is the writer
thread's batching, which depends on time).
It is not a latency (cache misses and branch mispredictions cost time that
no count shows), so it complements the timed tables rather than replacing
them: it tells whether a change made requestcov cheaper, on any machine.

Each variant of ``profile_overhead.py`` runs in a fresh process under
callgrind twice, with ``--rotations`` and three times that many rotations of
the request mix; the difference, divided by the extra requests, is the count
per request with start-up, imports and warm-up cancelled out. The writer
thread is counted too: it shares the process (and the GIL) with the app.

The last row, ``full:python``, is requestcov as shipped with its pure-Python
core (``REQUESTCOV_CORE=python``): what the compiled core saves.

``--app`` picks the apps (``benchlib.modes.APPS``, each with its request mix;
one table each) and ``--variants`` may name whole recording modes beside the
ablation steps: ``--app flask-thin,starlette-thin --variants
none,full,coverage-sysmon,coverage-contexts,naive`` is requestcov against
coverage.py on thin endpoints. ``--timed-reps N`` adds the timed ratio of each
variant (median of N interleaved repetitions, each in a fresh process) beside
its count, and ``--breakdown`` splits requestcov's added instructions by part
from callgrind's inclusive counts by function (``benchlib.breakdown``).

Usage: python bench/instructions.py [--app flask] [--rotations 10] [--variants none,full]
       [--timed-reps 5] [--breakdown] [--out FILE]
Prints markdown tables; ``--out`` also writes them to a file.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from benchlib import breakdown, modes  # noqa: E402
from profile_overhead import EXPLAINED, MODE_VARIANTS, VARIANTS, WSGI_ONLY, run_child  # noqa: E402

#: About how much slower a Python program runs under callgrind here; the
#: writer's gather window is stretched by it (see ``profile_overhead.build``).
SLOWDOWN = 50
_TOTAL = re.compile(r"Collected\s*:\s*(\d+)")


#: A variant name with this suffix runs with the pure-Python core.
PYTHON_CORE = ":python"
#: Variants tens of times slower than the rest run this many rotations (and
#: three times as many) under callgrind: their count per request is large, so
#: fewer requests measure it as well, and the run stays within minutes.
SLOW_ROTATIONS = {"naive": 1}


def callgrind(variant: str, rotations: int, app: str, workdir: str, *options: str) -> str:
    """Run ``variant`` of ``app`` under callgrind, its output files in
    ``workdir``; return what callgrind printed."""
    environ = dict(os.environ, PYTHONHASHSEED="0", BENCH_SLOWDOWN=str(SLOWDOWN))
    if variant.endswith(PYTHON_CORE):
        variant = variant[: -len(PYTHON_CORE)]
        environ["REQUESTCOV_CORE"] = "python"
    completed = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={os.path.join(workdir, 'out')}", *options,
         sys.executable, os.path.join(BENCH_DIR, "profile_overhead.py"), "--variant", variant,
         "--app", app, "--rotations", str(rotations)],
        cwd=BENCH_DIR, env=environ, capture_output=True, text=True, timeout=3600,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{variant} of {app} under callgrind failed:\n{completed.stderr[-3000:]}")
    return completed.stderr


def count(variant: str, rotations: int, app: str = "flask") -> int:
    """Instructions of one whole run of ``variant`` (start-up included)."""
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as workdir:
        printed = callgrind(variant, rotations, app, workdir)
    match = _TOTAL.search(printed)
    if match is None:
        raise RuntimeError(f"callgrind printed no total for {variant}:\n{printed[-2000:]}")
    return int(match.group(1))


def per_request(variant: str, rotations: int, app: str = "flask") -> float:
    """The difference between a run of ``3 * rotations`` and one of
    ``rotations``, per extra request."""
    rotations = min(rotations, SLOW_ROTATIONS.get(variant, rotations))
    small, large = count(variant, rotations, app), count(variant, 3 * rotations, app)
    return (large - small) / (2 * rotations * len(modes.mix_for(app)))


def timed(app: str, variants: List[str], reps: int, rotations: int) -> Dict[str, float]:
    """Median seconds per request of each variant: ``reps`` interleaved
    repetitions (each variant once per repetition, in a rotated order, in a
    fresh process), so a burst of the machine's other work lands on one sample
    of every variant rather than on all samples of one."""
    samples: Dict[str, List[float]] = {variant: [] for variant in variants}
    for rep in range(reps):
        for variant in variants[rep % len(variants):] + variants[:rep % len(variants)]:
            arguments = ["--variant", variant.replace(PYTHON_CORE, ""), "--app", app,
                         "--rotations", str(rotations)]
            if variant.endswith(PYTHON_CORE):
                os.environ["REQUESTCOV_CORE"] = "python"
            try:
                samples[variant].append(run_child(arguments)["median_s"])
            finally:
                os.environ.pop("REQUESTCOV_CORE", None)
        print(f"  {app}: timed repetition {rep + 1}/{reps}", file=sys.stderr, flush=True)
    return {variant: statistics.median(values) for variant, values in samples.items()}


def machine_note() -> str:
    """What the timed ratios were measured on (counts do not depend on it)."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
                         model)
    except OSError:
        pass
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores shared with other work (load average {load})"


def table(app: str, variants: List[str], counts: Dict[str, float], times: Optional[Dict[str, float]],
          rotations: int) -> List[str]:
    """One app's markdown table: a row per variant."""
    mix = modes.mix_for(app)
    base = counts["none"]
    heading = (f"Instructions per request (callgrind), Python {sys.version.split()[0]}, {app} in-process, "
               f"the {len(mix)}-request {modes.APPS[app][2]} mix ({', '.join(spec.method + ' ' + spec.target for spec in mix)}), "
               f"every request with a test id: runs of {rotations} and {3 * rotations} rotations, their difference "
               "per extra request, each variant in a fresh process"
               + "".join(f"; {name}: {min(rotations, slow)} and {3 * min(rotations, slow)} rotations"
                         for name, slow in SLOW_ROTATIONS.items() if name in variants) + ".")
    lines = [heading, ""]
    if times is not None:
        lines += [f"Timed: median µs/request of the variant's in-process loop, interleaved repetitions, "
                  f"each in a fresh process; {time.strftime('%Y-%m-%d', time.gmtime())}; machine: {machine_note()}.",
                  "", "| variant | instructions/request | × no coverage | added vs no coverage | timed µs/request "
                  "| timed × no coverage | what it is |", "|---|---|---|---|---|---|---|"]
    else:
        lines += ["| variant | instructions/request | × no coverage | added vs previous row | what it adds |",
                  "|---|---|---|---|---|"]
    previous = base
    for variant in variants:
        value = counts[variant]
        if variant.endswith(PYTHON_CORE):
            meaning = "requestcov as shipped, with the pure-Python core (REQUESTCOV_CORE=python)"
        else:
            meaning = EXPLAINED.get(variant, "no coverage")
        if times is not None:
            lines.append(f"| {variant} | {value:,.0f} | {value / base:.3f} | {value - base:+,.0f} | "
                         f"{times[variant] * 1e6:,.0f} | {times[variant] / times['none']:.2f} | {meaning} |")
        else:
            lines.append(f"| {variant} | {value:,.0f} | {value / base:.3f} | {value - previous:+,.0f} | {meaning} |")
        previous = value
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app", default="flask", help=f"comma-separated, of: {', '.join(modes.APPS)}")
    parser.add_argument("--rotations", type=int, default=10)
    parser.add_argument("--variants", default=",".join(VARIANTS + ["full" + PYTHON_CORE]),
                        help=f"comma-separated, of: {', '.join(VARIANTS + MODE_VARIANTS)}; a name ending in "
                             f"{PYTHON_CORE} runs with the pure-Python core")
    parser.add_argument("--timed-reps", type=int, default=0,
                        help="also time each variant this many interleaved times (0: counts only)")
    parser.add_argument("--timed-rotations", type=int, default=100, help="rotations of the mix per timed run")
    parser.add_argument("--breakdown", action="store_true",
                        help="split requestcov's added instructions by part (the first app, 3.12+)")
    parser.add_argument("--jobs", type=int, default=2, help="callgrind runs at a time")
    parser.add_argument("--out", help="also write the tables to this file")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("instructions: valgrind is not installed (Debian: apt-get install valgrind)")
    apps = [name for name in args.app.split(",") if name]
    unknown_apps = sorted(set(apps) - set(modes.APPS))
    if unknown_apps:
        sys.exit(f"instructions: unknown apps {', '.join(unknown_apps)}; known: {', '.join(modes.APPS)}")
    variants = [name for name in args.variants.split(",") if name]
    unknown = sorted({name.replace(PYTHON_CORE, "") for name in variants} - set(VARIANTS + MODE_VARIANTS))
    if unknown:
        sys.exit(f"instructions: unknown variants {', '.join(unknown)}; known: {', '.join(VARIANTS + MODE_VARIANTS)}")
    if "none" not in variants:
        variants.insert(0, "none")
    lines: List[str] = []
    for app in apps:
        # A variant that wraps a WSGI app itself has no row for an ASGI one.
        runnable = [variant for variant in variants
                    if modes.APPS[app][1] == "wsgi" or variant.replace(PYTHON_CORE, "") not in WSGI_ONLY]
        print(f"{app}: counting {len(runnable)} variants under callgrind, two runs each...",
              file=sys.stderr, flush=True)
        # A few at a time: each run is single-threaded under valgrind, and
        # the counts do not depend on what runs beside them.
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            counts: Dict[str, float] = dict(zip(runnable, pool.map(
                lambda variant: per_request(variant, args.rotations, app), runnable)))
        times = timed(app, runnable, args.timed_reps, args.timed_rotations) if args.timed_reps > 0 else None
        lines += table(app, runnable, counts, times, args.rotations) + [""]
    write(lines, args.out)
    if args.breakdown:
        if sys.version_info < (3, 12):
            print("instructions: the breakdown is for sys.monitoring (3.12+); skipped", file=sys.stderr)
        else:
            print(f"{apps[0]}: breakdown of requestcov's instructions...", file=sys.stderr, flush=True)
            lines = breakdown.markdown(apps[0], args.rotations, callgrind) + [""]
            write(lines, args.out, append=True)


def write(lines: List[str], out: Optional[str], append: bool = False) -> None:
    """Print ``lines``, and write them to ``out`` when given (the tables
    land there before the breakdown's long runs begin)."""
    text = "\n".join(lines)
    print(text, flush=True)
    if out:
        with open(out, "a" if append else "w", encoding="utf-8") as output:
            output.write(text)


if __name__ == "__main__":
    main()
