"""The entity frame of a retrieval: accepted inputs and their normalized forms.

In-memory inputs (pandas, Polars, Arrow) become one Arrow table, zero-copy where the library
allows; the engine joins a slim copy of it (row number, keys, timestamp in microseconds) and
puts the result next to the original, untouched, columns.

A string is either a SQL query or a Parquet path. It is a **SQL query** when its first word is
``SELECT``, ``WITH`` or ``FROM`` (any case), followed by white space or ``(``, after optional
white space and opening parentheses; anything else is a **path** to a Parquet file, folder or
glob. So ``"select_rows.parquet"`` and ``"from/x.parquet"`` are paths, and
``"  select * from t"`` is a query. Both are run by DuckDB into a temporary table whose row
order is the input order.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pitstore.errors import SchemaError
from pitstore.offline.duckdb.sql import RN, TS
from pitstore.timeutil import floor_micros

if TYPE_CHECKING:
    import pyarrow as pa

_SQL = re.compile(r"^[\s(]*(select|with|from)[\s(]", re.IGNORECASE)


def is_sql(text: str) -> bool:
    """Whether an entity string is a SQL query (see the module docstring for the rule)."""
    return _SQL.match(text) is not None


@dataclass(frozen=True, slots=True)
class ArrowEntities:
    """An in-memory entity frame, as Arrow."""

    table: pa.Table


@dataclass(frozen=True, slots=True)
class QueryEntities:
    """An entity frame DuckDB computes: a SELECT over a Parquet path or the user's query."""

    query: str
    path: str | None = None

    @property
    def owner(self) -> str:
        """How error messages name this input."""
        return "entity frame" + (f" {self.path}" if self.path else " query")


Entities = ArrowEntities | QueryEntities


def _instance_of(obj: object, module: str, cls: str) -> bool:
    """isinstance without importing ``module`` (if it is not imported, obj can't be one)."""
    mod = sys.modules.get(module)
    return mod is not None and isinstance(obj, getattr(mod, cls))


def load_entities(obj: Any) -> Entities:
    """Classify and normalize an entity input (pandas, Polars, Arrow, path or SQL string)."""
    import pyarrow as pa

    if isinstance(obj, str):
        if is_sql(obj):
            return QueryEntities(obj.strip().rstrip(";"))
        from pitstore.offline.duckdb.sources import scan_relation

        # the files of a source, in its order (offline/files.py): the input order
        return QueryEntities(f"SELECT * FROM {scan_relation('entity frame', obj)}", path=obj)
    if isinstance(obj, pa.Table):
        return ArrowEntities(obj)
    if isinstance(obj, pa.RecordBatch):
        return ArrowEntities(pa.Table.from_batches([obj]))
    if isinstance(obj, pa.RecordBatchReader):
        return ArrowEntities(obj.read_all())
    if _instance_of(obj, "pandas", "DataFrame"):
        # The index is not a column of the frame; reset_index() first to keep it.
        try:
            return ArrowEntities(pa.Table.from_pandas(obj, preserve_index=False))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # e.g. [1, "x"] in one column
            raise SchemaError(
                f"the entity DataFrame cannot be read as Arrow: {exc}; give each column one "
                "type (e.g. df[col].astype(str))"
            ) from None
    if _instance_of(obj, "polars", "DataFrame"):
        return ArrowEntities(obj.to_arrow())
    if hasattr(obj, "__arrow_c_stream__"):
        return ArrowEntities(pa.table(obj))
    raise SchemaError(
        f"entities must be a pandas or Polars DataFrame, a pyarrow Table or RecordBatchReader, "
        f"a Parquet path or a SQL query string; got {type(obj).__module__}.{type(obj).__name__}"
    )


def row_numbers(n: int) -> pa.Array:
    """0, 1, ..., n-1 as int64 (numpy when available: pyarrow has no arange)."""
    import pyarrow as pa

    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with pandas and most installs
        return pa.array(range(n), pa.int64())
    return pa.array(np.arange(n, dtype=np.int64))


def timestamp_us(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A timestamp column as int64 microseconds since the epoch (naive values read as UTC).

    Arrow stores aware timestamps as UTC instants and naive ones as wall-clock values, so the
    stored integers are already UTC in both cases; only the unit changes: nanoseconds are
    floored, as the engines floor a source's (:func:`pitstore.timeutil.floor_micros`).
    """
    result: pa.ChunkedArray = floor_micros(column)
    return result


def slim_table(table: pa.Table, keys: list[str], timestamp_column: str) -> pa.Table:
    """Row number, the join keys (dictionaries decoded) and the timestamp in microseconds."""
    import pyarrow as pa

    arrays: list[Any] = [row_numbers(table.num_rows)]
    names = [RN]
    for key in keys:
        column = table[key]
        if isinstance(column.type, pa.DictionaryType):
            column = column.cast(column.type.value_type)
        arrays.append(column)
        names.append(key)
    arrays.append(timestamp_us(table[timestamp_column]))
    names.append(TS)
    return pa.Table.from_arrays(arrays, names=names)
