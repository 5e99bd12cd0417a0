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
from itertools import accumulate, chain, islice, repeat
from typing import List, NamedTuple, Optional, Sequence, Tuple

__all__ = [
    "pack_set", "unpack_set", "UnpackedSet", "Header", "header_bytes", "unpack_header", "unpack_lines", "unpack_arcs",
    "file_count", "files_part", "unpack_files_part", "unpack_plain_lines", "line_numbers_part", "ids_part",
    "numbers_part",
]

_WIDTH_BYTES = {2: b"\x02", 4: b"\x04"}
_LETTER_OF_WIDTH = {2: "H", 4: "I"}
#: The arc counts of a file without arcs, packed.
_NO_ARCS = struct.pack("<i", -1)

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


def ids_part(file_ids: Sequence[int], version_ids: Sequence[int]) -> bytes:
    """The start of a set of narrow lines (two bytes each) of these files,
    up to their line counts: the same for every such set of the same files
    and versions."""
    return _WIDTH_BYTES[2] + struct.pack(f"<{1 + 2 * len(file_ids)}i", len(file_ids), *file_ids, *version_ids)


def numbers_part(lines: Sequence[Sequence[int]]) -> bytes:
    """The rest of a set of narrow lines without arcs, after :func:`ids_part`:
    ``ids_part(...) + numbers_part(lines)`` is what :func:`pack_set` packs."""
    count = len(lines)
    return struct.pack(f"<{2 * count}i{sum(map(len, lines))}H", *map(len, lines), *repeat(-1, count),
                       *chain.from_iterable(lines))


def _ints(letter: str, blob: bytes, start: int, count: int) -> List[int]:
    try:
        return list(struct.unpack_from(f"<{count}{letter}", blob, start))
    except struct.error as error:
        raise ValueError(f"not a packed line set ({error})") from None


class Header(NamedTuple):
    """The part of a packed set before its numbers: the same for every set of
    the same files and versions, so a reader decodes it once for them all."""

    file_ids: List[int]
    #: None: unknown.
    version_ids: List[Optional[int]]
    line_counts: List[int]
    #: -1 for a file without arcs.
    arc_counts: List[int]
    #: Where the line numbers start, the struct format that reads them all,
    #: and each file's part of them.
    lines_offset: int
    lines_format: str
    line_slices: List[slice]
    #: Where the arcs start, and the format that reads them (None: no arcs).
    arcs_offset: int
    arcs_format: Optional[str]


def header_bytes(blob: bytes) -> bytes:
    """The header of a packed set, as bytes (a key to its decoded :class:`Header`)."""
    if len(blob) < 5:
        raise ValueError("not a packed line set (too short)")
    return blob[:5 + 16 * int.from_bytes(blob[1:5], "little", signed=True)]


def unpack_header(head: bytes) -> Header:
    letter = _LETTER_OF_WIDTH.get(head[0])
    if letter is None:
        raise ValueError(f"not a packed line set (width byte {head[0]})")
    count = (len(head) - 5) // 16
    values = _ints("i", head, 5, 4 * count)
    line_counts, arc_counts = values[2 * count:3 * count], values[3 * count:]
    total = sum(line_counts)
    arcs = sum(arc_count for arc_count in arc_counts if arc_count > 0)
    bounds = list(accumulate(line_counts, initial=0))
    return Header(
        file_ids=values[:count], version_ids=[version or None for version in values[count:2 * count]],
        line_counts=line_counts, arc_counts=arc_counts, lines_offset=len(head), lines_format=f"<{total}{letter}",
        line_slices=list(map(slice, bounds[:-1], bounds[1:])),
        arcs_offset=len(head) + total * head[0],
        arcs_format=f"<{2 * arcs}i" if any(arc_count >= 0 for arc_count in arc_counts) else None,
    )


