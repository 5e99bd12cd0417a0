"""The size of a smallest cover, by trying every combination: the known
answer the set-cover analysis and the ``minimize`` command are held to on
small suites."""

from __future__ import annotations

import itertools
from typing import FrozenSet, Sequence

__all__ = ["brute_force_minimum"]


def brute_force_minimum(sets: Sequence[FrozenSet[int]]) -> int:
    universe = frozenset().union(*sets)
    for size in range(len(sets) + 1):
        for chosen in itertools.combinations(sets, size):
            if frozenset().union(*chosen) == universe:
                return size
    raise AssertionError("unreachable")
