"""The PostgreSQL online store beyond the conformance suite: layout, types, failures."""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest

from pitstore.errors import ConfigError, PitstoreError, SchemaError, StoreUnavailableError
from pitstore.online.base import ViewRead
from pitstore.online.postgres import PostgresOnlineStore, breaker
from pitstore.online.postgres import store as store_module
from pitstore.online.postgres.connection import RECONNECT_S
from pitstore.testing.online_values import (
    FEATURE_TYPES,
    assert_same_values,
    key,
    make_batch,
    read_view,
    samples,
)
from services import postgres_url
from tcp_proxy import TcpProxy, free_port


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
    with pytest.raises(
        SchemaError, match=r"stored as int64.*delete_view\('v'\).*pitstore materialize"
    ):
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


#: A call refused at once takes far less than this (the wait it replaces: a connect timeout).
FAST_S = 0.1


def _refused_calls(store: PostgresOnlineStore) -> list[Callable[[], object]]:
    batch = make_batch([key(1)], [1], None, {"x": ("int64", [1])})  # not timed (pyarrow)
    return [
        lambda: store.read([ViewRead("v", ("x",), [key(1)])]),
        lambda: store.write("v", batch),
        lambda: store.delete_view("v"),
    ]


def _fails_fast(call: Callable[[], object], where: str) -> StoreUnavailableError:
    started = time.perf_counter()
    with pytest.raises(StoreUnavailableError, match=re.escape(where)) as caught:
        call()
    assert time.perf_counter() - started < FAST_S
    return caught.value


def test_a_refusing_server_fails_calls_at_once_after_the_first() -> None:
    """The first call waits for a connection (at most the connect timeout); the calls after
    it fail at once, saying why, instead of each waiting the timeout again."""
    import psycopg

    where = f"127.0.0.1:{free_port()}/features"  # nothing listens there: refused
    store = PostgresOnlineStore(
        f"postgresql://pitstore:hunter2@{where}", schema="s", connect_timeout_s=1
    )
    try:
        with pytest.raises(StoreUnavailableError, match=re.escape(where)):
            store.read([ViewRead("v", ("x",), [key(1)])])
        for call in _refused_calls(store):
            error = _fails_fast(call, where)
            assert "fail at once" in str(error) and "hunter2" not in str(error)
            # chained from the connection error, not from the pool's "no connection in time"
            assert isinstance(error.__cause__, psycopg.OperationalError)
            assert "couldn't get a connection" not in str(error.__cause__)
    finally:
        store.close()


def test_a_store_opened_while_the_server_is_down_fails_fast_from_its_first_call() -> None:
    """Once the pool gave up connecting, no call waits for it."""
    where = f"127.0.0.1:{free_port()}/features"
    store = PostgresOnlineStore(f"postgresql://{where}", schema="s", connect_timeout_s=5)
    try:
        time.sleep(RECONNECT_S + 1)  # the pool tried twice, RECONNECT_S apart, and gave up
        for call in _refused_calls(store):
            _fails_fast(call, where)
    finally:
        store.close()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    """A proxy to the test server, not started: its port refuses connections until then."""
    parsed = urlparse(postgres_url())
    server = TcpProxy((parsed.hostname or "127.0.0.1", parsed.port or 5432))
    yield server
    server.stop()


def _through(url: str, proxy: TcpProxy) -> str:
    parsed = urlparse(url)
    user = parsed.netloc.rpartition("@")[0]
    return parsed._replace(netloc=f"{user}@" * bool(user) + f"127.0.0.1:{proxy.port}").geturl()


