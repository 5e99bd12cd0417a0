"""find_duplicates on hand-built suites whose right answer is known."""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
import pytest

from requestcov.analysis.dedup import find_duplicates
from requestcov.analysis.index import build_index
from requestcov.analysis.minhash import band_keys, band_layout, candidate_pairs_for, jaccard, sketch
from tests.analysis.builders import APP, record


def summary(records, **options) -> Tuple[Dict[Tuple[str, str], List[str]], int, int]:
    """{(keep, kind): [dropped ids]}, kept, dropped."""
    index = build_index(records)
    result = find_duplicates(index, **options)
    groups = {
        (str(index.tests[group.keep].key), group.kind): [str(index.tests[test].key) for test in group.drop]
        for group in result.groups
    }
    return groups, result.kept, result.dropped


def test_exact_duplicates_keep_the_first_by_default():
    groups, kept, dropped = summary([
        record("a", [1, 2, 3]), record("b", [4, 5]), record("c", [1, 2, 3]), record("d", [1, 2, 3]),
    ])
    assert groups == {("a", "exact"): ["c", "d"]}
    assert (kept, dropped) == (2, 2)


@pytest.mark.parametrize("policy, expected_keep", [
    ("first", "a"), ("oldest", "c"), ("shortest", "b"), ("fewest-lines", "a"),
])
def test_keep_policy_chooses_among_exact_duplicates(policy, expected_keep):
    records = [
        record("a", [1, 2], start=30.0, duration_ms=5.0),
        record("b", [1, 2], start=20.0, duration_ms=1.0),
        record("c", [1, 2], start=10.0, duration_ms=9.0),
    ]
    groups, _, _ = summary(records, keep=policy)
    assert list(groups) == [(expected_keep, "exact")]
    assert sorted(groups[(expected_keep, "exact")]) == sorted({"a", "b", "c"} - {expected_keep})


def test_ties_under_a_policy_go_to_the_lowest_natural_id():
    records = [record("test-10", [1], duration_ms=2.0), record("test-9", [1], duration_ms=1.0),
               record("test-2", [1], duration_ms=1.0)]
    groups, _, _ = summary(records, keep="shortest")
    assert groups == {("test-2", "exact"): ["test-9", "test-10"]}


