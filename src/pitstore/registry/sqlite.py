"""The registry in one SQLite file: one row per object, every version kept.

Concurrency: ``apply`` runs in a ``BEGIN IMMEDIATE`` transaction (one writer at a time) and
checks the project's revision against the plan's base revision before writing, so two applies
planned from the same state cannot both succeed: the second gets a ConflictError.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pitstore.errors import ConfigError, ConflictError, RegistryError
from pitstore.registry.base import StoredObject, VersionRecord
from pitstore.registry.plan import ObjectChange, Plan
from pitstore.timeutil import from_micros, to_micros, utcnow

#: Format of the tables below; a file with a greater number was written by a newer pitstore.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (project TEXT PRIMARY KEY, revision INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    project TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    version INTEGER NOT NULL, spec TEXT NOT NULL,
    updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL,
    PRIMARY KEY (project, kind, name)
);
CREATE TABLE IF NOT EXISTS versions (
    project TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
    action TEXT NOT NULL, spec TEXT NOT NULL, revision INTEGER NOT NULL,
    applied_at INTEGER NOT NULL, applied_by TEXT NOT NULL,
    PRIMARY KEY (project, kind, name, version)
);
CREATE TABLE IF NOT EXISTS watermarks (
    project TEXT NOT NULL, view TEXT NOT NULL, watermark INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project, view)
);
"""


#: Seconds a write waits for another process's write lock before the registry is "busy".
BUSY_TIMEOUT_S = 30.0


