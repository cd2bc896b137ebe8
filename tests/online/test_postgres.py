"""The PostgreSQL online store beyond the conformance suite: layout, types, failures."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from pitstore.errors import ConfigError, PitstoreError, SchemaError, StoreUnavailableError
from pitstore.online.base import ViewRead
from pitstore.online.postgres import PostgresOnlineStore
from pitstore.testing.online_values import key, make_batch, read_view
from services import postgres_url


@contextmanager
def fresh_schema() -> Iterator[tuple[str, str]]:
    """``(url, schema)``: a schema name no other test uses, dropped afterwards."""
    import psycopg

    url = postgres_url()
    schema = f"pitstore_test_{uuid.uuid4().hex[:12]}"
    try:
        yield url, schema
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def schema() -> Iterator[tuple[str, str]]:
    with fresh_schema() as found:
        yield found


@pytest.fixture
def store(schema: tuple[str, str]) -> Iterator[PostgresOnlineStore]:
    url, name = schema
    store = PostgresOnlineStore(url, schema=name, max_connections=4)
    yield store
    store.close()


def _sql(url: str, query: str, *params: object) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(query.encode(), params or None)
        return cursor.fetchall() if cursor.description else []


def _column_types(url: str, schema: str) -> dict[str, str]:
    rows = _sql(
        url,
        "SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns c "
        "JOIN pg_attribute a ON a.attrelid = format('%%I.%%I', c.table_schema, c.table_name)"
        "::regclass AND a.attname = c.column_name "
        "WHERE table_schema = %s AND table_name LIKE 'fv_%%'",
        schema,
    )
    return dict(rows)


# --- layout and types -------------------------------------------------------------------------


def test_native_column_types(store: PostgresOnlineStore, schema: tuple[str, str]) -> None:
    features = {
        "b": ("bool", [True]),
        "i": ("int32", [1]),
        "l": ("int64", [2]),
        "f": ("float32", [0.5]),
        "d": ("float64", [math.nan]),
        "s": ("string", ["x"]),
        "y": ("bytes", [b"x"]),
        "t": ("timestamp", [7]),
        "al": ("array<int64>", [[1, None]]),
        "as_": ("array<string>", [["a"]]),
        "v": ("vector<float32,3>", [[1.0, 2.0, 3.0]]),
    }
    store.write("types", make_batch([key(1)], [1], None, features))
    assert _column_types(*schema) == {
        "__key": "bytea",
        "__ts": "bigint",
        "__created": "bigint",
        "b": "boolean",
        "i": "integer",
        "l": "bigint",
        "f": "real",
        "d": "double precision",
        "s": "text",
        "y": "bytea",
        "t": "bigint",
        "al": "bigint[]",
        "as_": "text[]",
        "v": "real[]",
    }
    url, name = schema
    (row,) = _sql(url, f'SELECT "d", "s", "al" FROM "{name}"."fv_types_1"')
    assert math.isnan(row[0]) and row[1:] == ("x", [1, None])  # plain SQL reads plain values


def test_nul_and_the_escape_character_round_trip(
    store: PostgresOnlineStore, schema: tuple[str, str]
) -> None:
    values = ["a\x00b", "\ue000", "\ue0000", "\ue000e\x00", "\x00\ue000\x00", "plain"]
    keys = [key(i) for i in range(len(values))]
    features = {"s": ("string", values), "a": ("array<string>", [[v, None] for v in values])}
    store.write("v", make_batch(keys, [1] * len(keys), None, features))
    rows = read_view(store, "v", ["s", "a"], keys)
    assert rows.columns == [values, [[v, None] for v in values]]
    url, name = schema
    assert _sql(url, f'SELECT "s" FROM "{name}"."fv_v_1" WHERE "s" = %s', "plain") == [("plain",)]


def test_long_view_and_feature_names(store: PostgresOnlineStore) -> None:
    view, feature = "v" * 128, "f" * 128
    other = "f" * 127 + "g"  # same first 63 characters
    features = {feature: ("int64", [1]), other: ("int64", [2])}
    store.write(view, make_batch([key(1)], [1], None, features))
    assert read_view(store, view, [other, feature], [key(1)]).columns == [[2], [1]]


@contextmanager
def _opened(url: str, schema: str, **options: Any) -> Iterator[PostgresOnlineStore]:
    store = PostgresOnlineStore(url, schema=schema, **options)
    try:
        yield store
    finally:
        store.close()


def test_widening_keeps_values_and_other_stores_reads(schema: tuple[str, str]) -> None:
    url, name = schema
    with _opened(url, name) as reader, _opened(url, name) as writer:
        narrow = {"i": ("int32", [2**31 - 1]), "f": ("float32", [0.1])}
        writer.write("v", make_batch([key(1)], [1], None, narrow))
        for _ in range(3):  # the reader's statement is prepared and cached
            assert read_view(reader, "v", ["i", "f"], [key(1)]).columns[0] == [2**31 - 1]
        wide = {"i": ("int64", [2**40]), "f": ("float64", [0.1])}
        writer.write("v", make_batch([key(2)], [1], None, wide))
        assert _column_types(url, name)["i"] == "bigint"
        rows = read_view(reader, "v", ["i", "f"], [key(1), key(2)])
        assert rows.columns == [[2**31 - 1, 2**40], [float(np.float32(0.1)), 0.1]]
        writer.write("v", make_batch([key(3)], [1], None, narrow))  # narrower: no change
        assert read_view(reader, "v", ["i"], [key(3)]).columns == [[2**31 - 1]]


def test_other_type_family_is_a_schema_error(store: PostgresOnlineStore) -> None:
    store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
    with pytest.raises(SchemaError, match=r"stored as int64.*delete_view"):
        store.write("v", make_batch([key(1)], [2], None, {"x": ("string", ["s"])}))
    assert read_view(store, "v", ["x"], [key(1)]).columns == [[1]]


def test_a_view_deleted_and_rewritten_by_another_store(schema: tuple[str, str]) -> None:
    url, name = schema
    with _opened(url, name) as first, _opened(url, name) as second:
        first.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
        assert read_view(second, "v", ["x"], [key(1)]).columns == [[1]]
        first.delete_view("v")
        first.write("v", make_batch([key(1)], [1], None, {"x": ("string", ["s"])}))
        assert read_view(second, "v", ["x"], [key(1)]).columns == [["s"]]
        second.write("v", make_batch([key(2)], [1], None, {"x": ("string", ["t"])}))
        assert read_view(first, "v", ["x"], [key(1), key(2)]).columns == [["s", "t"]]


def test_a_column_added_by_another_store_is_cleared_on_replace(schema: tuple[str, str]) -> None:
    url, name = schema
    with _opened(url, name) as first, _opened(url, name) as second:
        first.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
        second.write(
            "v", make_batch([key(1)], [2], None, {"x": ("int64", [2]), "y": ("int64", [3])})
        )
        first.write("v", make_batch([key(1)], [3], None, {"x": ("int64", [4])}))
        assert read_view(second, "v", ["x", "y"], [key(1)]).columns == [[4], [None]]


def test_reads_do_not_wait_for_an_open_write(
    store: PostgresOnlineStore, schema: tuple[str, str]
) -> None:
    import psycopg

    url, name = schema
    store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
    with psycopg.connect(url) as conn:  # a transaction, left open
        conn.execute(f'UPDATE "{name}"."fv_v_1" SET "x" = 2, "__ts" = 2')
        started = time.perf_counter()
        assert read_view(store, "v", ["x"], [key(1)]).columns == [[1]]
        assert time.perf_counter() - started < 1
        conn.rollback()


def test_newer_layout_asks_for_an_upgrade(schema: tuple[str, str]) -> None:
    url, name = schema
    with _opened(url, name) as store:
        store.read([ViewRead("v", ("x",), [key(1)])])
    _sql(url, f'UPDATE "{name}"."__pitstore_meta" SET value = \'99\'')
    with _opened(url, name) as store, pytest.raises(SchemaError, match="upgrade pitstore"):
        store.read([ViewRead("v", ("x",), [key(1)])])


def test_bad_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="schema"):
        PostgresOnlineStore("postgresql://127.0.0.1:1/db", schema='x"; DROP SCHEMA public; --')
    with pytest.raises(ConfigError, match="dsn") as caught:
        PostgresOnlineStore("password=hunter2 nonsense", schema="s")
    assert "hunter2" not in str(caught.value)


# --- failures -------------------------------------------------------------------------------------


def test_unreachable_server_fails_fast_without_secrets() -> None:
    store = PostgresOnlineStore(
        "postgresql://pitstore:hunter2@127.0.0.1:1/features", schema="s", connect_timeout_s=0.5
    )
    try:
        for call in (
            lambda: store.read([ViewRead("v", ("x",), [key(1)])]),
            lambda: store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])})),
        ):
            started = time.perf_counter()
            with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1:1/features") as caught:
                call()
            assert time.perf_counter() - started < 3
            assert "hunter2" not in str(caught.value)
            assert caught.value.__cause__ is not None
    finally:
        store.close()


def test_slow_statement_times_out_then_the_next_call_works(schema: tuple[str, str]) -> None:
    import psycopg

    url, name = schema
    with _opened(url, name, statement_timeout_s=0.2) as store:
        store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
        with psycopg.connect(url) as conn:
            conn.execute(f'LOCK TABLE "{name}"."fv_v_1" IN ACCESS EXCLUSIVE MODE')
            with pytest.raises(StoreUnavailableError, match="timed out"):
                read_view(store, "v", ["x"], [key(1)])
            conn.rollback()
        assert read_view(store, "v", ["x"], [key(1)]).columns == [[1]]


def test_dropped_connections_are_replaced(schema: tuple[str, str]) -> None:
    url, name = schema
    with _opened(url, name, min_connections=2, max_connections=2) as store:
        store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
        read_view(store, "v", ["x"], [key(1)])
        killed = _sql(
            url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'pitstore' AND query LIKE %s",
            f"%{name}%",
        )
        assert killed  # the server closed the store's connections, as in a restart
        for _ in range(3):
            assert read_view(store, "v", ["x"], [key(1)]).columns == [[1]]
        store.write("v", make_batch([key(1)], [2], None, {"x": ("int64", [2])}))
        assert read_view(store, "v", ["x"], [key(1)]).columns == [[2]]


def test_closed_store_says_so(store: PostgresOnlineStore) -> None:
    store.close()
    with pytest.raises(PitstoreError, match="closed"):
        store.read([ViewRead("v", ("x",), [key(1)])])


def test_a_stale_cached_type_is_not_an_error(schema: tuple[str, str]) -> None:
    url, name = schema
    with _opened(url, name) as first, _opened(url, name) as second:
        first.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
        second.write("v", make_batch([key(2)], [1], None, {"x": ("int64", [2])}))
        first.delete_view("v")
        first.write("v", make_batch([key(1)], [1], None, {"x": ("string", ["s"])}))
        # second still caches x as int64; the catalog says string now
        second.write("v", make_batch([key(2)], [1], None, {"x": ("string", ["t"])}))
        assert read_view(first, "v", ["x"], [key(1), key(2)]).columns == [["s", "t"]]