def _seconds_until_it_works(call: Callable[[], object], where: str, limit: float) -> float:
    """How long until ``call`` works, retried meanwhile; each failure must come at once."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        attempt = time.perf_counter()
        try:
            call()
        except StoreUnavailableError as exc:
            assert where in str(exc) and time.perf_counter() - attempt < FAST_S
            time.sleep(0.05)
            continue
        return time.monotonic() - started
    raise AssertionError(f"still failing after {limit} s")


def test_a_server_that_goes_away_and_comes_back(schema: tuple[str, str], proxy: TcpProxy) -> None:
    url, name = schema
    where = f"127.0.0.1:{proxy.port}/"
    with _opened(_through(url, proxy), name, connect_timeout_s=1) as store:

        def read() -> list[list[Any]]:
            return read_view(store, "v", ["x"], [key(1)]).columns

        batch = make_batch([key(1)], [1], None, {"x": ("int64", [1])})

        def write() -> int:
            return store.write("v", batch)

        # down from the start (refused), then up: used again within a probe interval or so
        with pytest.raises(StoreUnavailableError, match=re.escape(where)):
            read()
        _fails_fast(read, where)
        proxy.start()
        assert _seconds_until_it_works(write, where, 10) < breaker.PROBE_INTERVAL_S + 2
        assert read() == [[1]]

        # it dies (connections cut, new ones refused): the first call finds out, the next
        # ones fail at once; back, the data is read again
        proxy.stop()
        with pytest.raises(StoreUnavailableError, match=re.escape(where)):
            read()
        for call in _refused_calls(store):
            _fails_fast(call, where)
        proxy.start()
        assert _seconds_until_it_works(read, where, 10) < breaker.PROBE_INTERVAL_S + 2
        assert read() == [[1]]


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


# --- small batches (bound arrays) and large ones (COPY) ---------------------------------------


class _BothPaths:
    """Two stores in two schemas: every write goes to one by bound arrays, to the other by COPY."""

    def __init__(self, small: PostgresOnlineStore, copy: PostgresOnlineStore) -> None:
        self.small, self.copy = small, copy

    def write(self, view: str, batch: Any) -> int:
        with pytest.MonkeyPatch.context() as patch:

            def no_copy(*args: Any) -> None:
                raise AssertionError("a small batch was copied")

            patch.setattr(PostgresOnlineStore, "_copy", staticmethod(no_copy))
            applied = self.small.write(view, batch)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(store_module, "_SMALL_BATCH_ROWS", 0)
            patch.setattr(store_module, "_SMALL_ARRAY_BATCH_ROWS", 0)
            assert self.copy.write(view, batch) == applied
        return applied

    def same_rows(self, view: str, features: list[str], keys: list[bytes]) -> None:
        small = read_view(self.small, view, features, keys)
        copy = read_view(self.copy, view, features, keys)
        assert small.event_ts == copy.event_ts
        for feature, got, want in zip(features, small.columns, copy.columns, strict=True):
            assert_same_values(got, want, feature)


@pytest.fixture
def both() -> Iterator[_BothPaths]:
    with (
        fresh_schema() as (url, first),
        fresh_schema() as (_, second),
        _opened(url, first) as small,
        _opened(url, second) as copy,
    ):
        yield _BothPaths(small, copy)


def _name(type_name: str) -> str:
    return "f_" + "".join(c if c.isalnum() else "_" for c in type_name)


def _every_type(rows: int, shift: int = 0) -> dict[str, tuple[str, list[Any]]]:
    """Every feature type, its samples cycled over ``rows`` rows (starting at ``shift``)."""
    features = {}
    for type_name in FEATURE_TYPES:
        values = samples(type_name)
        features[_name(type_name)] = (
            type_name,
            [values[(i + shift) % len(values)] for i in range(rows)],
        )
    return features


def test_small_and_copy_writes_agree(both: _BothPaths) -> None:
    names = [_name(t) for t in FEATURE_TYPES]
    keys = [key(i) for i in range(12)]
    # every type, null created
    assert both.write("v", make_batch(keys[:10], [10] * 10, None, _every_type(10))) == 10
    both.same_rows("v", names, keys)
    # repeated keys in one batch (kept, skipped, older than stored), null and set created
    repeated = [0, 0, 0, 1, 1, 2, 2, 3, 10, 10]
    ts = [11, 9, 12, 5, 10, 10, 10, 9, 1, 1]
    created = [None, 1, None, 7, None, 2, 1, None, 3, None]
    batch = make_batch([keys[i] for i in repeated], ts, created, _every_type(10, shift=3))
    assert both.write("v", batch) == 5  # 0: 11 and 12; 1: ts 10, null created; 2: 2; 10: 3
    both.same_rows("v", names, keys)
    # only older rows: nothing applied
    assert both.write("v", make_batch(keys[:3], [1] * 3, None, _every_type(3))) == 0
    # a subset of the features, a new one (a column), a widened one
    subset = {"f_int32": ("int64", [2**40, None]), "new": ("array<string>", [["a"], None])}
    assert both.write("v", make_batch(keys[4:6], [20, 20], [1, None], subset)) == 2
    both.same_rows("v", [*names, "new"], keys)


def test_small_writes_with_repeats_and_ties_agree(both: _BothPaths) -> None:
    keys = [key(i) for i in range(4)]
    for ts, created in [(5, None), (5, 1), (5, None), (4, 9), (6, None), (6, 0), (6, 0)]:
        rows = [0, 1, 1, 2, 2, 2]
        features = {"x": ("int64", [ts * 10 + j for j in range(len(rows))])}
        batch = make_batch([keys[i] for i in rows], [ts] * len(rows), [created] * 6, features)
        both.write("v", batch)
        both.same_rows("v", ["x"], keys)


@pytest.mark.parametrize(
    ("limit", "dtype"),
    [("_SMALL_BATCH_ROWS", "int64"), ("_SMALL_ARRAY_BATCH_ROWS", "array<int64>")],
)
def test_a_batch_over_the_threshold_is_copied(
    store: PostgresOnlineStore, limit: str, dtype: str
) -> None:
    n = getattr(store_module, limit) + 1
    copied = []
    real = PostgresOnlineStore._copy

    def spy(*args: Any) -> None:
        copied.append(True)
        real(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PostgresOnlineStore, "_copy", staticmethod(spy))
        keys = [key(i) for i in range(n)]
        value = 1 if dtype == "int64" else [1]
        assert store.write("v", make_batch(keys, [1] * n, None, {"x": (dtype, [value] * n)})) == n
        assert store.write("v", make_batch(keys[:-1], [2] * (n - 1), None)) == n - 1
    assert copied == [True]
    assert read_view(store, "v", ["x"], keys[-2:]).columns == [[None, value]]


def test_a_small_write_on_a_dropped_table_runs_again(schema: tuple[str, str]) -> None:
    url, name = schema
    with _opened(url, name) as first, _opened(url, name) as second:
        first.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
        second.write("v", make_batch([key(2)], [1], None, {"x": ("int64", [2])}))
        first.delete_view("v")
        first.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [3])}))
        # second sends its upsert ahead into the dropped table, then starts again
        assert second.write("v", make_batch([key(2)], [1], None, {"x": ("int64", [4])})) == 1
        assert read_view(first, "v", ["x"], [key(1), key(2)]).columns == [[3, 4]]


def test_projects_get_a_schema_each_by_default(tmp_path: Any) -> None:
    """Two projects on one database with the default settings never share a view's table
    (tables are named by view): one schema per project, like Redis's key prefix."""
    from pitstore.config import parse_config
    from pitstore.store.backends import open_online_store

    suffix = uuid.uuid4().hex[:8]
    stores = [
        open_online_store(
            parse_config(
                {
                    "project": f"p{suffix}_{team}",
                    "online_store": {"type": "postgres", "dsn": postgres_url()},
                }
            ),
            tmp_path,
        )
        for team in ("a", "b")
    ]
    try:
        schemas = [s.schema for s in stores]  # type: ignore[attr-defined]
        assert schemas == [f"pitstore_online_p{suffix}_a", f"pitstore_online_p{suffix}_b"]
        for team in stores:
            team.write("v", make_batch([key(1)], [10], None, {"x": ("float64", [0.5])}))
        stores[1].delete_view("v")  # the other team's teardown
        assert read_view(stores[0], "v", ["x"], [key(1)]).event_ts == [10]
        assert read_view(stores[1], "v", ["x"], [key(1)]).event_ts == [None]
    finally:
        for s in stores:
            s.close()
        for schema in [f"pitstore_online_p{suffix}_a", f"pitstore_online_p{suffix}_b"]:
            _sql(postgres_url(), f"DROP SCHEMA IF EXISTS {schema} CASCADE")
