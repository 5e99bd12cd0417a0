"""How the analyses scale: synthetic web-like traffic, in-process and through the CLI.

The traffic imitates a web service: 40 endpoints, each returning one of three
statuses; every request runs framework code shared by all requests, its
endpoint's base path, and a random subset of the endpoint's optional branches,
with popular branch combinations repeated often (exact duplicates), rare ones
once (subsumed and near-duplicate tests), over 200 files, about 500 lines per
request. The files are real Python modules written into a scratch folder
(functions of 30 lines, one statement spanning two lines in each), so the
statement counts of ``gaps`` and ``report`` parse real source.

Two modes:

- ``--mode index`` (the default): builds the coverage index in-process and
  times ``dedup`` (by endpoint and status, and over everything), greedy
  ``minimize`` and ``gaps``, then prints the peak resident memory of the process.
- ``--mode store``: writes the requests into a real SQLite store through
  :class:`~requestcov.store.SQLiteStore`'s public ``write`` (so the store's
  internal layout stays its own business; the store is kept in ``--dir`` and
  reused by the next run asking for as many requests), then runs the real
  ``requestcov report``, ``dedup``, ``minimize`` and ``gaps`` commands with
  ``--db`` as subprocesses, each timed (wall clock and CPU) with its own
  peak RSS (``os.wait4``'s resource usage of that child alone). Their parse
  cache is ``--dir``/parse-cache; ``--cold`` empties it before each command.

Usage::

    python bench/analysis_scale.py [--requests N] [--seed S] [--shape web|random]
    python bench/analysis_scale.py --mode store --requests 1000000 [--commands report]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from requestcov.analysis.covered import StatementTable
from requestcov.analysis.dedup import find_duplicates
from requestcov.analysis.gaps import find_gaps
from requestcov.analysis.index import build_index
from requestcov.analysis.setcover import minimize
from requestcov.records import STARTUP, RequestRecord

FILE_COUNT = 200
ENDPOINTS = 40
BRANCHES = 16
STATUSES = (200, 200, 200, 200, 404, 500)
#: Lines of every synthetic module: the traffic's runs start below line 1500
#: and are at most 25 lines long.
MODULE_LINES = 1530
#: Lines of one synthetic function: ``def``, 26 one-line statements, one
#: statement over two lines, ``return``.
FUNCTION_LINES = 30
FIRST_FUNCTION_LINE = 4


def module_paths(root: Path) -> List[str]:
    return [str(root / f"pkg{number // 20}" / f"module{number}.py") for number in range(FILE_COUNT)]


def module_source(number: int) -> str:
    lines = [f'"""Synthetic module {number} of bench/analysis_scale.py."""', f"VALUE = {number}", ""]
    function = 0
    while len(lines) + FUNCTION_LINES <= MODULE_LINES:
        lines.append(f"def function_{function}(value):")
        lines.append("    total = value")
        lines.extend(f"    total = total + {step}" for step in range(25))
        lines.append("    result = (total +")
        lines.append(f"              {function})")
        lines.append("    return result")
        function += 1
    while len(lines) < MODULE_LINES:
        lines.append(f"VALUE_{len(lines)} = {len(lines)}")
    return "\n".join(lines) + "\n"


def write_sources(root: Path) -> List[str]:
    """The 200 modules the traffic runs, written once into ``root``."""
    paths = module_paths(root)
    for number, path in enumerate(paths):
        file = Path(path)
        if not file.exists():
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(module_source(number))
    return paths


def startup_record(files: Sequence[str]) -> RequestRecord:
    """What importing the modules runs: the docstring, the constants and every ``def`` line."""
    defs = list(range(FIRST_FUNCTION_LINE, MODULE_LINES - FUNCTION_LINES + 2, FUNCTION_LINES))
    tail = list(range(FIRST_FUNCTION_LINE + FUNCTION_LINES * len(defs), MODULE_LINES + 1))
    lines = sorted({1, 2, *defs, *tail})
    return RequestRecord(test_id="startup", kind=STARTUP, pid=1, start=1_699_999_999.0,
                         lines={path: lines for path in files})


def _block(random: np.random.Generator, size: int) -> List[Tuple[int, int]]:
    """``size`` lines in a few runs of consecutive lines in a few files."""
    lines: List[Tuple[int, int]] = []
    while len(lines) < size:
        file_number = int(random.integers(FILE_COUNT))
        start = int(random.integers(1, 1500))
        run = int(random.integers(3, 25))
        lines.extend((file_number, start + offset) for offset in range(run))
    return lines[:size]


def synthetic_records(count: int, seed: int, files: Sequence[str]) -> Iterator[RequestRecord]:
    random = np.random.default_rng(seed)
    framework = _block(random, 120)
    endpoints = []
    for number in range(ENDPOINTS):
        base = _block(random, 250)
        branches = [_block(random, int(random.integers(3, 50))) for _ in range(BRANCHES)]
        popular = [random.random(BRANCHES) < 0.3 for _ in range(6)]
        endpoints.append((f"/api/v1/resource{number}/<id>", base, branches, popular))
    for request in range(count):
        route, base, branches, popular = endpoints[int(random.integers(ENDPOINTS))]
        if random.random() < 0.6:
            chosen = popular[int(random.integers(len(popular)))]
        else:
            chosen = random.random(BRANCHES) < 0.35
        status = STATUSES[int(random.integers(len(STATUSES)))]
        by_file: dict = {}
        for file_number, line in framework + base:
            by_file.setdefault(file_number, set()).add(line)
        for branch, take in zip(branches, chosen):
            if take:
                for file_number, line in branch:
                    by_file.setdefault(file_number, set()).add(line)
        yield RequestRecord(
            test_id=f"test-{request}", test_set=f"test-set-{request % 7}", method="GET",
            path=route.replace("<id>", str(request)), route=route, status=status,
            start=1_700_000_000.0 + request, duration_ms=float(random.integers(1, 400)), pid=1000 + request % 8,
            lines={files[file_number]: sorted(lines) for file_number, lines in by_file.items()},
        )


def random_records(count: int, seed: int, files: Sequence[str]) -> Iterator[RequestRecord]:
    """The hard case for dedup: every request covers its own random lines, so
    nothing repeats and every test is distinct."""
    random = np.random.default_rng(seed)
    for request in range(count):
        size = int(random.integers(300, 700))
        file_numbers = random.integers(len(files), size=size)
        lines = random.integers(1, 1500, size=size)
        by_file: dict = {}
        for file_number, line in zip(file_numbers.tolist(), lines.tolist()):
            by_file.setdefault(file_number, set()).add(line)
        yield RequestRecord(
            test_id=f"test-{request}", method="GET", path="/random", route="/random", status=200,
            start=1_700_000_000.0 + request, pid=1000 + request % 8,
            lines={files[file_number]: sorted(numbers) for file_number, numbers in by_file.items()},
        )


def peak_rss_mb(usage: Optional[resource.struct_rusage] = None) -> float:
    peak = (usage or resource.getrusage(resource.RUSAGE_SELF)).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class Clock:
    """Wall-clock and CPU seconds of a phase: on a shared machine the CPU
    time is the figure that does not depend on the neighbours' load."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def lap(self) -> str:
        wall, cpu = time.perf_counter(), time.process_time()
        text = f"{wall - self.wall:6.2f} s ({cpu - self.cpu:6.2f} s CPU)"
        self.wall, self.cpu = wall, cpu
        return text


