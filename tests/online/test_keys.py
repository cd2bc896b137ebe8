"""The entity key encoding: properties, pinned bytes, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pitstore.errors import SchemaError
from pitstore.online.keys import KeyEncoder, decode, encode, encode_columns
from pitstore.types import Int64, String

ints = st.integers(-(2**63), 2**63 - 1)
texts = st.text(st.characters(codec="utf-8"), max_size=12)
blobs = st.binary(max_size=12)
values = st.one_of(ints, texts, blobs)
key_tuples = st.lists(values, min_size=1, max_size=4).map(tuple)

# Format version 1, pinned: if one of these changes, every stored key changes with it.
GOLDEN: list[tuple[tuple[Any, ...], str]] = [
    ((42,), "01 01 000000000000002a"),
    ((-1,), "01 01 ffffffffffffffff"),
    ((2**63 - 1,), "01 01 7fffffffffffffff"),
    (("ab", "c"), "01 02 00000002 6162 02 00000001 63"),
    (("a", "bc"), "01 02 00000001 61 02 00000002 6263"),
    (("é",), "01 02 00000002 c3a9"),
    ((b"\x00\xff",), "01 03 00000002 00ff"),
    ((7, "", b""), "01 01 0000000000000007 02 00000000 03 00000000"),
]


def names_for(values: tuple[Any, ...]) -> list[str]:
    return [f"k{i}" for i in range(len(values))]


def arrow_column(column: list[Any]) -> pa.Array:
    if isinstance(column[0], int):
        return pa.array(column, pa.int64())
    if isinstance(column[0], str):
        return pa.array(column, pa.string())
    return pa.array(column, pa.binary())


@pytest.mark.parametrize(("values", "expected"), GOLDEN)
def test_golden_bytes(values: tuple[Any, ...], expected: str) -> None:
    data = bytes.fromhex(expected.replace(" ", ""))
    assert encode(names_for(values), values) == data
    assert KeyEncoder(names_for(values)).encode(values) == data
    columns = [arrow_column([v]) for v in values]
    assert encode_columns(names_for(values), columns).to_pylist() == [data]
    assert decode(data) == values


@settings(max_examples=300)
@given(key_tuples)
def test_decode_inverts_encode(values: tuple[Any, ...]) -> None:
    assert decode(encode(names_for(values), values)) == values


@settings(max_examples=300)
@given(key_tuples, key_tuples)
def test_distinct_keys_encode_differently(left: tuple[Any, ...], right: tuple[Any, ...]) -> None:
    # Tuples compare element-wise and 1 != "1" != b"1", so equal bytes must mean equal tuples.
    same_bytes = encode(names_for(left), left) == encode(names_for(right), right)
    assert same_bytes == (left == right)


def test_concatenations_do_not_collide() -> None:
    pairs = [(("ab", "c"), ("a", "bc")), ((b"ab", b"c"), (b"a", b"bc")), (("a", ""), ("", "a"))]
    for left, right in pairs:
        assert encode(["x", "y"], left) != encode(["x", "y"], right)
    assert encode(["x"], (1,)) != encode(["x"], ("1",)) != encode(["x"], (b"1",))


kinds = st.lists(st.sampled_from([ints, texts, blobs]), min_size=1, max_size=3)


@settings(max_examples=60)
@given(st.data())
def test_batch_equals_single(data: st.DataObject) -> None:
    column_kinds = data.draw(kinds)
    rows = data.draw(st.lists(st.tuples(*column_kinds), min_size=1, max_size=20))
    names = names_for(rows[0])
    columns = [arrow_column([row[j] for row in rows]) for j in range(len(names))]
    encoder = KeyEncoder(names)
    assert encode_columns(names, columns).to_pylist() == [encoder.encode(r) for r in rows]


def test_every_integer_width_encodes_alike() -> None:
    expected = encode(["id"], (5,))
    for arrow_type in [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint32(), pa.uint64()]:
        assert encode_columns(["id"], [pa.array([5], arrow_type)]).to_pylist() == [expected]
    for number in [np.int32(5), np.int64(5), np.uint8(5)]:
        assert KeyEncoder(["id"]).encode((number,)) == expected
        assert KeyEncoder(["id", "s"]).encode((number, "x")) == encode(["id", "s"], (5, "x"))


def test_batch_accepts_chunked_dictionary_sliced_and_large_types() -> None:
    names = ["s", "b"]
    single = [encode(names, (s, b)) for s, b in [("x", b"1"), ("y", b"2"), ("x", b"3")]]
    text = pa.chunked_array([["x", "y"], ["x"]], pa.large_string())
    binary = pa.array([b"0", b"1", b"2", b"3"], pa.large_binary()).slice(1)
    assert encode_columns(names, [text, binary]).to_pylist() == single
    dictionary = pa.array(["x", "y", "x"]).dictionary_encode()
    sliced = pa.array([0, 9, 1, 2], pa.int64()).slice(1, 2)
    assert encode_columns(["s", "i"], [dictionary.slice(1), sliced]).to_pylist() == [
        encode(["s", "i"], ("y", 9)),
        encode(["s", "i"], ("x", 1)),
    ]
    assert encode_columns(["i"], [pa.array([], pa.int64())]).to_pylist() == []
    assert encode_columns(["s"], [pa.array([], pa.string())]).to_pylist() == []


def test_typed_encoder_refuses_other_kinds() -> None:
    encoder = KeyEncoder(["id", "name"], [Int64, String])
    assert encoder.encode((1, "a")) == encode(["id", "name"], (1, "a"))
    with pytest.raises(SchemaError, match=r"'name'.*5"):
        encoder.encode((1, 5))
    with pytest.raises(SchemaError, match=r"'id'.*'1'"):
        encoder.encode(("1", "a"))
    with pytest.raises(SchemaError, match="key types"):
        KeyEncoder(["x"], ["float64"])
    with pytest.raises(SchemaError, match="2 join key names but 1 types"):
        KeyEncoder(["a", "b"], ["int64"])


@pytest.mark.parametrize("bad", [None, 1.0, True, 2**63, -(2**63) - 1, "\ud800", [1], 1.5])
def test_bad_values_raise_schema_error_naming_them(bad: Any) -> None:
    for encoder in (KeyEncoder(["id"]), KeyEncoder(["id", "other"])):
        values = (bad,) if len(encoder.names) == 1 else (bad, 1)
        with pytest.raises(SchemaError, match=r"join key 'id' got") as info:
            encoder.encode(values)
        assert repr(bad) in str(info.value)


def test_wrong_number_of_values() -> None:
    with pytest.raises(SchemaError, match="expected 2 key values"):
        KeyEncoder(["a", "b"]).encode((1,))
    with pytest.raises(SchemaError, match="at least one join key"):
        KeyEncoder([])


def test_batch_errors_name_the_column() -> None:
    with pytest.raises(SchemaError, match="'id' is null at row 1"):
        encode_columns(["id"], [pa.array([1, None])])
    with pytest.raises(SchemaError, match="'s' is null at row 0"):
        encode_columns(["id", "s"], [pa.array([1]), pa.array([None], pa.string())])
    for bad in [pa.array([1.0]), pa.array([True]), pa.array([[1]])]:
        with pytest.raises(SchemaError, match="'id' has Arrow type"):
            encode_columns(["id"], [bad])
    with pytest.raises(SchemaError, match="fits in 64 bits"):
        encode_columns(["id"], [pa.array([2**64 - 1], pa.uint64())])
    with pytest.raises(SchemaError, match="has 1 rows, expected 2"):
        encode_columns(["a", "b"], [pa.array([1, 2]), pa.array([1])])
    with pytest.raises(SchemaError, match="2 join key names but 1 key columns"):
        encode_columns(["a", "b"], [pa.array([1])])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a version 1"),
        (b"\x02\x01", "not a version 1"),
        (b"\x01", "empty entity key"),
        (b"\x01\x09", "unknown key component tag 0x09"),
        (b"\x01\x01\x00", "truncated"),
        (b"\x01\x02\x00\x00\x00\x05ab", "truncated"),
    ],
)
def test_decode_rejects_malformed_keys(data: bytes, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        decode(data)


def test_keys_are_the_same_in_another_process() -> None:
    code = "from pitstore.online.keys import encode; print(encode(['a','b'], (7, 'é')).hex())"
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == encode(["a", "b"], (7, "é")).hex()
