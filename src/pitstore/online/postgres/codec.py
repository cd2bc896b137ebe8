"""How feature values are stored in PostgreSQL columns, per pitstore type.

=====================  ====================  ==============================================
pitstore type          column type           notes
=====================  ====================  ==============================================
bool                   boolean
int32                  integer               widened in place to bigint by an int64 write
int64                  bigint
timestamp              bigint                microseconds since the epoch, UTC
float32                real                  widened in place to double precision
float64                double precision      NaN, infinities and -0.0 are kept natively
string                 text                  NUL escaped (below)
bytes                  bytea
array<T>               T[] (native array)    null elements kept; ``{}`` is the empty list
vector<float32,N>      real[]                N elements, read back as Python floats
=====================  ====================  ==============================================

Null is SQL NULL everywhere. Native arrays rather than JSONB: they keep NaN, -0.0 and float32
values exactly, load in binary without a JSON parser, and are queryable with plain SQL
(``f[1]``, ``unnest(f)``); vectors are ``real[]`` so that pgvector users can cast them.

PostgreSQL ``text`` cannot hold the NUL character. A string is therefore stored with two
escapes, applied in this order: ``U+E000`` (a private-use character) becomes ``U+E000 'e'`` and
``U+0000`` becomes ``U+E000 '0'``. Every stored ``U+E000`` starts an escape, so the decoding
(``U+E000 '0'`` first, then ``U+E000 'e'``) is exact; strings holding neither character (nearly
all) are stored unchanged and stay readable with plain SQL.

Reads cast integer columns to ``bigint`` and float columns to ``double precision`` (arrays
alike), so the result type of a prepared read never changes when another writer widens a
column (PostgreSQL refuses to reuse a prepared plan whose result type changed).

Each codec has a ``family``: a column's family never changes once written, so a later write
may widen int32 to int64 or float32 to float64, but not turn an int into a string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pitstore.online.batch import to_python
from pitstore.types import Array, DType, Scalar, Vector

if TYPE_CHECKING:
    import pyarrow as pa

Decoder = Callable[[Any], Any]

ESCAPE: Final = "\ue000"
_ESCAPED_ESCAPE: Final = ESCAPE + "e"
_ESCAPED_NUL: Final = ESCAPE + "0"


@dataclass(frozen=True, slots=True)
class Codec:
    """The storage of one pitstore type.

    ``column_type`` is the SQL type of the view table's column, ``copy_type`` the type name
    psycopg dumps batch values as (binary COPY), ``rank`` orders the types of one family
    (the wider wins), ``read_cast`` the type a read casts the column to (None: no cast).
    ``decode`` is None when psycopg already returns the right Python value.
    """

    family: str
    column_type: str
    copy_type: str
    rank: int
    read_cast: str | None
    encode: Callable[[pa.Array], list[Any]]
    decode: Decoder | None


# --- strings: the NUL escape --------------------------------------------------------------


def escape_text(value: str) -> str:
    """``value`` in its stored form (see the module docstring)."""
    if "\x00" in value or ESCAPE in value:
        return value.replace(ESCAPE, _ESCAPED_ESCAPE).replace("\x00", _ESCAPED_NUL)
    return value


def unescape_text(value: str) -> str:
    """The string whose stored form is ``value``."""
    return value.replace(_ESCAPED_NUL, "\x00").replace(_ESCAPED_ESCAPE, ESCAPE)


def _decode_text(value: Any) -> Any:
    if value is None or ESCAPE not in value:
        return value
    return unescape_text(value)


def _decode_text_array(value: Any) -> Any:
    if value is None:
        return None
    return [_decode_text(v) for v in value]


def _contains(array: pa.Array, text: str) -> bool:
    import pyarrow.compute as pc

    return bool(pc.any(pc.match_substring(array, text)).as_py())


def _escape_array(array: pa.Array) -> pa.Array:
    """A string array with the NUL escape applied, vectorized (a no-op for most batches)."""
    import pyarrow.compute as pc

    if not len(array) or not (_contains(array, "\x00") or _contains(array, ESCAPE)):
        return array
    array = pc.replace_substring(array, ESCAPE, _ESCAPED_ESCAPE)
    return pc.replace_substring(array, "\x00", _ESCAPED_NUL)


# --- encoders: whole Arrow columns to Python values that psycopg dumps --------------------


def _encode_plain(array: pa.Array) -> list[Any]:
    return to_python(array)


def _encode_text(array: pa.Array) -> list[Any]:
    return _escape_array(array).to_pylist()  # type: ignore[no-any-return]


def _encode_text_list(array: pa.Array) -> list[Any]:
    # Arrays of strings are rare: plain Python is fast enough here.
    return [
        None if items is None else [None if s is None else escape_text(s) for s in items]
        for items in array.to_pylist()
    ]


# --- the table ------------------------------------------------------------------------------


def _scalar(family: str, column: str, copy: str, rank: int = 0, cast: str | None = None) -> Codec:
    if family == "string":
        return Codec(family, column, copy, rank, cast, _encode_text, _decode_text)
    return Codec(family, column, copy, rank, cast, _encode_plain, None)


_SCALARS: Final[dict[str, Codec]] = {
    "bool": _scalar("bool", "boolean", "bool"),
    "int32": _scalar("int", "integer", "int4", 0, "int8"),
    "int64": _scalar("int", "bigint", "int8", 1, "int8"),
    "timestamp": _scalar("timestamp", "bigint", "int8"),
    "float32": _scalar("float", "real", "float4", 0, "float8"),
    "float64": _scalar("float", "double precision", "float8", 1, "float8"),
    "string": _scalar("string", "text", "text"),
    "bytes": _scalar("bytes", "bytea", "bytea"),
}
_VECTOR: Final = Codec("vector", "real[]", "float4[]", 0, None, _encode_plain, None)


def _array_codec(element: Codec) -> Codec:
    cast = None if element.read_cast is None else element.read_cast + "[]"
    if element.family == "string":
        encode, decode = _encode_text_list, _decode_text_array
    else:
        encode, decode = _encode_plain, None
    return Codec(
        f"array<{element.family}>",
        element.column_type + "[]",
        element.copy_type + "[]",
        element.rank,
        cast,
        encode,
        decode,
    )


_ARRAYS: Final[dict[str, Codec]] = {name: _array_codec(c) for name, c in _SCALARS.items()}


def codec_for(dtype: DType) -> Codec:
    """The codec of a pitstore type."""
    if isinstance(dtype, Scalar):
        return _SCALARS[dtype.name]
    if isinstance(dtype, Vector):
        return _VECTOR
    if isinstance(dtype, Array):
        return _ARRAYS[dtype.element.name]
    raise TypeError(f"no PostgreSQL codec for {dtype!r}")  # unreachable: DType is closed