class SqliteRegistry:
    """A registry stored in the SQLite file ``path`` (created on first use)."""

    def __init__(self, path: str | os.PathLike[str], project: str) -> None:
        self.path = str(path)
        self.project = project
        # One connection shared by the threads of a process (a server), serialized by a lock:
        # registry calls are rare and short, and one connection keeps transactions simple.
        self._lock = threading.RLock()
        self._conn = _connect(Path(self.path))
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._init_schema()
        except RegistryError:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if _is_busy(exc):
                raise self._busy(exc) from exc
            raise RegistryError(
                f"registry file {self.path} is not a readable pitstore registry ({exc}); "
                "restore it from a backup, or move it away and run `pitstore apply` again"
            ) from exc

    def _init_schema(self) -> None:
        if self._current_format():
            return  # the usual open: a read, no write lock (WAL: not blocked by an apply)
        with self._write():
            tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master")}
            if tables and "meta" not in tables:
                raise RegistryError(
                    f"{self.path} is a SQLite file but not a pitstore registry "
                    f"(tables: {sorted(tables)}); point `registry.path` at another file"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._conn.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            elif int(row[0]) > SCHEMA_VERSION:
                raise RegistryError(
                    f"registry {self.path} has format {row[0]}, written by a newer pitstore; "
                    f"this version reads format {SCHEMA_VERSION} at most: upgrade pitstore"
                )

    def _current_format(self) -> bool:
        """Whether the file already holds this version's tables (nothing to create)."""
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError:  # no meta table yet: a new file
            return False
        return row is not None and int(row[0]) == SCHEMA_VERSION

    @contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _is_busy(exc):
                    raise self._busy(exc) from exc
                raise
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself failed (an I/O error): the transaction must not stay
                # open on the shared connection, or every later write fails to begin.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _busy(self, exc: sqlite3.DatabaseError) -> RegistryError:
        return RegistryError(
            f"the registry {self.path} is busy: another process held its write lock for "
            f"{BUSY_TIMEOUT_S:g} s ({exc}); try again when it is done (a long apply, or a "
            "stuck process?)"
        )

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        rows = self._query(sql, args)
        return rows[0] if rows else None

    def revision(self) -> int:
        row = self._one("SELECT revision FROM projects WHERE project=?", (self.project,))
        return int(row[0]) if row else 0

    def list_objects(self, kind: str | None = None) -> list[StoredObject]:
        sql = (
            "SELECT kind, name, spec, version, updated_at, updated_by FROM objects WHERE project=?"
        )
        args: tuple[Any, ...] = (self.project,)
        if kind is not None:
            sql += " AND kind=?"
            args += (kind,)
        rows = self._query(sql + " ORDER BY kind, name", args)
        return [_stored(r) for r in rows]

    def get_object(self, kind: str, name: str) -> StoredObject | None:
        row = self._one(
            "SELECT kind, name, spec, version, updated_at, updated_by FROM objects "
            "WHERE project=? AND kind=? AND name=?",
            (self.project, kind, name),
        )
        return _stored(row) if row else None

    def apply(
        self, plan: Plan, author: str, before_commit: Callable[[], None] | None = None
    ) -> int:
        with self._write():
            current = self.revision()
            if current != plan.base_revision:
                raise ConflictError(
                    f"the registry changed while you were planning (planned on revision "
                    f"{plan.base_revision}, now {current}); run `pitstore plan` again and "
                    "re-apply"
                )
            revision = current + 1
            now = to_micros(utcnow())
            for change in plan.changes:
                self._apply_change(change, revision, now, author)
            self._conn.execute(
                "INSERT INTO projects VALUES (?, ?) ON CONFLICT(project) DO UPDATE "
                "SET revision=excluded.revision",
                (self.project, revision),
            )
            if before_commit is not None:
                before_commit()
        return revision

    def _apply_change(self, change: ObjectChange, revision: int, now: int, author: str) -> None:
        key = (self.project, change.kind, change.name)
        row = self._conn.execute(
            "SELECT version FROM objects WHERE project=? AND kind=? AND name=?", key
        ).fetchone()
        last = self._conn.execute(
            "SELECT max(version) FROM versions WHERE project=? AND kind=? AND name=?", key
        ).fetchone()[0]
        version = (last or 0) + 1
        spec = change.new if change.new is not None else change.old
        text = json.dumps(spec, sort_keys=True)
        if change.action == "remove":
            self._conn.execute("DELETE FROM objects WHERE project=? AND kind=? AND name=?", key)
        elif row is None:
            self._conn.execute(
                "INSERT INTO objects VALUES (?,?,?,?,?,?,?)", (*key, version, text, now, author)
            )
        else:
            self._conn.execute(
                "UPDATE objects SET version=?, spec=?, updated_at=?, updated_by=? "
                "WHERE project=? AND kind=? AND name=?",
                (version, text, now, author, *key),
            )
        action = {"add": "added", "change": "changed", "remove": "removed"}[change.action]
        self._conn.execute(
            "INSERT INTO versions VALUES (?,?,?,?,?,?,?,?,?)",
            (*key, version, action, text, revision, now, author),
        )
        if change.resets_watermark:
            self._conn.execute(
                "DELETE FROM watermarks WHERE project=? AND view=?", (self.project, change.name)
            )

    def history(self, kind: str, name: str) -> list[VersionRecord]:
        rows = self._query(
            "SELECT kind, name, version, action, spec, revision, applied_at, applied_by "
            "FROM versions WHERE project=? AND kind=? AND name=? ORDER BY version",
            (self.project, kind, name),
        )
        return [
            VersionRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], from_micros(r[6]), r[7])
            for r in rows
        ]

    def get_watermark(self, view: str) -> datetime | None:
        row = self._one(
            "SELECT watermark FROM watermarks WHERE project=? AND view=?", (self.project, view)
        )
        return from_micros(row[0]) if row else None

    def set_watermark(self, view: str, watermark: datetime, version: int | None = None) -> bool:
        with self._write():  # BEGIN IMMEDIATE: no apply between the check and the write
            if version is not None:
                row = self._conn.execute(
                    "SELECT version FROM objects WHERE project=? AND kind='feature_view' "
                    "AND name=?",
                    (self.project, view),
                ).fetchone()
                if row is None or row[0] != version:
                    return False
            self._conn.execute(
                "INSERT INTO watermarks VALUES (?,?,?,?) ON CONFLICT(project, view) DO UPDATE "
                "SET watermark=excluded.watermark, updated_at=excluded.updated_at "
                "WHERE watermarks.watermark < excluded.watermark",  # never backwards
                (self.project, view, to_micros(watermark), to_micros(utcnow())),
            )
        return True

    def clear_watermarks(self, views: Sequence[str]) -> None:
        with self._write():
            self._conn.executemany(
                "DELETE FROM watermarks WHERE project=? AND view=?",
                [(self.project, view) for view in views],
            )

    def teardown(self) -> None:
        with self._write():
            for table in ("objects", "versions", "watermarks"):
                self._conn.execute(f"DELETE FROM {table} WHERE project=?", (self.project,))
            # The revision moves on, never back to 0: a plan made before the teardown must
            # conflict, and a cached catalog must see a new revision.
            self._conn.execute(
                "UPDATE projects SET revision = revision + 1 WHERE project=?", (self.project,)
            )

    def close(self) -> None:
        self._conn.close()


def _stored(row: tuple[Any, ...]) -> StoredObject:
    kind, name, spec, version, updated_at, updated_by = row
    return StoredObject(kind, name, json.loads(spec), version, from_micros(updated_at), updated_by)


def _is_busy(exc: sqlite3.DatabaseError) -> bool:
    """SQLite's busy timeout ran out (another connection holds the lock)."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to the registry file ``path`` (created with its folders if missing); a
    ConfigError naming the path when it cannot be one (a folder, a file on the way)."""
    fix = "point `registry` (or registry.path) in pitstore.yaml at a file, e.g. data/registry.db"
    if path.is_dir():
        raise ConfigError(f"the registry path {path} is a folder, not a file; {fix}")
    on_the_way = next((f for f in path.parents if f.exists()), None)
    if on_the_way is not None and not on_the_way.is_dir():
        raise ConfigError(f"the registry path {path} goes through the file {on_the_way}; {fix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot open the registry file {path} ({reason}); {fix}") from exc
