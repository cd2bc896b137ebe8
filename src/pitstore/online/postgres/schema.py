"""The layout of the PostgreSQL online store, and the SQL it runs.

Layout, in the configured schema (``pitstore_online_<project>`` by default), version
:data:`LAYOUT_VERSION`::

    "__pitstore_meta"(key text PRIMARY KEY, value text)          -- layout_version
    "__pitstore_views"(id bigint IDENTITY PRIMARY KEY, view text UNIQUE, table_name text)
    "__pitstore_columns"(view_id -> views ON DELETE CASCADE, feature, column_name, dtype)
    "fv_<view>_<id>"("__key" bytea PRIMARY KEY, "__ts" bigint NOT NULL, "__created" bigint,
                     <feature> <type>, ...)

One table per view, named after the view (cut to 40 characters: PostgreSQL identifiers have
at most 63 bytes) and the id of its catalog row. Ids are never reused, so when a view is
deleted and written again, possibly with other types, statements cached by other stores
fail with "undefined table" and those stores reload the catalog: nobody decodes new data with
old types. A feature's column is named after the feature, or, for names longer than 63
characters, a shortened name with a hash; the catalog records the name and the pitstore type.

Every identifier goes through :func:`psycopg.sql.Identifier` and is checked first: names
match ``^[A-Za-z_][A-Za-z0-9_]*$``. Column types come from the fixed table of
:mod:`.codec`. Values are always bound parameters.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from pitstore.errors import ConfigError
from pitstore.names import is_valid_name, validate_name
from pitstore.online.base import CREATED_COLUMN, KEY_COLUMN, TS_COLUMN
from pitstore.online.batch import NULL_CREATED

if TYPE_CHECKING:
    from psycopg.sql import Composable, Composed

LAYOUT_VERSION: Final = 1
META_TABLE: Final = "__pitstore_meta"
VIEWS_TABLE: Final = "__pitstore_views"
COLUMNS_TABLE: Final = "__pitstore_columns"
BATCH_TABLE: Final = "__pitstore_batch"
LAST_COLUMN: Final = "__last"
MAX_IDENTIFIER: Final = 63
#: First key of the store's advisory locks (the second is a hash of schema and view).
LOCK_SPACE: Final = 0x70697473  # "pits"

_RESERVED: Final = frozenset({KEY_COLUMN, TS_COLUMN, CREATED_COLUMN, LAST_COLUMN})
_ALLOWED_TYPES: Final = frozenset(
    {"boolean", "integer", "bigint", "real", "double precision", "text", "bytea"}
)


def check_schema_name(schema: str) -> str:
    """``schema`` if it is usable as the store's schema, else a ConfigError."""
    if not is_valid_name(schema) or len(schema) > MAX_IDENTIFIER:
        raise ConfigError(
            f"invalid schema name {schema!r}: use letters, digits and underscores, not "
            f"starting with a digit, at most {MAX_IDENTIFIER} characters",
            key="schema_name",
        )
    return schema


def ident(name: str) -> Composable:
    """A quoted identifier for a checked name (a feature, or a reserved column)."""
    from psycopg import sql

    if name not in _RESERVED:
        validate_name(name, "column")
    if len(name) > MAX_IDENTIFIER:
        raise ValueError(f"identifier {name!r} is longer than {MAX_IDENTIFIER} characters")
    return sql.Identifier(name)


def qualified(schema: str, table: str) -> Composable:
    """``"schema"."table"``; both names were checked (schema) or built here (table)."""
    from psycopg import sql

    if len(table) > MAX_IDENTIFIER or not is_valid_name(table):
        raise ValueError(f"bad table name {table!r}")
    return sql.Identifier(check_schema_name(schema), table)


def _type(column_type: str) -> Composable:
    from psycopg import sql

    if column_type.removesuffix("[]") not in _ALLOWED_TYPES:
        raise ValueError(f"bad PostgreSQL column type {column_type!r}")
    return sql.SQL(column_type)  # checked against a fixed set


