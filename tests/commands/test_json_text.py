"""Every command's ``--json`` text is ``json.dumps(indent=2)``'s, character for character."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from requestcov.commands._common import json_text
from requestcov.commands.dedup import command
from tests.commands.conftest import run

#: Strings that look like the layout itself: brackets, the boundary between
#: two objects, newlines (escaped by the encoder), quotes, non-ASCII.
_STRINGS = st.one_of(st.text(max_size=8), st.sampled_from(["}", "},\n    {", "[", "\"", "\\", "é中", "", " , "]))
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True), _STRINGS)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.tuples(inner, inner), st.dictionaries(_STRINGS, inner, max_size=5),
    st.lists(st.dictionaries(_STRINGS, _SCALARS, max_size=4), max_size=4)), max_leaves=40)


# 200 values of up to 40 leaves each, on every interpreter: about 5 s a run, not 12.
@settings(max_examples=200, deadline=None)
@given(value=_VALUES)
def test_any_value_reads_as_json_dumps_indent_2(value):
    assert json_text(value) == json.dumps(value, indent=2)


@pytest.mark.parametrize("value", [{1: "a"}, {"a": {2.5: [1]}}, {None: 1, "b": [True]}, [{"x": math.inf}, {}]])
def test_keys_the_writer_leaves_to_json_dumps(value):
    assert json_text(value) == json.dumps(value, indent=2)


def test_what_json_dumps_refuses_fails_the_same_way():
    circular: list = []
    circular.append(circular)
    for bad, error in (({"a": object()}, TypeError), ([circular], ValueError)):
        with pytest.raises(error) as ours:
            json_text(bad)
        with pytest.raises(error) as theirs:
            json.dumps(bad, indent=2)
        assert str(ours.value) == str(theirs.value)


def test_dedup_json_from_a_real_store_is_json_dumps_text(store: str):
    output = run(command, "--db", store, "--json").stdout
    assert output == json.dumps(json.loads(output), indent=2) + "\n"
    assert json.loads(output)["dropped"] == 3
