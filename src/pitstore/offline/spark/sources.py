"""Reading a view's Parquet source with Spark, checking its schema, translating Spark errors."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pitstore.errors import PitstoreError, SchemaError, StoreUnavailableError
from pitstore.offline.duckdb.sources import missing_path_error
from pitstore.offline.spark.columns import between_filter, col, epoch_us, micros_to_timestamp
from pitstore.offline.spark.types import arrow_schema, is_nanos, spark_type
from pitstore.offline.validation import check_source_schema

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, SparkSession

    from pitstore.offline.base import ViewQuery


@dataclass(frozen=True, slots=True)
class ParquetFrame:
    """A Parquet path read by Spark, with the Arrow view of its schema used by the checks."""

    path: str
    frame: DataFrame
    arrow: pa.Schema
    nanos: frozenset[str]
    """Columns that are nanosecond timestamps in the files (Spark reads them as int64)."""

    def epoch_us(self, column: str) -> Column:
        """The timestamp ``column`` in microseconds since the epoch (UTC)."""
        return epoch_us(col(column), self.frame.schema[column].dataType, column in self.nanos)

    def between(self, column: str, lo_us: int | None, hi_us: int | None) -> Column:
        """A pushed-down filter keeping ``column`` in about ``[lo, hi]`` (see columns.py)."""
        dtype = self.frame.schema[column].dataType
        return between_filter(col(column), dtype, column in self.nanos, lo_us, hi_us)

    def value(self, column: str, arrow_type: pa.DataType) -> Column:
        """A source column cast to a feature's declared type (when Spark has that type)."""
        import pyarrow.types as pat

        target = spark_type(arrow_type)
        if column in self.nanos and pat.is_timestamp(arrow_type):
            return micros_to_timestamp(self.epoch_us(column), naive=arrow_type.tz is None)
        return col(column) if target is None else col(column).cast(target)

    def describe(self) -> str:
        """The column list, for error messages."""
        return ", ".join(self.arrow.names)


def read_parquet(spark: SparkSession, path: str, owner: str) -> ParquetFrame:
    """Read the schema of the Parquet file, folder or glob at ``path`` (footers, no rows)."""
    if "://" not in path and not glob.has_magic(path) and not os.path.exists(path):
        raise missing_path_error(path, owner)
    with translate_errors(owner, path):
        frame = spark.read.parquet(path)
    overrides = _nanosecond_columns(path, frame)
    return ParquetFrame(path, frame, arrow_schema(frame.schema, overrides), frozenset(overrides))


def _nanosecond_columns(path: str, frame: DataFrame) -> dict[str, pa.DataType]:
    """The int64 columns of ``frame`` that are nanosecond timestamps in the Parquet files.

    Spark cannot say (it reads them as plain int64), so one file footer is read with pyarrow.
    Only local paths can be inspected; on object storage such columns stay int64, and the
    timestamp check then asks for microsecond timestamps.
    """
    from pyspark.sql import types as T

    longs = {f.name for f in frame.schema.fields if isinstance(f.dataType, T.LongType)}
    first = _first_file(path) if longs else None
    if first is None:
        return {}
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(first)
    except (OSError, ValueError):  # unreadable by pyarrow: Spark's own error comes later
        return {}
    return {
        n: schema.field(n).type for n in longs & set(schema.names) if is_nanos(schema.field(n).type)
    }


def _first_file(path: str) -> str | None:
    """One local Parquet file of a file, folder or glob (None for object storage)."""
    if "://" in path and not path.startswith("file:"):
        return None
    path = path.removeprefix("file://").removeprefix("file:")
    if os.path.isfile(path):
        return path
    pattern = os.path.join(path, "**", "*") if os.path.isdir(path) else path
    for name in sorted(glob.glob(pattern, recursive=True)):
        base = os.path.basename(name)
        if os.path.isfile(name) and not base.startswith(("_", ".")):
            return name
    return None


def check_source(view: ViewQuery, source: ParquetFrame) -> None:
    """Every column the view reads exists in its source, with usable types."""
    check_source_schema(view, source.arrow, source.path)


@contextmanager
def translate_errors(owner: str, path: str | None = None) -> Iterator[None]:
    """Re-raise Spark errors as pitstore errors naming the owner (``view 'x'``) and the path."""
    from pyspark.errors import AnalysisException, PySparkException

    where = f"{owner} (source {path})" if path else owner
    try:
        yield
    except AnalysisException as exc:
        if path and _condition(exc) == "PATH_NOT_FOUND":
            raise missing_path_error(path, owner) from exc
        raise SchemaError(f"{where}: {_first_line(exc)}") from exc
    except PySparkException as exc:  # cast failures (ANSI mode), unreadable files...
        raise PitstoreError(f"{where}: Spark failed: {_first_line(exc)}") from exc
    except Exception as exc:
        # py4j's errors, matched by name: py4j ships no type information to import.
        kind = type(exc).__name__
        if kind == "Py4JJavaError":  # a Java error PySpark does not wrap (job aborted, OOM...)
            raise PitstoreError(f"{where}: Spark failed: {_java_message(exc)}") from exc
        if kind == "Py4JNetworkError":
            raise StoreUnavailableError(
                f"{where}: lost the connection to the Spark driver JVM ({_first_line(exc)}); "
                "restart the engine"
            ) from exc
        raise


def _java_message(exc: Exception) -> str:
    java = getattr(exc, "java_exception", None)
    return str(java).splitlines()[0] if java is not None else _first_line(exc)


def _condition(exc: Exception) -> str | None:
    get = getattr(exc, "getCondition", None)
    return str(get()) if callable(get) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
