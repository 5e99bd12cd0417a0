"""The subsumed pass's fast subset tests (bitsets looked up in the loop)
against its sorted-array search, and both against a brute-force check of
what a subsumed group must be, on a real store."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from requestcov.analysis import dedup
from requestcov.analysis.dedup import SUBSUMED, DedupResult, find_duplicates
from requestcov.analysis.index import CoverageIndex, build_keyed_index
from requestcov.store import SQLiteStore
from tests.analysis.builders import record


def _store_index(store_path: Path) -> CoverageIndex:
    """Tests nested inside each other, overlapping and copied, over three endpoints."""
    chooser = random.Random(5)
    bases = [set(chooser.sample(range(1, 400), 60)) for _ in range(12)]
    records = []
    for number in range(900):
        base = sorted(bases[number % len(bases)])
        lines = chooser.sample(base, chooser.randint(1, len(base)))
        if number % 9 == 0:
            lines.append(400 + number)  # a line nobody else has: never inside anything
        records.append(record(f"test-{number}", lines, route=f"/items/{number % 3}",
                              status=200 if number % 11 else 404))
    with SQLiteStore(store_path) as store:
        store.write(records)
    with SQLiteStore(store_path, read_only=True) as store:
        return build_keyed_index(store.iter_keyed_records())


def _listing(index: CoverageIndex, result: DedupResult) -> List[Tuple[str, str, List[str], List[float]]]:
    return [(str(index.tests[group.keep].key), group.kind, [str(index.tests[test].key) for test in group.drop],
             group.similarities) for group in result.groups]


@pytest.mark.parametrize("near", [True, False])
def test_bitsets_and_sorted_search_give_the_same_groups(store_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        near: bool) -> None:
    index = _store_index(store_path)
    fast = find_duplicates(index, near=near)
    assert any(group.kind == SUBSUMED for group in fast.groups)
    monkeypatch.setattr(dedup._Containment, "_MAX_BITS", 0)  # every subset test by sorted-array search
    searched = find_duplicates(index, near=near)
    monkeypatch.setattr(dedup._Containment, "_MAX_BITS", 1 << 16)
    monkeypatch.setattr(dedup._Containment, "_BUDGET_BYTES", 0)  # bitsets for a few tests only, then search
    mixed = find_duplicates(index, near=near)
    assert _listing(index, fast) == _listing(index, searched) == _listing(index, mixed)


def test_subsumed_groups_keep_a_maximal_superset(store_path: Path) -> None:
    index = _store_index(store_path)
    result = find_duplicates(index, near=False)
    sets: Dict[int, Set[int]] = {test: set(index.elements(test).tolist()) for test in range(len(index))}
    dropped = set(result.dropped_tests())
    kept = [test for test in range(len(index)) if test not in dropped]
    comparable = lambda first, second: (index.tests[first].endpoint, index.tests[first].status) == (  # noqa: E731
        index.tests[second].endpoint, index.tests[second].status)
    for group in result.groups:
        if group.kind != SUBSUMED:
            continue
        for test in group.drop:
            assert comparable(test, group.keep) and sets[test] < sets[group.keep]
        assert not any(comparable(other, group.keep) and sets[group.keep] < sets[other] for other in kept)
    # No kept test is strictly inside another kept test it is compared with.
    for test in kept:
        assert not any(other != test and comparable(test, other) and sets[test] < sets[other] for other in kept)
