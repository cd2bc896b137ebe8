"""The lazily run result of :meth:`DuckDBEngine.historical`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pitstore.offline.duckdb import sql
from pitstore.offline.duckdb.entities import (
    ArrowEntities,
    Entities,
    QueryEntities,
    row_numbers,
    slim_table,
)
from pitstore.offline.duckdb.sources import SourceSchema, translate_errors
from pitstore.offline.parquet import has_duration, write_parquet

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from pitstore.offline.base import ViewQuery
    from pitstore.offline.duckdb.engine import DuckDBEngine

_ENTITIES = "__pitstore_entities"
_FULL = "__pitstore_full"
_OWNER = "point-in-time retrieval"


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What a run needs on its cursor: the entity relation and the source plans."""

    entity_relation: str
    plans: list[sql.ScanPlan]
    intervals: tuple[str, ...] = ()
    """The INTERVAL columns of a query's entity frame (returned as ``duration[us]``)."""


class DuckDBRetrievalJob:
    """A validated point-in-time retrieval; each ``to_*`` call runs it on a fresh cursor."""

    def __init__(
        self,
        engine: DuckDBEngine,
        entities: Entities,
        views: Sequence[ViewQuery],
        timestamp_column: str,
        sources: Sequence[SourceSchema],
    ) -> None:
        self._engine = engine
        self._entities = entities
        self._views = tuple(views)
        self._timestamp_column = timestamp_column
        self._sources = tuple(sources)

    def to_arrow(self) -> pa.Table:
        """The whole result: the input columns unchanged, then the features, in input order."""
        import pyarrow as pa

        cur = self._engine.cursor()
        try:
            prepared = self._prepare(cur)
            if isinstance(self._entities, ArrowEntities):
                query = sql.historical_sql(prepared.entity_relation, prepared.plans, None)
                with translate_errors(_OWNER):
                    features = self._cast(cur.sql(query).to_arrow_table())
                table = self._entities.table
                fields = [*table.schema, *features.schema]
                return pa.Table.from_arrays(
                    [*table.columns, *features.columns], schema=pa.schema(fields)
                )
            query = self._full_sql(cur, prepared)
            with translate_errors(_OWNER):
                return self._cast(cur.sql(query).to_arrow_table(), prepared.intervals)
        finally:
            cur.close()

    def to_pandas(self) -> Any:
        """The result as a pandas DataFrame (converted from Arrow)."""
        return self.to_arrow().to_pandas()

    def to_polars(self) -> Any:
        """The result as a Polars DataFrame (zero-copy from Arrow where possible)."""
        import polars as pl

        return pl.from_arrow(self.to_arrow())

    def to_parquet(self, path: str) -> None:
        """Write the result to one Parquet file; DuckDB streams it to disk (``COPY ... TO``).

        A result with a duration column is written by pyarrow instead, still batch by batch:
        DuckDB writes a Parquet INTERVAL (see :mod:`pitstore.offline.parquet`).
        """
        if isinstance(self._entities, ArrowEntities) and has_duration(self._entities.table.schema):
            write_parquet(self.to_arrow(), path)  # the input is in memory, and so is the result
            return
        cur = self._engine.cursor()
        try:
            prepared = self._prepare(cur)
            query = self._full_sql(cur, prepared)
            with translate_errors(_OWNER):
                if prepared.intervals:
                    reader = cur.sql(query).to_arrow_reader()
                    schema = self._target_schema(reader.schema, prepared.intervals)
                    write_parquet(cast_reader(reader, schema), path)
                else:
                    cur.execute(f"COPY ({query}) TO {sql.literal(path)} (FORMAT parquet)")
        finally:
            cur.close()

    def to_batches(self) -> pa.RecordBatchReader:
        """The result as a stream of record batches, in input order."""
        if isinstance(self._entities, ArrowEntities):
            # The input already lives in Python memory; so does a result of the same length.
            return self.to_arrow().to_reader()
        cur = self._engine.cursor()
        try:
            prepared = self._prepare(cur)
            query = self._full_sql(cur, prepared)
            with translate_errors(_OWNER):
                reader = cur.sql(query).to_arrow_reader()
        except BaseException:
            cur.close()
            raise
        return stream_cast(cur, reader, self._target_schema(reader.schema, prepared.intervals))

    def _prepare(self, cur: duckdb.DuckDBPyConnection) -> _Prepared:
        """Put the entity rows on the cursor and plan each source scan."""
        keys = sorted({k for view in self._views for k in view.join_keys})
        if isinstance(self._entities, ArrowEntities):
            slim = slim_table(self._entities.table, keys, self._timestamp_column)
            cur.register(_ENTITIES, slim)
            lo, hi = _arrow_bounds(slim)
            return _Prepared(_ENTITIES, self._scan_plans(lo, hi))
        return self._prepare_query(cur, self._entities, keys)

    def _prepare_query(
        self, cur: duckdb.DuckDBPyConnection, entities: QueryEntities, keys: list[str]
    ) -> _Prepared:
        with translate_errors(entities.owner, entities.path):
            # Rows numbered as they come (DuckDB keeps the query's order), in a column of our
            # own: ``rowid`` is shadowed by an input column of that name. The line break ends
            # a ``-- comment`` on the query's last line.
            cur.execute(
                f"CREATE TEMP TABLE {_ENTITIES} AS SELECT row_number() OVER () - 1 AS "
                f"{sql.RN}, * FROM ({entities.query}\n)"
            )
        cols = [sql.RN, *(sql.ident(k) for k in keys)]
        # the column's own type: a nanosecond one is floored, not cast (rounded)
        kind = _column_type(cur, self._timestamp_column)
        cols.append(f"{sql.epoch_us_expr(self._timestamp_column, kind)} AS {sql.TS}")
        relation = f"(SELECT {', '.join(cols)} FROM {_ENTITIES})"
        bounds = f"SELECT min({sql.TS}), max({sql.TS}) FROM {relation}"
        lo, hi = cur.sql(bounds).fetchall()[0]
        return _Prepared(relation, self._scan_plans(lo, hi), _interval_columns(cur))

    def _scan_plans(self, lo: int | None, hi: int | None) -> list[sql.ScanPlan]:
        return [
            self._scan_plan(view, src, lo, hi)
            for view, src in zip(self._views, self._sources, strict=True)
        ]

    @staticmethod
    def _scan_plan(
        view: ViewQuery, source: SourceSchema, lo: int | None, hi: int | None
    ) -> sql.ScanPlan:
        """Prune the source to ``[min(entity ts) - lookback, max(entity ts)]``.

        The lookback is the TTL, or the longest window of an aggregated view.
        """
        ts = view.source.timestamp_field
        if lo is None or hi is None:  # no entity row has a timestamp: nothing can match
            return source.scan_plan(view, "FALSE")
        lookback = view.lookback_us
        low = lo - lookback if lookback is not None else None
        return source.scan_plan(view, sql.time_filter(ts, source.sql_types[ts], low, hi))

    def _full_sql(self, cur: duckdb.DuckDBPyConnection, prepared: _Prepared) -> str:
        """The query returning the input columns and the features (for DuckDB to write)."""
        if isinstance(self._entities, ArrowEntities):
            table = self._entities.table
            cur.register(_FULL, table.append_column(sql.RN, row_numbers(table.num_rows)))
            passthrough = _FULL
        elif prepared.intervals:
            # As microseconds here, as Arrow durations in _target_schema.
            micros = [f"{sql.interval_us_expr(c)} AS {sql.ident(c)}" for c in prepared.intervals]
            passthrough = f"(SELECT * REPLACE ({', '.join(micros)}) FROM {_ENTITIES})"
        else:
            passthrough = _ENTITIES
        return sql.historical_sql(prepared.entity_relation, prepared.plans, passthrough)

    def _target_schema(self, schema: pa.Schema, durations: Sequence[str] = ()) -> pa.Schema:
        """``schema`` with every feature column set to its declared Arrow type, and the
        ``durations`` (int64 microseconds from DuckDB) to ``duration[us]``."""
        import pyarrow as pa

        declared = {f.output: f.arrow_type for view in self._views for f in view.features}
        declared.update((name, pa.duration("us")) for name in durations)
        return pa.schema([pa.field(f.name, declared.get(f.name, f.type)) for f in schema])

    def _cast(self, table: pa.Table, durations: Sequence[str] = ()) -> pa.Table:
        target = self._target_schema(table.schema, durations)
        return table if table.schema.equals(target) else table.cast(target)


