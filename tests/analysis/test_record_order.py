"""The index, and the analyses on it, do not depend on the order records come in.

A Keploy test set replayed in another order is the same suite: element ids
(and so MinHash sketches and the near-duplicate groups they find), duplicate
groups and the minimal suite must all come out the same.
"""

from __future__ import annotations

import itertools
import random
from typing import Dict, List, Tuple

import numpy as np

from requestcov.analysis.dedup import find_duplicates
from requestcov.analysis.index import CoverageIndex, build_index
from requestcov.analysis.minhash import sketch
from requestcov.analysis.setcover import minimize
from requestcov.records import RequestRecord
from tests.analysis.builders import APP, LIB, record

OTHER = "/srv/app/models.py"


def _suite() -> List[RequestRecord]:
    """Three files, arcs, exact copies, a subsumed test and near-duplicates."""
    generator = random.Random(14)
    records = []
    base = list(range(1, 60))
    for number in range(1, 25):
        lines = [line for line in base if generator.random() < 0.97] if number % 3 else base
        other = [1, 2, 3, number % 4 + 10]
        test = record(f"test-{number}", lines, other=other, status=200 if number % 5 else 404)
        if number % 2:
            test.lines[OTHER] = [5, 6, number % 3 + 7]
        test.arcs = {APP: [(-1, 1), (1, 2 + number % 2)], LIB: [(1, 2)]}
        records.append(test)
    return records


def _element_view(index: CoverageIndex) -> Dict[str, List[Tuple[str, int]]]:
    """Each test's elements spelled as (file, line) or (file, "from>to")."""
    view = {}
    for test, info in enumerate(index.tests):
        elements = []
        for element in index.elements(test).tolist():
            path = index.files[int(index.element_file[element])]
            if element < index.line_element_count:
                elements.append((path, int(index.element_line[element])))
            else:
                start, end = index.arcs[element - index.line_element_count]
                elements.append((path, f"{start}>{end}"))
        view[str(info.key)] = elements
    return view


def _by_id(index: CoverageIndex, rows: np.ndarray) -> Dict[str, List[int]]:
    return {str(info.key): rows[test].tolist() for test, info in enumerate(index.tests)}


def test_element_ids_and_sketches_are_the_same_in_every_order() -> None:
    records = _suite()
    reference = build_index(records)
    orders = [list(reversed(records)), random.Random(1).sample(records, len(records))]
    for reordered in orders:
        index = build_index(reordered)
        assert index.files == reference.files == sorted(reference.files)
        assert _element_view(index) == _element_view(reference)
        # Element ids themselves, not only what they mean, are equal.
        ids = {str(info.key): index.elements(test).tolist() for test, info in enumerate(index.tests)}
        assert ids == {str(info.key): reference.elements(test).tolist() for test, info in enumerate(reference.tests)}
        everyone = list(range(len(index)))
        assert _by_id(index, sketch(index, everyone)) == _by_id(reference, sketch(reference, everyone))


def _answers(records: List[RequestRecord]) -> Tuple[object, object]:
    index = build_index(records)
    name = lambda test: str(index.tests[test].key)  # noqa: E731
    groups = sorted(
        (name(group.keep), group.kind, [name(test) for test in group.drop])
        for group in find_duplicates(index, threshold=0.9).groups
    )
    suite = sorted(name(test) for test in minimize(index).keep)
    return groups, suite


def test_duplicate_groups_and_the_minimal_suite_are_the_same_in_every_order() -> None:
    records = _suite()
    reference = _answers(records)
    groups, suite = reference
    assert {kind for _, kind, _ in groups} >= {"exact", "subsumed", "near"}, groups
    assert suite
    for seed in range(3):
        assert _answers(random.Random(seed).sample(records, len(records))) == reference
    for reordered in itertools.islice(itertools.permutations(records[:6]), 0, 720, 97):
        assert _answers(list(reordered)) == _answers(records[:6])
