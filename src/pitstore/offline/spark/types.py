"""Arrow types <-> Spark SQL types, for the casts the engine applies and the schema checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql.types import DataType, StructType

_SIMPLE = {
    "bool": "BooleanType",
    "int8": "ByteType",
    "int16": "ShortType",
    "int32": "IntegerType",
    "int64": "LongType",
    "float": "FloatType",
    "double": "DoubleType",
    "string": "StringType",
    "large_string": "StringType",
    "string_view": "StringType",
    "binary": "BinaryType",
    "large_binary": "BinaryType",
    "date32[day]": "DateType",
}


def spark_type(arrow_type: pa.DataType) -> DataType | None:
    """The Spark type that comes back from Spark as ``arrow_type`` (up to a cheap Arrow cast).

    None means "no Spark cast" (e.g. unsigned integers, which Spark lacks): the value keeps its
    source type in Spark and is cast on the Arrow side instead.
    """
    import pyarrow as pa
    import pyarrow.types as pat
    from pyspark.sql import types as T

    name = _SIMPLE.get(str(arrow_type))
    if name is not None:
        result: DataType = getattr(T, name)()
        return result
    if pat.is_timestamp(arrow_type):
        # Spark keeps microseconds; an aware type is an instant, a naive one a UTC wall clock.
        return T.TimestampType() if arrow_type.tz is not None else T.TimestampNTZType()
    if isinstance(arrow_type, pa.FixedSizeListType) or pat.is_list(arrow_type):
        inner = spark_type(arrow_type.value_type)
        return T.ArrayType(inner) if inner is not None else None
    return None


def arrow_schema(schema: StructType, overrides: Mapping[str, pa.DataType]) -> pa.Schema:
    """The Arrow schema of a Spark schema, as the shared validation checks expect it.

    ``TIMESTAMP`` (an instant) becomes ``timestamp[us, UTC]`` and ``TIMESTAMP_NTZ`` a naive
    ``timestamp[us]``. ``overrides`` gives the real type of columns Spark cannot show (Parquet
    nanosecond timestamps, which the engine reads as int64). A type Arrow cannot express
    becomes ``null``; such a column can only be a passenger, Spark rejects it in a join.
    """
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_type

    fields = []
    for field in schema.fields:
        if field.name in overrides:
            fields.append(pa.field(field.name, overrides[field.name]))
            continue
        try:
            arrow = to_arrow_type(field.dataType, timezone="UTC")
        except Exception:  # any unsupported type: see the docstring
            arrow = pa.null()
        fields.append(pa.field(field.name, arrow))
    return pa.schema(fields)


def is_nanos(arrow_type: pa.DataType) -> bool:
    """Whether a Parquet column type is a nanosecond timestamp (read as int64 by Spark)."""
    import pyarrow.types as pat

    return bool(pat.is_timestamp(arrow_type) and arrow_type.unit == "ns")


def is_nanos_list(arrow_type: pa.DataType) -> bool:
    """Whether a Parquet column type is a list (plain, large or fixed-size) of nanosecond
    timestamps (read as ``array<bigint>`` by Spark)."""
    import pyarrow.types as pat

    listed = pat.is_list(arrow_type) or pat.is_large_list(arrow_type)
    if not (listed or pat.is_fixed_size_list(arrow_type)):
        return False
    return is_nanos(arrow_type.value_type)