def table_name(view: str, view_id: int) -> str:
    """The table name of ``view`` (catalog id ``view_id``), at most 63 characters."""
    validate_name(view, "view")
    return f"fv_{view[:40]}_{int(view_id)}"


def column_name(feature: str) -> str:
    """The column name of ``feature``: the name itself, or a shortened name with a hash."""
    validate_name(feature, "feature")
    if len(feature) <= MAX_IDENTIFIER:
        return feature
    return f"{feature[:50]}_{zlib.crc32(feature.encode()):08x}"


def lock_key(schema: str, name: str) -> int:
    """The second key of an advisory lock on ``name`` in ``schema`` (a signed 32-bit hash)."""
    value = zlib.crc32(f"{schema}.{name}".encode())
    return value - 2**32 if value >= 2**31 else value


# --- catalog ----------------------------------------------------------------------------------


def catalog_ddl(schema: str) -> list[Composed]:
    """DDL creating the schema and the catalog tables (idempotent)."""
    from psycopg import sql

    views = qualified(schema, VIEWS_TABLE)
    return [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, value text NOT NULL)").format(
            qualified(schema, META_TABLE)
        ),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "view text NOT NULL UNIQUE, table_name text NOT NULL)"
        ).format(views),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (view_id bigint NOT NULL REFERENCES {} (id) "
            "ON DELETE CASCADE, feature text NOT NULL, column_name text NOT NULL, "
            "dtype text NOT NULL, PRIMARY KEY (view_id, feature))"
        ).format(qualified(schema, COLUMNS_TABLE), views),
    ]


def layout_version_sql(schema: str) -> Composed:
    """The stored layout version (no row: a new schema)."""
    from psycopg import sql

    return sql.SQL("SELECT value FROM {} WHERE key = 'layout_version'").format(
        qualified(schema, META_TABLE)
    )


def set_layout_version_sql(schema: str) -> Composed:
    """Record :data:`LAYOUT_VERSION` (parameter: the version text)."""
    from psycopg import sql

    return sql.SQL(
        "INSERT INTO {} (key, value) VALUES ('layout_version', %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    ).format(qualified(schema, META_TABLE))


def load_views_sql(schema: str) -> Composed:
    """Catalog rows of some views (parameter: a list of view names), one per column."""
    from psycopg import sql

    return sql.SQL(
        "SELECT v.view, v.id, v.table_name, c.feature, c.column_name, c.dtype "
        "FROM {} v LEFT JOIN {} c ON c.view_id = v.id WHERE v.view = ANY(%s)"
    ).format(qualified(schema, VIEWS_TABLE), qualified(schema, COLUMNS_TABLE))


def insert_view_sql(schema: str) -> Composed:
    """Add a view (parameter: its name); returns its id."""
    from psycopg import sql

    return sql.SQL("INSERT INTO {} (view, table_name) VALUES (%s, '') RETURNING id").format(
        qualified(schema, VIEWS_TABLE)
    )


def set_table_name_sql(schema: str) -> Composed:
    """Record the table of a view (parameters: table name, view id)."""
    from psycopg import sql

    return sql.SQL("UPDATE {} SET table_name = %s WHERE id = %s").format(
        qualified(schema, VIEWS_TABLE)
    )


def upsert_column_sql(schema: str) -> Composed:
    """Record a column (parameters: view id, feature, column name, dtype)."""
    from psycopg import sql

    return sql.SQL(
        "INSERT INTO {} (view_id, feature, column_name, dtype) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (view_id, feature) DO UPDATE SET dtype = excluded.dtype"
    ).format(qualified(schema, COLUMNS_TABLE))


def delete_view_sql(schema: str) -> Composed:
    """Remove a view from the catalog (parameter: its name); its columns go by cascade."""
    from psycopg import sql

    return sql.SQL("DELETE FROM {} WHERE view = %s RETURNING table_name").format(
        qualified(schema, VIEWS_TABLE)
    )


# --- view tables ------------------------------------------------------------------------------


def create_table_sql(schema: str, table: str, columns: Iterable[tuple[str, str]]) -> Composed:
    """DDL for a view table with ``(column name, column type)`` feature columns."""
    from psycopg import sql

    parts = [
        sql.SQL("{} bytea PRIMARY KEY").format(ident(KEY_COLUMN)),
        sql.SQL("{} bigint NOT NULL").format(ident(TS_COLUMN)),
        sql.SQL("{} bigint").format(ident(CREATED_COLUMN)),
    ]
    parts += [sql.SQL("{} {}").format(ident(name), _type(kind)) for name, kind in columns]
    return sql.SQL("CREATE TABLE {} ({})").format(
        qualified(schema, table), sql.SQL(", ").join(parts)
    )


def add_column_sql(schema: str, table: str, name: str, column_type: str) -> Composed:
    """DDL adding one feature column (no default: instant, no table rewrite)."""
    from psycopg import sql

    return sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
        qualified(schema, table), ident(name), _type(column_type)
    )


