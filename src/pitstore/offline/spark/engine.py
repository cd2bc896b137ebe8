"""The Apache Spark offline engine: point-in-time joins and latest-per-entity on Spark."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pitstore.errors import ConfigError, SchemaError
from pitstore.offline.duckdb.sql import epoch_us
from pitstore.offline.spark import entities as ent
from pitstore.offline.spark.aggregates import event_lists, events_schema
from pitstore.offline.spark.cancel import JobTags
from pitstore.offline.spark.job import SparkRetrievalJob
from pitstore.offline.spark.plan import STRATEGIES, Strategy, latest_rows
from pitstore.offline.spark.session import check_time_zone, prepare, start_session
from pitstore.offline.spark.sources import (
    ParquetFrame,
    check_source,
    read_parquet,
    translate_errors,
)
from pitstore.offline.validation import check_entity_schema

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

    from pitstore.offline.base import ViewQuery


class SparkEngine:
    """An :class:`~pitstore.offline.base.OfflineEngine` on Apache Spark (PySpark 4).

    ``master`` is any Spark master URL (``local[2]``, ``spark://host:7077``, ``yarn``,
    ``k8s://...``) and ``conf`` any Spark settings (``spark.executor.memory``, object storage
    credentials...). Pass ``spark`` to run on an existing session instead; the engine then
    never stops it. Either way the session's time zone is set to UTC (DESIGN.md section 3) and
    Parquet nanosecond timestamps are read as int64 (see session.py); every call raises
    ConfigError if the application has since set the session to another zone.

    ``strategy`` picks the point-in-time plan per view (see plan.py): ``auto`` (join for views
    with a TTL, union for views without), or ``join`` / ``union`` for every view.

    The session starts on first use (a JVM start: seconds), once per engine.
    """

    SUPPORTS_AGGREGATIONS = True
    """Aggregated (windowed) views: ``historical`` and ``events`` (see aggregates.py)."""

    def __init__(
        self,
        master: str = "local[2]",
        conf: Mapping[str, str] | None = None,
        app_name: str = "pitstore",
        spark: SparkSession | None = None,
        *,
        strategy: Strategy = "auto",
    ) -> None:
        if strategy not in STRATEGIES:
            raise ConfigError(
                f"unknown Spark point-in-time strategy {strategy!r}; use one of "
                + ", ".join(STRATEGIES),
                key="offline_engine.strategy",
            )
        self._master = master
        self._conf = dict(conf or {})
        self._app_name = app_name
        self._strategy: Strategy = strategy
        self._spark = spark
        self._owns_session = False
        self._tags = JobTags()
        if spark is not None:
            prepare(spark)

    def session(self) -> SparkSession:
        """The engine's SparkSession, started on first call."""
        if self._spark is None:
            from pitstore.offline.spark.session import import_pyspark

            import_pyspark()
            from pyspark import SparkContext

            # PySpark allows one SparkContext per process: stop only one we started.
            self._owns_session = SparkContext._active_spark_context is None
            self._spark = start_session(self._master, self._app_name, self._conf)
        return self._spark

    @contextmanager
    def tagged_jobs(self) -> Iterator[SparkSession]:
        """The session, with the jobs the calling thread starts in the block tagged as this
        engine's and this thread's, for :meth:`interrupt` (see cancel.py).

        Every engine call (and every ``to_*`` of a job) starts here: it raises ConfigError if
        the session's time zone is no longer UTC (see session.check_time_zone)."""
        spark = self.session()
        check_time_zone(spark)
        with self._tags.tagged(spark.sparkContext):
            yield spark

    def historical(
        self,
        entities: Any,
        views: Sequence[ViewQuery],
        timestamp_column: str = "event_timestamp",
    ) -> SparkRetrievalJob:
        """Point-in-time join of ``entities`` with each view (DESIGN.md section 3).

        Checks the entity frame and every source's schema (Parquet footers only) and raises
        :class:`~pitstore.errors.SchemaError` (or ``NotFoundError`` for a missing path or
        table) before any data is read. An in-memory entity frame is checked before Spark
        starts. The returned job runs the join when one of its ``to_*`` is called.
        """
        views = tuple(views)
        if not views:
            raise SchemaError("historical() needs at least one view; request some features")
        if ent.is_spark_input(entities):
            with self.tagged_jobs() as spark:
                loaded = ent.load_entities(spark, entities)
            schema = loaded.arrow  # type: ignore[union-attr]  # Spark inputs: SparkEntities
        else:
            loaded = ent.LocalEntities(ent.local_table(entities))
            schema = loaded.table.schema
        check_entity_schema(schema, views, timestamp_column)
        with self.tagged_jobs():
            sources = [self._source(view) for view in views]
        return SparkRetrievalJob(self, loaded, views, timestamp_column, sources, self._strategy)

    def _source(self, view: ViewQuery) -> ParquetFrame:
        spec = view.source
        source = read_parquet(
            self.session(), spec.path, f"view {view.name!r}", spec.extra_paths, positions=True
        )
        check_source(view, source)
        return source

    def latest(self, view: ViewQuery, start: datetime, end: datetime) -> pa.RecordBatchReader:
        """Latest row per entity among rows with ``start <= ts <= end`` (naive times are UTC).

        Deduplicated inside Spark (one ``max_by`` aggregation per key, see plan.py); the
        result, one row per entity, is collected to the driver and returned as batches.
        """
        import pyarrow as pa

        with self.tagged_jobs():
            source = self._source(view)
            frame = latest_rows(source, view, epoch_us(start), epoch_us(end))
            with translate_errors(f"view {view.name!r}", source.path):
                table = frame.toArrow()
        utc = pa.timestamp("us", tz="UTC")
        fields = [source.arrow.field(k) for k in view.join_keys]
        fields += [pa.field("__ts", utc), pa.field("__created", utc)]
        fields += [pa.field(f.output, f.arrow_type) for f in view.features]
        return table.cast(pa.schema(fields)).to_reader(max_chunksize=65_536)

    def events(self, view: ViewQuery, end: datetime) -> pa.RecordBatchReader:
        """Per entity, its events in ``(end - longest window, end]`` as lists (aggregated views).

        The DuckDB engine's result (see aggregates.py): lists in (ts, created) order, timestamp
        input columns as int64 microseconds. One aggregation per key; the result, one row per
        entity, is collected to the driver and returned as batches.
        """
        if not view.aggregations:
            raise SchemaError(f"view {view.name!r} has no aggregations; use latest()")
        hi = epoch_us(end)
        lo = hi - (view.lookback_us or 0)
        with self.tagged_jobs():
            source = self._source(view)
            frame = event_lists(source, view, lo, hi)
            with translate_errors(f"view {view.name!r}", source.path):
                table = frame.toArrow()
        return table.cast(events_schema(source, view)).to_reader(max_chunksize=65_536)

    def interrupt(self, thread: int | None = None) -> None:
        """Cancel the Spark jobs running now that this engine started from thread ``thread``
        (an ident), or from any thread when None; each raises where it runs. Jobs of other
        threads and of other users of the session go on (see cancel.py). With PySpark's
        pinned-thread mode off (``PYSPARK_PIN_THREAD=false``), every job of the session is
        cancelled: a job's thread cannot be known then."""
        if self._spark is not None:
            self._tags.cancel(self._spark.sparkContext, thread)

    def close(self) -> None:
        """Stop the session if the engine started it (an adopted session is left running)."""
        if self._spark is not None and self._owns_session:
            self._spark.stop()
        self._spark = None
        self._owns_session = False

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
