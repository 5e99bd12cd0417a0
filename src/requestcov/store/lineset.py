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
    bits = 0
    for line in lines:
        if line < 0:
            raise ValueError(f"line numbers are never negative, got {line}")
        bits |= 1 << line
    return bits.to_bytes((bits.bit_length() + 7) // 8, "little")


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