def widen_column_sql(schema: str, table: str, name: str, column_type: str) -> Composed:
    """DDL widening a column (int32 to int64, float32 to float64: exact, rewrites the table)."""
    from psycopg import sql

    return sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {}").format(
        qualified(schema, table), ident(name), _type(column_type)
    )


def drop_table_sql(schema: str, table: str) -> Composed:
    """DDL dropping a view table."""
    from psycopg import sql

    return sql.SQL("DROP TABLE IF EXISTS {}").format(qualified(schema, table))


# --- writes -----------------------------------------------------------------------------------


def batch_table_sql(columns: Sequence[tuple[str, str]], with_last: bool) -> Composed:
    """A temporary table for one write batch, dropped at commit."""
    from psycopg import sql

    parts = [
        sql.SQL("{} bytea, {} bigint, {} bigint").format(
            ident(KEY_COLUMN), ident(TS_COLUMN), ident(CREATED_COLUMN)
        )
    ]
    parts += [sql.SQL("{} {}").format(ident(name), _type(kind)) for name, kind in columns]
    if with_last:
        parts.append(sql.SQL("{} boolean").format(ident(LAST_COLUMN)))
    return sql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP").format(
        sql.Identifier(BATCH_TABLE), sql.SQL(", ").join(parts)
    )


def copy_sql(names: Sequence[str], with_last: bool) -> Composed:
    """Binary COPY into the batch table."""
    from psycopg import sql

    columns = [KEY_COLUMN, TS_COLUMN, CREATED_COLUMN, *names]
    if with_last:
        columns.append(LAST_COLUMN)
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(BATCH_TABLE), sql.SQL(", ").join(ident(c) for c in columns)
    )


def _batch_columns(
    columns: Sequence[tuple[str, str]], with_last: bool
) -> tuple[list[str], list[str]]:
    """The names and types of the batch's columns, features ``(name, type)`` in ``columns``."""
    names = [KEY_COLUMN, TS_COLUMN, CREATED_COLUMN, *(name for name, _ in columns)]
    kinds = ["bytea", "bigint", "bigint", *(kind for _, kind in columns)]
    if with_last:
        names.append(LAST_COLUMN)
        kinds.append("boolean")
    return names, kinds


