"""Compact encoding of a set of line numbers.

The same "numbits" layout coverage.py keeps in its SQLite files: bit ``n`` of
the byte string is set when line ``n`` ran. A request touching 500 lines of a
2,000-line file costs 250 bytes, and the encoding is stable across versions.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Sequence, Tuple

__all__ = ["encode_lines", "decode_lines", "EncodingCache"]


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


#: The set bits of every byte value, so decoding touches each byte once.
_BITS_OF_BYTE = tuple(tuple(bit for bit in range(8) if value & (1 << bit)) for value in range(256))


def decode_lines(blob: bytes) -> List[int]:
    """Decode a bitmap made by :func:`encode_lines` into sorted line numbers."""
    lines: List[int] = []
    extend = lines.extend
    bits_of_byte = _BITS_OF_BYTE
    for byte_index, byte in enumerate(blob):
        if byte:
            base = byte_index << 3
            extend([base + bit for bit in bits_of_byte[byte]])
    return lines


class EncodingCache:
    """Encode each distinct line set once.

    Requests to one endpoint mostly run the same lines of each file, so a
    store writing live traffic sees the same sets again and again; a tuple of
    the lines is hashed in C, far cheaper than encoding it again. Bounded:
    the cache starts over when it holds ``limit`` sets.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._encoded: Dict[Tuple[int, ...], bytes] = {}

    def encode(self, lines: Sequence[int]) -> bytes:
        key = tuple(lines)
        encoded = self._encoded.get(key)
        if encoded is None:
            if len(self._encoded) >= self.limit:
                self._encoded.clear()
            encoded = self._encoded[key] = encode_lines(key)
        return encoded
