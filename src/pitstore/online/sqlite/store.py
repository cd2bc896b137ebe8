"""The SQLite online store: one file, one table per view (layout in :mod:`.schema`).

Concurrency design:

- **One connection per thread** (``threading.local``), opened on first use, so the same store
  object can serve a threaded server without a lock around SQLite. The store keeps a list of
  them to close them all in :meth:`SqliteOnlineStore.close`; connections of finished threads
  are closed when the next one opens.
- **WAL journal**, ``synchronous=NORMAL``: readers never wait for a writer (in this process or
  another, e.g. a ``pitstore materialize`` run while the server serves) and always see whole
  committed batches. Writers take the write lock up front (``BEGIN IMMEDIATE``) and wait up to
  ``timeout_s`` for it; after that the call raises :class:`~pitstore.errors.StoreUnavailableError`
  naming the file.
- **One transaction per call**: a write batch commits all its rows or none; a read of several
  views runs in one read transaction, so all views come from the same snapshot.
- The monotonic rule is enforced by the upsert itself (``ON CONFLICT ... WHERE``), inside the
  write lock, so racing writers cannot roll a row back.

The read path is a cached ``SELECT ... WHERE "__key" IN (?, ...)`` per (view, features); the
catalog (column types) is cached per store and reloaded when a statement names a table that no
longer exists (see :mod:`.schema`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, NoReturn

from pitstore.errors import ConfigError, PitstoreError, SchemaError, StoreUnavailableError
from pitstore.names import validate_name
from pitstore.online.base import StoreCapabilities, ViewRead, ViewRows, stored_type_error
from pitstore.online.batch import FeatureColumn, assemble_rows, missing_rows, prepare_batch
from pitstore.online.merge_lock import file_lock
from pitstore.online.sqlite import schema as sql
from pitstore.online.sqlite.codec import Codec, Decoder, codec_for
from pitstore.types import parse_dtype

if TYPE_CHECKING:
    import pyarrow as pa

#: Keys per ``IN (...)`` statement; smaller than SQLite's variable limit on every build.
_CHUNK: Final = 999
#: Cached read plans per view before the cache is reset (requests may use any feature subset).
_MAX_PLANS: Final = 256
_MIN_SQLITE: Final = (3, 24, 0)  # upsert (3.24) and row values (3.15)


@dataclass(frozen=True, slots=True)
class _ViewSchema:
    """The catalog entry of one view: its table and the pitstore type of each feature column."""

    view_id: int
    table: str
    dtypes: dict[str, str]


@dataclass(frozen=True, slots=True)
class _ReadPlan:
    """The prepared pieces of a read of some features of one view."""

    prefix: str
    sql_one: str
    decoders: tuple[Decoder | None, ...]


class SqliteOnlineStore:
    """An :class:`~pitstore.online.base.OnlineStore` in one SQLite file (created if missing).

    Safe to share between threads and to use from several processes at once.
    """

    capabilities: ClassVar[StoreCapabilities] = StoreCapabilities(
        native_ttl=False,
        atomic_monotonic_writes=True,
        concurrent_reads_during_write=True,
        merge_lock=True,
    )

    def __init__(self, path: str, *, timeout_s: float = 5.0) -> None:
        path = str(path)
        if path in ("", ":memory:") or "mode=memory" in path:
            raise ConfigError(
                f"the SQLite online store needs a file, got {path!r} (each thread would get its "
                "own empty database). Hint: use MemoryOnlineStore for an in-memory store.",
                key="path",
            )
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise ConfigError(
                f"SQLite {sqlite3.sqlite_version} is too old for the online store; "
                f"it needs {'.'.join(map(str, _MIN_SQLITE))} or newer"
            )
        self.path = path
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._closed = False
        self._schemas: dict[str, _ViewSchema] = {}
        self._plans: dict[str, dict[tuple[str, ...], _ReadPlan]] = {}
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    # --- connections and errors ---------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise PitstoreError(f"the SQLite online store {self.path!r} is closed")
        try:
            return self._local.conn  # type: ignore[no-any-return]
        except AttributeError:
            return self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.timeout_s,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # only so that close() may close it from any thread
                cached_statements=256,
            )
            try:
                conn.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
            except sqlite3.Error:
                conn.close()
                raise
        except sqlite3.DatabaseError as exc:
            self._raise_translated(exc)
        with self._lock:
            if self._closed:
                conn.close()
                raise PitstoreError(f"the SQLite online store {self.path!r} is closed")
            self._close_dead_threads()
            self._connections.append((threading.current_thread(), conn))
        self._local.conn = conn
        return conn

    def _close_dead_threads(self) -> None:
        alive = []
        for thread, conn in self._connections:
            if thread.is_alive():
                alive.append((thread, conn))
            else:
                conn.close()
        self._connections = alive

    def _raise_translated(self, exc: sqlite3.DatabaseError) -> NoReturn:
        """Raise the pitstore error for a driver error, or the driver error itself (a bug)."""
        message = str(exc)
        if "locked" in message or "busy" in message:
            raise StoreUnavailableError(
                f"SQLite online store {self.path!r} is locked: another writer held it for more "
                f"than {self.timeout_s}s ({message}). Retry later, or raise timeout_s."
            ) from exc
        if not isinstance(exc, sqlite3.OperationalError):
            raise StoreUnavailableError(
                f"{self.path!r} is not a usable SQLite database ({message}). Hint: point the "
                "online store at a new file, or delete this one and materialize again."
            ) from exc
        if "unable to open" in message or "disk" in message or "readonly" in message:
            raise StoreUnavailableError(f"SQLite online store {self.path!r}: {message}") from exc
        raise exc

    @contextmanager
    def _write_transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on error; driver errors translated."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")  # take the write lock now: waits up to timeout_s
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            self._raise_translated(exc)

    def _setup(self) -> None:
        """Switch the file to WAL and create the catalog (once per file)."""
        conn = self._connection()
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            self._raise_translated(exc)
        if version > sql.LAYOUT_VERSION:
            raise SchemaError(
                f"{self.path!r} has online store layout {version}, newer than this pitstore "
                f"understands ({sql.LAYOUT_VERSION}). Hint: upgrade pitstore."
            )
        if version < sql.LAYOUT_VERSION:
            with self._write_transaction() as conn:
                for ddl in sql.CATALOG_DDL:
                    conn.execute(ddl)
                conn.execute(f"PRAGMA user_version = {sql.LAYOUT_VERSION}")

    # --- catalog ------------------------------------------------------------------------------

    def _load_schema(self, conn: sqlite3.Connection, view: str) -> _ViewSchema | None:
        row = conn.execute(sql.VIEW_ID_SQL, (view,)).fetchone()
        if row is None:
            return None
        view_id = int(row[0])
        dtypes = dict(conn.execute(sql.VIEW_COLUMNS_SQL, (view_id,)).fetchall())
        return _ViewSchema(view_id, sql.table_name(view, view_id), dtypes)

    def _forget(self, view: str) -> None:
        self._schemas.pop(view, None)
        self._plans.pop(view, None)

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
        # Encode before taking the write lock: other writers wait only for SQLite work.
        values = [codec.encode(f.array) for f, codec in features]
        rows = zip(prepared.keys, prepared.ts, prepared.created, *values, strict=True)
        names = [f.name for f in prepared.features]
        with self._write_transaction() as conn:
            schema = self._ensure_table(conn, view, features)
            written = set(names)
            cleared = [c for c in schema.dtypes if c not in written]
            before = conn.total_changes
            conn.executemany(sql.upsert_sql(schema.table, names, cleared), rows)
            applied = conn.total_changes - before
        if self._schemas.get(view) != schema:
            self._forget(view)
            self._schemas[view] = schema
        return applied

    def _ensure_table(
        self, conn: sqlite3.Connection, view: str, features: list[tuple[FeatureColumn, Codec]]
    ) -> _ViewSchema:
        """The view's catalog entry, creating the table or adding columns as needed.

        Runs inside the write transaction and reads the catalog afresh: another process may
        have changed it since this store cached it.
        """
        schema = self._load_schema(conn, view)
        if schema is None:
            view_id = int(conn.execute(sql.INSERT_VIEW_SQL, (view,)).lastrowid or 0)
            table = sql.table_name(view, view_id)
            conn.execute(sql.create_table_sql(table, [(f.name, c.affinity) for f, c in features]))
            dtypes = {f.name: str(f.dtype) for f, _ in features}
            conn.executemany(sql.INSERT_COLUMN_SQL, [(view_id, n, t) for n, t in dtypes.items()])
            return _ViewSchema(view_id, table, dtypes)
        dtypes = dict(schema.dtypes)
        for feature, codec in features:
            old = dtypes.get(feature.name)
            new = str(feature.dtype)
            if old is None:
                conn.execute(sql.add_column_sql(schema.table, feature.name, codec.affinity))
                conn.execute(sql.INSERT_COLUMN_SQL, (schema.view_id, feature.name, new))
            elif old != new:
                self._check_same_codec(view, feature.name, old, codec)
                conn.execute(sql.UPDATE_COLUMN_SQL, (new, schema.view_id, feature.name))
            dtypes[feature.name] = new
        return _ViewSchema(schema.view_id, schema.table, dtypes)

    @staticmethod
    def _check_same_codec(view: str, feature: str, old: str, codec: Codec) -> None:
        stored = codec_for(parse_dtype(old))
        if stored.name != codec.name:
            raise stored_type_error(view, feature, old, codec.name)

    # --- read ---------------------------------------------------------------------------------

    def read(self, requests: Sequence[ViewRead]) -> list[ViewRows]:
        """Read every request; several views are read in one transaction (one snapshot)."""
        conn = self._connection()
        try:
            if len(requests) == 1:
                return [self._read_view(conn, requests[0])]
            conn.execute("BEGIN")
            try:
                return [self._read_view(conn, request) for request in requests]
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._raise_translated(exc)

    def _read_view(self, conn: sqlite3.Connection, request: ViewRead) -> ViewRows:
        keys = request.keys
        if not keys:
            return ViewRows([], [[] for _ in request.features])
        plans = self._plans.get(request.view)
        plan = None if plans is None else plans.get(request.features)
        for attempt in range(2):
            if plan is None:
                plan = self._plan(conn, request.view, request.features)
                if plan is None:
                    return missing_rows(len(keys), len(request.features))
            try:
                rows = self._fetch(conn, plan, keys)
            except sqlite3.OperationalError as exc:
                # The view was deleted (and maybe rewritten) since the plan was made.
                if attempt or "no such" not in str(exc):
                    raise
                self._forget(request.view)
                plan = None
                continue
            return assemble_rows(plan.decoders, keys, rows)
        raise AssertionError("unreachable")

    def _plan(
        self, conn: sqlite3.Connection, view: str, features: tuple[str, ...]
    ) -> _ReadPlan | None:
        """Build (and usually cache) the read plan; None when the view has never been written."""
        schema = self._schemas.get(view)
        if schema is None or any(f not in schema.dtypes for f in features):
            schema = self._load_schema(conn, view)
            if schema is None:
                return None
            self._schemas[view] = schema
        columns = [f if f in schema.dtypes else None for f in features]
        decoders = tuple(
            None if c is None else codec_for(parse_dtype(schema.dtypes[c])).decode for c in columns
        )
        prefix = sql.select_prefix(schema.table, columns)
        plan = _ReadPlan(prefix, prefix + "?)", decoders)
        if None not in columns:
            # A plan with a missing column is not cached: a later write may add the column.
            plans = self._plans.setdefault(view, {})
            if len(plans) >= _MAX_PLANS:
                plans.clear()
            plans[features] = plan
        return plan

    @staticmethod
    def _fetch(conn: sqlite3.Connection, plan: _ReadPlan, keys: Sequence[bytes]) -> list[Any]:
        if len(keys) == 1:
            return conn.execute(plan.sql_one, (keys[0],)).fetchall()
        unique = list(dict.fromkeys(keys))
        rows: list[Any] = []
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            query = plan.prefix + ",".join("?" * len(chunk)) + ")"
            rows += conn.execute(query, chunk).fetchall()
        return rows

    # --- delete, close ------------------------------------------------------------------------

    def delete_view(self, view: str) -> None:
        """Drop the table of ``view`` and its catalog rows (no-op when it has none)."""
        validate_name(view, "view")
        with self._write_transaction() as conn:
            schema = self._load_schema(conn, view)
            if schema is not None:
                conn.execute(sql.drop_table_sql(schema.table))
                for statement in sql.DELETE_VIEW_SQL:
                    conn.execute(statement, (schema.view_id,))
        self._forget(view)

    @contextmanager
    def merge_lock(self, view: str) -> Iterator[None]:
        """Excludes other processes' merges of ``view``: a file lock on a file beside the
        database (``<path>.merge-<view>.lock``; each holder opens its own, so threads of one
        process exclude each other too)."""
        validate_name(view, "view")
        with file_lock(f"{self.path}.merge-{view}.lock", f"view {view!r}"):
            yield

    def close(self) -> None:
        """Close every connection of every thread; the store cannot be used afterwards."""
        with self._lock:
            self._closed = True
            for _, conn in self._connections:
                conn.close()
            self._connections = []

    def __repr__(self) -> str:
        return f"SqliteOnlineStore({self.path!r})"
