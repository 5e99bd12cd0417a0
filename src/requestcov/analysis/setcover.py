"""The smallest set of tests that still covers everything the suite covers.

This is set cover: NP-hard in general, but test suites are friendly instances.
The instance is shrunk before solving: tests with identical coverage collapse
to one, and elements (lines, arcs) covered by exactly the same tests collapse
into one weighted "class", since covering one of them means covering all. A
test that alone covers some class is in every cover. The greedy answer is
always computed; the exact answer (a 0/1 program solved by HiGHS through
``scipy.optimize.milp``) is optional because it needs scipy and time.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from requestcov.analysis.index import CoverageIndex
from requestcov.errors import RequestcovError

__all__ = ["CoverInstance", "CoverResult", "reduce_instance", "greedy_cover", "packing_lower_bound",
           "exact_cover", "minimize", "Progress", "ExactOutcome"]


#: Heap entries re-evaluated together by the greedy pass.
_GREEDY_BATCH = 16
_GREEDY_BATCH_MAX = 512


@dataclass
class CoverInstance:
    """A reduced set-cover instance.

    ``candidates[j]`` is the index-test standing for column ``j``; column ``j``
    covers classes ``class_flat[class_offsets[j]:class_offsets[j + 1]]``.
    """

    candidates: List[int]
    class_flat: np.ndarray
    class_offsets: np.ndarray
    #: Number of original elements in each class.
    class_weight: np.ndarray
    _columns_per_entry: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def class_count(self) -> int:
        return int(self.class_weight.shape[0])

    def classes(self, column: int) -> np.ndarray:
        return self.class_flat[self.class_offsets[column]:self.class_offsets[column + 1]]

    def columns_per_entry(self) -> np.ndarray:
        """Column of every entry of ``class_flat`` (computed once, then shared)."""
        if self._columns_per_entry is None:
            self._columns_per_entry = np.repeat(
                np.arange(len(self.candidates), dtype=np.int32), np.diff(self.class_offsets))
        return self._columns_per_entry


@dataclass
class CoverResult:
    """Which tests to keep; ``keep`` and ``drop`` are index-test numbers."""

    keep: List[int]
    drop: List[int]
    optimal: bool
    lower_bound: int
    #: Size of the greedy cover, for comparison with an exact one.
    greedy_size: int
    method: str
    element_count: int
    class_count: int
    #: Which search found the kept set: "greedy", or "exact" when the solver beat greedy.
    found_by: str = "greedy"
    #: The exact solver's last word ("optimal", "time limit", ...); None when it did not run.
    solver_status: Optional[str] = None


def reduce_instance(index: CoverageIndex) -> CoverInstance:
    """Collapse identical tests and identical elements (see module docstring)."""
    # Columns in natural order of the test ids (the lowest id standing for
    # tests with equal coverage): every tie below, greedy's and the solver's,
    # then goes the same way whatever order the tests were recorded in.
    natural = index.natural_keys()
    in_natural_order = sorted(range(len(index)), key=lambda test: (natural[test], test))
    first_of_signature = {}
    for test in in_natural_order:
        signature = index.signatures[test]
        if index.size(test) and signature not in first_of_signature:
            first_of_signature[signature] = test
    candidates = list(first_of_signature.values())
    if not candidates:
        return CoverInstance([], np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64))

    # An element's "who covers me" set, summarised by two sums of random
    # weights of its covering tests. Tests are added in the same order for
    # every element (batch by batch, in candidate order), so elements with the
    # same covering set get bit-identical sums; different sets colliding in
    # both sums and in the coverage count is practically impossible.
    random = np.random.default_rng(20240611)
    first_weight = random.random(len(candidates))
    second_weight = random.random(len(candidates))
    element_count = index.element_count
    first = np.zeros(element_count)
    second = np.zeros(element_count)
    count = np.zeros(element_count, dtype=np.int64)
    for columns in _column_batches(index, candidates):
        parts = [index.elements(candidates[column]) for column in columns]
        entries = np.concatenate(parts)
        owner = np.repeat(np.asarray(columns, dtype=np.int64), [part.shape[0] for part in parts])
        first += np.bincount(entries, weights=first_weight[owner], minlength=element_count)
        second += np.bincount(entries, weights=second_weight[owner], minlength=element_count)
        count += np.bincount(entries, minlength=element_count)
    covered = np.flatnonzero(count)
    keys = np.stack([first[covered], second[covered], count[covered].astype(np.float64)], axis=1)
    _, class_of_covered, class_weight = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    class_of_element = np.full(element_count, -1, dtype=np.int64)
    class_of_element[covered] = class_of_covered.reshape(-1)

    class_parts = []
    class_sizes = np.zeros(len(candidates), dtype=np.int64)
    # When no two elements share a class, a test's classes are already distinct.
    collapsed = class_weight.shape[0] < covered.shape[0]
    for column, test in enumerate(candidates):
        part = class_of_element[index.elements(test)]
        if collapsed and part.shape[0] > 1:
            part.sort()
            part = part[np.concatenate(([True], part[1:] != part[:-1]))]
        class_parts.append(part)
        class_sizes[column] = part.shape[0]
    class_offsets = np.zeros(len(candidates) + 1, dtype=np.int64)
    np.cumsum(class_sizes, out=class_offsets[1:])
    return CoverInstance(
        candidates=candidates, class_flat=np.concatenate(class_parts).astype(np.int32),
        class_offsets=class_offsets,
        class_weight=class_weight.astype(np.int64),
    )


def _column_batches(index: CoverageIndex, candidates: List[int], entries: int = 2_000_000) -> List[List[int]]:
    batches: List[List[int]] = [[]]
    size = 0
    for column, test in enumerate(candidates):
        if size >= entries:
            batches.append([])
            size = 0
        batches[-1].append(column)
        size += index.size(test)
    return batches


def _column_sums(instance: CoverInstance, class_values: np.ndarray, entries: int = 4_000_000) -> np.ndarray:
    """Sum of ``class_values`` over each column's classes, a slice at a time so
    no temporary as long as ``class_flat`` is made."""
    offsets = instance.class_offsets
    sums = np.zeros(len(instance.candidates), dtype=np.int64)
    column = 0
    while column < len(instance.candidates):
        end = int(np.searchsorted(offsets, offsets[column] + entries, side="right")) - 1
        end = min(max(end, column + 1), len(instance.candidates))
        values = class_values[instance.class_flat[offsets[column]:offsets[end]]]
        sums[column:end] = np.add.reduceat(values, offsets[column:end] - offsets[column])
        column = end
    return sums


def _forced_columns(instance: CoverInstance) -> List[int]:
    """Columns that are the only cover of some class: every cover holds them."""
    columns = instance.columns_per_entry()
    cover_count = np.bincount(instance.class_flat, minlength=instance.class_count)
    lonely = cover_count[instance.class_flat] == 1
    return sorted(set(columns[lonely].tolist()))


def greedy_cover(instance: CoverInstance) -> List[int]:
    """Classic greedy (most uncovered elements first, the earliest column,
    lowest natural id, on ties),
    then a pass dropping picks made redundant by later ones. Returns columns
    in the order picked.

    Lazy evaluation: heap keys are gains from an earlier moment, so they only
    overestimate. The top few entries are re-evaluated together (one numpy
    pass instead of one per entry); the best of them is taken when it beats
    every other key, which makes the pick the true greedy pick.
    """
    covered = np.zeros(instance.class_count, dtype=bool)
    weight = instance.class_weight
    chosen: List[int] = []
    for column in _forced_columns(instance):
        chosen.append(column)
        covered[instance.classes(column)] = True
    gains = _column_sums(instance, np.where(covered, 0, weight))
    # Heap keys are plain ints, -gain * base + column: smaller is better, and
    # equal gains order by column. Ints compare much faster than tuples.
    base = len(instance.candidates) + 1
    heap = [-int(gain) * base + column for column, gain in enumerate(gains.tolist()) if gain]
    heapq.heapify(heap)
    offsets = instance.class_offsets.tolist()
    class_flat = instance.class_flat
    remaining = int(weight[~covered].sum())
    batch_size = _GREEDY_BATCH
    while heap and remaining:
        columns = [heapq.heappop(heap) % base for _ in range(min(batch_size, len(heap)))]
        parts = [class_flat[offsets[column]:offsets[column + 1]] for column in columns]
        classes = np.concatenate(parts)
        starts = np.zeros(len(parts), dtype=np.int64)
        np.cumsum([part.shape[0] for part in parts[:-1]], out=starts[1:])
        fresh_gains = np.add.reduceat(np.where(covered[classes], 0, weight[classes]), starts).tolist()
        keys = sorted(-int(gain) * base + column for gain, column in zip(fresh_gains, columns) if gain)
        if keys and (not heap or keys[0] <= heap[0]):
            column = keys[0] % base
            covered[class_flat[offsets[column]:offsets[column + 1]]] = True
            remaining -= -(keys[0] // base)  # floor division recovers -gain exactly
            chosen.append(column)
            keys = keys[1:]
            batch_size = _GREEDY_BATCH
        else:
            # Many stale keys sit above the best true gain: look at more at once.
            batch_size = min(batch_size * 2, _GREEDY_BATCH_MAX)
        for key in keys:
            heapq.heappush(heap, key)
    return _drop_redundant(instance, chosen)


def _drop_redundant(instance: CoverInstance, chosen: List[int]) -> List[int]:
    """Remove picks whose every class other picks also cover. The newest picks
    are checked first: greedy's early picks are the big ones worth keeping."""
    times_covered = np.zeros(instance.class_count, dtype=np.int64)
    for column in chosen:
        times_covered[instance.classes(column)] += 1
    kept = list(chosen)
    for column in reversed(chosen):
        classes = instance.classes(column)
        if classes.shape[0] and bool((times_covered[classes] >= 2).all()):
            times_covered[classes] -= 1
            kept.remove(column)
    return kept


