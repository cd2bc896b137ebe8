"""How feature values are stored in Redis hash fields: self-describing, one tag byte.

=====================  ======================================================================
pitstore type          stored bytes (the first byte tells the decoder what follows)
=====================  ======================================================================
int32, int64,          ASCII decimal, as Redis itself writes integers (``42``, ``-7``): the
timestamp              first byte is a digit or ``-``. Timestamps are microseconds, UTC.
bool                   ``T`` or ``F``
float32, float64       ``d`` + 8 bytes big-endian IEEE double (NaN, -0.0, infinities kept bit
                       for bit; a float32 widens to float64 exactly)
string                 ``s`` + UTF-8
bytes                  ``b`` + the bytes
vector<float32,N>      ``v`` + N little-endian IEEE float32 (4N bytes)
array<T>, and vectors  ``j`` + compact JSON (nulls as ``null``, NaN/Infinity as Python's json
holding a null        module writes them, timestamps as integer microseconds)
array<bytes>           ``k`` + compact JSON of base64 strings (nulls as ``null``)
=====================  ======================================================================

A null feature is an absent hash field (a written row replaces the whole hash).

Why self-describing rather than a per-view schema like the SQLite store: the read path then
needs no catalog (no extra round trip, nothing to cache and invalidate across processes), a
feature whose type changes after ``delete_view`` needs nothing special, and a decoder meeting
an unknown tag (data written by a newer pitstore) fails loudly. The cost is one byte per value.
Integers are plain decimal so that ``redis-cli HGETALL`` stays readable and because the write
path hands Python ints straight to the driver.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
from array import array as _floats
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from pitstore.errors import SchemaError
from pitstore.online.batch import numeric_values, to_python
from pitstore.types import Array, DType, Scalar, Vector

if TYPE_CHECKING:
    import pyarrow as pa

#: The value the write script reads as "null" (no field is written).
NULL: Final = b""

_DOUBLE_AT_1 = struct.Struct(">d").unpack_from
_json_dumps = partial(json.dumps, separators=(",", ":"), ensure_ascii=False)
_BIG_ENDIAN: Final = sys.byteorder == "big"

Decoder = Callable[[bytes], Any]
Encoder = Callable[["pa.Array"], list[Any]]


# --- decoders (the read hot path: keep them tiny) -------------------------------------------


def _unknown(value: bytes) -> Any:
    raise SchemaError(
        f"unknown Redis value tag {value[:1]!r} (value {value[:20]!r}...): written by a newer "
        "pitstore? Hint: upgrade pitstore, or delete the view and materialize again."
    )


def _decode_double(value: bytes) -> float:
    return _DOUBLE_AT_1(value, 1)[0]  # type: ignore[no-any-return]


def _decode_vector(value: bytes) -> list[float]:
    floats = _floats("f", value[1:])
    if _BIG_ENDIAN:
        floats.byteswap()
    return floats.tolist()


def _decode_byte_list(value: bytes) -> list[bytes | None]:
    return [None if v is None else base64.b64decode(v) for v in json.loads(value[1:])]


def _decoders() -> list[Decoder]:
    table: list[Decoder] = [_unknown] * 256
    for digit in b"0123456789-":
        table[digit] = int
    table[ord("T")] = lambda _: True
    table[ord("F")] = lambda _: False
    table[ord("d")] = _decode_double
    table[ord("s")] = lambda v: v[1:].decode()
    table[ord("b")] = lambda v: v[1:]
    table[ord("v")] = _decode_vector
    table[ord("j")] = lambda v: json.loads(v[1:])
    table[ord("k")] = _decode_byte_list
    return table


#: ``DECODERS[value[0]](value)`` is the Python value of a stored (non-null) value.
DECODERS: Final = _decoders()


def decode(value: bytes | None) -> Any:
    """The Python value of one stored value (None for an absent field)."""
    return None if value is None else DECODERS[value[0]](value)


# --- encoders (the write path: whole columns at once) ---------------------------------------


def _nulls_to_empty(values: list[Any]) -> list[Any]:
    return [NULL if v is None else v for v in values]


def _encode_int(array: pa.Array) -> list[Any]:
    # Python ints go to the driver as they are: it writes them in decimal.
    values = to_python(array)
    return _nulls_to_empty(values) if array.null_count else values


def _encode_bool(array: pa.Array) -> list[Any]:
    return [NULL if v is None else (b"T" if v else b"F") for v in array.to_pylist()]


def _encode_double(array: pa.Array) -> list[Any]:
    import numpy as np

    numbers = numeric_values(array)
    records = np.empty(len(numbers), dtype=[("tag", "u1"), ("value", ">f8")])
    records["tag"] = ord("d")
    records["value"] = numbers
    blob = records.tobytes()
    out: list[Any] = [blob[i : i + 9] for i in range(0, len(blob), 9)]
    return _blank_nulls(array, out)


def _blank_nulls(array: pa.Array, out: list[Any]) -> list[Any]:
    if array.null_count:
        import numpy as np
        import pyarrow.compute as pc

        for i in np.flatnonzero(pc.is_null(array).to_numpy(zero_copy_only=False)).tolist():
            out[i] = NULL
    return out


def _prefixed(tag: bytes) -> Encoder:
    def encode(array: pa.Array) -> list[Any]:
        import pyarrow as pa
        import pyarrow.compute as pc

        data = array.cast(pa.large_binary())
        joined = pc.binary_join_element_wise(
            pa.scalar(tag, pa.large_binary()), data, pa.scalar(b"", pa.large_binary())
        )
        values = joined.to_pylist()
        return _nulls_to_empty(values) if array.null_count else values

    return encode


def _encode_json(array: pa.Array) -> list[Any]:
    return [NULL if v is None else b"j" + _json_dumps(v).encode() for v in to_python(array)]


def _encode_byte_list(array: pa.Array) -> list[Any]:
    def text(items: list[bytes | None]) -> bytes:
        b64 = [None if b is None else base64.b64encode(b).decode() for b in items]
        return b"k" + _json_dumps(b64).encode()

    return [NULL if v is None else text(v) for v in array.to_pylist()]


def _encode_vector(array: pa.Array) -> list[Any]:
    import numpy as np
    import pyarrow.compute as pc

    size = array.type.list_size
    values = array.values.slice(array.offset * size, len(array) * size)
    packed = values.to_numpy(zero_copy_only=False).astype("<f4").tobytes()
    width = 4 * size
    out: list[Any] = [b"v" + packed[i * width : (i + 1) * width] for i in range(len(array))]
    if values.null_count:
        # Rows holding a null element cannot be packed: store them as JSON.
        python = array.to_pylist()
        element_nulls = pc.is_null(values).to_numpy(zero_copy_only=False).reshape(-1, size)
        for i in np.flatnonzero(element_nulls.any(axis=1)).tolist():
            if python[i] is not None:
                out[i] = b"j" + _json_dumps(python[i]).encode()
    return _blank_nulls(array, out)


_SCALAR_ENCODERS: Final[dict[str, Encoder]] = {
    "bool": _encode_bool,
    "int32": _encode_int,
    "int64": _encode_int,
    "timestamp": _encode_int,
    "float32": _encode_double,
    "float64": _encode_double,
    "string": _prefixed(b"s"),
    "bytes": _prefixed(b"b"),
}


def encoder_for(dtype: DType) -> Encoder:
    """The encoder of a pitstore type: an Arrow column to a list of stored values (``NULL``)."""
    if isinstance(dtype, Scalar):
        return _SCALAR_ENCODERS[dtype.name]
    if isinstance(dtype, Vector):
        return _encode_vector
    if isinstance(dtype, Array):
        return _encode_byte_list if dtype.element.name == "bytes" else _encode_json
    raise TypeError(f"no Redis encoder for {dtype!r}")  # unreachable: DType is closed
