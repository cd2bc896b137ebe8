"""The embedded DuckDB offline engine: point-in-time joins straight over Parquet files."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pitstore.errors import ConfigError, SchemaError
from pitstore.offline.duckdb import sql
from pitstore.offline.duckdb.entities import ArrowEntities, Entities, load_entities
from pitstore.offline.duckdb.job import DuckDBRetrievalJob, stream_cast
from pitstore.offline.duckdb.sources import (
    check_source,
    inspect_source,
    translate_errors,
)
from pitstore.offline.validation import check_entity_schema

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from pitstore.offline.base import ViewQuery


class DuckDBEngine:
    """An :class:`~pitstore.offline.base.OfflineEngine` on an in-memory DuckDB database.

    The connection opens on first use. ``memory_limit`` (e.g. ``"4GB"``), ``temp_directory``
    (where DuckDB spills when over the limit) and ``threads`` are passed to DuckDB as is. The
    session time zone is pinned to UTC; every comparison is done in UTC microseconds anyway.
    """

    def __init__(
        self,
        *,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
        threads: int | None = None,
    ) -> None:
        self._config: dict[str, Any] = {}
        if memory_limit is not None:
            self._config["memory_limit"] = memory_limit
        if temp_directory is not None:
            self._config["temp_directory"] = temp_directory
        if threads is not None:
            self._config["threads"] = threads
        self._con: duckdb.DuckDBPyConnection | None = None
        #: Cursors not yet collected and the thread that made each, for :meth:`interrupt`.
        self._cursors: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, int] = (
            weakref.WeakKeyDictionary()
        )

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            import duckdb

            try:
                con = duckdb.connect(":memory:", config=self._config)
            except duckdb.Error as exc:
                raise ConfigError(
                    f"invalid DuckDB engine setting ({exc}); valid keys: memory_limit "
                    "(e.g. '4GB'), temp_directory (a folder), threads (a positive integer)",
                    key="offline_store",
                ) from exc
            con.execute("SET GLOBAL TimeZone = 'UTC'")
            self._con = con
        return self._con

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to the engine's database, with its own temporary objects.

        Each run uses its own cursor, so that jobs never see one another's temporary tables
        and may run from several threads.
        """
        cur = self._connection().cursor()
        cur.execute("SET TimeZone = 'UTC'")
        self._cursors[cur] = threading.get_ident()
        return cur

    def interrupt(self, thread: int | None = None) -> None:
        """Stop the queries running now on the cursors that ``thread`` made (all when None);
        each raises where it runs."""
        for cur, maker in list(self._cursors.items()):
            if thread is not None and maker != thread:
                continue
            try:
                cur.interrupt()
            except Exception:  # closed meanwhile: nothing runs on it
                continue

    def historical(
        self,
        entities: Any,
        views: Sequence[ViewQuery],
        timestamp_column: str = "event_timestamp",
    ) -> DuckDBRetrievalJob:
        """Point-in-time join of ``entities`` with each view (DESIGN.md section 3).

        Checks the entity frame and every source's schema (Parquet footers only) and raises
        :class:`~pitstore.errors.SchemaError` (or ``NotFoundError`` for a missing path) before
        any data is read. The returned job runs the join when one of its ``to_*`` is called.
        """
        views = tuple(views)
        if not views:
            raise SchemaError("historical() needs at least one view; request some features")
        loaded = load_entities(entities)
        schema = self._entity_schema(loaded)
        check_entity_schema(schema, views, timestamp_column)
        cur = self.cursor()
        try:
            sources = []
            for view in views:
                source = inspect_source(cur, view)
                check_source(view, source)
                sources.append(source)
        finally:
            cur.close()
        return DuckDBRetrievalJob(self, loaded, views, timestamp_column, sources)

    def _entity_schema(self, entities: Entities) -> pa.Schema:
        """The entity frame's columns; for a path or a query, without reading rows."""
        if isinstance(entities, ArrowEntities):
            return entities.table.schema
        cur = self.cursor()
        try:
            with translate_errors(entities.owner, entities.path):
                result: pa.Schema = (
                    cur.sql(f"SELECT * FROM ({entities.query}\n) LIMIT 0").to_arrow_table().schema
                )
                return result
        finally:
            cur.close()

    def latest(self, view: ViewQuery, start: datetime, end: datetime) -> pa.RecordBatchReader:
        """Latest row per entity among rows with ``start <= ts <= end`` (naive times are UTC).

        Deduplicated inside DuckDB with one hash aggregation (``arg_max`` on the packed
        ``(ts, created)`` order key); the batches stream out of DuckDB.
        """
        import pyarrow as pa

        cur = self.cursor()
        try:
            source = inspect_source(cur, view)
            check_source(view, source)
            ts = view.source.timestamp_field
            lo, hi = sql.epoch_us(start), sql.epoch_us(end)
            where = sql.time_filter(ts, source.sql_types[ts], lo, hi)
            where += f" AND {source.epoch_us(ts)} BETWEEN {lo} AND {hi}"
            query = sql.latest_sql(source.scan_plan(view, where))
            with translate_errors(f"view {view.name!r}", source.path):
                reader = cur.sql(query).to_arrow_reader()
        except BaseException:
            cur.close()
            raise
        utc = pa.timestamp("us", tz="UTC")
        fields = [reader.schema.field(k) for k in view.join_keys]
        fields += [pa.field("__ts", utc), pa.field("__created", utc)]
        fields += [pa.field(f.output, f.arrow_type) for f in view.features]
        return stream_cast(cur, reader, pa.schema(fields))

    def events(self, view: ViewQuery, end: datetime) -> pa.RecordBatchReader:
        """Per entity, its events in ``(end - longest window, end]`` as lists (aggregated views).

        Timestamp input columns are returned as microseconds (int64) lists, like ``_ev_ts``.
        """
        if not view.aggregations:
            raise SchemaError(f"view {view.name!r} has no aggregations; use latest()")
        cur = self.cursor()
        try:
            source = inspect_source(cur, view)
            check_source(view, source)
            hi = sql.epoch_us(end)
            lo = hi - (view.lookback_us or 0)
            ts = view.source.timestamp_field
            plan = source.scan_plan(view, sql.time_filter(ts, source.sql_types[ts], lo, hi))
            with translate_errors(f"view {view.name!r}", source.path):
                reader = cur.sql(sql.events_sql(plan, lo, hi)).to_arrow_reader()
        except BaseException:
            cur.close()
            raise
        return stream_cast(cur, reader, _events_schema(view, reader.schema))

    def close(self) -> None:
        """Close the database (in memory: its temporary files go too)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _events_schema(view: ViewQuery, schema: pa.Schema) -> pa.Schema:
    """The schema :meth:`DuckDBEngine.events` promises: timestamps in UTC, lists of µs."""
    import pyarrow as pa
    import pyarrow.types as pat

    utc = pa.timestamp("us", tz="UTC")
    fields = []
    for field in schema:
        micros_list = pat.is_list(field.type) and pat.is_timestamp(field.type.value_type)
        if field.name in ("__ts", "__created"):
            field = pa.field(field.name, utc)
        elif field.name in ("_ev_ts", "_ev_created") or micros_list:
            field = pa.field(field.name, pa.list_(pa.int64()))
        fields.append(field)
    return pa.schema(fields)