def packing_lower_bound(instance: CoverInstance, budget: int = 4_000_000) -> int:
    """A lower bound needing no solver: classes no two of which share a
    covering test each need their own test. Hardest-to-cover classes first.

    Any subset of classes gives a valid bound, so only the hardest-to-cover
    classes whose covering lists fit in ``budget`` entries are looked at; that
    keeps the bound cheap on huge suites without making it wrong.
    """
    if not instance.class_count:
        return 0
    cover_count = np.bincount(instance.class_flat, minlength=instance.class_count)
    by_difficulty = np.argsort(cover_count, kind="stable")
    affordable = int(np.searchsorted(np.cumsum(cover_count[by_difficulty]), budget, side="right"))
    considered = by_difficulty[:max(affordable, 1)]
    wanted = np.zeros(instance.class_count, dtype=bool)
    wanted[considered] = True
    positions = np.flatnonzero(wanted[instance.class_flat])
    entry_classes = instance.class_flat[positions]
    order = np.argsort(entry_classes, kind="stable")
    by_class_columns = instance.columns_per_entry()[positions][order]
    sorted_classes = entry_classes[order]
    class_starts = np.searchsorted(sorted_classes, considered, side="left")
    class_ends = np.searchsorted(sorted_classes, considered, side="right")
    used = np.zeros(len(instance.candidates), dtype=bool)
    bound = 0
    for start, end in zip(class_starts.tolist(), class_ends.tolist()):
        covering = by_class_columns[start:end]
        if not used[covering].any():
            used[covering] = True
            bound += 1
    return bound


