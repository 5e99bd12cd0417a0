"""Line sets survive the compact encoding, whatever they hold."""

import pytest
from coverage.numbits import nums_to_numbits
from hypothesis import given
from hypothesis import strategies as st

from requestcov.store.lineset import decode_lines, encode_lines, numbits_to_lines


@given(st.sets(st.integers(min_value=0, max_value=100_000), max_size=300))
def test_round_trip(lines: set) -> None:
    assert decode_lines(encode_lines(sorted(lines))) == sorted(lines)


def test_encoding_is_compact() -> None:
    # Two bytes a line after the width byte; four only past line 65,535.
    assert len(encode_lines(list(range(1500, 1550)))) == 101
    assert len(encode_lines([3, 70_000])) == 9
    assert encode_lines([]) == b""


def test_negative_and_absurd_line_numbers_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_lines([-1, 4])
    with pytest.raises(ValueError):
        encode_lines([1, 2**40])


def test_a_blob_of_another_format_is_refused_not_misread() -> None:
    with pytest.raises(ValueError):
        decode_lines(b"\x07\x01\x02")
    with pytest.raises(ValueError):
        decode_lines(b"\x02\x01\x02\x03")


@given(st.sets(st.integers(min_value=1, max_value=5_000), max_size=300))
def test_numbits_of_old_stores_read_as_coverage_py_wrote_them(lines: set) -> None:
    assert numbits_to_lines(nums_to_numbits(lines)) == sorted(lines)
