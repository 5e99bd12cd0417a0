"""MinHash sketches and LSH bands for finding near-duplicate coverage fast.

Comparing every pair of 100,000 tests is 5 billion Jaccard computations. A
MinHash sketch estimates Jaccard similarity from a few dozen numbers, and
splitting the sketch into bands lets tests that agree on a whole band meet in
a hash bucket, so only those pairs are compared exactly.

The sketch is one-permutation hashing (Li, Owen & Zhang 2012) with rotation
densification (Shrivastava & Li 2014): elements are ranked by one random
permutation, the ranks are cut into ``k`` equal bins, and a test's value for a
bin is its lowest rank inside the bin. One pass over the data instead of ``k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from requestcov.analysis.index import CoverageIndex

__all__ = ["SKETCH_SIZE", "band_layout", "sketch", "band_keys", "jaccard"]

#: Number of bins in a sketch.
SKETCH_SIZE = 128
#: Chance a pair exactly at the threshold must have of sharing a bucket.
_TARGET_RECALL = 0.999
_CHUNK_ENTRIES = 4_000_000


@dataclass(frozen=True)
class BandLayout:
    bands: int
    rows: int


def band_layout(threshold: float, sketch_size: int = SKETCH_SIZE) -> BandLayout:
    """The longest bands (fewest false candidates) that still give a pair with
    Jaccard ``threshold`` a :data:`_TARGET_RECALL` chance of meeting."""
    for rows in range(sketch_size, 0, -1):
        bands = sketch_size // rows
        if 1.0 - (1.0 - threshold ** rows) ** bands >= _TARGET_RECALL:
            return BandLayout(bands, rows)
    return BandLayout(sketch_size, 1)


def sketch(index: CoverageIndex, tests: Sequence[int], sketch_size: int = SKETCH_SIZE,
           seed: int = 7) -> np.ndarray:
    """A ``(len(tests), sketch_size)`` int64 matrix of sketches. Tests covering
    nothing get a row of ``-1`` (they never collide with anything real)."""
    universe = max(index.element_count, 1)
    rank = np.random.default_rng(seed).permutation(universe).astype(np.int64)
    bin_width = -(-universe // sketch_size)
    empty = np.int64(universe)
    result = np.full((len(tests), sketch_size), empty, dtype=np.int64)
    tests = list(tests)
    start = 0
    while start < len(tests):
        stop, entries = start, 0
        while stop < len(tests) and (entries == 0 or entries + index.size(tests[stop]) <= _CHUNK_ENTRIES):
            entries += index.size(tests[stop])
            stop += 1
        parts = [index.elements(test) for test in tests[start:stop]]
        sizes = np.asarray([part.shape[0] for part in parts], dtype=np.int64)
        if entries:
            ranks = rank[np.concatenate(parts)]
            rows = np.repeat(np.arange(start, stop, dtype=np.int64), sizes)
            cells = rows * sketch_size + ranks // bin_width
            np.minimum.at(result.reshape(-1), cells, ranks)
        start = stop

    # Rotation densification: an empty bin borrows the next filled bin's value
    # to its right, offset by the distance so borrowed values stay distinct.
    is_empty = result == empty
    filled = ~is_empty
    original = result.copy()
    pending = is_empty & filled.any(axis=1, keepdims=True)
    distance = 1
    while pending.any() and distance < sketch_size:
        source_filled = np.roll(filled, -distance, axis=1)
        take = pending & source_filled
        if take.any():
            source = np.roll(original, -distance, axis=1)
            result[take] = source[take] + distance * (universe + 1)
            pending &= ~take
        distance += 1
    result[~filled.any(axis=1)] = -1
    return result


def band_keys(sketches: np.ndarray, layout: BandLayout, seed: int = 11) -> np.ndarray:
    """Hash each band of each sketch to one uint64: ``(tests, bands)``."""
    multipliers = np.random.default_rng(seed).integers(1, 2**63 - 1, size=layout.rows, dtype=np.int64)
    multipliers = multipliers.astype(np.uint64) | np.uint64(1)
    values = sketches[:, :layout.bands * layout.rows].astype(np.uint64)
    shaped = values.reshape(sketches.shape[0], layout.bands, layout.rows)
    with np.errstate(over="ignore"):
        mixed = (shaped * multipliers).sum(axis=2, dtype=np.uint64)
        mixed ^= mixed >> np.uint64(29)
        mixed *= np.uint64(0xBF58476D1CE4E5B9)
    return mixed


def jaccard(first: np.ndarray, second: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted arrays of distinct ids (0 when
    both are empty: an empty test is nobody's near-duplicate)."""
    if first.shape[0] == 0 or second.shape[0] == 0:
        return 0.0
    if first.shape[0] > second.shape[0]:
        first, second = second, first
    positions = np.searchsorted(second, first)
    positions[positions == second.shape[0]] = 0
    common = int(np.count_nonzero(second[positions] == first))
    return common / (first.shape[0] + second.shape[0] - common)


def candidate_pairs_for(keys: np.ndarray) -> List[Tuple[int, int]]:
    """All pairs of rows sharing at least one band key (for small inputs and
    tests; the dedup pass walks buckets incrementally instead)."""
    pairs = set()
    for band in range(keys.shape[1]):
        buckets: dict = {}
        for row, key in enumerate(keys[:, band].tolist()):
            buckets.setdefault(key, []).append(row)
        for members in buckets.values():
            for position, first in enumerate(members):
                for second in members[position + 1:]:
                    pairs.add((first, second))
    return sorted(pairs)
