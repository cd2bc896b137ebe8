"""The registry in PostgreSQL (for teams): one row per object, every version kept.

Tables live in one schema (``pitstore`` by default); several projects share them, each row
keyed by its project::

    meta(key PRIMARY KEY, value)                       -- schema_version
    projects(project PRIMARY KEY, revision)
    objects(project, kind, name, version, spec json, updated_at timestamptz, updated_by)
    versions(project, kind, name, version, action, spec json, revision, applied_at, applied_by)
    watermarks(project, view, watermark timestamptz, updated_at timestamptz)

**Migrations.** :data:`MIGRATIONS` maps each schema version to the DDL that reaches it from
the one before. Opening a registry reads ``meta.schema_version`` (0 for an empty schema) and,
when it is older, runs the missing steps in one transaction under an advisory lock, so
processes opening a registry together migrate it once. A newer version, written by a newer
pitstore, is a :class:`~pitstore.errors.RegistryError` asking for an upgrade; tables without a
``meta`` table are not a pitstore registry and are never touched.

**Concurrency.** ``apply`` runs in one transaction: it makes sure the project's revision row
exists, locks it (``SELECT ... FOR UPDATE``), and compares it with the plan's base revision.
Two applies planned on the same revision serialize on that lock; the second sees the new
revision and raises :class:`~pitstore.errors.ConflictError`, and its transaction, rolled
back, leaves nothing behind. Calls from several threads share a small connection pool.

The connection string's password is never logged nor put in an error message: errors name the
server as ``host:port/dbname``.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

from pitstore.dsn import describe, mask, parse_dsn
from pitstore.errors import (
    ConfigError,
    ConflictError,
    PitstoreError,
    RegistryError,
    StoreUnavailableError,
)
from pitstore.names import is_valid_name
from pitstore.registry.base import StoredObject, VersionRecord
from pitstore.registry.plan import ObjectChange, Plan
from pitstore.timeutil import to_utc, utcnow

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

T = TypeVar("T")

#: Format of the tables; a schema with a greater number was written by a newer pitstore.
SCHEMA_VERSION: Final = 1

#: DDL reaching each version from the one before; ``{s}`` is the quoted schema.
MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        "CREATE TABLE {s}.projects (project text PRIMARY KEY, revision bigint NOT NULL)",
        "CREATE TABLE {s}.objects (project text NOT NULL, kind text NOT NULL, "
        "name text NOT NULL, version integer NOT NULL, spec json NOT NULL, "
        "updated_at timestamptz NOT NULL, updated_by text NOT NULL, "
        "PRIMARY KEY (project, kind, name))",
        "CREATE TABLE {s}.versions (project text NOT NULL, kind text NOT NULL, "
        "name text NOT NULL, version integer NOT NULL, action text NOT NULL, "
        "spec json NOT NULL, revision bigint NOT NULL, applied_at timestamptz NOT NULL, "
        "applied_by text NOT NULL, PRIMARY KEY (project, kind, name, version))",
        "CREATE TABLE {s}.watermarks (project text NOT NULL, view text NOT NULL, "
        "watermark timestamptz NOT NULL, updated_at timestamptz NOT NULL, "
        "PRIMARY KEY (project, view))",
    ),
}
_LOCK_SPACE: Final = 0x70697472  # "pitr": first key of the registry's advisory locks
_ACTIONS: Final = {"add": "added", "change": "changed", "remove": "removed"}
_OBJECT_COLUMNS: Final = "kind, name, spec, version, updated_at, updated_by"
_CHECK_DSN: Final = "check the user and password in registry.dsn (write it as ${VAR})"
#: Refusals of a connection that no retry fixes: what the server says, and what to do.
_REFUSALS: Final = (
    (
        re.compile(r'database "([^"]*)" does not exist'),
        "create it (`createdb {0}`) or name an existing one in registry.dsn",
    ),
    (re.compile(r'role "[^"]*" does not exist'), _CHECK_DSN),
    (re.compile(r'password authentication failed for user "[^"]*"'), _CHECK_DSN),
)


class PostgresRegistry:
    """A registry in the PostgreSQL database ``dsn``, schema ``schema`` (created if missing).

    Opening it connects, and creates or migrates the tables; an unreachable server raises
    :class:`~pitstore.errors.StoreUnavailableError` after ``connect_timeout_s``, and a server
    that refuses the connection for good (no such database or user, a wrong password) a
    :class:`~pitstore.errors.ConfigError` at once.
    """

    def __init__(
        self,
        dsn: str,
        project: str,
        *,
        schema: str = "pitstore",
        connect_timeout_s: float = 5.0,
        statement_timeout_s: float = 30.0,
    ) -> None:
        if not is_valid_name(schema) or len(schema) > 63:
            raise ConfigError(
                f"invalid schema name {schema!r}: use letters, digits and underscores, not "
                "starting with a digit, at most 63 characters",
                key="schema_name",
            )
        self.project = project
        self.schema = schema
        self._parts = parse_dsn(dsn, key="registry.dsn")
        self.where = describe(self._parts)
        self._statements: dict[str, bytes] = {}
        self._statements_lock = threading.Lock()
        kwargs = _connect_kwargs(connect_timeout_s, statement_timeout_s)
        self._migrate_first(dsn, kwargs)
        self._pool = _make_pool(dsn, kwargs, schema, connect_timeout_s)

    # --- connections, errors and SQL text -----------------------------------------------------

    def _migrate_first(self, dsn: str, kwargs: dict[str, Any]) -> None:
        """Create or migrate the tables over a connection of its own, the first: a server that
        refuses it (no such database, user or password) says so at once, where the pool would
        retry until its timeout and only log the reason."""
        import psycopg

        try:
            conn = psycopg.connect(dsn, **kwargs)
        except psycopg.OperationalError as exc:
            refusal = self._refusal(exc)
            if refusal is not None:
                raise refusal from exc
            raise self._translated(exc) from exc
        with conn:
            try:
                self._migrate(conn)
            except psycopg.Error as exc:
                raise self._translated(exc) from exc

    def _refusal(self, exc: Exception) -> ConfigError | None:
        """The ConfigError for a connection the server refused for good (a retry cannot
        help), or None. libpq gives no SQLSTATE for these: its message tells them apart."""
        message = mask(str(exc), self._parts)
        for pattern, hint in _REFUSALS:
            found = pattern.search(message)
            if found:
                return ConfigError(
                    f"the PostgreSQL server at {self.where} refused the registry's connection: "
                    f"{found.group(0)}; {hint.format(*found.groups())}",
                    key="registry.dsn",
                )
        return None

    def _run(self, call: Callable[[Connection[Any]], T]) -> T:
        """Run ``call`` with a pooled connection, translating driver errors."""
        import psycopg

        try:
            with self._pool.connection() as conn:
                return call(conn)
        except psycopg.Error as exc:
            raise self._translated(exc) from exc

    def _translated(self, exc: Exception) -> PitstoreError:
        """The pitstore error for a driver error (raise it ``from exc``)."""
        import psycopg

        if isinstance(exc, psycopg.OperationalError):
            return StoreUnavailableError(
                f"the PostgreSQL registry at {self.where} is unavailable: "
                f"{mask(str(exc).strip(), self._parts)}. A retry may succeed; check that the "
                "server is running and reachable."
            )
        return RegistryError(
            f"the PostgreSQL registry at {self.where} (schema {self.schema!r}) failed: "
            f"{mask(str(exc).strip(), self._parts)}"
        )

    def _sql(self, template: str) -> bytes:
        """``template`` with ``{s}`` replaced by the quoted schema (cached)."""
        text = self._statements.get(template)
        if text is None:
            from psycopg import sql

            composed = sql.SQL(template).format(s=sql.Identifier(self.schema))
            text = composed.as_bytes(None)
            with self._statements_lock:
                self._statements[template] = text
        return text

    def _query(self, template: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._run(lambda conn: conn.execute(self._sql(template), args).fetchall())

    # --- migrations ---------------------------------------------------------------------------

    def _migrate(self, conn: Connection[Any]) -> None:
        """Create or upgrade the tables (see the module docstring)."""
        if self._stored_version(conn) == SCHEMA_VERSION:
            return  # the common case: no lock, no DDL
        with conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_SPACE, _lock_key(self.schema))
            )
            conn.execute(self._sql("CREATE SCHEMA IF NOT EXISTS {s}"))
            current = self._stored_version(conn)
            if current == 0:
                conn.execute(
                    self._sql("CREATE TABLE {s}.meta (key text PRIMARY KEY, value text NOT NULL)")
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    conn.execute(self._sql(statement))
            conn.execute(
                self._sql(
                    "INSERT INTO {s}.meta VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                ),
                (str(SCHEMA_VERSION),),
            )

    def _stored_version(self, conn: Connection[Any]) -> int:
        """The schema's version: 0 when it has no tables; errors for foreign or newer ones."""
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (self.schema,)
            )
        }
        if not tables:
            return 0
        if "meta" not in tables:
            raise RegistryError(
                f"schema {self.schema!r} at {self.where} holds tables that are not a pitstore "
                f"registry ({sorted(tables)}); set `registry.schema_name` to another schema"
            )
        row = conn.execute(
            self._sql("SELECT value FROM {s}.meta WHERE key = 'schema_version'")
        ).fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise RegistryError(
                f"the registry in schema {self.schema!r} at {self.where} has format {version}, "
                f"written by a newer pitstore; this version reads format {SCHEMA_VERSION} at "
                "most: upgrade pitstore"
            )
        return version

    # --- reads --------------------------------------------------------------------------------

    def revision(self) -> int:
        """The project's revision: bumped by every apply (0 for a new project)."""
        rows = self._query("SELECT revision FROM {s}.projects WHERE project = %s", (self.project,))
        return int(rows[0][0]) if rows else 0

    def list_objects(self, kind: str | None = None) -> list[StoredObject]:
        """Current objects, optionally of one kind, sorted by kind then name."""
        if kind is None:
            rows = self._query(
                f"SELECT {_OBJECT_COLUMNS} FROM {{s}}.objects WHERE project = %s "
                'ORDER BY kind COLLATE "C", name COLLATE "C"',
                (self.project,),
            )
        else:
            rows = self._query(
                f"SELECT {_OBJECT_COLUMNS} FROM {{s}}.objects WHERE project = %s AND kind = %s "
                'ORDER BY name COLLATE "C"',
                (self.project, kind),
            )
        return [_stored(row) for row in rows]

    def get_object(self, kind: str, name: str) -> StoredObject | None:
        """The current version of one object, or None."""
        rows = self._query(
            f"SELECT {_OBJECT_COLUMNS} FROM {{s}}.objects "
            "WHERE project = %s AND kind = %s AND name = %s",
            (self.project, kind, name),
        )
        return _stored(rows[0]) if rows else None

    def history(self, kind: str, name: str) -> list[VersionRecord]:
        """Every applied version of one object, oldest first."""
        rows = self._query(
            "SELECT kind, name, version, action, spec, revision, applied_at, applied_by "
            "FROM {s}.versions WHERE project = %s AND kind = %s AND name = %s ORDER BY version",
            (self.project, kind, name),
        )
        return [
            VersionRecord(r[0], r[1], r[2], r[3], r[4], int(r[5]), _utc(r[6]), r[7]) for r in rows
        ]

    def get_watermark(self, view: str) -> datetime | None:
        """The end of the last successful materialization of ``view``."""
        rows = self._query(
            "SELECT watermark FROM {s}.watermarks WHERE project = %s AND view = %s",
            (self.project, view),
        )
        return _utc(rows[0][0]) if rows else None

    # --- writes -------------------------------------------------------------------------------

    def apply(
        self, plan: Plan, author: str, before_commit: Callable[[], None] | None = None
    ) -> int:
        """Perform ``plan`` in one transaction and return the new revision.

        Raises ConflictError when the project's revision is no longer ``plan.base_revision``.
        """

        def run(conn: Connection[Any]) -> int:
            with conn.transaction():
                current = self._lock_revision(conn)
                if current != plan.base_revision:
                    raise ConflictError(
                        f"the registry changed while you were planning (planned on revision "
                        f"{plan.base_revision}, now {current}); run `pitstore plan` again and "
                        "re-apply"
                    )
                revision = current + 1
                now = utcnow()
                for change in plan.changes:
                    self._apply_change(conn, change, revision, now, author)
                conn.execute(
                    self._sql("UPDATE {s}.projects SET revision = %s WHERE project = %s"),
                    (revision, self.project),
                )
                if before_commit is not None:
                    before_commit()
            return revision

        return self._run(run)

    def _lock_revision(self, conn: Connection[Any]) -> int:
        """The project's revision, its row locked until the transaction ends."""
        # The row must exist to be locked; a concurrent apply inserting it too waits for us.
        conn.execute(
            self._sql("INSERT INTO {s}.projects VALUES (%s, 0) ON CONFLICT (project) DO NOTHING"),
            (self.project,),
        )
        row = conn.execute(
            self._sql("SELECT revision FROM {s}.projects WHERE project = %s FOR UPDATE"),
            (self.project,),
        ).fetchone()
        assert row is not None
        return int(row[0])

    def _apply_change(
        self,
        conn: Connection[Any],
        change: ObjectChange,
        revision: int,
        now: datetime,
        author: str,
    ) -> None:
        key = (self.project, change.kind, change.name)
        row = conn.execute(
            self._sql(
                "SELECT max(version) FROM {s}.versions "
                "WHERE project = %s AND kind = %s AND name = %s"
            ),
            key,
        ).fetchone()
        version = (row[0] if row and row[0] is not None else 0) + 1
        spec = change.new if change.new is not None else change.old
        text = json.dumps(spec, sort_keys=True)
        if change.action == "remove":
            conn.execute(
                self._sql("DELETE FROM {s}.objects WHERE project = %s AND kind = %s AND name = %s"),
                key,
            )
        else:
            conn.execute(
                self._sql(
                    "INSERT INTO {s}.objects VALUES (%s, %s, %s, %s, %s::json, %s, %s) "
                    "ON CONFLICT (project, kind, name) DO UPDATE SET version = excluded.version, "
                    "spec = excluded.spec, updated_at = excluded.updated_at, "
                    "updated_by = excluded.updated_by"
                ),
                (*key, version, text, now, author),
            )
        conn.execute(
            self._sql("INSERT INTO {s}.versions VALUES (%s, %s, %s, %s, %s, %s::json, %s, %s, %s)"),
            (*key, version, _ACTIONS[change.action], text, revision, now, author),
        )
        if change.resets_watermark:
            conn.execute(
                self._sql("DELETE FROM {s}.watermarks WHERE project = %s AND view = %s"),
                (self.project, change.name),
            )

    def set_watermark(self, view: str, watermark: datetime, version: int | None = None) -> bool:
        """Record a successful materialization of ``view`` up to ``watermark`` (never
        backwards); with ``version``, only while the view is at that version."""

        def write(conn: Connection[Any]) -> bool:
            with conn.transaction():
                if version is not None:
                    # FOR SHARE: an apply changing the view waits for this transaction, or
                    # this one for the apply's commit (and then sees its version).
                    row = conn.execute(
                        self._sql(
                            "SELECT version FROM {s}.objects WHERE project = %s "
                            "AND kind = 'feature_view' AND name = %s FOR SHARE"
                        ),
                        (self.project, view),
                    ).fetchone()
                    if row is None or row[0] != version:
                        return False
                conn.execute(
                    self._sql(
                        "INSERT INTO {s}.watermarks VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (project, view) DO UPDATE "
                        "SET watermark = excluded.watermark, updated_at = excluded.updated_at "
                        "WHERE {s}.watermarks.watermark < excluded.watermark"  # never backwards
                    ),
                    (self.project, view, to_utc(watermark), utcnow()),
                )
            return True

        return self._run(write)

    def clear_watermarks(self, views: Sequence[str]) -> None:
        """Forget the watermarks of ``views`` (one statement)."""
        self._query(
            "DELETE FROM {s}.watermarks WHERE project = %s AND view = ANY(%s) RETURNING 1",
            (self.project, list(views)),
        )

    def teardown(self) -> None:
        """Remove every object, version and watermark of the project; its revision moves on
        (a plan made before the teardown conflicts, and caches see a new revision)."""

        def run(conn: Connection[Any]) -> None:
            with conn.transaction():
                current = self._lock_revision(conn)  # serialized with applies
                for table in ("objects", "versions", "watermarks"):
                    conn.execute(
                        self._sql(f"DELETE FROM {{s}}.{table} WHERE project = %s"),
                        (self.project,),
                    )
                conn.execute(
                    self._sql("UPDATE {s}.projects SET revision = %s WHERE project = %s"),
                    (current + 1, self.project),
                )

        self._run(run)

    def close(self) -> None:
        """Close the connection pool."""
        self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresRegistry({self.where!r}, {self.project!r}, schema={self.schema!r})"


