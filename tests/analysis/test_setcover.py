"""minimize: greedy and exact set cover on instances with known optima."""

from __future__ import annotations

import time
from typing import List

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from requestcov.analysis.index import build_index
from requestcov.analysis.setcover import greedy_cover, minimize, packing_lower_bound, reduce_instance
from tests.analysis.builders import APP, record
from tests.support.setcover_oracle import brute_force_minimum


def classic_greedy_trap():
    """Two rows of 7 elements each are the optimum (2 tests); columns of 2, 4
    and 8 elements lure greedy into taking all three columns."""
    rows = [list(range(1, 8)), list(range(8, 15))]
    columns = [[1, 8], [2, 3, 9, 10], [4, 5, 6, 7, 11, 12, 13, 14]]
    return [record("row-1", rows[0]), record("row-2", rows[1]), record("column-2", columns[0]),
            record("column-4", columns[1]), record("column-8", columns[2])]


def names(index, tests: List[int]) -> List[str]:
    return [str(index.tests[test].key) for test in tests]


def test_greedy_falls_into_the_trap_and_reports_a_lower_bound():
    index = build_index(classic_greedy_trap())
    result = minimize(index)
    assert sorted(names(index, result.keep)) == ["column-2", "column-4", "column-8"]
    assert sorted(names(index, result.drop)) == ["row-1", "row-2"]
    assert result.optimal is False
    assert result.lower_bound == 2


def test_exact_finds_the_two_row_optimum():
    pytest.importorskip("scipy")
    index = build_index(classic_greedy_trap())
    result = minimize(index, exact=True, time_limit=10)
    assert sorted(names(index, result.keep)) == ["row-1", "row-2"]
    assert result.optimal is True
    assert result.lower_bound == 2
    assert result.greedy_size == 3


def test_duplicates_empty_tests_and_tests_adding_nothing_are_dropped():
    index = build_index([
        record("a", [1, 2, 3]), record("copy-of-a", [1, 2, 3]), record("empty", []),
        record("b", [4, 5]), record("nothing-new", [2, 4]),
    ])
    result = minimize(index)
    assert names(index, result.keep) == ["a", "b"]
    assert sorted(names(index, result.drop)) == ["copy-of-a", "empty", "nothing-new"]
    assert result.optimal is True


def test_a_test_alone_covering_a_line_is_always_kept():
    index = build_index([record("wide", list(range(1, 50))), record("lonely", [1, 99])])
    result = minimize(index)
    assert sorted(names(index, result.keep)) == ["lonely", "wide"]


def test_greedy_breaks_ties_by_natural_order():
    index = build_index([record("first", [1, 2]), record("second", [1, 2, 3]), record("third", [3, 4, 5])])
    result = minimize(index)
    # third alone covers 4 and 5, so it is taken first; then first and second
    # both add exactly {1, 2}, and first is earlier.
    assert names(index, result.keep) == ["first", "third"]


def test_lines_covered_by_the_same_tests_collapse_into_one_class():
    index = build_index([record("a", [1, 2, 3], other=[10, 11]), record("b", [3, 4])])
    instance = reduce_instance(index)
    # {1, 2, lib 10, lib 11} only in a; {3} in both; {4} only in b.
    assert instance.class_count == 3
    assert sorted(instance.class_weight.tolist()) == [1, 1, 4]


def test_branch_arcs_count_as_coverage_to_keep():
    index = build_index([
        record("a", [1, 2, 3], arcs={APP: [(1, 2), (2, 3)]}),
        record("b", [1, 2, 3], arcs={APP: [(1, 3)]}),
    ])
    assert len(minimize(index).keep) == 2


def test_empty_suite():
    result = minimize(build_index([]))
    assert result.keep == [] and result.drop == [] and result.optimal


