"""Arrow type <-> DuckDB SQL type, for the casts the engine writes into its queries."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

_SIMPLE = {
    "bool": "BOOLEAN",
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "uint8": "UTINYINT",
    "uint16": "USMALLINT",
    "uint32": "UINTEGER",
    "uint64": "UBIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "large_string": "VARCHAR",
    "binary": "BLOB",
    "large_binary": "BLOB",
}


def sql_type(arrow_type: pa.DataType) -> str | None:
    """The DuckDB type that returns as ``arrow_type`` (up to list field names), or None.

    None means "no SQL cast": the value is cast on the Arrow side instead.
    """
    import pyarrow as pa
    import pyarrow.types as pat

    if str(arrow_type) in _SIMPLE:
        return _SIMPLE[str(arrow_type)]
    if pat.is_timestamp(arrow_type):
        # Results carry the session zone, which the engine pins to UTC.
        return "TIMESTAMPTZ" if arrow_type.tz is not None else "TIMESTAMP"
    if isinstance(arrow_type, pa.FixedSizeListType):
        inner = sql_type(arrow_type.value_type)
        return f"{inner}[{arrow_type.list_size}]" if inner else None
    if pat.is_list(arrow_type) or pat.is_large_list(arrow_type):
        inner = sql_type(arrow_type.value_type)
        return f"{inner}[]" if inner else None
    return None


def is_timestamp_sql(duckdb_type: str) -> bool:
    """Whether a DuckDB type name (as DESCRIBE prints it) is a timestamp type."""
    return duckdb_type.upper().startswith("TIMESTAMP")