def batch_unnest_sql(columns: Sequence[tuple[str, str]], with_last: bool) -> Composed:
    """A common table expression standing in for the batch table, its rows bound as arrays.

    ``"__pitstore_batch"(<columns of the batch table>) AS (SELECT ... FROM unnest(...))``: one
    array parameter per column of :func:`batch_table_sql`, named ``c0``, ``c1``... in order
    (:func:`batch_arrays` builds them). An array column cannot be unnested (PostgreSQL has
    no arrays of arrays): its values come flattened in parameter ``e<i>``, with the bounds of
    each row's value in ``s<i>`` and ``t<i>``, read as the slice ``e<i>[s:t]`` (null bounds:
    a null value; ``t = s - 1``: an empty one). Put first in the ``WITH`` of :func:`upsert_sql`
    or :func:`upsert_last_sql`, it shadows the (absent) batch table: a small batch is upserted
    by the same statement as a COPYed one, in one round trip, without a temporary table. The
    text does not depend on the number of rows, so the statement can be prepared.
    ``columns`` and ``with_last`` are as for :func:`batch_table_sql`.
    """
    from psycopg import sql

    names, kinds = _batch_columns(columns, with_last)
    picked: list[Composable] = []
    arrays: list[Composable] = []
    unnested: list[str] = []

    def param(name: str, kind: str) -> None:
        arrays.append(sql.SQL("{}::{}[]").format(sql.Placeholder(name), _type(kind)))
        unnested.append(name)

    for i, kind in enumerate(kinds):
        if kind.endswith("[]"):
            start, end = f"s{i}", f"t{i}"  # unnest flattens 2-D arrays: one array per bound
            picked.append(
                sql.SQL("({}::{})[{}:{}]").format(
                    sql.Placeholder(f"e{i}"),
                    _type(kind),
                    sql.Identifier(start),
                    sql.Identifier(end),
                )
            )
            param(start, "integer")
            param(end, "integer")
        else:
            picked.append(sql.Identifier(f"c{i}"))
            param(f"c{i}", kind)
    return sql.SQL("{} ({}) AS (SELECT {} FROM unnest({}) AS u ({}))").format(
        sql.Identifier(BATCH_TABLE),
        sql.SQL(", ").join(ident(name) for name in names),
        sql.SQL(", ").join(picked),
        sql.SQL(", ").join(arrays),
        sql.SQL(", ").join(sql.Identifier(name) for name in unnested),
    )


def batch_arrays(
    rows: Sequence[Sequence[Any]], columns: Sequence[tuple[str, str]], with_last: bool
) -> dict[str, list[Any]]:
    """The parameters of :func:`batch_unnest_sql` for ``rows`` (as given to the COPY)."""
    _, kinds = _batch_columns(columns, with_last)
    params: dict[str, list[Any]] = {}
    for i, (kind, values) in enumerate(zip(kinds, zip(*rows, strict=True), strict=True)):
        if not kind.endswith("[]"):
            params[f"c{i}"] = list(values)
            continue
        flat: list[Any] = []
        starts: list[int | None] = []
        ends: list[int | None] = []
        for value in values:
            if value is None:
                starts.append(None)
                ends.append(None)
            else:
                starts.append(len(flat) + 1)  # PostgreSQL arrays start at 1
                flat += value
                ends.append(len(flat))  # an empty value: end = start - 1, an empty slice
        params[f"e{i}"], params[f"s{i}"], params[f"t{i}"] = flat, starts, ends
    return params


def _pair(alias: str) -> Composed:
    """``(alias.ts, coalesce(alias.created, min))``: row values compare ts first."""
    from psycopg import sql

    return sql.SQL("({a}.{ts}, coalesce({a}.{c}, {low}))").format(
        a=sql.Identifier(alias),
        ts=ident(TS_COLUMN),
        c=ident(CREATED_COLUMN),
        low=sql.Literal(NULL_CREATED),
    )


def _insert(
    schema: str, table: str, names: Sequence[str], cleared: Iterable[str], only_last: bool
) -> Composed:
    """The monotonic upsert of the batch table's rows (only those flagged last, if asked)."""
    from psycopg import sql

    columns = [KEY_COLUMN, TS_COLUMN, CREATED_COLUMN, *names]
    listed = sql.SQL(", ").join(ident(c) for c in columns)
    sets = [sql.SQL("{0} = excluded.{0}").format(ident(c)) for c in columns[1:]]
    # A row replaces the stored row as a whole: features absent from the batch become null.
    sets += [sql.SQL("{} = NULL").format(ident(c)) for c in cleared]
    where = sql.SQL("WHERE {} ").format(ident(LAST_COLUMN)) if only_last else sql.SQL("")
    return sql.SQL(
        "INSERT INTO {target} AS t ({listed}) SELECT {listed} FROM {batch} {where}"
        "ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE {new} >= {old}"
    ).format(
        target=qualified(schema, table),
        listed=listed,
        batch=sql.Identifier(BATCH_TABLE),
        where=where,
        key=ident(KEY_COLUMN),
        sets=sql.SQL(", ").join(sets),
        new=_pair("excluded"),
        old=_pair("t"),
    )


