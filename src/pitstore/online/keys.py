"""The binary form of entity keys, one for every online store (DESIGN.md §4).

Format version 1, byte by byte::

    byte 0          0x01                    format version
    then, for each join key of the view in its declared order, one component:
      integer       0x01  + 8 bytes         signed 64-bit two's complement, big-endian
      string        0x02  + 4 bytes + n     n = byte length (unsigned 32-bit, big-endian),
                                            then the n bytes of the UTF-8 encoding
      bytes         0x03  + 4 bytes + n     n as above, then the n raw bytes

Examples: ``(42,)`` is ``01 01 00000000 0000002a``; ``("ab", "c")`` is
``01 02 00000002 6162 02 00000001 63``.

Decisions, and why:

- **Join key names are not part of the key.** A key is always read and written in the scope of
  one view, whose join keys (names, order, types) are fixed by its definition; the names would
  only make every key longer (memory in Redis, index size in SQLite). Changing a view's join keys
  is a schema change that needs a new materialization anyway. The names are still taken by the
  encoders: they check the number of values and name the key in error messages.
- **Int32 and Int64 encode alike** (always 8 bytes), so widening a key column keeps its keys.
- **Every component is tagged and self-delimiting** (fixed width for integers, a length prefix
  otherwise), so the encoding is injective: ``("ab", "c")`` and ``("a", "bc")`` differ, ``1`` and
  ``"1"`` differ, and no key is a prefix of a different key with the same number of components.
- **Nulls, floats and bools cannot be keys**: they raise :class:`~pitstore.errors.SchemaError`.
  (A bool is an ``int`` to Python; it is refused so that ``True`` never silently means ``1``.)
- Big-endian integers and explicit lengths make the bytes identical on every platform and in
  every process (no hashing, no pickling).

Only :mod:`struct` is imported at module level; pyarrow and numpy are imported by the batch
encoder, :func:`encode_columns`, when it runs.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, SupportsIndex

from pitstore.errors import SchemaError

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstore.types import DType

FORMAT_VERSION: Final = 1
TAG_INT: Final = 0x01
TAG_STRING: Final = 0x02
TAG_BYTES: Final = 0x03

KeyValue = int | str | bytes

_VERSION = bytes([FORMAT_VERSION])
_INT = struct.Struct(">Bq")  # tag + value
_LEN = struct.Struct(">BI")  # tag + byte length
_Q = struct.Struct(">q")
_I = struct.Struct(">I")
_KIND_BY_DTYPE: Final = {"int32": "int", "int64": "int", "string": "string", "bytes": "bytes"}


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _bad_value(name: str, value: object, expected: str) -> SchemaError:
    return SchemaError(
        f"join key {name!r} got {_describe(value)}; expected {expected}. "
        "Hint: join keys are integers, strings or bytes, and never null."
    )


def _component(name: str, value: object, kind: str | None) -> bytes:
    """Encode one key value (the general path; also the error path of the fast ones)."""
    if value is None:
        raise _bad_value(name, value, "a value (nulls cannot be keys)")
    # int, numpy integers... (anything with __index__), but not bool
    if kind in (None, "int") and isinstance(value, SupportsIndex) and not isinstance(value, bool):
        try:
            return _INT.pack(TAG_INT, operator.index(value))
        except struct.error:
            raise _bad_value(name, value, "an integer that fits in 64 bits") from None
    if kind in (None, "string") and isinstance(value, str):
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad_value(name, value, "a string that is valid Unicode") from None
        return _LEN.pack(TAG_STRING, len(data)) + data
    if kind in (None, "bytes") and isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return _LEN.pack(TAG_BYTES, len(data)) + data
    expected = {None: "an int, str or bytes", "int": "an int", "string": "a str"}
    raise _bad_value(name, value, expected.get(kind, "bytes"))


def _kinds(names: Sequence[str], dtypes: Sequence[DType | str] | None) -> list[str | None]:
    if dtypes is None:
        return [None] * len(names)
    if len(dtypes) != len(names):
        raise SchemaError(f"{len(names)} join key names but {len(dtypes)} types")
    kinds: list[str | None] = []
    for name, dtype in zip(names, dtypes, strict=True):
        kind = _KIND_BY_DTYPE.get(str(dtype))
        if kind is None:
            valid = ", ".join(_KIND_BY_DTYPE)
            raise SchemaError(f"join key {name!r} has type {dtype}; key types are {valid}")
        kinds.append(kind)
    return kinds


class KeyEncoder:
    """Encodes the key values of one view, built once per list of join keys (the hot path).

    ``KeyEncoder(["driver_id"]).encode((1001,))`` takes well under a microsecond for integer
    keys. With ``dtypes`` (``"int64"``, ``Int64``...), values of another kind are refused
    (a string for an integer key); without, each value's Python type decides.
    """

    __slots__ = ("_encode", "_kinds", "names")

    def __init__(self, names: Sequence[str], dtypes: Sequence[DType | str] | None = None) -> None:
        if not names:
            raise SchemaError("an entity key needs at least one join key")
        self.names: tuple[str, ...] = tuple(names)
        self._kinds = _kinds(self.names, dtypes)
        self._encode = self._pick_encoder()

    def encode(self, values: Sequence[Any]) -> bytes:
        """The key bytes of ``values`` (one per join key, in declared order)."""
        if len(values) != len(self.names):
            raise SchemaError(
                f"expected {len(self.names)} key values for {list(self.names)}, got {values!r}"
            )
        return self._encode(values)

    def _pick_encoder(self) -> Callable[[Sequence[Any]], bytes]:
        # Specialised closures: the common single-integer and single-string keys avoid the loop.
        if len(self.names) == 1 and self._kinds[0] in (None, "int"):
            return self._single_int
        if len(self.names) == 1 and self._kinds[0] == "string":
            return self._single_str
        return self._general

    def _single_int(self, values: Sequence[Any]) -> bytes:
        value = values[0]
        if type(value) is int and -(2**63) <= value < 2**63:
            return b"\x01\x01" + _Q.pack(value)
        return _VERSION + _component(self.names[0], value, self._kinds[0])

    def _single_str(self, values: Sequence[Any]) -> bytes:
        value = values[0]
        if type(value) is str:
            try:
                data = value.encode("utf-8")
            except UnicodeEncodeError:
                pass  # the general path raises the SchemaError
            else:
                return b"\x01\x02" + _I.pack(len(data)) + data
        return _VERSION + _component(self.names[0], value, "string")

    def _general(self, values: Sequence[Any]) -> bytes:
        parts = [_VERSION]
        for name, kind, value in zip(self.names, self._kinds, values, strict=True):
            # Inline the two common cases; everything else (and every error) goes the long way.
            if type(value) is int and kind != "string" and kind != "bytes":
                if -(2**63) <= value < 2**63:
                    parts.append(_INT.pack(TAG_INT, value))
                    continue
            elif type(value) is str and kind != "int" and kind != "bytes" and value.isascii():
                data = value.encode("ascii")
                parts.append(_LEN.pack(TAG_STRING, len(data)))
                parts.append(data)
                continue
            parts.append(_component(name, value, kind))
        return b"".join(parts)


def encode(names: Sequence[str], values: Sequence[Any]) -> bytes:
    """Encode one key (convenience; build a :class:`KeyEncoder` once on hot paths)."""
    return KeyEncoder(names).encode(values)


def decode(data: bytes) -> tuple[KeyValue, ...]:
    """The key values in ``data`` (for debugging and tests); raises SchemaError if malformed."""
    view = memoryview(data)
    if len(view) < 1 or view[0] != FORMAT_VERSION:
        first = view[0] if len(view) else None
        raise SchemaError(f"not a version {FORMAT_VERSION} entity key (first byte {first!r})")
    values: list[KeyValue] = []
    pos = 1
    try:
        while pos < len(view):
            tag = view[pos]
            if tag == TAG_INT:
                values.append(_Q.unpack_from(view, pos + 1)[0])
                pos += 9
                continue
            if tag not in (TAG_STRING, TAG_BYTES):
                raise SchemaError(f"unknown key component tag {tag:#04x} at byte {pos}")
            (length,) = _I.unpack_from(view, pos + 1)
            end = pos + 5 + length
            if end > len(view):
                raise SchemaError(f"key truncated: component at byte {pos} needs {length} bytes")
            raw = bytes(view[pos + 5 : end])
            values.append(raw.decode("utf-8") if tag == TAG_STRING else raw)
            pos = end
    except struct.error:
        raise SchemaError(f"key truncated at byte {pos}: {bytes(data)!r}") from None
    if not values:
        raise SchemaError("empty entity key (no components)")
    return tuple(values)


# --- batch encoding -------------------------------------------------------------------------


def encode_columns(names: Sequence[str], arrays: Sequence[pa.Array]) -> pa.BinaryArray:
    """Encode many keys at once: ``arrays[j]`` holds the values of join key ``names[j]``.

    Row ``i`` of the result equals ``KeyEncoder(names).encode((arrays[0][i], ...))``. Integer
    (any width), string and binary columns are accepted (also chunked or dictionary-encoded);
    a null, a float or a bool column raises SchemaError naming the column.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not names or len(names) != len(arrays):
        raise SchemaError(f"{len(names)} join key names but {len(arrays)} key columns")
    columns = [_plain_column(name, array) for name, array in zip(names, arrays, strict=True)]
    length = len(columns[0])
    for name, column in zip(names, columns, strict=True):
        if len(column) != length:
            raise SchemaError(f"key column {name!r} has {len(column)} rows, expected {length}")
    if all(pa.types.is_integer(c.type) for c in columns):
        return _encode_int_columns(columns)
    parts: list[Any] = [pa.scalar(_VERSION, pa.binary())]
    for column in columns:
        parts.extend(_column_parts(column))
    if length == 0:
        return pa.array([], pa.binary())
    return pc.binary_join_element_wise(*parts, pa.scalar(b"", pa.binary()))