def run_index(arguments: argparse.Namespace, files: Sequence[str]) -> None:
    generating = [0.0]

    def timed(records: Iterator[RequestRecord]) -> Iterator[RequestRecord]:
        """Keep the time spent making synthetic records out of the index's time."""
        while True:
            started = time.perf_counter()
            record = next(records, None)
            generating[0] += time.perf_counter() - started
            if record is None:
                return
            yield record

    started = time.perf_counter()
    make = synthetic_records if arguments.shape == "web" else random_records
    index = build_index(timed(make(arguments.requests, arguments.seed, files)))
    built = time.perf_counter()
    sizes = index.sizes()
    print(f"requests {len(index)}, files {len(index.files)}, distinct lines {index.element_count}, "
          f"mean lines/request {sizes.mean():.0f}, distinct coverages {len(set(index.signatures))}")
    print(f"generate records:            {generating[0]:6.2f} s")
    print(f"build index:                 {built - started - generating[0]:6.2f} s   "
          f"(index arrays {index.flat.nbytes / 1e6:.0f} MB)")

    for by in (("endpoint", "status"), ()):
        clock = Clock()
        result = find_duplicates(index, by=by, threshold=0.95)
        elapsed = clock.lap()
        kinds: Dict[str, int] = {}
        for group in result.groups:
            kinds[group.kind] = kinds.get(group.kind, 0) + len(group.drop)
        print(f"dedup --by {','.join(by) or 'none':16s}:  {elapsed}   kept {result.kept}, dropped "
              f"{result.dropped} {kinds}")

    clock = Clock()
    cover = minimize(index)
    print(f"minimize (greedy):           {clock.lap()}   keep {len(cover.keep)}, lower bound "
          f"{cover.lower_bound}, element classes {cover.class_count}")

    clock = Clock()
    covered = index.covered_lines_by_file()
    startup = startup_record(files).lines
    gaps = find_gaps(covered, startup=startup, table=StatementTable())
    print(f"gaps:                        {clock.lap()}   {gaps.statements} statements, {gaps.by_requests} "
          f"run by requests, {gaps.startup_only} only at start-up, {gaps.missed} missed")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


