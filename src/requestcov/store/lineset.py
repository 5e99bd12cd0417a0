"""Compact encoding of a set of line numbers.

The lines are packed little-endian, two bytes each (four when a file runs past
line 65,535), after one byte that gives that width: a request touching 50
lines of a file costs 101 bytes. Packing and unpacking are single C calls
(``array`` and ``struct``), so the writer thread spends about a microsecond per file where a bitmap
built line by line in Python cost ten times that; that time is taken from the
app's own threads.

Stores of schema version 1 held coverage.py's "numbits" bitmaps;
:func:`numbits_to_lines` reads them for the migration.
"""

from __future__ import annotations

import struct
import sys
from array import array
from typing import List, Sequence

__all__ = ["encode_lines", "decode_lines", "numbits_to_lines"]

_NARROW = 2
_WIDE = 4
_FORMAT_OF_WIDTH = {_NARROW: "H", _WIDE: "I"}
_WIDTH_BYTE = {_NARROW: bytes((_NARROW,)), _WIDE: bytes((_WIDE,))}
#: array type codes of exactly two and four bytes on this platform.
_TYPECODE_OF_WIDTH = {width: next(code for code in "HILQ" if array(code).itemsize == width)
                      for width in (_NARROW, _WIDE)}
_BIG_ENDIAN = sys.byteorder == "big"
_LARGEST_NARROW = 0xFFFF
_LARGEST_WIDE = 0xFFFFFFFF


def encode_lines(lines: Sequence[int]) -> bytes:
    """Pack sorted, distinct, non-negative line numbers (a ``LinesByFile``
    value); an empty sequence packs to ``b""``."""
    if not lines:
        return b""
    first, last = lines[0], lines[-1]
    if first < 0:
        raise ValueError(f"line numbers are never negative, got {first}")
    if last <= _LARGEST_NARROW:
        width = _NARROW
    elif last <= _LARGEST_WIDE:
        width = _WIDE
    else:
        raise ValueError(f"{last} is not a line number")
    # array packs in C with no format string to build and look up per call
    # (struct caches only so many formats, and every length is a new one).
    packed = array(_TYPECODE_OF_WIDTH[width], lines)
    if _BIG_ENDIAN:
        packed.byteswap()
    return _WIDTH_BYTE[width] + packed.tobytes()


def decode_lines(blob: bytes) -> List[int]:
    """The sorted line numbers :func:`encode_lines` packed (a new list each call)."""
    if not blob:
        return []
    width = blob[0]
    letter = _FORMAT_OF_WIDTH.get(width)
    if letter is None or (len(blob) - 1) % width:
        raise ValueError(f"not a packed line set (width byte {width}, {len(blob)} bytes)")
    return list(struct.unpack_from(f"<{(len(blob) - 1) // width}{letter}", blob, 1))


#: The set bits of every byte value, so decoding touches each byte once.
_BITS_OF_BYTE = tuple(tuple(bit for bit in range(8) if value & (1 << bit)) for value in range(256))


def numbits_to_lines(blob: bytes) -> List[int]:
    """Decode a numbits bitmap (bit ``n`` set when line ``n`` ran), the
    encoding of schema version 1, into sorted line numbers."""
    lines: List[int] = []
    extend = lines.extend
    bits_of_byte = _BITS_OF_BYTE
    for byte_index, byte in enumerate(blob):
        if byte:
            base = byte_index << 3
            extend([base + bit for bit in bits_of_byte[byte]])
    return lines