@settings(max_examples=40, deadline=None)
@given(st.lists(st.frozensets(st.integers(1, 12), max_size=6), min_size=1, max_size=7))
def test_covers_are_complete_and_bounds_are_sound(sets):
    index = build_index([record(f"t{number}", sorted(lines)) for number, lines in enumerate(sets)])
    result = minimize(index)
    union = frozenset().union(*sets)
    kept = frozenset().union(*(sets[test] for test in result.keep)) if result.keep else frozenset()
    assert kept == union
    optimum = brute_force_minimum(sets)
    assert result.lower_bound <= optimum <= len(result.keep)
    instance = reduce_instance(index)
    assert packing_lower_bound(instance) <= optimum <= len(greedy_cover(instance))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.frozensets(st.integers(1, 10), max_size=5), min_size=1, max_size=6))
def test_exact_matches_brute_force(sets):
    pytest.importorskip("scipy")
    index = build_index([record(f"t{number}", sorted(lines)) for number, lines in enumerate(sets)])
    result = minimize(index, exact=True, time_limit=5)
    assert result.optimal
    assert len(result.keep) == brute_force_minimum(sets) == result.lower_bound


@settings(max_examples=40, deadline=None)
@given(st.lists(st.frozensets(st.integers(1, 12), max_size=6), min_size=1, max_size=8))
def test_greedy_says_optimal_only_when_its_bound_proves_it(sets):
    index = build_index([record(f"t{number}", sorted(lines)) for number, lines in enumerate(sets)])
    result = minimize(index)
    assert result.optimal == (len(result.keep) == result.lower_bound)
    if result.optimal:
        assert len(result.keep) == brute_force_minimum(sets)


def _hard_instance(tests: int = 1500, lines: int = 3000, seed: int = 3):
    """Random set cover (each test covers 1% of the lines): HiGHS needs far
    longer than a second to prove its optimum."""
    random = np.random.default_rng(seed)
    covers = [set(random.choice(lines, size=lines // 100, replace=False).tolist()) for _ in range(tests)]
    for line in range(lines):  # every line covered by someone
        covers[line % tests].add(line)
    return build_index([record(f"t{number}", sorted(line + 1 for line in cover))
                        for number, cover in enumerate(covers)])


def _highs_releases_the_gil() -> bool:
    """scipy's HiGHS releases the GIL while it solves from scipy 1.15 on
    (what ``setcover._solve_reporting`` relies on to report progress)."""
    import scipy

    return tuple(int(part) for part in scipy.__version__.split(".")[:2]) >= (1, 15)


def test_exact_stopped_by_its_time_limit_says_best_found_and_reports_progress():
    pytest.importorskip("scipy")
    index = _hard_instance()
    messages: List[str] = []
    started = time.monotonic()
    result = minimize(index, exact=True, time_limit=2.5, progress=messages.append)
    elapsed = time.monotonic() - started
    assert elapsed < 60
    kept = np.zeros(index.element_count, dtype=bool)
    for test in result.keep:
        kept[index.elements(test)] = True
    assert kept.all()  # still a cover of everything
    assert result.method == "exact"
    if result.solver_status == "time limit":
        assert not result.optimal and result.lower_bound < len(result.keep)
        if _highs_releases_the_gil():  # before, nothing can report until the solver returns
            assert any(message.startswith("solving exactly:") for message in messages), messages
    assert result.optimal == (len(result.keep) == result.lower_bound)
    assert messages[0].startswith("reducing 1500 tests")
    assert any("solving exactly with HiGHS (time limit 2.5 s)" in message for message in messages)


def test_the_minimal_suite_does_not_depend_on_record_order():
    """Every tie (equal gains, equal coverage) goes to the lowest natural id:
    the same tests recorded in three orders give the same suite."""
    tests = [
        record("test-10", [1, 2]), record("test-2", [1, 2]), record("test-9", [3, 4]), record("test-3", [3, 4]),
        record("test-1", [2, 3]), record("test-11", [5]),
    ]
    suites = []
    for order in ([0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [2, 5, 0, 4, 1, 3]):
        index = build_index([tests[position] for position in order])
        for exact in (False, True):
            suites.append(sorted(names(index, minimize(index, exact=exact).keep)))
    assert suites == [["test-11", "test-2", "test-3"]] * 6