def _interval_columns(cur: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """The INTERVAL columns of the entity table: Arrow has no type for DuckDB's (months, days,
    microseconds) that Parquet can hold, so they are returned as durations."""
    relation = cur.table(_ENTITIES)
    return tuple(
        c for c, t in zip(relation.columns, relation.types, strict=True) if t == "INTERVAL"
    )


def _column_type(cur: duckdb.DuckDBPyConnection, column: str) -> str:
    """The DuckDB type of a column of the entity table."""
    relation = cur.table(_ENTITIES)
    return str(relation.types[relation.columns.index(column)])


def _arrow_bounds(slim: pa.Table) -> tuple[int | None, int | None]:
    import pyarrow.compute as pc

    bounds = pc.min_max(slim[sql.TS])
    return bounds["min"].as_py(), bounds["max"].as_py()


def stream_cast(
    cur: duckdb.DuckDBPyConnection, reader: pa.RecordBatchReader, schema: pa.Schema
) -> pa.RecordBatchReader:
    """A reader that casts each batch to ``schema`` and closes the cursor at the end."""
    import pyarrow as pa

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from cast_reader(reader, schema)
        finally:
            cur.close()

    return pa.RecordBatchReader.from_batches(schema, batches())


def cast_reader(reader: pa.RecordBatchReader, schema: pa.Schema) -> pa.RecordBatchReader:
    """A reader that casts each batch of ``reader`` to ``schema``."""
    import pyarrow as pa

    batches = (b if b.schema.equals(schema) else b.cast(schema) for b in reader)
    return pa.RecordBatchReader.from_batches(schema, batches)
