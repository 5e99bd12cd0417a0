"""The natural order of ids: the shortcut for a name and a number gives the
key the general rule (a split into digit and other runs) gives."""

from __future__ import annotations

import re
from typing import Any, Tuple

from hypothesis import given
from hypothesis import strategies as st

from requestcov.records import natural_key


def _split_key(text: str) -> Tuple[Any, ...]:
    return tuple((0, int(part), part) if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text))


def _outcome(function: Any, text: str) -> Any:
    try:
        return function(text)
    except ValueError:  # a non-\d run that isdigit() still calls digits ("²")
        return ValueError


@given(st.text(alphabet="ab-/_09²٣", max_size=12))
def test_the_shortcut_gives_the_general_key(text: str) -> None:
    assert _outcome(natural_key, text) == _outcome(_split_key, text)


def test_ids_sort_naturally() -> None:
    ids = ["test-10", "test-2", "test-1", "2", "10", "test-02", "a1b2", "a1b10", ""]
    assert sorted(ids, key=natural_key) == ["", "2", "10", "a1b2", "a1b10", "test-1", "test-02", "test-2", "test-10"]
