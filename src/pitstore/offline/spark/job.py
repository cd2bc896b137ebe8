"""The lazily run result of :meth:`SparkEngine.historical`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pitstore.offline.spark import entities as ent
from pitstore.offline.spark.columns import RN, TS, col
from pitstore.offline.spark.plan import Strategy, ViewPlan, feature_name, matches
from pitstore.offline.spark.sources import translate_errors

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from pitstore.offline.base import ViewQuery
    from pitstore.offline.spark.engine import SparkEngine
    from pitstore.offline.spark.sources import ParquetFrame

_OWNER = "point-in-time retrieval"


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One run's Spark frames: the numbered entity rows and each view's matches."""

    numbered: DataFrame | None
    """The whole entity frame with its row number (None for a local input: built on demand)."""
    slim: DataFrame
    matches: list[DataFrame]


class SparkRetrievalJob:
    """A validated point-in-time retrieval on Spark; each ``to_*`` call runs it.

    ``to_arrow`` collects the result to the driver (Spark 4's ``toArrow``); ``to_parquet``
    has the executors write it; ``to_spark`` hands over the Spark DataFrame itself.
    """

    def __init__(
        self,
        engine: SparkEngine,
        entities: ent.Entities,
        views: Sequence[ViewQuery],
        timestamp_column: str,
        sources: Sequence[ParquetFrame],
        strategy: Strategy,
    ) -> None:
        self._engine = engine
        self._entities = entities
        self._views = tuple(views)
        self._timestamp_column = timestamp_column
        self._plans = [
            ViewPlan(v, s, i, strategy) for i, (v, s) in enumerate(zip(views, sources, strict=True))
        ]

    @property
    def strategies(self) -> list[str]:
        """The plan each view runs with (``join``, ``union`` or ``aggregate``; see plan.py)."""
        return [p.resolved for p in self._plans]

    def to_arrow(self) -> pa.Table:
        """The whole result: the input columns, then the features, in input order."""
        import pyarrow as pa

        with self._engine.tagged_jobs(), translate_errors(_OWNER):
            prepared = self._prepare()
            if isinstance(self._entities, ent.LocalEntities):
                base = prepared.slim.select(col(RN))
                features = self._collect(self._assemble(base, prepared.matches))
                table = self._entities.table
                return pa.Table.from_arrays(
                    [*table.columns, *features.columns],
                    schema=pa.schema([*table.schema, *features.schema]),
                )
            assert prepared.numbered is not None
            return self._collect(self._assemble(prepared.numbered, prepared.matches))

    def to_pandas(self) -> Any:
        """The result as a pandas DataFrame (converted from Arrow)."""
        return self.to_arrow().to_pandas()

    def to_polars(self) -> Any:
        """The result as a Polars DataFrame (zero-copy from Arrow where possible)."""
        import polars as pl

        return pl.from_arrow(self.to_arrow())

    def to_batches(self) -> pa.RecordBatchReader:
        """The result as record batches, in input order (collected first, like ``to_arrow``)."""
        return self.to_arrow().to_reader(max_chunksize=65_536)

    def to_spark(self) -> DataFrame:
        """The result as a Spark DataFrame sorted in input order (Spark types; lazy: the jobs
        that run it are the caller's, not the engine's to interrupt)."""
        with self._engine.tagged_jobs(), translate_errors(_OWNER):
            prepared = self._prepare()
            frame = self._assemble(self._numbered(prepared), prepared.matches)
            return frame.orderBy(col(RN)).drop(RN)

    def to_parquet(self, path: str) -> None:
        """Have Spark write the result, in input order, as a Parquet **folder** at ``path``.

        The folder (replaced if it exists) holds part files whose name order is the row order
        (``part-00000-...``, ``part-00001-...``); pyarrow, DuckDB, Polars and Spark read the
        folder as one table. A local entity frame is written as one part file. Types are
        Spark's: timestamps as UTC microseconds, fixed-size lists as lists.
        """
        with self._engine.tagged_jobs():
            frame = self.to_spark()
            if isinstance(self._entities, ent.LocalEntities):
                frame = frame.coalesce(1)  # it fit in the driver: one file is friendlier
            with translate_errors(_OWNER, path):
                frame.write.mode("overwrite").parquet(path)

    # --- running ---------------------------------------------------------------------------

    def _session(self) -> SparkSession:
        return self._engine.session()

    def _keys(self) -> list[str]:
        return sorted({k for view in self._views for k in view.join_keys})

    def _prepare(self) -> _Prepared:
        """Number the entity rows, find the timestamp bounds and plan each view's matches."""
        spark = self._session()
        if isinstance(self._entities, ent.LocalEntities):
            numbered = None
            slim, bounds = self._local_slim(spark, self._entities.table)
        else:
            numbered = ent.numbered(spark, self._entities)
            slim = ent.slim(numbered, self._keys(), self._timestamp_column)
            bounds = _bounds(slim)
        found = [matches(slim, plan, bounds) for plan in self._plans]
        return _Prepared(numbered, slim, found)

    def _local_slim(
        self, spark: SparkSession, table: pa.Table
    ) -> tuple[DataFrame, tuple[int, int] | None]:
        """The slim entity rows (computed in Arrow, shipped to Spark) and their ts bounds."""
        import pyarrow.compute as pc

        from pitstore.offline.duckdb.entities import slim_table

        slim = slim_table(table, self._keys(), self._timestamp_column)
        slim = _decoded(slim.rename_columns([RN, *self._keys(), TS]))
        bounds = pc.min_max(slim[TS])
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        return spark.createDataFrame(slim), (None if lo is None else (lo, hi))

    def _numbered(self, prepared: _Prepared) -> DataFrame:
        """The whole entity frame with its row number (a local one is shipped to Spark)."""
        if prepared.numbered is not None:
            return prepared.numbered
        from pitstore.offline.duckdb.entities import row_numbers

        assert isinstance(self._entities, ent.LocalEntities)
        table = self._entities.table
        table = table.append_column(RN, row_numbers(table.num_rows))
        with translate_errors("entity frame"):
            return self._session().createDataFrame(_decoded(table))

    def _assemble(self, base: DataFrame, found: list[DataFrame]) -> DataFrame:
        """``base`` (row number first) left-joined with each view's matches, outputs named."""
        frame = base
        for matched in found:
            frame = frame.join(matched, on=RN, how="left")
        passthrough = [col(c) for c in base.columns if c != RN]
        outputs = [
            col(feature_name(plan.index, j)).alias(f.output)
            for plan in self._plans
            for j, f in enumerate(plan.view.features)
        ]
        return frame.select(col(RN), *passthrough, *outputs)

    def _collect(self, frame: DataFrame) -> pa.Table:
        """Run ``frame`` into Arrow, sort by row number on the driver, set declared types.

        Sorting the collected table costs one local pass; a Spark ``ORDER BY`` would add a
        sampling job and a range shuffle for the same result.
        """
        import pyarrow as pa

        table = frame.toArrow().sort_by(RN).drop_columns([RN])
        declared = {f.output: f.arrow_type for view in self._views for f in view.features}
        target = pa.schema([pa.field(f.name, declared.get(f.name, f.type)) for f in table.schema])
        return table if table.schema.equals(target) else table.cast(target)


