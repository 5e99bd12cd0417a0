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

Usage: python bench/instructions.py [--rotations 10] [--variants none,full]
Prints a markdown table; ``--out`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from benchlib.mix import MIX  # noqa: E402
from profile_overhead import EXPLAINED, VARIANTS  # noqa: E402

#: About how much slower a Python program runs under callgrind here; the
#: writer's gather window is stretched by it (see ``profile_overhead.build``).
SLOWDOWN = 50
_TOTAL = re.compile(r"Collected\s*:\s*(\d+)")


#: A variant name with this suffix runs with the pure-Python core.
PYTHON_CORE = ":python"


def count(variant: str, rotations: int) -> int:
    """Instructions of one whole run of ``variant`` (start-up included)."""
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as workdir:
        environ = dict(os.environ, PYTHONHASHSEED="0", BENCH_SLOWDOWN=str(SLOWDOWN))
        if variant.endswith(PYTHON_CORE):
            variant = variant[: -len(PYTHON_CORE)]
            environ["REQUESTCOV_CORE"] = "python"
        completed = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={os.path.join(workdir, 'out')}",
             sys.executable, os.path.join(BENCH_DIR, "profile_overhead.py"), "--variant", variant,
             "--rotations", str(rotations)],
            cwd=BENCH_DIR, env=environ, capture_output=True, text=True, timeout=1800,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"{variant} under callgrind failed:\n{completed.stderr[-3000:]}")
    match = _TOTAL.search(completed.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no total for {variant}:\n{completed.stderr[-2000:]}")
    return int(match.group(1))


def per_request(variant: str, rotations: int) -> float:
    """The difference between a run of ``3 * rotations`` and one of
    ``rotations``, per extra request."""
    small, large = count(variant, rotations), count(variant, 3 * rotations)
    return (large - small) / (2 * rotations * len(MIX))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rotations", type=int, default=10)
    parser.add_argument("--variants", default=",".join(VARIANTS + ["full" + PYTHON_CORE]),
                        help=f"comma-separated, of: {', '.join(VARIANTS)}; a name ending in {PYTHON_CORE} "
                             "runs with the pure-Python core")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("instructions: valgrind is not installed (Debian: apt-get install valgrind)")
    variants = [name for name in args.variants.split(",") if name]
    unknown = sorted({name.replace(PYTHON_CORE, "") for name in variants} - set(VARIANTS))
    if unknown:
        sys.exit(f"instructions: unknown variants {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    if "none" not in variants:
        variants.insert(0, "none")
    print(f"counting {len(variants)} variants under callgrind, two runs each...", file=sys.stderr, flush=True)
    # Two at a time: each run is single-threaded under valgrind, and the
    # counts do not depend on what runs beside them.
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts: Dict[str, float] = dict(zip(variants, pool.map(
            lambda variant: per_request(variant, args.rotations), variants)))
    base = counts["none"]
    lines: List[str] = [
        f"Instructions per request (callgrind), Python {sys.version.split()[0]}, Flask app in-process, "
        f"the {len(MIX)}-request mix: runs of {args.rotations} and {3 * args.rotations} rotations, "
        "their difference per extra request.", "",
        "| variant | instructions/request | × no coverage | added vs previous row | what it adds |",
        "|---|---|---|---|---|",
    ]
    previous = base
    for variant in variants:
        value = counts[variant]
        if variant.endswith(PYTHON_CORE):
            meaning = "requestcov as shipped, with the pure-Python core (REQUESTCOV_CORE=python)"
        else:
            meaning = EXPLAINED.get(variant, "no coverage")
        lines.append(f"| {variant} | {value:,.0f} | {value / base:.3f} | {value - previous:+,.0f} | {meaning} |")
        previous = value
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as output:
            output.write(table)


if __name__ == "__main__":
    main()
