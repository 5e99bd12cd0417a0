"""Compact encoding of a set of line numbers.

The same "numbits" layout coverage.py keeps in its SQLite files: bit ``n`` of
the byte string is set when line ``n`` ran. A request touching 500 lines of a
2,000-line file costs 250 bytes, and the encoding is stable across versions.
"""

from __future__ import annotations

from typing import Iterable, List

__all__ = ["encode_lines", "decode_lines"]


def encode_lines(lines: Iterable[int]) -> bytes:
    """Encode non-negative line numbers as a little-endian bitmap."""
    numbers = lines if isinstance(lines, (list, tuple, set, frozenset)) else list(lines)
    if not numbers:
        return b""
    if min(numbers) < 0:
        raise ValueError(f"line numbers are never negative, got {min(numbers)}")
    bitmap = bytearray(max(numbers) // 8 + 1)
    for line in numbers:
        bitmap[line >> 3] |= 1 << (line & 7)
    return bytes(bitmap)


def decode_lines(blob: bytes) -> List[int]:
    """Decode a bitmap made by :func:`encode_lines` into sorted line numbers."""
    lines: List[int] = []
    for byte_index, byte in enumerate(blob):
        if not byte:
            continue
        base = byte_index * 8
        for bit in range(8):
            if byte & (1 << bit):
                lines.append(base + bit)
    return lines
