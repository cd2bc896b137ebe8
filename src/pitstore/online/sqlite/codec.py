"""How feature values are stored in SQLite columns, per pitstore type.

=====================  ===============  =================================================
pitstore type          column affinity  stored value
=====================  ===============  =================================================
bool                   INTEGER          0 / 1
int32, int64           INTEGER          the integer
timestamp              INTEGER          microseconds since the epoch, UTC
float32, float64       REAL             the float; NaN and -0.0 as an 8-byte BLOB (below)
string                 TEXT             the string
bytes                  BLOB             the bytes
array<T>               TEXT             JSON (see below)
vector<float32,N>      BLOB             N little-endian IEEE float32 (4N bytes)
=====================  ===============  =================================================

Null is SQL NULL everywhere.

SQLite has no NaN: binding a NaN REAL stores NULL, and it also folds -0.0 into 0.0. So a float
that SQLite cannot keep is stored as an 8-byte big-endian IEEE double BLOB in the REAL column
(REAL affinity leaves BLOBs alone); the decoder turns a BLOB back into the float, bit for bit.
Ordinary floats stay REAL, so the column stays readable with plain SQL.

Arrays are compact JSON (``json.dumps`` with ``separators=(",", ":")``): null elements are
``null``; float elements keep NaN and infinities as the ``NaN``/``Infinity``/``-Infinity``
tokens of Python's json module; timestamps are integer microseconds; bytes elements are base64
strings. A vector whose elements contain a null (rare: vectors are dense) is stored as JSON
TEXT instead of the packed BLOB; the decoder tells the two apart by the stored type.

Each codec has a ``name`` (its stored form): a column's codec never changes once written, so a
later write may widen int32 to int64 or float32 to float64, but not turn an int into a string.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import sys
from array import array as _floats
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from pitstore.online.batch import numeric_values, to_python
from pitstore.types import Array, DType, Scalar, Vector

if TYPE_CHECKING:
    import pyarrow as pa

Decoder = Callable[[Any], Any]

_DOUBLE = struct.Struct(">d")
_NAN = math.nan
_json_dumps = partial(json.dumps, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Codec:
    """Turns an Arrow column into SQLite values (``encode``) and a stored value back (``decode``).

    ``decode`` is None when SQLite already returns the right Python value (ints, strings...),
    so the read path skips the call.
    """

    name: str
    affinity: str
    encode: Callable[[pa.Array], list[Any]]
    decode: Decoder | None


# --- decoders (the read hot path: keep them tiny) -------------------------------------------


def _decode_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _decode_float(value: Any) -> Any:
    # A BLOB in a REAL column is a float SQLite could not keep (NaN, -0.0).
    if value.__class__ is bytes:
        return _DOUBLE.unpack(value)[0]
    return value


def _decode_json(value: Any) -> Any:
    return None if value is None else json.loads(value)


def _decode_json_bytes(value: Any) -> Any:
    if value is None:
        return None
    return [None if v is None else base64.b64decode(v) for v in json.loads(value)]


def _decode_vector(value: Any) -> Any:
    if value.__class__ is bytes:
        floats = _floats("f", value)
        if sys.byteorder == "big":
            floats.byteswap()
        return floats.tolist()
    return _decode_json(value)


# --- encoders (the write path: whole columns at once) ---------------------------------------


def _encode_plain(array: pa.Array) -> list[Any]:
    return to_python(array)


def _encode_float(array: pa.Array) -> list[Any]:
    import numpy as np

    values: list[Any] = array.to_pylist()
    numbers = numeric_values(array)
    # Nulls become NaN in numpy: check the pylist value before replacing.
    odd = np.flatnonzero(np.isnan(numbers) | ((numbers == 0) & np.signbit(numbers)))
    for i in odd.tolist():
        if values[i] is not None:
            values[i] = _DOUBLE.pack(values[i])
    return values


def _encode_json(array: pa.Array) -> list[Any]:
    return [None if v is None else _json_dumps(v) for v in to_python(array)]


def _encode_json_bytes(array: pa.Array) -> list[Any]:
    def text(items: list[bytes | None]) -> str:
        return _json_dumps([None if b is None else base64.b64encode(b).decode() for b in items])

    return [None if v is None else text(v) for v in to_python(array)]


def _encode_vector(array: pa.Array) -> list[Any]:
    import numpy as np
    import pyarrow.compute as pc

    size = array.type.list_size
    values = array.values.slice(array.offset * size, len(array) * size)
    packed = values.to_numpy(zero_copy_only=False).astype("<f4").tobytes()
    width = 4 * size
    out: list[Any] = [packed[i * width : (i + 1) * width] for i in range(len(array))]
    if array.null_count:
        for i in np.flatnonzero(pc.is_null(array).to_numpy(zero_copy_only=False)).tolist():
            out[i] = None
    if values.null_count:
        # Rows holding a null element cannot be packed: store them as JSON.
        python = array.to_pylist()
        element_nulls = pc.is_null(values).to_numpy(zero_copy_only=False).reshape(-1, size)
        for i in np.flatnonzero(element_nulls.any(axis=1)).tolist():
            if python[i] is not None:
                out[i] = _json_dumps(python[i])
    return out


# --- the table --------------------------------------------------------------------------------

_SCALARS: dict[str, Codec] = {
    "bool": Codec("bool", "INTEGER", _encode_plain, _decode_bool),
    "int32": Codec("int", "INTEGER", _encode_plain, None),
    "int64": Codec("int", "INTEGER", _encode_plain, None),
    "timestamp": Codec("timestamp", "INTEGER", _encode_plain, None),
    "float32": Codec("float", "REAL", _encode_float, _decode_float),
    "float64": Codec("float", "REAL", _encode_float, _decode_float),
    "string": Codec("string", "TEXT", _encode_plain, None),
    "bytes": Codec("bytes", "BLOB", _encode_plain, None),
}
_VECTOR = Codec("vector", "BLOB", _encode_vector, _decode_vector)


def codec_for(dtype: DType) -> Codec:
    """The codec of a pitstore type."""
    if isinstance(dtype, Scalar):
        return _SCALARS[dtype.name]
    if isinstance(dtype, Vector):
        return _VECTOR
    if isinstance(dtype, Array):
        element = _SCALARS[dtype.element.name].name
        if dtype.element.name == "bytes":
            return Codec(f"array<{element}>", "TEXT", _encode_json_bytes, _decode_json_bytes)
        return Codec(f"array<{element}>", "TEXT", _encode_json, _decode_json)
    raise TypeError(f"no SQLite codec for {dtype!r}")  # unreachable: DType is closed
