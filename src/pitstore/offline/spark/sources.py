"""Reading a view's Parquet source with Spark, checking its schema, translating Spark errors."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from pitstore.errors import PitstoreError, SchemaError, StoreUnavailableError
from pitstore.offline.duckdb.sources import missing_path_error
from pitstore.offline.files import hadoop_literal_path, source_files
from pitstore.offline.spark.columns import between_filter, col, epoch_us, micros_to_timestamp
from pitstore.offline.spark.types import arrow_schema, is_nanos, is_nanos_list, spark_type
from pitstore.offline.validation import check_source_schema

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, SparkSession

    from pitstore.offline.base import ViewQuery


POS = "__pitstore_pos"
"""A source row's place in its source: ``file ordinal * 2^40 + row index in the file``, files
in path order (a push source: its batch files, then its log's), as DuckDB's ``(file_index,
file_row_number)``. Of rows equal in ts and created, the greatest wins (DuckDB sql.py)."""
FILE_BITS = 40
"""Rows per file up to 2^40 (about 10^12); files up to 2^23 before a position overflows."""
_FILE_PATH = "__pitstore_file"
_ROW_INDEX = "__pitstore_row_index"
_ORDINAL = "__pitstore_ordinal"


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

    def raw(self, column: str) -> Column:
        """A source column as read, except that nanosecond timestamps become timestamps."""
        if column in self.nanos:
            naive = self.arrow.field(column).type.tz is None
            return micros_to_timestamp(self.epoch_us(column), naive=naive)
        return col(column)

    def created_us(self, view: ViewQuery) -> Column:
        """The view's created timestamp in microseconds (a null bigint when it has none)."""
        from pyspark.sql import functions as F

        created = view.source.created_timestamp_field
        return self.epoch_us(created) if created else F.lit(None).cast("bigint")

    def describe(self) -> str:
        """The column list, for error messages."""
        return ", ".join(self.arrow.names)


def read_parquet(
    spark: SparkSession,
    path: str,
    owner: str,
    extra: Sequence[str] = (),
    positions: bool = False,
) -> ParquetFrame:
    """Read the schema of the Parquet file, folder or glob at ``path`` (footers, no rows).

    Local paths are read as the files ``offline/files.py`` lists (the DuckDB engine reads the
    same list): a folder with its subfolders, files in path order, folder names adding no
    column (partition discovery is off: ``recursiveFileLookup``).

    With ``extra`` globs (a push source's log), each path is read on its own and the frames are
    united by column name, as the DuckDB engine's ``union_by_name``: a column missing from a
    path reads as null, columns may come in any order, and Spark's union widens numeric types
    (int32 and int64 give int64). The files of one extra glob may have different columns (the
    log of a source whose views changed): their schemas are merged (``mergeSchema``, which
    reads every footer of that glob).

    ``positions``: the frame gets the column :data:`POS` (not in the Arrow schema).
    """
    if not extra:
        frame, nanos = _read_one(spark, path, owner, merge=False)
        if positions:
            frame, _ = with_file_positions(spark, frame, POS)
        frame, nanos = _floor_nanosecond_lists(frame, nanos)
        arrow = arrow_schema(frame.schema, nanos)
        if POS in arrow.names:  # a column of ours, not the source's
            arrow = arrow.remove(arrow.get_field_index(POS))
        return ParquetFrame(path, frame, arrow, frozenset(nanos))
    parts: list[tuple[DataFrame, dict[str, pa.DataType]]] = []
    files = 0
    for n, one in enumerate((path, *extra)):
        frame, nanos = _read_one(spark, one, owner, merge=n > 0)
        if positions:
            frame, count = with_file_positions(spark, frame, POS, first=files)
            files += count
        parts.append(_floor_nanosecond_lists(frame, nanos))
    return _united(path, owner, parts)


def _read_one(
    spark: SparkSession, path: str, owner: str, merge: bool
) -> tuple[DataFrame, dict[str, pa.DataType]]:
    """One path's files as a frame, and its nanosecond timestamp columns."""
    files = source_files(path)
    if files is not None and not files:
        raise missing_path_error(path, owner)
    options = {"recursiveFileLookup": "true"}
    if merge:
        options["mergeSchema"] = "true"
    # each listed file escaped: Spark reads a path as a glob, and a name may hold [ or {
    paths = [path] if files is None else [hadoop_literal_path(f) for f in files]
    with translate_errors(owner, path):
        frame = spark.read.options(**options).parquet(*paths)
    return frame, _nanosecond_columns(files[0] if files else None, frame)


def with_file_positions(
    spark: SparkSession, frame: DataFrame, name: str, first: int = 0
) -> tuple[DataFrame, int]:
    """``frame`` (a Parquet read) with column ``name`` = ``(first + file ordinal) * 2^40 +
    row index in the file``, files in path order; and how many files it read."""
    from pyspark.sql import functions as F

    # Path order (offline/files.py): Spark's URIs are file: and the absolute path, encoded (a
    # space is %20): decoded, they sort as files.py sorts the paths it lists
    files = sorted((_normal(p) for p in frame.inputFiles()), key=unquote)
    ordinals = spark.createDataFrame(
        [(p, first + i) for i, p in enumerate(files)], f"{_FILE_PATH} string, {_ORDINAL} bigint"
    )
    metadata = frame.metadataColumn("_metadata")  # the hidden one, even beside a real column
    tagged = frame.select(
        "*",
        F.regexp_replace(metadata["file_path"], "^file:/+", "file:/").alias(_FILE_PATH),
        metadata["row_index"].alias(_ROW_INDEX),
    )
    place = col(_ORDINAL) * F.lit(2**FILE_BITS) + col(_ROW_INDEX)
    joined = tagged.join(F.broadcast(ordinals), on=_FILE_PATH, how="left")
    return joined.withColumn(name, place).drop(_FILE_PATH, _ROW_INDEX, _ORDINAL), len(files)


def _normal(uri: str) -> str:
    """A file URI as ``_metadata.file_path`` spells it (``file:/x``, not ``file:///x``)."""
    return re.sub(r"^file:/+", "file:/", uri)


def _united(
    path: str, owner: str, parts: Sequence[tuple[DataFrame, dict[str, pa.DataType]]]
) -> ParquetFrame:
    """One frame from several reads, by column name (see :func:`read_parquet`).

    A column that is a nanosecond timestamp (int64 in Spark) in every part stays int64, so that
    time filters still reach the Parquet scans; one that is nanoseconds in some parts only is
    turned into microsecond timestamps in those parts before the union.
    """
    present = [set(frame.columns) for frame, _ in parts]
    keep = {
        name
        for _, nanos in parts
        for name in nanos
        if all(name in n or name not in c for (_, n), c in zip(parts, present, strict=True))
    }
    united: DataFrame | None = None
    overrides: dict[str, pa.DataType] = {}
    for frame, nanos in parts:
        fixed = frame.withColumns(
            {
                name: micros_to_timestamp(
                    epoch_us(col(name), frame.schema[name].dataType, nanos=True),
                    naive=unit_type.tz is None,
                )
                for name, unit_type in nanos.items()
                if name not in keep
            }
        )
        overrides.update({k: v for k, v in nanos.items() if k in keep})
        united = fixed if united is None else united.unionByName(fixed, allowMissingColumns=True)
    assert united is not None
    with translate_errors(owner, path):
        schema = united.schema  # analysis: a type that cannot be united fails here
    arrow = arrow_schema(schema, overrides)
    if POS in arrow.names:  # a column of ours, not the source's
        arrow = arrow.remove(arrow.get_field_index(POS))
    return ParquetFrame(path, united, arrow, frozenset(overrides))


def _floor_nanosecond_lists(
    frame: DataFrame, nanos: dict[str, pa.DataType]
) -> tuple[DataFrame, dict[str, pa.DataType]]:
    """``frame`` with its lists of nanosecond timestamps (``array<bigint>`` in Spark) turned
    into lists of microsecond timestamps, each element floored toward the past as the DuckDB
    engine floors it (-1 ns is -1 us); and the remaining (top-level) nanosecond columns."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    lists = {n: t for n, t in nanos.items() if not is_nanos(t)}
    if not lists:
        return frame, nanos

    def floored(name: str, list_type: pa.DataType) -> Column:
        naive = list_type.value_type.tz is None
        return F.transform(
            col(name), lambda x: micros_to_timestamp(epoch_us(x, T.LongType(), True), naive)
        )

    fixed = frame.withColumns({n: floored(n, t) for n, t in lists.items()})
    return fixed, {n: t for n, t in nanos.items() if n not in lists}


def _nanosecond_columns(first: str | None, frame: DataFrame) -> dict[str, pa.DataType]:
    """The int64 columns of ``frame`` that are nanosecond timestamps in the Parquet files, and
    its ``array<bigint>`` columns that are lists of them (list, large or fixed-size).

    Spark cannot say (it reads them as plain int64), so the footer of the source's ``first``
    local file is read with pyarrow. On object storage (no ``first``) such columns stay int64,
    and the timestamp check then asks for microsecond timestamps (a list of them is refused
    by the feature type check: a list of int64 is no list of timestamps).
    """
    from pyspark.sql import types as T

    longs = {
        f.name
        for f in frame.schema.fields
        if isinstance(f.dataType, T.LongType)
        or (isinstance(f.dataType, T.ArrayType) and isinstance(f.dataType.elementType, T.LongType))
    }
    if first is None or not longs:
        return {}
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(first)
    except (OSError, ValueError):  # unreadable by pyarrow: Spark's own error comes later
        return {}
    return {
        n: schema.field(n).type
        for n in longs & set(schema.names)
        if is_nanos(schema.field(n).type) or is_nanos_list(schema.field(n).type)
    }


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
