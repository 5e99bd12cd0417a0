"""Line sets survive the compact encoding, whatever they hold."""

from hypothesis import given
from hypothesis import strategies as st

from requestcov.store.lineset import decode_lines, encode_lines


@given(st.sets(st.integers(min_value=0, max_value=100_000), max_size=300))
def test_round_trip(lines: set) -> None:
    assert decode_lines(encode_lines(lines)) == sorted(lines)


def test_encoding_is_compact() -> None:
    # 500 lines of a 2,000-line file: a bitmap of 250 bytes.
    assert len(encode_lines(range(1500, 2000))) == 250
