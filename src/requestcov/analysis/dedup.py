"""Which tests add nothing: exact duplicates, subsumed tests, near-duplicates.

A test's coverage is its set of lines, plus its arcs when branch data was
recorded. Three passes, each on what the previous one left:

1. exact: tests with identical coverage (equal digests) — one is kept, chosen
   by the keep policy (ties, and the default policy, go to the lowest natural
   id, so the result does not depend on the order tests were recorded in);
2. subsumed: a test whose coverage is strictly inside another's adds nothing
   that the bigger test does not; every subsumed test is attached to a
   *maximal* test containing it, so chains (A in B in C) all end at C;
3. near: Jaccard similarity at least the threshold, found with MinHash/LSH
   and confirmed with the exact Jaccard.

Tests are only compared inside a comparison group (by default same endpoint and
same response status), so a 404 test never goes for a 200 one. Every dropped
test appears in exactly one group, whose ``keep`` is a kept test.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from requestcov.analysis.index import CoverageIndex, group_tests
from requestcov.analysis.minhash import band_keys, band_layout, jaccard, sketch

__all__ = ["KEEP_POLICIES", "GROUP_FIELDS", "DuplicateGroup", "DedupResult", "find_duplicates"]

KEEP_POLICIES = ("first", "oldest", "shortest", "fewest-lines")
GROUP_FIELDS = ("endpoint", "status", "test-set")
EXACT, SUBSUMED, NEAR = "exact", "subsumed", "near"
_KIND_ORDER = {EXACT: 0, SUBSUMED: 1, NEAR: 2}
#: How many of a test's least shared elements are used to find its supersets.
_LOOKUP_ELEMENTS = 3
#: Past this many verified candidates for one test, stop looking for a better match.
_MAX_CHECKS_PER_TEST = 64


@dataclass
class DuplicateGroup:
    """Tests that can go (``drop``) because ``keep`` stays. ``similarity`` is
    the lowest Jaccard similarity of a dropped test to the kept one."""

    keep: int
    drop: List[int]
    kind: str
    similarity: float
    similarities: List[float] = field(default_factory=list)


@dataclass
class DedupResult:
    groups: List[DuplicateGroup]
    kept: int
    dropped: int

    def dropped_tests(self) -> List[int]:
        return [test for group in self.groups for test in group.drop]


def keep_order(index: CoverageIndex, policy: str) -> Callable[[int], Tuple[Any, ...]]:
    """Sort key putting the test to keep first under ``policy``.

    Ties go to the lowest natural id (``TestKey.natural``: ``test-2`` before
    ``test-10``), never to the order the requests were recorded in, so the
    same tests give the same groups and kept tests however they were
    replayed; ``first`` is that order alone. The index position comes last,
    only to tell apart keys that are equal as text.
    """
    tests = index.tests
    natural = index.natural_keys()
    if policy == "first":
        return lambda test: (0.0, natural[test], test)
    if policy == "oldest":
        return lambda test: (tests[test].start, natural[test], test)
    if policy == "shortest":
        return lambda test: (tests[test].duration_ms, natural[test], test)
    if policy == "fewest-lines":
        return lambda test: (float(tests[test].line_count), natural[test], test)
    raise ValueError(f"unknown keep policy {policy!r}; choose one of {', '.join(KEEP_POLICIES)}")


def find_duplicates(index: CoverageIndex, *, by: Sequence[str] = ("endpoint", "status"),
                    threshold: float = 0.95, keep: str = "first", near: bool = True,
                    subsumed: bool = True) -> DedupResult:
    """Run the three passes over every comparison group of ``index``."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError("the similarity threshold must be above 0 and at most 1")
    order_key = keep_order(index, keep)
    groups: List[DuplicateGroup] = []
    representatives_by_group: List[List[int]] = []
    members_of: Dict[int, List[int]] = {}

    for tests in group_tests(index, by).values():
        by_signature: Dict[bytes, List[int]] = {}
        for test in tests:
            by_signature.setdefault(index.signatures[test], []).append(test)
        representatives = []
        for members in by_signature.values():
            members.sort(key=order_key)
            representatives.append(members[0])
            members_of[members[0]] = members
        representatives.sort(key=order_key)
        representatives_by_group.append(representatives)

    # attached[test] = (kept test, kind, similarity) for dropped representatives.
    attached: Dict[int, Tuple[int, str, float]] = {}
    maximal_by_group: List[List[int]] = []
    size_of = index.sizes().tolist()
    for representatives in representatives_by_group:
        if subsumed:
            maximal = _attach_subsumed(index, representatives, order_key, attached, size_of)
        else:
            maximal = list(representatives)
        maximal_by_group.append(maximal)

    if near and threshold < 1.0:
        _attach_near(index, maximal_by_group, threshold, order_key, attached)

    collected: Dict[Tuple[int, str], List[Tuple[int, float]]] = defaultdict(list)
    for representative, members in members_of.items():
        if representative in attached:
            target, kind, similarity = attached[representative]
            for member in members:
                collected[(target, kind)].append((member, similarity))
        elif len(members) > 1:
            collected[(representative, EXACT)].extend((member, 1.0) for member in members[1:])

    natural = index.natural_keys()
    for (target, kind), drops in collected.items():
        drops.sort(key=lambda item: (natural[item[0]], item[0]))
        similarities = [round(similarity, 6) for _, similarity in drops]
        groups.append(DuplicateGroup(
            keep=target, drop=[test for test, _ in drops], kind=kind,
            similarity=min(similarities), similarities=similarities,
        ))
    groups.sort(key=lambda group: (natural[group.keep], group.keep, _KIND_ORDER[group.kind]))
    dropped = sum(len(group.drop) for group in groups)
    return DedupResult(groups=groups, kept=len(index) - dropped, dropped=dropped)