# --- helpers --------------------------------------------------------------------------------------


def _connect_kwargs(connect_timeout_s: float, statement_timeout_s: float) -> dict[str, Any]:
    return {
        "autocommit": True,
        "connect_timeout": max(2, math.ceil(connect_timeout_s)),
        "options": f"-c statement_timeout={max(1, round(statement_timeout_s * 1000))}",
        "application_name": "pitstore-registry",
    }


def _make_pool(
    dsn: str, kwargs: dict[str, Any], schema: str, connect_timeout_s: float
) -> ConnectionPool[Connection[Any]]:
    from psycopg_pool import ConnectionPool

    # Registry calls are rare and short: a few connections, opened on demand, tested on
    # checkout so that the first call after a server restart works.
    return ConnectionPool(
        dsn,
        kwargs=kwargs,
        min_size=0,
        max_size=4,
        timeout=connect_timeout_s,
        check=ConnectionPool.check_connection,
        name=f"pitstore-registry-{schema}",
        open=True,
    )


def _lock_key(schema: str) -> int:
    import zlib

    value = zlib.crc32(schema.encode())
    return value - 2**32 if value >= 2**31 else value


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _stored(row: tuple[Any, ...]) -> StoredObject:
    kind, name, spec, version, updated_at, updated_by = row
    return StoredObject(kind, name, spec, version, _utc(updated_at), updated_by)