def upsert_sql(
    schema: str,
    table: str,
    names: Sequence[str],
    cleared: Iterable[str],
    values: Composable | None = None,
) -> Composed:
    """Upsert a batch of distinct keys; the row count is the number of rows applied.

    The batch is the batch table, or ``values`` (:func:`batch_unnest_sql`) when given.
    """
    from psycopg import sql

    insert = _insert(schema, table, names, cleared, only_last=False)
    return insert if values is None else sql.SQL("WITH {} {}").format(values, insert)


def upsert_last_sql(
    schema: str,
    table: str,
    names: Sequence[str],
    cleared: Iterable[str],
    values: Composable | None = None,
) -> Composed:
    """Upsert a batch holding several rows of some keys; returns one row: the rows applied.

    The batch is the batch table, or ``values`` (:func:`batch_unnest_sql`) when given.

    The batch table holds, per key, the rows that would be applied one after the other if the
    key's stored pair were lowest (each not older than the ones before), the last of them
    flagged ``__last``. Only the last is written; an earlier one counts as applied when the
    last one was and its own pair is not older than the stored pair (read in the statement's
    snapshot: under a concurrent write of the same key the count, not the state, may be off).
    """
    from psycopg import sql

    return sql.SQL(
        "WITH {values}prior AS (SELECT p.{key}, p.{ts}, p.{c} FROM {target} p WHERE p.{key} IN "
        "(SELECT {key} FROM {batch} WHERE NOT {last})), "
        "up AS ({insert} RETURNING t.{key}) "
        "SELECT (SELECT count(*) FROM up) + (SELECT count(*) FROM {batch} b "
        "JOIN up ON up.{key} = b.{key} LEFT JOIN prior ON prior.{key} = b.{key} "
        "WHERE NOT b.{last} AND (prior.{key} IS NULL OR {new} >= {old}))"
    ).format(
        values=sql.SQL("") if values is None else sql.SQL("{}, ").format(values),
        key=ident(KEY_COLUMN),
        ts=ident(TS_COLUMN),
        c=ident(CREATED_COLUMN),
        target=qualified(schema, table),
        batch=sql.Identifier(BATCH_TABLE),
        last=ident(LAST_COLUMN),
        insert=_insert(schema, table, names, cleared, only_last=True),
        new=_pair("b"),
        old=_pair("prior"),
    )


# --- reads ------------------------------------------------------------------------------------


def select_sql(
    schema: str, table: str, columns: Sequence[tuple[str, str | None] | None]
) -> Composed:
    """``SELECT key, ts, <columns> WHERE key = ANY(keys)``.

    ``columns`` holds ``(column name, cast)`` per requested feature, or None for a feature
    the view does not have (read as NULL).
    """
    from psycopg import sql

    exprs: list[Composable] = [ident(KEY_COLUMN), ident(TS_COLUMN)]
    for column in columns:
        if column is None:
            exprs.append(sql.SQL("NULL"))
        elif column[1] is None:
            exprs.append(ident(column[0]))
        else:
            exprs.append(sql.SQL("{}::{}").format(ident(column[0]), _read_cast(column[1])))
    return sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%b)").format(
        sql.SQL(", ").join(exprs), qualified(schema, table), ident(KEY_COLUMN)
    )


def _read_cast(cast: str) -> Composable:
    from psycopg import sql

    if cast not in ("int8", "float8", "int8[]", "float8[]"):
        raise ValueError(f"bad read cast {cast!r}")
    return sql.SQL(cast)  # checked against a fixed set