def _attach_subsumed(index: CoverageIndex, representatives: List[int],
                     order_key: Callable[[int], Tuple[Any, ...]],
                     attached: Dict[int, Tuple[int, str, float]], size_of: List[int]) -> List[int]:
    """Attach every representative strictly inside another to a maximal one;
    return the maximal representatives in keep order. ``size_of[test]`` is
    :meth:`CoverageIndex.size` of every test, read once: the pass asks it
    about a million times.

    Tests are visited largest first, so any superset of a test was visited
    before it; and a test inside a non-maximal test is inside that test's
    maximal superset too, so only maximal tests need checking. Candidates are
    the maximal tests holding the test's least shared element (any superset
    holds every element of the test, so none is missed).
    """
    by_size = sorted(representatives, key=lambda test: (-size_of[test], order_key(test)))
    if len(by_size) < 2:
        return list(representatives)
    times_seen_by_element = _times_seen(index, by_size)
    universe = np.flatnonzero(times_seen_by_element)
    # Each test is looked up by its least shared elements: a superset holds
    # all of them, so only maximal tests on every one of their posting lists
    # are candidates. A test with an element nobody else has cannot be inside
    # anything. Only lookup elements get posting lists.
    lookup: Dict[int, List[int]] = {}
    is_lookup = np.zeros(index.element_count, dtype=bool)
    for test in by_size:
        elements = index.elements(test)
        if elements.shape[0]:
            counts = times_seen_by_element[elements]
            if counts.min() > 1:
                rarest = elements[np.argsort(counts, kind="stable")[:_LOOKUP_ELEMENTS]]
                lookup[test] = rarest.tolist()
                is_lookup[rarest] = True
    containment = _Containment(index, universe)
    postings: Dict[int, List[int]] = defaultdict(list)
    maximal: List[int] = []
    for test in by_size:
        size = size_of[test]
        superset = -1
        if size == 0:
            superset = maximal[0] if maximal else -1
        elif test in lookup:
            superset = _find_superset(test, size, lookup[test], postings, containment, size_of)
        if superset >= 0:
            attached[test] = (superset, SUBSUMED, size / size_of[superset])
            continue
        maximal.append(test)
        if size:
            elements = index.elements(test)
            for element in elements[is_lookup[elements]].tolist():
                postings[element].append(test)
    maximal_set = set(maximal)
    return [test for test in representatives if test in maximal_set]


def _times_seen(index: CoverageIndex, tests: List[int]) -> np.ndarray:
    """How many of ``tests`` cover each element id (counted by id: no sort
    of the tests' concatenated elements)."""
    return np.bincount(np.concatenate([index.elements(test) for test in tests]), minlength=index.element_count)


def _find_superset(test: int, size: int, rarest: List[int], postings: Dict[int, List[int]],
                   containment: _Containment, size_of: List[int]) -> int:
    """The first maximal test (largest first) strictly containing ``test``, or -1."""
    lists = [postings.get(element, ()) for element in rarest]
    shortest = min(lists, key=len)
    if not shortest:
        return -1
    candidates: Iterable[int] = shortest
    if len(shortest) > 8 and len(lists) > 1:
        common = set(shortest)
        for other in lists:
            if other is not shortest:
                common.intersection_update(other)
                if not common:
                    return -1
        candidates = [candidate for candidate in shortest if candidate in common]
    return containment.first_containing(candidates, test, size, size_of)


