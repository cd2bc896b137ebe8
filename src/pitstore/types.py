"""The value types of features and join keys.

A small closed set: the scalar types below, ``Array(T)`` of a scalar, and fixed-length
``Vector(dim)`` embeddings (float32). Each type maps to one Arrow type (pyarrow is imported only
when that mapping is asked for) and to a stable string used in the registry (``"int64"``,
``"array<string>"``, ``"vector<float32,128>"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from pitstore.errors import DefinitionError

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True, slots=True)
class DType:
    """Base of every value type."""

    def to_string(self) -> str:
        raise NotImplementedError

    def to_arrow(self) -> pa.DataType:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return self.to_string()


@dataclass(frozen=True, slots=True, repr=False)
class Scalar(DType):
    """A scalar type such as ``Int64``; use the module constants, not this class."""

    name: str

    def to_string(self) -> str:
        return self.name

    def to_arrow(self) -> pa.DataType:
        import pyarrow as pa

        factories = {
            "bool": pa.bool_,
            "int32": pa.int32,
            "int64": pa.int64,
            "float32": pa.float32,
            "float64": pa.float64,
            "string": pa.string,
            "bytes": pa.binary,
        }
        if self.name == "timestamp":
            return pa.timestamp("us", tz="UTC")
        return factories[self.name]()


@dataclass(frozen=True, slots=True, repr=False)
class Array(DType):
    """A variable-length list of one scalar type, e.g. ``Array(String)``."""

    element: Scalar

    def __post_init__(self) -> None:
        if not isinstance(self.element, Scalar):
            raise DefinitionError(
                f"Array element type must be a scalar type such as Int64, got {self.element!r}"
            )

    def to_string(self) -> str:
        return f"array<{self.element.name}>"

    def to_arrow(self) -> pa.DataType:
        import pyarrow as pa

        return pa.list_(self.element.to_arrow())


@dataclass(frozen=True, slots=True, repr=False)
class Vector(DType):
    """A fixed-length float32 vector (an embedding) of ``dim`` values."""

    dim: int

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or isinstance(self.dim, bool) or self.dim < 1:
            raise DefinitionError(f"Vector dim must be a positive integer, got {self.dim!r}")

    def to_string(self) -> str:
        return f"vector<float32,{self.dim}>"

    def to_arrow(self) -> pa.DataType:
        import pyarrow as pa

        return pa.list_(pa.float32(), self.dim)


Bool: Final = Scalar("bool")
Int32: Final = Scalar("int32")
Int64: Final = Scalar("int64")
Float32: Final = Scalar("float32")
Float64: Final = Scalar("float64")
String: Final = Scalar("string")
Bytes: Final = Scalar("bytes")
Timestamp: Final = Scalar("timestamp")

SCALARS: Final[dict[str, Scalar]] = {
    t.name: t for t in (Bool, Int32, Int64, Float32, Float64, String, Bytes, Timestamp)
}
#: Types a join key may have (they are compared for equality and encoded into keys).
KEY_TYPES: Final = frozenset({Int32, Int64, String, Bytes})

_ARRAY = re.compile(r"^array<([a-z0-9]+)>$")
_VECTOR = re.compile(r"^vector<float32,([0-9]+)>$")


def parse_dtype(text: str) -> DType:
    """Parse the registry string form of a type (``"int64"``, ``"array<string>"``...)."""
    value = text.strip().lower()
    if value in SCALARS:
        return SCALARS[value]
    if (m := _ARRAY.match(value)) and m.group(1) in SCALARS:
        return Array(SCALARS[m.group(1)])
    if m := _VECTOR.match(value):
        return Vector(int(m.group(1)))
    valid = ", ".join(SCALARS) + ", array<T>, vector<float32,N>"
    raise DefinitionError(f"unknown type {text!r}; valid types: {valid}")


def from_arrow(arrow_type: pa.DataType) -> DType:
    """The pitstore type of an Arrow type, or a DefinitionError naming it."""
    import pyarrow as pa
    import pyarrow.types as pat

    simple: list[tuple[object, Scalar]] = [
        (pat.is_boolean, Bool),
        (pat.is_int32, Int32),
        (pat.is_int64, Int64),
        (pat.is_float32, Float32),
        (pat.is_float64, Float64),
        (lambda t: pat.is_string(t) or pat.is_large_string(t), String),
        (lambda t: pat.is_binary(t) or pat.is_large_binary(t), Bytes),
        (pat.is_timestamp, Timestamp),
    ]
    for test, dtype in simple:
        if test(arrow_type):  # type: ignore[operator]
            return dtype
    if isinstance(arrow_type, pa.FixedSizeListType) and pat.is_float32(arrow_type.value_type):
        return Vector(arrow_type.list_size)
    if pat.is_list(arrow_type) or pat.is_large_list(arrow_type):
        element = from_arrow(arrow_type.value_type)
        if isinstance(element, Scalar):
            return Array(element)
    raise DefinitionError(f"Arrow type {arrow_type} has no pitstore type")
