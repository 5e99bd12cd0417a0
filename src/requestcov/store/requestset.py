"""All the files one request ran, packed in one blob: its line set.

Most requests of an endpoint run the very same lines, so the store keeps each
distinct set once (schema version 4) and a request row names the set it ran.
Packing is a handful of C calls whatever the number of files (``struct``
fed from ``map`` and ``chain`` iterators): a per-file Python loop on the
writer thread cost more than the SQLite insert it fed.

Layout, little-endian::

    width (1 byte: 2 or 4, the size of each line number)
    int32 header: n, file_id * n, version_id * n (0: unknown), line count * n,
                  arc count * n (-1: the file has no arcs recorded)
    line numbers (width bytes each), file after file
    arcs as int32 pairs, file after file

Files come in the order of their paths, so equal sets pack to equal bytes.
"""

from __future__ import annotations

import struct
from itertools import chain, repeat
from typing import List, Optional, Sequence, Tuple

__all__ = ["pack_set", "unpack_set", "UnpackedSet"]

_WIDTH_BYTES = {2: b"\x02", 4: b"\x04"}
_LETTER_OF_WIDTH = {2: "H", 4: "I"}

#: file ids, version ids (None: unknown), lines per file, arcs per file (None
#: per file without arcs, or None for a set without arcs at all).
UnpackedSet = Tuple[List[int], List[Optional[int]], List[List[int]], Optional[List[Optional[List[Tuple[int, int]]]]]]


def pack_set(
    file_ids: Sequence[int], version_ids: Sequence[int], lines: Sequence[Sequence[int]],
    arcs: Optional[Sequence[Optional[Sequence[Tuple[int, int]]]]] = None,
) -> bytes:
    """One blob for a request's files (``version_ids`` 0 where unknown; ``arcs``
    None when no file has arcs, else one entry per file, None for a file without).

    ``struct`` converts a whole flat run of numbers in one call, about twice
    as fast as building an ``array`` from the same iterator."""
    count = len(file_ids)
    if arcs is None:
        arc_counts: Sequence[int] = tuple(repeat(-1, count))
        arc_bytes = b""
    else:
        arc_counts = [-1 if file_arcs is None else len(file_arcs) for file_arcs in arcs]
        flat_arcs = list(chain.from_iterable(chain.from_iterable(file_arcs for file_arcs in arcs if file_arcs)))
        arc_bytes = struct.pack(f"<{len(flat_arcs)}i", *flat_arcs)
    header = struct.pack(f"<{1 + 4 * count}i", count, *file_ids, *version_ids, *map(len, lines), *arc_counts)
    total = sum(map(len, lines))
    try:
        packed = struct.pack(f"<{total}H", *chain.from_iterable(lines))
        width = 2
    except struct.error:  # a line past 65,535 (or a negative one, which fails again here)
        packed = struct.pack(f"<{total}I", *chain.from_iterable(lines))
        width = 4
    return b"".join((_WIDTH_BYTES[width], header, packed, arc_bytes))


def _ints(letter: str, blob: bytes, start: int, count: int) -> List[int]:
    try:
        return list(struct.unpack_from(f"<{count}{letter}", blob, start))
    except struct.error as error:
        raise ValueError(f"not a packed line set ({error})") from None


def unpack_set(blob: bytes) -> UnpackedSet:
    """What :func:`pack_set` packed."""
    width = blob[0]
    code = _LETTER_OF_WIDTH.get(width)
    if code is None:
        raise ValueError(f"not a packed line set (width byte {width})")
    count = _ints("i", blob, 1, 1)[0]
    header = _ints("i", blob, 5, 4 * count)
    file_ids = header[:count]
    version_ids: List[Optional[int]] = [version or None for version in header[count:2 * count]]
    line_counts = header[2 * count:3 * count]
    arc_counts = header[3 * count:]
    offset = 5 + 16 * count
    flat = _ints(code, blob, offset, sum(line_counts))
    offset += len(flat) * width
    lines: List[List[int]] = []
    start = 0
    for line_count in line_counts:
        lines.append(flat[start:start + line_count])
        start += line_count
    arcs: Optional[List[Optional[List[Tuple[int, int]]]]] = None
    if any(arc_count >= 0 for arc_count in arc_counts):
        flat_arcs = _ints("i", blob, offset, 2 * sum(max(arc_count, 0) for arc_count in arc_counts))
        pairs = list(zip(flat_arcs[0::2], flat_arcs[1::2]))
        arcs = []
        start = 0
        for arc_count in arc_counts:
            if arc_count < 0:
                arcs.append(None)
            else:
                arcs.append(pairs[start:start + arc_count])
                start += arc_count
    return file_ids, version_ids, lines, arcs