def _plain_column(name: str, array: Any) -> pa.Array:
    """A non-null, non-dictionary Arrow array of an accepted key type, or SchemaError."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not isinstance(array, pa.Array):
        array = pa.array(array)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    kind = array.type
    if pa.types.is_string_view(kind) or pa.types.is_binary_view(kind):
        array = array.cast(pa.large_string() if pa.types.is_string_view(kind) else pa.binary())
    ok = pa.types.is_integer(array.type) or pa.types.is_string(array.type)
    ok = ok or pa.types.is_large_string(array.type) or pa.types.is_binary(array.type)
    ok = ok or pa.types.is_large_binary(array.type)
    if not ok:
        raise SchemaError(
            f"join key {name!r} has Arrow type {array.type}; "
            "key columns must be integers, strings or binary"
        )
    if array.null_count:
        row = pc.index(pc.is_null(array), True).as_py()
        raise SchemaError(f"join key {name!r} is null at row {row}; null keys cannot be encoded")
    if pa.types.is_uint64(array.type):
        too_big = pc.greater(array, pa.scalar(2**63 - 1, pa.uint64()))
        if pc.any(too_big).as_py():
            row = pc.index(too_big, True).as_py()
            raise _bad_value(name, array[row].as_py(), "an integer that fits in 64 bits")
    return array


def _encode_int_columns(columns: Sequence[pa.Array]) -> pa.BinaryArray:
    # All-integer keys have a fixed width: write them into one numpy matrix, no Python loop.
    import numpy as np
    import pyarrow as pa

    from pitstore.online.batch import numeric_values

    length = len(columns[0])
    width = 1 + 9 * len(columns)
    matrix = np.empty((length, width), dtype=np.uint8)
    matrix[:, 0] = FORMAT_VERSION
    for j, column in enumerate(columns):
        start = 1 + 9 * j
        matrix[:, start] = TAG_INT
        values = numeric_values(column, "int64")
        big_endian = values.astype(">i8", copy=False).view(np.uint8).reshape(length, 8)
        matrix[:, start + 1 : start + 9] = big_endian
    offsets = np.arange(0, width * (length + 1), width, dtype=np.int32)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(matrix)]
    return pa.Array.from_buffers(pa.binary(), length, buffers)


def _column_parts(column: pa.Array) -> list[pa.Array]:
    """The per-row pieces of one key component: a fixed header, then the data if any."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from pitstore.online.batch import numeric_values

    length = len(column)
    if pa.types.is_integer(column.type):
        header = np.empty(length, dtype=[("tag", "u1"), ("value", ">i8")])
        header["tag"] = TAG_INT
        header["value"] = numeric_values(column, "int64")
        return [_fixed_binary(header)]
    is_text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    sizes = numeric_values(pc.binary_length(column), "int64")
    if length and int(sizes.max()) >= 2**32:
        raise SchemaError("a key value is 4 GiB or longer; keys must be shorter")
    header = np.empty(length, dtype=[("tag", "u1"), ("size", ">u4")])
    header["tag"] = TAG_STRING if is_text else TAG_BYTES
    header["size"] = sizes
    data = column.cast(pa.binary())
    return [_fixed_binary(header), data]


def _fixed_binary(records: Any) -> pa.Array:
    import pyarrow as pa

    width = records.dtype.itemsize
    buffers = [None, pa.py_buffer(records.tobytes())]
    fixed = pa.Array.from_buffers(pa.binary(width), len(records), buffers)
    return fixed.cast(pa.binary())
