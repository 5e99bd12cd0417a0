"""Where requestcov's added instructions per request go, by part (3.12+).

The ablation variants of ``profile_overhead.py`` say what each step adds, but
steps interact (the writer thread takes the GIL from the request loop). This
reads callgrind's own attribution instead: requestcov (``full``) and no
coverage (``none``) each run twice under callgrind with one output file per
thread, ``callgrind_annotate --inclusive=yes`` gives every C function's
inclusive count, and the difference between the long and the short run, per
extra request, cancels start-up as ``instructions.py`` does. The parts:

* engine line callbacks: ``_Py_call_instrumentation_line`` (the interpreter's
  LINE dispatch and requestcov's compiled ``LineCallback`` under it);
* other monitoring events: ``_Py_call_instrumentation`` (PY_START and the like);
* re-enabling disabled locations: ``sys.monitoring.set_local_events``
  (``monitoring_set_local_events``), the re-instrumentation it triggers included;
* the writer thread: every thread but the main one, whole (record building in
  Python and SQLite), and the SQLite calls within it;
* the middleware and recorder begin/finish: the rest of the main thread's
  added instructions (Python code has no C function of its own to count),
  split by a third variant, ``no-writer`` (the writer's submit dropped), into
  what the main thread spends handing records to the writer (queue, wake-up,
  GIL hand-overs) and the rest.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Tuple

from benchlib import modes

__all__ = ["markdown", "measure"]

#: One line of ``callgrind_annotate``: count, percentage, file:function [object].
_LINE = re.compile(r"^\s*([\d,]+)\s+\([^)]*\)\s+\*?\s*(.*):([^:\s]+) \[(.*)\]\s*$")
_TOTALS = re.compile(r"^\s*([\d,]+)\s+\([^)]*\)\s+PROGRAM TOTALS")

#: Part -> the C functions whose inclusive counts make it up.
ENGINE_LINE = ("_Py_call_instrumentation_line",)
OTHER_EVENTS = ("_Py_call_instrumentation",)
REENABLE = ("monitoring_set_local_events",)
SQLITE = ("_pysqlite_query_execute", "pysqlite_connection_commit", "pysqlite_cursor_fetchone",
          "pysqlite_cursor_fetchall")
#: Shown on their own rows, inside the parts above.
DETAIL = ("LineCallback_vectorcall", "_Py_Instrument", "take_gil", "drop_gil")

#: A run: variant, rotations, app, work directory, extra valgrind options -> stderr.
Runner = Callable[..., str]


def _annotate(path: str) -> Tuple[int, Dict[str, int]]:
    """The file's total and each function's inclusive count, by bare name
    (a recursion cycle's ``'2`` entries are left out: they count twice)."""
    output = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                            capture_output=True, text=True, check=True, timeout=600).stdout
    total, functions = 0, {}
    for line in output.splitlines():
        match = _TOTALS.match(line)
        if match:
            total = int(match.group(1).replace(",", ""))
            continue
        match = _LINE.match(line)
        if match and "'" not in match.group(3):
            name = match.group(3)
            functions[name] = functions.get(name, 0) + int(match.group(1).replace(",", ""))
    return total, functions


def _run(runner: Runner, variant: str, rotations: int, app: str) -> Dict[str, int]:
    """Counts of one run: ``main`` and ``threads`` totals, and the main
    thread's (``main:NAME``) and the other threads' (``threads:NAME``)
    inclusive counts by function."""
    with tempfile.TemporaryDirectory(prefix="bench-breakdown-") as workdir:
        runner(variant, rotations, app, workdir, "--separate-threads=yes")
        files = sorted(glob.glob(os.path.join(workdir, "out-*")))
        counts: Dict[str, int] = {"main": 0, "threads": 0}
        for index, path in enumerate(files):
            where = "main" if index == 0 else "threads"
            total, functions = _annotate(path)
            counts[where] += total
            for name, value in functions.items():
                key = f"{where}:{name}"
                counts[key] = counts.get(key, 0) + value
        return counts


VARIANTS = ("none", "no-writer", "full")


def measure(app: str, rotations: int, runner: Runner) -> Dict[str, Dict[str, float]]:
    """Each variant's added instructions per request over no coverage, by
    key of ``_run``."""
    requests = 2 * rotations * len(modes.mix_for(app))
    runs = [(variant, count) for variant in VARIANTS for count in (rotations, 3 * rotations)]
    # Two at a time, as instructions.py does: counts do not depend on it.
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(runs, pool.map(lambda run: _run(runner, run[0], run[1], app), runs)))
    per: Dict[str, Dict[str, float]] = {}
    for variant in VARIANTS:
        small, large = done[(variant, rotations)], done[(variant, 3 * rotations)]
        per[variant] = {key: (large.get(key, 0) - small.get(key, 0)) / requests for key in set(small) | set(large)}
    return {variant: {key: per[variant].get(key, 0.0) - per["none"].get(key, 0.0)
                      for key in set(per[variant]) | set(per["none"])} for variant in VARIANTS[1:]}


def markdown(app: str, rotations: int, runner: Runner) -> List[str]:
    """The breakdown as a markdown table."""
    measured = measure(app, rotations, runner)
    added = measured["full"]

    def part(where: str, names: Tuple[str, ...]) -> float:
        return sum(added.get(f"{where}:{name}", 0.0) for name in names)

    engine, events, reenable = part("main", ENGINE_LINE), part("main", OTHER_EVENTS), part("main", REENABLE)
    rest = added["main"] - engine - events - reenable
    handing = added["main"] - measured["no-writer"]["main"]
    writer, sqlite = added["threads"], part("threads", SQLITE)
    total = added["main"] + writer
    rows = [
        ("engine line callbacks", engine, "`_Py_call_instrumentation_line` (LINE dispatch + `LineCallback`)"),
        ("other monitoring events", events, "`_Py_call_instrumentation` (PY_START and the like)"),
        ("re-enabling disabled locations", reenable, "`monitoring_set_local_events`, re-instrumentation included"),
        ("middleware, recorder begin/finish, rest of the main thread", rest,
         "main thread's added instructions minus the three rows above"),
        ("  of which handing records to the writer", handing,
         "main thread: requestcov's minus `no-writer`'s (submit dropped)"),
        ("  of which the middleware and begin/finish", rest - handing, "the rest"),
        ("writer thread", writer, "every thread but the main one: record building and SQLite"),
        ("  of which SQLite", sqlite, "`_pysqlite_query_execute`, commit, fetches"),
        ("  of which record building and the rest", writer - sqlite, "writer thread minus SQLite"),
    ]
    lines = [f"requestcov's added instructions per request on {app}, by part (callgrind inclusive counts by "
             f"function, one file per thread; runs of {rotations} and {3 * rotations} rotations of requestcov, "
             "of `no-writer` and of no coverage, each difference per extra request, minus no coverage's).", "",
             "| part | instructions/request | share of requestcov's added | counted as |", "|---|---|---|---|"]
    for name, value, how in rows:
        lines.append(f"| {name} | {value:+,.0f} | {value / total:.0%} | {how} |")
    lines.append(f"| **total** | {total:+,.0f} | 100% | main thread + other threads |")
    lines += ["", "Inside those (inclusive, per request, requestcov minus no coverage):", ""]
    for name in DETAIL:
        lines.append(f"- main thread `{name}`: {added.get('main:' + name, 0.0):+,.0f}; "
                     f"writer thread: {added.get('threads:' + name, 0.0):+,.0f}")
    return lines