@dataclass
class ExactOutcome:
    columns: Optional[List[int]]
    optimal: bool
    lower_bound: int
    #: What the solver said: "optimal", "time limit" or its own message.
    status: str = "optimal"


#: Called with a line saying where the work stands (``minimize`` and
#: ``exact_cover`` report their phases, then the solver's elapsed time about
#: once a second), so a long exact solve is never silent.
Progress = Callable[[str], None]

#: Seconds between two progress reports while the solver runs.
PROGRESS_INTERVAL = 1.0


def _solve_reporting(solve: Callable[[], Any], progress: Optional[Progress], time_limit: float,
                     interval: float = PROGRESS_INTERVAL) -> Any:
    """Run ``solve`` (HiGHS releases the GIL while it works, from scipy 1.15
    on; before, nothing is reported until it returns) in a thread and report
    the elapsed time every ``interval`` seconds until it returns."""
    if progress is None:
        return solve()
    outcome: Dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = solve()
        except BaseException as error:  # handed to the calling thread
            outcome["error"] = error

    worker = threading.Thread(target=target, name="requestcov-exact-cover", daemon=True)
    started = time.monotonic()
    worker.start()
    while True:
        worker.join(interval)
        if not worker.is_alive():
            break
        progress(f"solving exactly: {time.monotonic() - started:.0f} s of at most {time_limit:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def exact_cover(instance: CoverInstance, time_limit: float, progress: Optional[Progress] = None) -> ExactOutcome:
    """Solve the 0/1 program ``min sum x  s.t.  A x >= 1`` with HiGHS, stopping
    after ``time_limit`` seconds with the best cover and bound found so far.

    The relative gap tolerance is 0, so "optimal" means proven: HiGHS's
    default stops within 0.01% of the bound, which on a large suite is a
    test or two away from it."""
    try:
        from scipy.optimize import Bounds, LinearConstraint, linprog, milp
        from scipy.sparse import csr_matrix
    except ImportError:
        raise RequestcovError(
            "the exact solver needs scipy: pip install requestcov[exact]"
        ) from None
    column_count = len(instance.candidates)
    if column_count == 0:
        return ExactOutcome([], True, 0)
    matrix = csr_matrix(
        (np.ones(instance.class_flat.shape[0]), (instance.class_flat, instance.columns_per_entry())),
        shape=(instance.class_count, column_count),
    )
    cost = np.ones(column_count)
    started = time.monotonic()
    result = _solve_reporting(lambda: milp(
        cost,
        constraints=LinearConstraint(matrix, lb=np.ones(instance.class_count), ub=np.inf),
        integrality=np.ones(column_count),
        bounds=Bounds(0, 1),
        options={"time_limit": float(time_limit), "disp": False, "mip_rel_gap": 0.0},
    ), progress, time_limit)
    columns = None
    if result.x is not None:
        columns = [column for column in range(column_count) if result.x[column] > 0.5]
    bound_value = getattr(result, "mip_dual_bound", None)
    remaining = time_limit - (time.monotonic() - started)
    if (bound_value is None or not math.isfinite(bound_value)) and remaining > 0:
        relaxation = linprog(cost, A_ub=-matrix, b_ub=-np.ones(instance.class_count), bounds=(0, 1),
                             method="highs", options={"time_limit": float(remaining)})
        bound_value = relaxation.fun if relaxation.status == 0 else 0.0
    if bound_value is None or not math.isfinite(bound_value):
        bound_value = 0.0
    lower_bound = int(math.ceil(float(bound_value) - 1e-6))
    # Proven only when the cover found is as small as the bound.
    optimal = columns is not None and len(columns) <= lower_bound
    status = "optimal" if result.status == 0 else "time limit" if result.status == 1 else str(result.message)
    return ExactOutcome(columns, optimal, lower_bound, status)


def minimize(index: CoverageIndex, exact: bool = False, time_limit: float = 30.0,
             progress: Optional[Progress] = None) -> CoverResult:
    """Keep the fewest tests whose union covers what all tests cover.
    ``optimal`` is True only when proven: the cover is as small as a lower
    bound (the packing bound, or the exact solver's)."""
    report = progress or (lambda message: None)
    report(f"reducing {len(index)} tests")
    instance = reduce_instance(index)
    greedy_columns = greedy_cover(instance)
    columns = greedy_columns
    lower_bound = packing_lower_bound(instance)
    method = "greedy"
    found_by = "greedy"
    solver_status: Optional[str] = None
    if exact and len(greedy_columns) > lower_bound:  # greedy's cover is not yet proven optimal
        report(f"{len(instance.candidates)} distinct tests, {instance.class_count} element classes; greedy keeps "
               f"{len(greedy_columns)}, at least {lower_bound} needed; solving exactly with HiGHS "
               f"(time limit {time_limit:g} s)")
        outcome = exact_cover(instance, time_limit, progress)
        solver_status = outcome.status
        lower_bound = max(lower_bound, outcome.lower_bound)
        if outcome.columns is not None and len(outcome.columns) < len(columns):
            columns = outcome.columns
            found_by = "exact"
    if exact:
        method = "exact"
    optimal = len(columns) <= lower_bound
    keep = sorted(instance.candidates[column] for column in columns)
    kept = set(keep)
    return CoverResult(
        keep=keep, drop=[test for test in range(len(index)) if test not in kept],
        optimal=optimal, lower_bound=min(lower_bound, len(columns)), greedy_size=len(greedy_columns),
        method=method, element_count=index.element_count, class_count=instance.class_count,
        found_by=found_by, solver_status=solver_status,
    )
