"""The entity frame of a Spark retrieval: accepted inputs, their row order, their schema.

Inputs and how their **input order** is kept (each row gets an increasing row number before any
join; the result is sorted by it):

- pandas, Polars, Arrow (table, batch, reader): converted to Arrow in the driver; the row
  number is the position. The input columns are returned unchanged, as on the DuckDB engine.
- a Parquet path (file, folder or glob, local or on object storage): files in path order, rows
  in file order. The row number is ``file ordinal * 2^40 + _metadata.row_index``, so no shuffle
  and no extra pass is needed; Spark's partition order (largest split first) does not matter.
- a SQL query (Spark SQL, same rule as the DuckDB engine: the first word is SELECT, WITH or
  FROM), a table name, or a Spark DataFrame: the order in which Spark yields the rows (add an
  ORDER BY to fix it). The row number is ``monotonically_increasing_id()`` (partition index,
  then position: increasing, not contiguous), and the numbered frame is checkpointed once so
  that a non-deterministic plan cannot number its rows twice in two different ways.

A string is SQL by the rule above; otherwise a **table name** when it is a dotted identifier
(``name``, ``db.name`` or ``catalog.db.name``), is not an existing local path and has no
``.parquet`` suffix; otherwise a Parquet path. Pass ``spark.table(...)`` to be explicit.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pitstore.errors import NotFoundError, SchemaError
from pitstore.offline.duckdb.entities import is_sql
from pitstore.offline.spark.columns import RN, TS, col, epoch_us, micros_to_timestamp
from pitstore.offline.spark.sources import read_parquet, translate_errors, with_file_positions
from pitstore.offline.spark.types import arrow_schema

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")


def is_table_name(text: str) -> bool:
    """Whether an entity string names a table (see the module docstring for the rule)."""
    return (
        _TABLE.fullmatch(text) is not None
        and not text.lower().endswith(".parquet")
        and not os.path.exists(text)
    )


@dataclass(frozen=True, slots=True)
class LocalEntities:
    """An entity frame in the driver's memory, as Arrow."""

    table: pa.Table


@dataclass(frozen=True, slots=True)
class SparkEntities:
    """An entity frame Spark computes: a Parquet path, a query, a table or a DataFrame."""

    frame: DataFrame
    arrow: pa.Schema
    order: Literal["files", "frame"]
    owner: str
    nanos: frozenset[str] = frozenset()


Entities = LocalEntities | SparkEntities


def load_entities(spark: SparkSession, obj: Any) -> Entities:
    """Classify an entity input and read its schema (no rows are read)."""
    from pyspark.sql import DataFrame

    if isinstance(obj, DataFrame):
        return _frame(obj, "entity frame (Spark DataFrame)")
    if isinstance(obj, str):
        if is_sql(obj):
            with translate_errors("entity frame query"):
                frame = spark.sql(obj.strip().rstrip(";"))
            return _frame(frame, "entity frame query")
        if is_table_name(obj):
            return _frame(_table(spark, obj), f"entity frame (table {obj})")
        parquet = read_parquet(spark, obj, "entity frame")
        return SparkEntities(parquet.frame, parquet.arrow, "files", "entity frame", parquet.nanos)
    return LocalEntities(local_table(obj))


def _frame(frame: DataFrame, owner: str) -> SparkEntities:
    return SparkEntities(frame, arrow_schema(frame.schema, {}), "frame", owner)


def _table(spark: SparkSession, name: str) -> DataFrame:
    from pyspark.errors import AnalysisException

    try:
        return spark.table(name)
    except AnalysisException as exc:
        known = [t.name for t in spark.catalog.listTables()]
        error = NotFoundError("table", name, known)
        error.args = (
            f"entity frame: {name!r} is neither a table of the Spark catalog nor a Parquet "
            f"path ({error.args[0]}); pass a path with a folder or a .parquet suffix, or a "
            "Spark DataFrame",
        )
        raise error from exc


def is_spark_input(obj: Any) -> bool:
    """Whether Spark must read the input (a string or a Spark DataFrame), not the driver."""
    if isinstance(obj, str):
        return True
    sql = sys.modules.get("pyspark.sql")  # never imported just to answer "no"
    return sql is not None and isinstance(obj, sql.DataFrame)


def local_table(obj: Any) -> pa.Table:
    """pandas, Polars or Arrow input as one Arrow table (the DuckDB engine's conversion)."""
    from pitstore.offline.duckdb.entities import load_entities as load_local

    try:
        loaded = load_local(obj)
    except SchemaError as exc:
        raise SchemaError(
            "entities must be a pandas or Polars DataFrame, a pyarrow Table or "
            "RecordBatchReader, a Spark DataFrame, a Parquet path, a table name or a SQL query "
            f"string; got {type(obj).__module__}.{type(obj).__name__}"
        ) from exc
    table: pa.Table = loaded.table  # type: ignore[union-attr]  # not a string: always Arrow
    return table


def numbered(spark: SparkSession, entities: SparkEntities) -> DataFrame:
    """The entity frame with its row number column :data:`RN` (see the module docstring)."""
    from pyspark.sql import functions as F

    if entities.order == "frame":
        frame = entities.frame.withColumn(RN, F.monotonically_increasing_id())
        with translate_errors(entities.owner):
            return frame.localCheckpoint(eager=True)
    frame, _ = with_file_positions(spark, entities.frame, RN)
    # Nanosecond timestamps arrive as int64: give them back as (microsecond) timestamps.
    return frame.withColumns(
        {
            name: micros_to_timestamp(
                epoch_us(col(name), frame.schema[name].dataType, nanos=True),
                naive=entities.arrow.field(name).type.tz is None,
            )
            for name in entities.nanos
        }
    )


def slim(frame: DataFrame, keys: list[str], ts_column: str) -> DataFrame:
    """Row number, the join keys and the entity ts in microseconds, from a numbered frame."""
    ts = epoch_us(col(ts_column), frame.schema[ts_column].dataType, nanos=False)
    return frame.select(col(RN), *(col(k) for k in keys), ts.alias(TS))
