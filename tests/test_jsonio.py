"""``ohnb.jsonio.loads``: orjson's speed with ``json.loads``' results and errors."""

from __future__ import annotations

import json
import math
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohnb.jsonio import loads

_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_values, st.booleans())
def test_same_value_as_the_standard_library(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    # repr: NaN equals NaN there, and -0.0 differs from 0.0
    assert repr(loads(text)) == repr(json.loads(text))
    assert repr(loads(text.encode("utf-8"))) == repr(json.loads(text))


@pytest.mark.parametrize("text", ["NaN", "[Infinity, -Infinity]", '"\\ud800"', '{"a": 1, "a": 2}'])
def test_what_orjson_rejects_decodes_as_json_does(text):
    assert repr(loads(text)) == repr(json.loads(text))


@pytest.mark.parametrize("text", ["{bad", "", '{"a": 1} x', "[1,]"])
def test_errors_are_the_standard_librarys(text):
    with pytest.raises(json.JSONDecodeError) as ours:
        loads(text)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    assert str(ours.value) == str(theirs.value)


def test_integers_beyond_64_bits_come_back_as_floats_the_documented_difference():
    assert loads(str(2**64 - 1)) == 2**64 - 1
    big = loads(str(2**70))
    assert isinstance(big, float) and math.isclose(big, 2**70)


def test_a_non_ascii_text_is_not_given_a_cached_utf8_copy():
    text = json.dumps({"content": "café ✅ " * 500}, ensure_ascii=False)
    before = sys.getsizeof(text)
    assert loads(text)["content"].startswith("café")
    assert sys.getsizeof(text) == before  # orjson given the str itself would attach a UTF-8 copy