#: The commands ``--mode store`` runs, and the arguments each gets besides ``--db``.
COMMANDS: Dict[str, List[str]] = {
    "report": ["report", "--limit", "20"],
    "report-json": ["report", "--json"],
    "dedup": ["dedup"],
    "minimize": ["minimize"],
    "gaps": ["gaps"],
}


def fill_store(db: Path, arguments: argparse.Namespace, files: Sequence[str]) -> float:
    """Write the traffic into ``db`` through the store's public API, in
    batches as the background writer does; seconds taken (0 when the store
    of the same traffic was there already)."""
    from requestcov.store import SQLiteStore

    done = db.with_name(db.name + ".complete")
    wanted = f"{arguments.requests} {arguments.seed} {arguments.shape}"
    if db.exists() and done.exists() and done.read_text() == wanted:
        return 0.0
    for stale in (db, done, Path(f"{db}-wal"), Path(f"{db}-shm")):
        if stale.exists():
            stale.unlink()
    make = synthetic_records if arguments.shape == "web" else random_records
    started = time.perf_counter()
    with SQLiteStore(db) as store:
        store.write([startup_record(files)])
        batch: List[RequestRecord] = []
        for number, record in enumerate(make(arguments.requests, arguments.seed, files), 1):
            batch.append(record)
            if len(batch) == 2000:
                store.write(batch)
                batch = []
            if number % 100_000 == 0:
                print(f"  written {number} requests ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        store.write(batch)
    done.write_text(wanted)
    return time.perf_counter() - started


def requestcov_command() -> List[str]:
    script = Path(sys.executable).with_name("requestcov")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from requestcov.cli import main; main()"]


def run_command(arguments: Sequence[str], output: Path,
                env: Optional[Dict[str, str]] = None) -> Tuple[float, float, float, int]:
    """Seconds, CPU seconds, peak RSS in MB and exit code of one command, its stdout into ``output``."""
    with open(output, "wb") as out:
        started = time.perf_counter()
        child = subprocess.Popen(list(arguments), stdout=out, stderr=subprocess.PIPE, env=env)
        assert child.stderr is not None
        errors = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 1):  # minimize and dedup exit 0; an error exits 1 or 2
        sys.stderr.write(errors.decode(errors="replace"))
    return elapsed, usage.ru_utime + usage.ru_stime, peak_rss_mb(usage), child.returncode


def run_store(arguments: argparse.Namespace, files: Sequence[str], folder: Path) -> None:
    db = folder / f"requestcov-{arguments.shape}-{arguments.requests}-{arguments.seed}.db"
    written = fill_store(db, arguments, files)
    size = db.stat().st_size / 1e6
    print(f"store {db} ({size:.0f} MB): {arguments.requests} requests"
          + (f", written in {written:.1f} s ({arguments.requests / written:.0f} records/s)" if written else
             ", reused"))
    base = requestcov_command()
    # The commands keep their parses of the sources in a cache of the bench's
    # own; --cold empties it before each command (every file parsed again).
    cache = folder / "parse-cache"
    env = {**os.environ, "REQUESTCOV_CACHE_DIR": str(cache)}
    print(f"{'command':28s} {'seconds':>8s} {'CPU s':>8s} {'peak RSS':>10s}  exit"
          + ("   (parse cache emptied before each)" if arguments.cold else ""))
    for name in arguments.commands.split(","):
        if arguments.cold and cache.exists():
            shutil.rmtree(cache)
        command = [*base, *COMMANDS[name], "--db", str(db)]
        output = (arguments.out or folder) / f"{name}.out"
        elapsed, cpu, rss, code = run_command(command, output, env)
        print(f"{' '.join(COMMANDS[name]):28s} {elapsed:8.2f} {cpu:8.2f} {rss:8.0f} MB  {code}   (output: {output})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("index", "store"), default="index")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shape", choices=("web", "random"), default="web",
                        help="web: endpoints with shared paths; random: every request distinct")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/requestcov-analysis-scale"),
                        help="where the synthetic sources and stores live (kept between runs)")
    parser.add_argument("--commands", default="report,dedup,minimize,gaps",
                        help=f"store mode: which of {','.join(COMMANDS)} to run")
    parser.add_argument("--out", type=Path, default=None,
                        help="store mode: where each command's stdout goes [default: --dir]")
    parser.add_argument("--cold", action="store_true",
                        help="store mode: empty the parse cache before each command (sources parsed again)")
    parser.add_argument("--clean", action="store_true", help="remove --dir first")
    arguments = parser.parse_args()
    if arguments.clean and arguments.dir.exists():
        shutil.rmtree(arguments.dir)
    files = write_sources(arguments.dir / "src")
    if arguments.out is not None:
        arguments.out.mkdir(parents=True, exist_ok=True)
    if arguments.mode == "index":
        run_index(arguments, files)
    else:
        run_store(arguments, files, arguments.dir)


if __name__ == "__main__":
    main()