class _Containment:
    """Subset tests and Jaccard similarities for one comparison group. Within
    a group the covered elements are few, so each test becomes a Python int
    bitset over them and a subset test is one C-level ``&`` (a similarity one
    ``&`` and a popcount); past a size limit, sorted-array search."""

    _MAX_BITS = 1 << 16
    #: Memory the cached bitsets may take; past it, sorted-array search.
    _BUDGET_BYTES = 256 << 20

    def __init__(self, index: CoverageIndex, universe: np.ndarray) -> None:
        self._index = index
        self._universe = universe
        self._bytes_each = universe.shape[0] // 8 + 1
        self._use_bits = universe.shape[0] <= self._MAX_BITS
        self._bits: Dict[int, int] = {}
        #: Bit position of every element of the universe (a lookup, not a search per test).
        self._position = np.zeros(index.element_count, dtype=np.int64)
        self._position[universe] = np.arange(universe.shape[0], dtype=np.int64)

    def _bitset(self, test: int) -> Optional[int]:
        bits = self._bits.get(test)
        if bits is None:
            if len(self._bits) * self._bytes_each > self._BUDGET_BYTES:
                return None
            mask = np.zeros(self._universe.shape[0], dtype=bool)
            mask[self._position[self._index.elements(test)]] = True
            bits = int.from_bytes(np.packbits(mask, bitorder="little").tobytes(), "little")
            self._bits[test] = bits
        return bits

    def contains(self, outer: int, inner: int) -> bool:
        if self._use_bits:
            inner_bits = self._bitset(inner)
            outer_bits = self._bitset(outer) if inner_bits is not None else None
            if inner_bits is not None and outer_bits is not None:
                return outer_bits & inner_bits == inner_bits
        return _contains(self._index.elements(outer), self._index.elements(inner))

    def jaccard(self, first: int, second: int, first_size: int, second_size: int) -> float:
        """:func:`jaccard` of two tests of the group, by popcount of their
        bitsets when both have one (the same counts, so the same value)."""
        first_bits = self._bitset(first) if self._use_bits else None
        second_bits = self._bitset(second) if first_bits is not None else None
        if first_bits is None or second_bits is None or not first_size or not second_size:
            return jaccard(self._index.elements(first), self._index.elements(second))
        common = _popcount(first_bits & second_bits)
        return common / (first_size + second_size - common)

    def first_containing(self, candidates: Iterable[int], inner: int, size: int, size_of: List[int]) -> int:
        """The first of ``candidates`` bigger than ``size`` and containing
        ``inner``, or -1: what :meth:`contains` on each in turn gives, with the
        bitsets looked up in the loop itself (tens of thousands of tests each
        try a few dozen candidates, and a call per try was most of the pass)."""
        inner_bits = self._bitset(inner) if self._use_bits else None
        if inner_bits is None:
            for candidate in candidates:
                if size_of[candidate] > size and self.contains(candidate, inner):
                    return candidate
            return -1
        bits = self._bits
        for candidate in candidates:
            if size_of[candidate] > size:
                outer_bits = bits.get(candidate)
                if outer_bits is None:
                    outer_bits = self._bitset(candidate)
                    if outer_bits is None:
                        if self.contains(candidate, inner):
                            return candidate
                        continue
                if outer_bits & inner_bits == inner_bits:
                    return candidate
        return -1


def _popcount(bits: int) -> int:
    return bits.bit_count() if _HAS_BIT_COUNT else bin(bits).count("1")


_HAS_BIT_COUNT = hasattr(int, "bit_count")


def _contains(outer: np.ndarray, inner: np.ndarray) -> bool:
    positions = np.searchsorted(outer, inner)
    if positions[-1] >= outer.shape[0]:
        return False
    return bool((outer[positions] == inner).all())


def _attach_near(index: CoverageIndex, maximal_by_group: List[List[int]], threshold: float,
                 order_key: Callable[[int], Tuple[Any, ...]],
                 attached: Dict[int, Tuple[int, str, float]]) -> None:
    """Cluster each group's maximal tests around kept ones: in keep order, a
    test joins the most similar earlier kept test sharing an LSH bucket with
    it, when the exact Jaccard reaches ``threshold``; otherwise it is kept."""
    candidates = [test for tests in maximal_by_group if len(tests) > 1 for test in tests
                  if index.size(test)]
    if not candidates:
        return
    layout = band_layout(threshold)
    keys = band_keys(sketch(index, candidates), layout)
    row_of = {test: row for row, test in enumerate(candidates)}
    size_of = index.sizes().tolist()
    for tests in maximal_by_group:
        if len(tests) < 2:
            continue
        similarity_of = _Containment(index, np.flatnonzero(_times_seen(index, tests))).jaccard
        buckets: List[Dict[int, List[int]]] = [dict() for _ in range(layout.bands)]
        for test in tests:
            row = row_of.get(test)
            if row is None:
                continue
            test_keys = keys[row].tolist()
            seen = set()
            matches: List[int] = []
            for band, key in enumerate(test_keys):
                for kept in buckets[band].get(key, ()):
                    if kept not in seen:
                        seen.add(kept)
                        matches.append(kept)
            best, best_similarity = -1, -1.0
            size = size_of[test]
            checks = 0
            for kept in sorted(matches, key=order_key):
                kept_size = size_of[kept]
                if min(size, kept_size) < threshold * max(size, kept_size):
                    continue
                similarity = similarity_of(test, kept, size, kept_size)
                checks += 1
                if similarity >= threshold and similarity > best_similarity:
                    best, best_similarity = kept, similarity
                if checks >= _MAX_CHECKS_PER_TEST and best >= 0:
                    break
            if best >= 0:
                attached[test] = (best, NEAR, best_similarity)
                continue
            for band, key in enumerate(test_keys):
                buckets[band].setdefault(key, []).append(test)
