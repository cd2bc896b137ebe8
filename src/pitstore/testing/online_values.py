"""Values, batches and comparisons for the online store conformance suite.

Every value here is in the form a store returns (:func:`pitstore.online.memory.to_python`):
timestamps are integer microseconds, arrays and vectors are lists, NaN is a float NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from hypothesis import strategies as st

from pitstore.online.base import (
    CREATED_COLUMN,
    KEY_COLUMN,
    TS_COLUMN,
    OnlineStore,
    ViewRead,
    ViewRows,
)
from pitstore.online.keys import KeyEncoder
from pitstore.types import parse_dtype

if TYPE_CHECKING:
    import pyarrow as pa

VECTOR_DIM: Final = 3
SCALAR_TYPES: Final = (
    "bool",
    "int32",
    "int64",
    "float32",
    "float64",
    "string",
    "bytes",
    "timestamp",
)
#: Every feature type the suite round-trips: the scalars, arrays of each, and a vector.
FEATURE_TYPES: Final = (
    *SCALAR_TYPES,
    *(f"array<{t}>" for t in SCALAR_TYPES),
    f"vector<float32,{VECTOR_DIM}>",
)

_NAN = math.nan
_INF = math.inf
_FLOAT32_MAX = 3.4028234663852886e38
_FLOAT32_TINY = 1.401298464324817e-45  # smallest positive (subnormal) float32
_SCALAR_SAMPLES: Final[dict[str, list[Any]]] = {
    "bool": [True, False, None],
    "int32": [0, -(2**31), 2**31 - 1, 7, None],
    "int64": [0, -(2**63), 2**63 - 1, -7, None],
    "float32": [0.0, -0.0, 1.5, _NAN, _INF, -_INF, _FLOAT32_MAX, _FLOAT32_TINY, None],
    "float64": [0.0, -0.0, 0.1, _NAN, _INF, -_INF, 1.7976931348623157e308, 5e-324, None],
    "string": ["", "abc", "é ü 中文 🎉", "nul\x00inside", "'; DROP TABLE x; --", None],
    "bytes": [b"", b"\x00\xff", b"abc", bytes(range(256)), None],
    "timestamp": [0, -1, 1_700_000_000_123_456, 253_402_300_799_999_999, None],
}


def arrow_type(type_name: str) -> pa.DataType:
    """The Arrow type of a pitstore type string (``"array<int64>"``...)."""
    return parse_dtype(type_name).to_arrow()


def samples(type_name: str) -> list[Any]:
    """Hand-picked values of a type: extremes, NaN and infinities, unicode, null..."""
    if type_name in _SCALAR_SAMPLES:
        return list(_SCALAR_SAMPLES[type_name])
    if type_name.startswith("vector<"):
        return [[0.5, -1.0, _NAN], [_INF, 0.0, -0.0], [1.0, None, 2.0], None]
    element = type_name[len("array<") : -1]
    present = [v for v in _SCALAR_SAMPLES[element] if v is not None]
    return [[], present, [present[0], None, present[-1]], None, [None]]


def strategy(type_name: str) -> st.SearchStrategy[Any]:
    """Hypothesis values of a type (nulls included)."""
    scalars: dict[str, st.SearchStrategy[Any]] = {
        "bool": st.booleans(),
        "int32": st.integers(-(2**31), 2**31 - 1),
        "int64": st.integers(-(2**63), 2**63 - 1),
        "float32": st.floats(width=32),
        "float64": st.floats(),
        "string": st.text(st.characters(codec="utf-8"), max_size=20),
        "bytes": st.binary(max_size=20),
        # years 1..9999, the range of Python datetimes
        "timestamp": st.integers(-62_135_596_800_000_000, 253_402_300_799_999_999),
    }
    if type_name in scalars:
        return st.none() | scalars[type_name]
    if type_name.startswith("vector<"):
        element = st.none() | st.floats(width=32)
        return st.none() | st.lists(element, min_size=VECTOR_DIM, max_size=VECTOR_DIM)
    element = st.none() | scalars[type_name[len("array<") : -1]]
    return st.none() | st.lists(element, max_size=5)


def same_value(left: Any, right: Any) -> bool:
    """Equality that treats NaN as NaN, tells -0.0 from 0.0 and bool from int, and recurses."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float):
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return left == right and math.copysign(1.0, left) == math.copysign(1.0, right)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same_value, left, right))
    return bool(left == right)


def assert_same_values(actual: Sequence[Any], expected: Sequence[Any], what: str = "") -> None:
    """Assert two value lists are equal by :func:`same_value`, naming the first difference."""
    assert len(actual) == len(expected), f"{what}: {len(actual)} values, expected {len(expected)}"
    for i, (got, want) in enumerate(zip(actual, expected, strict=True)):
        assert same_value(got, want), f"{what} row {i}: got {got!r}, expected {want!r}"


def key(*values: Any) -> bytes:
    """The encoded key of ``values`` (join key names do not matter to the encoding)."""
    return KeyEncoder([f"k{i}" for i in range(len(values))]).encode(values)


def make_batch(
    keys: Sequence[bytes],
    ts: Sequence[int],
    created: Sequence[int | None] | None = None,
    features: Mapping[str, tuple[str, Any]] | None = None,
) -> pa.RecordBatch:
    """A write batch: ``features`` maps a name to ``(type string, sequence of values)``."""
    import pyarrow as pa

    columns: dict[str, pa.Array] = {
        KEY_COLUMN: pa.array(list(keys), pa.binary()),
        TS_COLUMN: pa.array(list(ts), pa.int64()),
        CREATED_COLUMN: pa.array(
            [None] * len(keys) if created is None else list(created), pa.int64()
        ),
    }
    for name, (type_name, values) in (features or {}).items():
        columns[name] = pa.array(list(values), arrow_type(type_name))
    return pa.record_batch(columns)


def read_view(
    store: OnlineStore, view: str, features: Sequence[str], keys: Sequence[bytes]
) -> ViewRows:
    """Read one view (one request) and check the result's shape."""
    (rows,) = store.read([ViewRead(view, tuple(features), list(keys))])
    assert len(rows.event_ts) == len(keys)
    assert len(rows.columns) == len(features)
    assert all(len(column) == len(keys) for column in rows.columns)
    return rows
