"""The PostgreSQL online store: one table per view in one schema (layout in :mod:`.schema`).

Design:

- **A connection pool** (``psycopg_pool``) of autocommit connections shared by the threads of a
  process. Reads never wait for writers (MVCC: an upsert holds row locks only); a write batch
  is one transaction, so readers see all of a batch or none of it.
- **Writes**: the batch goes by binary ``COPY`` into a temporary table, then one
  ``INSERT ... SELECT ... ON CONFLICT ("__key") DO UPDATE ... WHERE (new ts, created) >=
  (old ts, created)``: the monotonic rule is checked by the server, under the row lock, so
  racing writers cannot roll a row back. Rows of one key within a batch are reduced first (in
  Python) to the rows a one-by-one write would apply, so the count of applied rows is exact.
  A small batch (up to :data:`_SMALL_BATCH_ROWS` rows, fewer with arrays) skips the COPY:
  the same upsert reads its rows from ``unnest`` of bound array parameters, sent in one
  pipeline with the lock and the catalog read when the cached layout needs no change (the
  write then takes two round trips, the second the ``COMMIT``), and rolled back and run again
  if the catalog read shows the cached layout was stale.
- **Catalog changes** (a new view table, a new column, a widened type) happen inside the write
  transaction under a transaction-level advisory lock per view, taken exclusive; plain writes
  take it shared, so the layout they read stays valid until they commit.
- **Reads**: one ``SELECT ... WHERE "__key" = ANY(keys)`` per view (a prepared statement);
  several views go in one pipeline (one round trip) inside one read-only repeatable-read
  transaction, so all views come from one snapshot. Layouts and statements are cached; a
  statement naming a table that another store has dropped fails with "undefined table", and
  the call reloads the catalog and runs again.
- **Failures**: a server that is down or slow makes a call fail within ``connect_timeout_s``
  (no pooled connection) or ``statement_timeout_s`` (a statement is cancelled) with
  :class:`~pitstore.errors.StoreUnavailableError` naming ``host:port/dbname``, chained from
  the driver error. A call that got no connection in time, or the pool giving up connecting
  with no connection left, trips a circuit breaker (:mod:`.breaker`): until a connection
  works again, calls fail at once instead of each waiting ``connect_timeout_s``, while a
  thread asks the pool for one every second. A call that finds its pooled connection dead
  (the server restarted) has the pool check its other connections and runs once more on a
  fresh one, so the first call after the server returns works.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

from pitstore.dsn import describe, parse_dsn
from pitstore.errors import ConfigError, PitstoreError, SchemaError
from pitstore.names import validate_name
from pitstore.online.base import StoreCapabilities, ViewRead, ViewRows, stored_type_error
from pitstore.online.batch import (
    NULL_CREATED,
    FeatureColumn,
    PreparedBatch,
    assemble_rows,
    missing_rows,
    prepare_batch,
)
from pitstore.online.merge_lock import held
from pitstore.online.postgres import breaker, connection
from pitstore.online.postgres import schema as sql
from pitstore.online.postgres.codec import Codec, Decoder, codec_for
from pitstore.types import parse_dtype

if TYPE_CHECKING:
    import pyarrow as pa
    from psycopg import Connection, Cursor

T = TypeVar("T")

#: Cached read plans per view before the cache is reset (requests may use any feature subset).
_MAX_PLANS: Final = 256
_READ_SNAPSHOT: Final = b"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
_SET_TIMEOUT: Final = b"SELECT set_config('statement_timeout', %s, true)"
_LOCK: Final = b"SELECT pg_advisory_xact_lock(%s, %s)"
_LOCK_SHARED: Final = b"SELECT pg_advisory_xact_lock_shared(%s, %s)"
_TRY_MERGE_LOCK: Final = b"SELECT pg_try_advisory_lock(%s, %s)"
_MERGE_UNLOCK: Final = b"SELECT pg_advisory_unlock(%s, %s)"
#: The first key of merge locks ("pitm"): apart from every other advisory lock of pitstore's.
_MERGE_LOCK_SPACE: Final = 0x7069746D
#: The largest batch whose rows are bound as parameters of the upsert instead of COPYed
#: (measured: about where COPY becomes faster), and the same for a batch with an array or
#: vector feature (sent flattened and sliced per row by the server: slower per row).
_SMALL_BATCH_ROWS: Final = 256
_SMALL_ARRAY_BATCH_ROWS: Final = 64


@dataclass(frozen=True, slots=True)
class _ViewSchema:
    """The catalog entry of one view: its table, and the column and type of each feature."""

    view_id: int
    table: str
    columns: dict[str, tuple[str, str]]  # feature -> (column name, pitstore type)


@dataclass(frozen=True, slots=True)
class _ReadPlan:
    """A prepared read of some features of one view."""

    query: bytes
    decoders: tuple[Decoder | None, ...]


class _StaleLayout(Exception):
    """The cached layout of a view was out of date: run the call again with a fresh one."""


class PostgresOnlineStore:
    """An :class:`~pitstore.online.base.OnlineStore` in a PostgreSQL schema.

    Safe to share between threads and to use from several processes at once. Nothing is
    created until the first call, and no call needs the server to be up at construction.
    """

    capabilities: ClassVar[StoreCapabilities] = StoreCapabilities(
        native_ttl=False,
        atomic_monotonic_writes=True,
        concurrent_reads_during_write=True,
        merge_lock=True,
        reads_may_wait=True,
    )

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "pitstore_online",
        min_connections: int = 1,
        max_connections: int = 8,
        connect_timeout_s: float = 5.0,
        statement_timeout_s: float = 5.0,
        write_timeout_s: float = 600.0,
    ) -> None:
        self.schema = sql.check_schema_name(schema)
        if max_connections < 2:  # else an aggregated push waits on the pool until it times out
            raise ConfigError(
                f"max_connections={max_connections}: the PostgreSQL online store needs at "
                "least 2 (a push to an aggregated view holds one for its merge lock while it "
                "writes through another)",
                key="max_connections",
            )
        self._dsn_parts = parse_dsn(dsn)
        self.where = describe(self._dsn_parts)
        self._write_timeout_ms = str(max(1, round(write_timeout_s * 1000)))
        self._closed = False
        self._probe_wait_s = min(connect_timeout_s, breaker.PROBE_INTERVAL_S)
        self._breaker = breaker.Breaker(
            self._probe, self.where, lambda exc: connection.detail(exc, self._dsn_parts)
        )
        self._pool = connection.make_pool(
            dsn,
            name=f"pitstore-online-{self.schema}",
            min_size=min_connections,
            max_size=max_connections,
            connect_timeout_s=connect_timeout_s,
            statement_timeout_s=statement_timeout_s,
            on_connect=self._breaker.connected,
            on_give_up=self._pool_gave_up,
        )
        self._ready = False
        self._setup_lock = threading.Lock()
        self._schemas: dict[str, _ViewSchema] = {}
        self._plans: dict[str, dict[tuple[str, ...], _ReadPlan]] = {}

    # --- running a call -----------------------------------------------------------------------

    def _run(self, call: Callable[[Connection[Any]], T]) -> T:
        """Run ``call`` on a pooled connection, translating driver errors.

        Runs it a second time after a stale layout (the caches are dropped first) or a dead
        connection (the pool checks its other connections first).
        """
        import psycopg

        if self._closed:
            raise PitstoreError(f"the PostgreSQL online store at {self.where} is closed")
        for attempt in (0, 1):
            conn = self._checkout()
            broken = False
            try:
                self._setup(conn)
                return call(conn)
            except (_StaleLayout, psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
                if attempt:
                    raise
                self._forget_all()
            except psycopg.OperationalError as exc:
                broken = connection.is_broken(conn)
                if attempt or not broken:
                    raise self._unavailable(exc) from exc
            finally:
                _end_transaction(conn)
                self._pool.putconn(conn)
            if broken:
                self._pool.check()  # the server restarted: drop the other dead connections
        raise AssertionError("unreachable")

    def _checkout(self) -> Connection[Any]:
        """A pooled connection; fails at once while the breaker is tripped, and trips it when
        none comes in time."""
        import psycopg

        down = self._breaker.down
        if down is not None:
            reason = self._breaker.reason(down)
            raise connection.failing_fast(
                "the PostgreSQL online store",
                reason,
                self._dsn_parts,
                time.monotonic() - down.since,
                breaker.PROBE_INTERVAL_S,
            ) from reason
        try:
            return self._pool.getconn()
        except psycopg.OperationalError as exc:
            if not self._closed:
                self._breaker.trip(exc)
            raise self._unavailable(exc) from exc

    def _probe(self) -> None:
        """Get a connection and use it (the breaker's test of whether the server is back)."""
        conn = self._pool.getconn(timeout=self._probe_wait_s)
        try:
            self._pool.check_connection(conn)
        finally:
            self._pool.putconn(conn)

    def _pool_gave_up(self, connections: int) -> None:
        """The pool gave up making a connection: with none left, the server is down."""
        if connections == 0 and not self._closed:
            self._breaker.trip_if_unreachable()

    def _unavailable(self, exc: BaseException) -> PitstoreError:
        return connection.unavailable(
            "the PostgreSQL online store",
            exc,
            self._dsn_parts,
            connect_error=self._breaker.connect_error,
        )

    def _setup(self, conn: Connection[Any]) -> None:
        """Create the schema and catalog on first use, or check their layout version."""
        if self._ready:
            return
        with self._setup_lock:
            if self._ready:
                return
            version = self._layout_version(conn)
            if version is None:
                with conn.transaction():
                    conn.execute(_LOCK, (sql.LOCK_SPACE, sql.lock_key(self.schema, "")))
                    for ddl in sql.catalog_ddl(self.schema):
                        conn.execute(ddl)
                    conn.execute(
                        sql.set_layout_version_sql(self.schema), (str(sql.LAYOUT_VERSION),)
                    )
            elif version > sql.LAYOUT_VERSION:
                raise SchemaError(
                    f"the online store schema {self.schema!r} at {self.where} has layout "
                    f"{version}, newer than this pitstore understands ({sql.LAYOUT_VERSION}). "
                    "Hint: upgrade pitstore."
                )
            self._ready = True

    def _layout_version(self, conn: Connection[Any]) -> int | None:
        exists = conn.execute(
            "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s",
            (self.schema, sql.META_TABLE),
        ).fetchone()
        if exists is None:
            return None
        row = conn.execute(sql.layout_version_sql(self.schema)).fetchone()
        return None if row is None else int(row[0])

    # --- catalog ------------------------------------------------------------------------------

    def _load(self, conn: Connection[Any], views: Sequence[str]) -> dict[str, _ViewSchema]:
        """The catalog entries of ``views`` that exist."""
        rows = conn.execute(sql.load_views_sql(self.schema), (list(views),)).fetchall()
        return _schemas_from_rows(rows)

    def _forget(self, view: str) -> None:
        self._schemas.pop(view, None)
        self._plans.pop(view, None)

    def _forget_all(self) -> None:
        self._schemas.clear()
        self._plans.clear()

    # --- write --------------------------------------------------------------------------------

    def write(self, view: str, batch: pa.RecordBatch) -> int:
        """Upsert the rows of ``batch`` in one transaction; returns how many were applied.

        A row is applied when its key is new or its ``(__ts, __created)`` is not older than the
        stored one (:meth:`OnlineStore.write`). The table, and columns for new features, are
        created on the way.
        """
        validate_name(view, "view")
        prepared = prepare_batch(view, batch, sort_by_key=True)
        if not prepared.keys:
            return 0
        features = [(f, codec_for(f.dtype)) for f in prepared.features]
        for feature, _ in features:
            validate_name(feature.name, "feature")
        values = [codec.encode(f.array) for f, codec in features]
        rows, with_last = _batch_rows(prepared, values)
        return self._run(lambda conn: self._write(conn, view, features, rows, with_last))

    def _write(
        self,
        conn: Connection[Any],
        view: str,
        features: list[tuple[FeatureColumn, Codec]],
        rows: list[tuple[Any, ...]],
        with_last: bool,
    ) -> int:
        """Write the batch's rows: :func:`_is_small` picks how the rows are sent."""
        names = [sql.column_name(f.name) for f, _ in features]
        batch_columns = [(n, c.column_type) for n, (_, c) in zip(names, features, strict=True)]
        small = _is_small(rows, features)
        cached = self._schemas.get(view)
        # The cache only picks the lock (and, for a small batch, a statement sent ahead); the
        # catalog read under the lock decides.
        must_change = cached is None or _may_need_change(view, cached, features)
        # A small batch runs in one pipeline: its statements go out together, so the common
        # case (a cached layout needing no change) takes two round trips, the second the
        # COMMIT. COPY cannot run in a pipeline.
        with conn.pipeline() if small else contextlib.nullcontext(), conn.transaction():
            upsert: Cursor[Any] | None = None
            with conn.pipeline():
                conn.execute(_SET_TIMEOUT, (self._write_timeout_ms,))
                lock = _LOCK if must_change else _LOCK_SHARED
                conn.execute(lock, (sql.LOCK_SPACE, sql.lock_key(self.schema, view)))
                if not small:
                    conn.execute(sql.batch_table_sql(batch_columns, with_last))
                loaded = conn.execute(sql.load_views_sql(self.schema), ([view],))
                if small and cached is not None and not must_change:
                    # Sent ahead on the cached layout; kept only if the catalog agrees.
                    upsert = self._upsert(
                        conn, cached, names, batch_columns, rows, with_last, small
                    )
            current = _schemas_from_rows(loaded.fetchall()).get(view)
            if upsert is not None:
                if current is None or current != cached:
                    raise _StaleLayout  # the upsert may be wrong: roll it back, start again
            else:
                if current is None or _needs_change(view, current, features):
                    if not must_change:
                        raise _StaleLayout  # changing it needs the exclusive lock: start again
                    current = self._change_table(conn, view, current, features)
                if not small:
                    self._copy(conn, names, features, rows, with_last)
                upsert = self._upsert(conn, current, names, batch_columns, rows, with_last, small)
        if with_last:
            row = upsert.fetchone()
            applied = int(row[0]) if row else 0
        else:
            applied = upsert.rowcount
        if self._schemas.get(view) != current:
            self._forget(view)
            self._schemas[view] = current
        return applied

    def _upsert(
        self,
        conn: Connection[Any],
        layout: _ViewSchema,
        names: list[str],
        batch_columns: list[tuple[str, str]],
        rows: list[tuple[Any, ...]],
        with_last: bool,
        small: bool,
    ) -> Cursor[Any]:
        """Run the monotonic upsert of the batch into ``layout``'s table.

        From the batch table (COPY path), or from the rows bound as parameters of the same
        statement (small batches). The result (the applied count: the row count, or one row
        ``with_last``) may arrive later, in a pipeline.
        """
        written = set(names)
        cleared = [c for c, _ in layout.columns.values() if c not in written]
        upsert = sql.upsert_last_sql if with_last else sql.upsert_sql
        if not small:
            return conn.execute(upsert(self.schema, layout.table, names, cleared))
        values = sql.batch_unnest_sql(batch_columns, with_last)
        query = upsert(self.schema, layout.table, names, cleared, values)
        return conn.execute(query, sql.batch_arrays(rows, batch_columns, with_last))

    @staticmethod
    def _copy(
        conn: Connection[Any],
        names: list[str],
        features: list[tuple[FeatureColumn, Codec]],
        rows: list[tuple[Any, ...]],
        with_last: bool,
    ) -> None:
        types = ["bytea", "int8", "int8", *(c.copy_type for _, c in features)]
        if with_last:
            types.append("bool")
        with conn.cursor().copy(sql.copy_sql(names, with_last)) as copy:
            copy.set_types(types)
            write_row = copy.write_row
            for row in rows:
                write_row(row)

    def _change_table(
        self,
        conn: Connection[Any],
        view: str,
        current: _ViewSchema | None,
        features: list[tuple[FeatureColumn, Codec]],
    ) -> _ViewSchema:
        """Create the view's table, or add and widen its columns (under the exclusive lock)."""
        if current is None:
            return self._create_table(conn, view, features)
        stored = dict(current.columns)
        for feature, codec in features:
            old = stored.get(feature.name)
            if old is None:
                name = sql.column_name(feature.name)
                ddl = sql.add_column_sql(self.schema, current.table, name, codec.column_type)
            elif codec_for(parse_dtype(old[1])).rank < codec.rank:
                name = old[0]
                ddl = sql.widen_column_sql(self.schema, current.table, name, codec.column_type)
            else:
                continue  # there, and wide enough
            conn.execute(ddl)
            self._record_column(conn, current.view_id, feature, name)
            stored[feature.name] = (name, str(feature.dtype))
        return _ViewSchema(current.view_id, current.table, stored)

    def _create_table(
        self, conn: Connection[Any], view: str, features: list[tuple[FeatureColumn, Codec]]
    ) -> _ViewSchema:
        row = conn.execute(sql.insert_view_sql(self.schema), (view,)).fetchone()
        assert row is not None
        view_id = int(row[0])
        table = sql.table_name(view, view_id)
        conn.execute(sql.set_table_name_sql(self.schema), (table, view_id))
        columns = [(sql.column_name(f.name), c.column_type) for f, c in features]
        conn.execute(sql.create_table_sql(self.schema, table, columns))
        for (feature, _), (name, _) in zip(features, columns, strict=True):
            self._record_column(conn, view_id, feature, name)
        return _ViewSchema(
            view_id,
            table,
            {f.name: (n, str(f.dtype)) for (f, _), (n, _) in zip(features, columns, strict=True)},
        )

    def _record_column(
        self, conn: Connection[Any], view_id: int, feature: FeatureColumn, name: str
    ) -> None:
        conn.execute(
            sql.upsert_column_sql(self.schema), (view_id, feature.name, name, str(feature.dtype))
        )

    # --- read ---------------------------------------------------------------------------------

    def read(self, requests: Sequence[ViewRead]) -> list[ViewRows]:
        """Read every request in one round trip (plus one to load an uncached layout)."""
        if not requests:
            return []
        return self._run(lambda conn: self._read(conn, requests))

    def _read(self, conn: Connection[Any], requests: Sequence[ViewRead]) -> list[ViewRows]:
        plans = self._plans_for(conn, requests)
        work: list[tuple[int, _ReadPlan, list[bytes]]] = []
        for i, (request, plan) in enumerate(zip(requests, plans, strict=True)):
            if plan is not None and request.keys:
                keys = request.keys
                work.append((i, plan, [keys[0]] if len(keys) == 1 else list(dict.fromkeys(keys))))
        results = [missing_rows(len(r.keys), len(r.features)) for r in requests]
        if len(work) == 1:
            i, plan, keys = work[0]
            rows = conn.execute(plan.query, (keys,), binary=True).fetchall()
            results[i] = assemble_rows(plan.decoders, requests[i].keys, rows)
        elif work:
            for (i, plan, _), rows in zip(work, _fetch_in_one_snapshot(conn, work), strict=True):
                results[i] = assemble_rows(plan.decoders, requests[i].keys, rows)
        return results

    def _plans_for(
        self, conn: Connection[Any], requests: Sequence[ViewRead]
    ) -> list[_ReadPlan | None]:
        """The read plan of each request (None: the view has no table); one catalog query."""
        plans: list[_ReadPlan | None] = []
        todo: list[int] = []
        for i, request in enumerate(requests):
            plan = self._plans.get(request.view, {}).get(request.features)
            plans.append(plan)
            if plan is None:
                todo.append(i)
        if not todo:
            return plans
        views = {requests[i].view for i in todo}
        unknown = [v for v in views if self._lacks(v, requests)]
        if unknown:
            self._schemas.update(self._load(conn, unknown))
        for i in todo:
            plans[i] = self._plan(conn, requests[i])
        return plans

    def _lacks(self, view: str, requests: Sequence[ViewRead]) -> bool:
        schema = self._schemas.get(view)
        if schema is None:
            return True
        wanted = {f for r in requests if r.view == view for f in r.features}
        return not wanted <= schema.columns.keys()

    def _plan(self, conn: Connection[Any], request: ViewRead) -> _ReadPlan | None:
        schema = self._schemas.get(request.view)
        if schema is None:
            return None
        columns: list[tuple[str, str | None] | None] = []
        decoders: list[Decoder | None] = []
        for feature in request.features:
            stored = schema.columns.get(feature)
            if stored is None:
                columns.append(None)
                decoders.append(None)
                continue
            codec = codec_for(parse_dtype(stored[1]))
            columns.append((stored[0], codec.read_cast))
            decoders.append(codec.decode)
        query = sql.select_sql(self.schema, schema.table, columns).as_bytes(conn)
        plan = _ReadPlan(query, tuple(decoders))
        if None not in columns:
            # A plan with a missing column is not cached: a later write may add the column.
            plans = self._plans.setdefault(request.view, {})
            if len(plans) >= _MAX_PLANS:
                plans.clear()
            plans[request.features] = plan
        return plan

    # --- delete, close ------------------------------------------------------------------------

    @contextlib.contextmanager
    def merge_lock(self, view: str) -> Iterator[None]:
        """Excludes other processes' merges of ``view``: a session advisory lock, on a pooled
        connection kept for the merge (the merge's reads and writes take others, so the pool
        needs two connections; the server frees the lock if the session dies)."""
        import psycopg

        validate_name(view, "view")
        key = (_MERGE_LOCK_SPACE, sql.lock_key(self.schema, view))
        conn = self._checkout()

        def call(statement: bytes) -> bool:
            try:
                row = conn.execute(statement, key).fetchone()
            except psycopg.OperationalError as exc:
                raise self._unavailable(exc) from exc
            return bool(row and row[0])

        try:
            with held(lambda: call(_TRY_MERGE_LOCK), lambda: call(_MERGE_UNLOCK), f"view {view!r}"):
                yield
        finally:
            self._pool.putconn(conn)

    def delete_view(self, view: str) -> None:
        """Drop the table of ``view`` and its catalog rows (no-op when it has none)."""
        validate_name(view, "view")

        def delete(conn: Connection[Any]) -> None:
            with conn.transaction():
                conn.execute(_SET_TIMEOUT, (self._write_timeout_ms,))
                conn.execute(_LOCK, (sql.LOCK_SPACE, sql.lock_key(self.schema, view)))
                for (table,) in conn.execute(sql.delete_view_sql(self.schema), (view,)):
                    conn.execute(sql.drop_table_sql(self.schema, table))

        self._run(delete)
        self._forget(view)

    def close(self) -> None:
        """Close the pool; the store cannot be used afterwards."""
        self._closed = True
        self._breaker.stop()
        self._pool.close()
        self._breaker.join()

    def __repr__(self) -> str:
        return f"PostgresOnlineStore({self.where!r}, schema={self.schema!r})"


# --- helpers ------------------------------------------------------------------------------------


def _end_transaction(conn: Connection[Any]) -> None:
    """Roll back what a failed call left open, so the pool gets an idle connection back."""
    from psycopg import Error
    from psycopg.pq import TransactionStatus

    if connection.is_broken(conn) or conn.info.transaction_status == TransactionStatus.IDLE:
        return
    with contextlib.suppress(Error):  # the pool discards a connection it cannot reset
        conn.rollback()


def _schemas_from_rows(rows: list[tuple[Any, ...]]) -> dict[str, _ViewSchema]:
    schemas: dict[str, _ViewSchema] = {}
    for view, view_id, table, feature, column, dtype in rows:
        schema = schemas.get(view)
        if schema is None:
            schema = schemas[view] = _ViewSchema(int(view_id), table, {})
        if feature is not None:
            schema.columns[feature] = (column, dtype)
    return schemas


def _needs_change(
    view: str, schema: _ViewSchema, features: list[tuple[FeatureColumn, Codec]]
) -> bool:
    """True when writing ``features`` needs a new column or a wider type.

    Raises SchemaError when a feature's stored type cannot hold the batch's values.
    """
    change = False
    for feature, codec in features:
        stored = schema.columns.get(feature.name)
        if stored is None:
            change = True
            continue
        old = codec_for(parse_dtype(stored[1]))
        if old.family != codec.family:
            raise stored_type_error(view, feature.name, stored[1], str(feature.dtype))
        change = change or old.rank < codec.rank
    return change


def _may_need_change(
    view: str, schema: _ViewSchema, features: list[tuple[FeatureColumn, Codec]]
) -> bool:
    """:func:`_needs_change` on a cached layout, which may be stale: a conflict means maybe."""
    try:
        return _needs_change(view, schema, features)
    except SchemaError:
        return True


def _is_small(rows: list[tuple[Any, ...]], features: list[tuple[FeatureColumn, Codec]]) -> bool:
    """True when a batch is sent as bound parameters of the upsert, else by COPY.

    A batch of at most :data:`_SMALL_BATCH_ROWS` rows (after the reduction of repeated keys;
    :data:`_SMALL_ARRAY_BATCH_ROWS` with an array or vector feature) skips the temporary table
    and the COPY: most of the cost of a push of a few rows. Both ways run the same upsert
    statement; larger batches COPY faster.
    """
    arrays = any(codec.column_type.endswith("[]") for _, codec in features)
    return len(rows) <= (_SMALL_ARRAY_BATCH_ROWS if arrays else _SMALL_BATCH_ROWS)


def _batch_rows(
    prepared: PreparedBatch, values: list[list[Any]]
) -> tuple[list[tuple[Any, ...]], bool]:
    """The rows to copy, and whether they carry the ``__last`` flag (some key repeats).

    ``prepared`` is sorted by key (stably). For a repeated key, only the rows a one-by-one
    write would apply are kept (each not older than those before it), the last one flagged.
    """
    keys, ts, created = prepared.keys, prepared.ts, prepared.created
    rows = list(zip(keys, ts, created, *values, strict=True))
    if all(a != b for a, b in itertools.pairwise(keys)):
        return rows, False
    kept: list[tuple[Any, ...]] = []
    start = 0
    while start < len(keys):
        end = start
        best: tuple[int, int] | None = None
        group: list[int] = []
        while end < len(keys) and keys[end] == keys[start]:
            stamp = created[end]
            pair = (ts[end], NULL_CREATED if stamp is None else stamp)
            if best is None or pair >= best:
                best = pair
                group.append(end)
            end += 1
        kept += [(*rows[i], i == group[-1]) for i in group]
        start = end
    return kept, True


def _fetch_in_one_snapshot(
    conn: Connection[Any], work: list[tuple[int, _ReadPlan, list[bytes]]]
) -> list[list[Any]]:
    """Run the reads of several views in one round trip and one snapshot."""
    with conn.pipeline():
        conn.execute(_READ_SNAPSHOT)
        cursors = []
        for _, plan, keys in work:
            cursor = conn.cursor(binary=True)
            cursor.execute(plan.query, (keys,))
            cursors.append(cursor)
        conn.execute(b"COMMIT")
    return [cursor.fetchall() for cursor in cursors]
