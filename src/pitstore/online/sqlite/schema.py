"""The layout of the SQLite online store file, and the SQL text it runs.

Layout (``PRAGMA user_version`` = :data:`LAYOUT_VERSION`)::

    __pitstore_views(id INTEGER PRIMARY KEY AUTOINCREMENT, view TEXT UNIQUE)
    __pitstore_columns(view_id, feature, dtype)          -- the pitstore type of each column
    fv_<view>_<id>("__key" BLOB PRIMARY KEY, "__ts" INTEGER NOT NULL, "__created" INTEGER,
                   <feature> <affinity>, ...) WITHOUT ROWID

One table per view, named after the view and the id of its catalog row. The id is never reused
(AUTOINCREMENT), so when a view is deleted and written again, possibly with other types, every
cached statement naming the old table fails with "no such table" and the reader reloads the
catalog: open stores in other processes never decode new data with old types, at no cost to
the read path.

Every identifier in SQL text comes from :func:`quote`, which accepts only names matching
``^[A-Za-z_][A-Za-z0-9_]*$`` (plus the store's own reserved columns); values are always bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from pitstore.names import validate_name
from pitstore.online.base import CREATED_COLUMN, KEY_COLUMN, TS_COLUMN
from pitstore.online.batch import NULL_CREATED

LAYOUT_VERSION: Final = 1
VIEWS_TABLE: Final = "__pitstore_views"
COLUMNS_TABLE: Final = "__pitstore_columns"

CATALOG_DDL: Final = (
    f"CREATE TABLE IF NOT EXISTS {VIEWS_TABLE} ("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, view TEXT NOT NULL UNIQUE)",
    f"CREATE TABLE IF NOT EXISTS {COLUMNS_TABLE} ("
    "view_id INTEGER NOT NULL, feature TEXT NOT NULL, dtype TEXT NOT NULL, "
    "PRIMARY KEY (view_id, feature)) WITHOUT ROWID",
)
VIEW_ID_SQL: Final = f"SELECT id FROM {VIEWS_TABLE} WHERE view = ?"
VIEW_COLUMNS_SQL: Final = f"SELECT feature, dtype FROM {COLUMNS_TABLE} WHERE view_id = ?"
INSERT_VIEW_SQL: Final = f"INSERT INTO {VIEWS_TABLE} (view) VALUES (?)"
INSERT_COLUMN_SQL: Final = f"INSERT INTO {COLUMNS_TABLE} (view_id, feature, dtype) VALUES (?,?,?)"
UPDATE_COLUMN_SQL: Final = f"UPDATE {COLUMNS_TABLE} SET dtype = ? WHERE view_id = ? AND feature = ?"
DELETE_VIEW_SQL: Final = (
    f"DELETE FROM {COLUMNS_TABLE} WHERE view_id = ?",
    f"DELETE FROM {VIEWS_TABLE} WHERE id = ?",
)
_RESERVED: Final = frozenset({KEY_COLUMN, TS_COLUMN, CREATED_COLUMN})


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier, after checking that it is a valid name."""
    if name not in _RESERVED:
        validate_name(name, "column")
    return f'"{name}"'


def table_name(view: str, view_id: int) -> str:
    """The quoted name of the table of ``view`` (catalog id ``view_id``)."""
    validate_name(view, "view")
    # Safe by construction (a valid name and an int); not re-checked as a name because the
    # prefix and suffix may take it past the name length limit.
    return f'"fv_{view}_{int(view_id)}"'


def create_table_sql(table: str, columns: Iterable[tuple[str, str]]) -> str:
    """DDL for a view table with ``(feature, affinity)`` columns."""
    parts = [
        f"{quote(KEY_COLUMN)} BLOB PRIMARY KEY NOT NULL",
        f"{quote(TS_COLUMN)} INTEGER NOT NULL",
        f"{quote(CREATED_COLUMN)} INTEGER",
    ]
    parts += [f"{quote(name)} {_affinity(affinity)}" for name, affinity in columns]
    # WITHOUT ROWID: the key is the clustered index, so a lookup is one B-tree descent.
    return f"CREATE TABLE {table} ({', '.join(parts)}) WITHOUT ROWID"


def add_column_sql(table: str, name: str, affinity: str) -> str:
    """DDL adding one feature column."""
    return f"ALTER TABLE {table} ADD COLUMN {quote(name)} {_affinity(affinity)}"


def _affinity(affinity: str) -> str:
    if affinity not in ("INTEGER", "REAL", "TEXT", "BLOB"):
        raise ValueError(f"bad SQLite affinity {affinity!r}")
    return affinity


def upsert_sql(table: str, features: Sequence[str], cleared: Iterable[str]) -> str:
    """Insert-or-update of one row, applied only when its (ts, created) is not older.

    ``cleared`` are the table's other feature columns: set to NULL on update, because a row
    replaces the stored row as a whole (features absent from the batch keep no old value).
    """
    columns = [KEY_COLUMN, TS_COLUMN, CREATED_COLUMN, *features]
    names = ", ".join(quote(c) for c in columns)
    marks = ", ".join("?" * len(columns))
    sets = [f"{quote(c)} = excluded.{quote(c)}" for c in columns[1:]]
    sets += [f"{quote(c)} = NULL" for c in cleared]
    ts, created = quote(TS_COLUMN), quote(CREATED_COLUMN)
    # Row values compare left to right: ts first, then created with null lowest.
    newer = (
        f"(excluded.{ts}, coalesce(excluded.{created}, {NULL_CREATED})) "
        f">= ({ts}, coalesce({created}, {NULL_CREATED}))"
    )
    return (
        f"INSERT INTO {table} ({names}) VALUES ({marks}) "
        f"ON CONFLICT ({quote(KEY_COLUMN)}) DO UPDATE SET {', '.join(sets)} WHERE {newer}"
    )


def select_prefix(table: str, features: Sequence[str | None]) -> str:
    """``SELECT key, ts, f1, ... WHERE key IN (`` — a None feature (no such column) is NULL."""
    exprs = [quote(KEY_COLUMN), quote(TS_COLUMN)]
    exprs += ["NULL" if f is None else quote(f) for f in features]
    return f"SELECT {', '.join(exprs)} FROM {table} WHERE {quote(KEY_COLUMN)} IN ("


def drop_table_sql(table: str) -> str:
    """DDL dropping a view table."""
    return f"DROP TABLE IF EXISTS {table}"