def test_groups_and_kept_tests_do_not_depend_on_record_order():
    """The same tests recorded in any order: the same groups, the lowest
    natural id kept (test-2 before test-10), dropped tests in natural order."""
    tests = [
        record("test-10", [1, 2, 3]), record("test-2", [1, 2, 3]), record("test-1", [1, 2, 3, 4, 5]),
        record("test-3", [1]), record("test-11", [7, 8, 9]), record("test-4", [7, 8, 9]),
    ]
    expected = {("test-1", "subsumed"): ["test-2", "test-3", "test-10"], ("test-4", "exact"): ["test-11"]}
    for order in ([0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [3, 0, 5, 1, 4, 2]):
        groups, kept, dropped = summary([tests[position] for position in order], threshold=1.0)
        assert groups == expected, order
        assert (kept, dropped) == (2, 4)
    exact_only = [record("test-10", [1]), record("test-2", [1]), record("test-1", [2])]
    for order in ([0, 1, 2], [2, 1, 0]):
        assert summary([exact_only[position] for position in order])[0] == {("test-2", "exact"): ["test-10"]}


def test_arcs_make_equal_lines_different():
    same_lines_other_branch = [
        record("a", [1, 2, 3], arcs={APP: [(1, 2), (2, 3)]}),
        record("b", [1, 2, 3], arcs={APP: [(1, 3), (2, 3)]}),
        record("c", [1, 2, 3], arcs={APP: [(2, 3), (1, 2)]}),
    ]
    groups, kept, _ = summary(same_lines_other_branch, threshold=1.0)
    assert groups == {("a", "exact"): ["c"]}
    assert kept == 2


def test_subsumption_chain_ends_at_the_maximal_test():
    groups, kept, dropped = summary([
        record("small", [1]), record("middle", [1, 2]), record("big", [1, 2, 3]), record("other", [7, 8]),
    ], threshold=1.0)
    assert groups == {("big", "subsumed"): ["middle", "small"]}  # dropped tests in natural order
    assert (kept, dropped) == (2, 2)


def test_subsumed_test_and_its_exact_copies_go_together():
    groups, _, _ = summary([record("a", [1, 2]), record("b", [1, 2]), record("big", [1, 2, 3, 4])],
                           threshold=1.0)
    assert groups == {("big", "subsumed"): ["a", "b"]}


def test_a_test_covering_nothing_is_subsumed_by_one_that_covers_something():
    groups, _, _ = summary([record("empty", []), record("real", [1, 2]), record("empty-too", [])])
    assert groups == {("real", "subsumed"): ["empty", "empty-too"]}


def test_only_empty_tests_are_exact_duplicates_of_each_other():
    groups, kept, _ = summary([record("a", []), record("b", [])])
    assert groups == {("a", "exact"): ["b"]}
    assert kept == 1


def test_overlapping_tests_are_not_subsumed():
    groups, kept, _ = summary([record("a", [1, 2, 3]), record("b", [2, 3, 4])], threshold=1.0)
    assert groups == {}
    assert kept == 2


def test_near_duplicates_respect_the_threshold():
    base = list(range(1, 101))
    records = [record("a", base), record("b", base[:-1] + [500])]  # Jaccard 99/101
    similarity = 99 / 101
    groups, _, _ = summary(records, threshold=similarity - 0.001)
    assert groups == {("a", "near"): ["b"]}
    groups, _, _ = summary(records, threshold=similarity + 0.001)
    assert groups == {}


def test_near_group_reports_the_exact_similarity():
    base = list(range(1, 201))
    index = build_index([record("a", base), record("b", base[:-2] + [900, 901])])
    result = find_duplicates(index, threshold=0.9)
    (group,) = result.groups
    assert group.kind == "near"
    assert group.similarity == pytest.approx(198 / 202, abs=1e-6)


def test_subsumption_wins_over_near_duplicate():
    base = list(range(1, 101))
    groups, _, _ = summary([record("big", base), record("almost", base[:-1])], threshold=0.9)
    assert groups == {("big", "subsumed"): ["almost"]}


def test_different_status_is_never_deduplicated_by_default():
    groups, kept, _ = summary([record("ok", [1, 2], status=200), record("missing", [1, 2], status=404),
                               record("also-ok", [1, 2], status=200)])
    assert groups == {("also-ok", "exact"): ["ok"]}  # the lowest natural id is kept
    assert kept == 2


def test_different_endpoint_is_never_deduplicated_by_default():
    groups, _, _ = summary([record("get", [1, 2], method="GET"), record("post", [1, 2], method="POST"),
                            record("small-post", [1], method="POST")])
    assert groups == {("post", "subsumed"): ["small-post"]}


def test_by_none_compares_everything():
    groups, kept, _ = summary([record("ok", [1, 2], status=200), record("missing", [1, 2], status=404)], by=())
    assert groups == {("missing", "exact"): ["ok"]}
    assert kept == 1


def test_records_without_method_or_status_are_all_comparable():
    records = [record("a", [1, 2], method="", route=None, status=None),
               record("b", [1, 2], method="", route=None, status=None)]
    for record_ in records:
        record_.path = ""
    groups, _, _ = summary(records)
    assert groups == {("a", "exact"): ["b"]}


def test_test_sets_with_equal_ids_stay_apart():
    groups, kept, _ = summary([
        record("test-1", [1, 2], test_set="set-a"), record("test-1", [1, 2], test_set="set-b"),
        record("test-2", [5], test_set="set-a"), record("test-2", [6], test_set="set-b"),
    ])
    assert groups == {("set-a/test-1", "exact"): ["set-b/test-1"]}
    assert kept == 3


def test_grouping_by_test_set_never_crosses_sets():
    groups, kept, _ = summary([record("test-1", [1, 2], test_set="set-a"),
                               record("test-1", [1, 2], test_set="set-b")], by=("test-set",))
    assert groups == {}
    assert kept == 2


def test_every_dropped_test_is_in_one_group_with_a_kept_keep():
    records = [record(f"t{number}", list(range(number % 5, 40 + number % 7))) for number in range(40)]
    index = build_index(records)
    result = find_duplicates(index, threshold=0.8)
    dropped = result.dropped_tests()
    assert len(dropped) == len(set(dropped)) == result.dropped
    assert not {group.keep for group in result.groups} & set(dropped)
    assert result.kept + result.dropped == 40


def test_lsh_finds_pairs_at_the_threshold_and_skips_dissimilar_ones():
    universe = list(range(1, 2001))
    random = np.random.default_rng(3)
    records = []
    for pair in range(30):
        base = sorted(random.choice(universe, 400, replace=False).tolist())
        swapped = base[:-8] + sorted(set(random.choice(universe, 8).tolist()) - set(base))[:8]
        records += [record(f"p{pair}a", base), record(f"p{pair}b", sorted(set(swapped)))]
    index = build_index(records)
    layout = band_layout(0.95)
    keys = band_keys(sketch(index, list(range(len(index)))), layout)
    pairs = set(candidate_pairs_for(keys))
    for pair in range(30):
        first, second = 2 * pair, 2 * pair + 1
        if jaccard(index.elements(first), index.elements(second)) >= 0.95:
            assert (first, second) in pairs
    unrelated = [(a, b) for a, b in pairs if a // 2 != b // 2]
    assert len(unrelated) < 5


def test_jaccard_is_exact():
    first = np.asarray([1, 2, 3, 4], dtype=np.int32)
    second = np.asarray([3, 4, 5], dtype=np.int32)
    assert jaccard(first, second) == pytest.approx(2 / 5)
    assert jaccard(first, np.asarray([], dtype=np.int32)) == 0.0


def test_threshold_out_of_range_is_refused():
    with pytest.raises(ValueError):
        find_duplicates(build_index([record("a", [1])]), threshold=0.0)


def test_known_answer_exact_subsumed_and_near_groups():
    """A hand-built suite whose groups follow from the definitions alone:
    a == b (exact); c's lines are inside a's (subsumed, 5 of 10); d shares 9
    of the 11 lines it and a cover together (near at 0.8: Jaccard 9/11);
    e == f, g inside e; h has a's lines but answered 404, so it is compared
    with nothing of a's group; i overlaps e without being inside it or near
    it (Jaccard 1/3), so it stays."""
    a = list(range(1, 11))
    records = [
        record("a", a), record("b", a), record("c", [1, 2, 3, 4, 5]), record("d", list(range(1, 10)) + [11]),
        record("e", [20, 21]), record("f", [20, 21]), record("g", [20]), record("h", a, status=404),
        record("i", [21, 22]),
    ]
    index = build_index(records)
    result = find_duplicates(index, threshold=0.8)
    name = lambda test: str(index.tests[test].key)  # noqa: E731
    groups = {(name(group.keep), group.kind): ([name(test) for test in group.drop], group.similarities)
              for group in result.groups}
    assert groups == {
        ("a", "exact"): (["b"], [1.0]),
        ("a", "subsumed"): (["c"], [0.5]),
        ("a", "near"): (["d"], [round(9 / 11, 6)]),
        ("e", "exact"): (["f"], [1.0]),
        ("e", "subsumed"): (["g"], [0.5]),
    }
    assert (result.kept, result.dropped) == (4, 5)  # a, e, h, i stay
    # Comparing across statuses, h (a's lines, 404) is a's exact duplicate too.
    across = find_duplicates(index, by=(), threshold=0.8)
    exact = next(group for group in across.groups if name(group.keep) == "a" and group.kind == "exact")
    assert sorted(name(test) for test in exact.drop) == ["b", "h"]