def unpack_lines(blob: bytes, header: Header) -> List[List[int]]:
    """Each file's lines, sliced in C out of one list of them all."""
    try:
        flat = list(struct.unpack_from(header.lines_format, blob, header.lines_offset))
    except struct.error as error:
        raise ValueError(f"not a packed line set ({error})") from None
    return list(map(flat.__getitem__, header.line_slices))


def unpack_arcs(blob: bytes, header: Header) -> Optional[List[Optional[List[Tuple[int, int]]]]]:
    """Each file's arcs (None for a file without), or None for a set without arcs."""
    if header.arcs_format is None:
        return None
    try:
        flat = struct.unpack_from(header.arcs_format, blob, header.arcs_offset)
    except struct.error as error:
        raise ValueError(f"not a packed line set ({error})") from None
    pairs = iter(list(zip(flat[0::2], flat[1::2])))
    return [None if arc_count < 0 else list(islice(pairs, arc_count)) for arc_count in header.arc_counts]


def file_count(blob: bytes) -> int:
    """How many files a packed set holds."""
    return int.from_bytes(blob[1:5], "little", signed=True) if len(blob) >= 5 else 0


def files_part(blob: bytes, count: int) -> bytes:
    """The file ids and version ids of a packed set of ``count`` files: the
    same bytes for every set of the same files, whatever lines each ran, so a
    reader can describe the files once for all those sets."""
    part = blob[5:5 + 8 * count]
    if len(blob) < 5 or len(part) != 8 * count:
        raise ValueError("not a packed line set (too short)")
    return part


def unpack_files_part(part: bytes) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """What :func:`files_part` cut out: file ids, version ids (0: unknown)."""
    count = len(part) // 8
    ids = struct.unpack(f"<{2 * count}i", part)
    return ids[:count], ids[count:]


def unpack_plain_lines(blob: bytes, count: int) -> Optional[List[List[int]]]:
    """Each file's lines of a packed set without arcs (None when it has
    some), with two ``struct`` calls and no :class:`Header`: a large store
    holds hundreds of thousands of distinct sets, and decoding each header
    whole took most of the reading."""
    header_end = 5 + 16 * count
    if blob[5 + 12 * count:header_end] != _NO_ARCS * count:
        return None
    letter = _LETTER_OF_WIDTH.get(blob[0])
    if letter is None:
        raise ValueError(f"not a packed line set (width byte {blob[0]})")
    try:
        counts = struct.unpack_from(f"<{count}i", blob, 5 + 8 * count)
        flat = struct.unpack_from(f"<{sum(counts)}{letter}", blob, header_end)
    except struct.error as error:
        raise ValueError(f"not a packed line set ({error})") from None
    bounds = list(accumulate(counts, initial=0))
    return [list(flat[start:end]) for start, end in zip(bounds[:-1], bounds[1:])]


def line_numbers_part(blob: bytes) -> Tuple[Tuple[int, ...], Tuple[int, ...], int, int]:
    """File ids, each file's count of lines, the size of a line number in
    bytes and where the numbers start: all a reader that takes a set's line
    numbers as one array (``numpy.frombuffer``) needs, arcs or none."""
    count = file_count(blob)
    width = blob[0] if blob else 0
    if width not in _LETTER_OF_WIDTH:
        raise ValueError(f"not a packed line set (width byte {width})")
    try:
        ids = struct.unpack_from(f"<{count}i", blob, 5)
        counts = struct.unpack_from(f"<{count}i", blob, 5 + 8 * count)
    except struct.error as error:
        raise ValueError(f"not a packed line set ({error})") from None
    start = 5 + 16 * count
    if len(blob) < start + width * sum(counts):
        raise ValueError("not a packed line set (too short)")
    return ids, counts, width, start


def unpack_set(blob: bytes) -> UnpackedSet:
    """What :func:`pack_set` packed."""
    header = unpack_header(header_bytes(blob))
    return header.file_ids, header.version_ids, unpack_lines(blob, header), unpack_arcs(blob, header)
