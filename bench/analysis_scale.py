"""How dedup and greedy minimize scale: synthetic traffic of 100,000 requests.

The traffic imitates a web service: 40 endpoints, each returning one of three
statuses; every request runs framework code shared by all requests, its
endpoint's base path, and a random subset of the endpoint's optional branches,
with popular branch combinations repeated often (exact duplicates), rare ones
once (subsumed and near-duplicate tests), over 200 files, about 500 lines per
request.

Usage: python bench/analysis_scale.py [--requests N] [--seed S] [--shape web|random]
Prints the time of each phase and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Iterator
from typing import List, Tuple

import numpy as np

from requestcov.analysis.dedup import find_duplicates
from requestcov.analysis.index import build_index
from requestcov.analysis.setcover import minimize
from requestcov.records import RequestRecord

FILES = [f"/srv/app/pkg{number // 20}/module{number}.py" for number in range(200)]
ENDPOINTS = 40
BRANCHES = 16
STATUSES = (200, 200, 200, 200, 404, 500)


def _block(random: np.random.Generator, size: int) -> List[Tuple[int, int]]:
    """``size`` lines in a few runs of consecutive lines in a few files."""
    lines: List[Tuple[int, int]] = []
    while len(lines) < size:
        file_number = int(random.integers(len(FILES)))
        start = int(random.integers(1, 1500))
        run = int(random.integers(3, 25))
        lines.extend((file_number, start + offset) for offset in range(run))
    return lines[:size]


def synthetic_records(count: int, seed: int) -> Iterator[RequestRecord]:
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
            start=1_700_000_000.0 + request, duration_ms=float(random.integers(1, 400)),
            lines={FILES[file_number]: sorted(lines) for file_number, lines in by_file.items()},
        )


def random_records(count: int, seed: int) -> Iterator[RequestRecord]:
    """The hard case for dedup: every request covers its own random lines, so
    nothing repeats and every test is distinct."""
    random = np.random.default_rng(seed)
    for request in range(count):
        size = int(random.integers(300, 700))
        files = random.integers(len(FILES), size=size)
        lines = random.integers(1, 1500, size=size)
        by_file: dict = {}
        for file_number, line in zip(files.tolist(), lines.tolist()):
            by_file.setdefault(file_number, set()).add(line)
        yield RequestRecord(
            test_id=f"test-{request}", method="GET", path="/random", route="/random", status=200,
            lines={FILES[file_number]: sorted(numbers) for file_number, numbers in by_file.items()},
        )


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shape", choices=("web", "random"), default="web",
                        help="web: endpoints with shared paths; random: every request distinct")
    arguments = parser.parse_args()

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
    index = build_index(timed(make(arguments.requests, arguments.seed)))
    built = time.perf_counter()
    sizes = index.sizes()
    print(f"requests {len(index)}, files {len(index.files)}, distinct lines {index.element_count}, "
          f"mean lines/request {sizes.mean():.0f}, distinct coverages {len(set(index.signatures))}")
    print(f"generate records:            {generating[0]:6.2f} s")
    print(f"build index:                 {built - started - generating[0]:6.2f} s   "
          f"(index arrays {index.flat.nbytes / 1e6:.0f} MB)")

    for by in (("endpoint", "status"), ()):
        started = time.perf_counter()
        result = find_duplicates(index, by=by, threshold=0.95)
        elapsed = time.perf_counter() - started
        kinds = {}
        for group in result.groups:
            kinds[group.kind] = kinds.get(group.kind, 0) + len(group.drop)
        print(f"dedup --by {','.join(by) or 'none':16s}:  {elapsed:6.2f} s   kept {result.kept}, dropped "
              f"{result.dropped} {kinds}")

    started = time.perf_counter()
    cover = minimize(index)
    elapsed = time.perf_counter() - started
    print(f"minimize (greedy):           {elapsed:6.2f} s   keep {len(cover.keep)}, lower bound "
          f"{cover.lower_bound}, element classes {cover.class_count}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