def _bounds(slim: DataFrame) -> tuple[int, int] | None:
    """``(min, max)`` of the entity ts in microseconds (None if every ts is null): one job."""
    from pyspark.sql import functions as F

    row = slim.agg(F.min(col(TS)), F.max(col(TS))).first()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


def _decoded(table: pa.Table) -> pa.Table:
    """``table`` in types Spark can take from Arrow (:func:`_shippable`, column by column)."""
    import pyarrow as pa

    names = table.column_names
    columns = [_shippable(c, name) for c, name in zip(table.columns, names, strict=True)]
    return pa.Table.from_arrays(columns, names=names)


def _shippable(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    """A column Spark's ``createDataFrame`` accepts, with the same values.

    Spark has no dictionary, unsigned or view type: dictionaries are decoded, uint8/16/32
    become int64, uint64 too when every value fits (else a SchemaError), string_view and
    binary_view become string and binary. Any integer key type compares with the source's
    (validation.key_family), so the keys still join as on DuckDB.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    from pitstore.errors import SchemaError

    kind = column.type
    if isinstance(kind, pa.DictionaryType):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pat.is_uint64(kind):
        top = pc.max(column).as_py()
        if top is not None and top > 2**63 - 1:
            raise SchemaError(
                f"entity frame: column {name!r} is uint64 with a value ({top}) above the "
                "int64 range; Spark has no unsigned type (cast it to int64 or string)"
            )
    if pat.is_unsigned_integer(kind):
        return column.cast(pa.int64())
    if kind == pa.string_view():
        return column.cast(pa.string())
    if kind == pa.binary_view():
        return column.cast(pa.binary())
    return column
