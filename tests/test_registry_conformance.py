"""The registry conformance suite over every registry, and the Postgres registry's own cases."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Plain asserts in the suite get pytest's detailed messages (before the suite is imported).
pytest.register_assert_rewrite("pitstore.testing.registry")

from pitstore.errors import ConfigError, RegistryError, StoreUnavailableError  # noqa: E402
from pitstore.registry.postgres import SCHEMA_VERSION, PostgresRegistry  # noqa: E402
from pitstore.testing.registry import (  # noqa: E402
    RegistryConformance,
    RegistryRecipe,
    entity,
    plan_to,
    specs,
)
from services import postgres_url  # noqa: E402


class TestSqliteRegistry(RegistryConformance):
    @pytest.fixture
    def registry_factory(self, tmp_path: Path) -> RegistryRecipe:
        return RegistryRecipe("pitstore.registry.sqlite:SqliteRegistry", (str(tmp_path / "r.db"),))


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """``(url, schema)``: a schema no other test uses, dropped afterwards."""
    import psycopg

    url = postgres_url()
    schema = f"pitstore_test_{uuid.uuid4().hex[:12]}"
    yield url, schema
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


class TestPostgresRegistry(RegistryConformance):
    @pytest.fixture
    def registry_factory(self, pg_schema: tuple[str, str]) -> RegistryRecipe:
        url, schema = pg_schema
        return RegistryRecipe(
            "pitstore.registry.postgres:PostgresRegistry", (url,), {"schema": schema}
        )


def _sql(url: str, query: str, *params: Any) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query.encode(), params or None)


def test_postgres_tables_and_version(pg_schema: tuple[str, str]) -> None:
    import psycopg

    url, schema = pg_schema
    PostgresRegistry(url, "p", schema=schema).close()
    PostgresRegistry(url, "p", schema=schema).close()  # opening again migrates nothing
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (schema,)
        ).fetchall()
        version = conn.execute(f'SELECT value FROM "{schema}".meta'.encode()).fetchall()
    assert [t for (t,) in tables] == ["meta", "objects", "projects", "versions", "watermarks"]
    assert version == [(str(SCHEMA_VERSION),)]


def test_postgres_newer_format_gives_clear_error(pg_schema: tuple[str, str]) -> None:
    url, schema = pg_schema
    PostgresRegistry(url, "p", schema=schema).close()
    _sql(url, f'UPDATE "{schema}".meta SET value = %s', str(SCHEMA_VERSION + 1))
    with pytest.raises(RegistryError, match=r"newer pitstore.*upgrade pitstore"):
        PostgresRegistry(url, "p", schema=schema)


def test_postgres_foreign_schema_gives_clear_error(pg_schema: tuple[str, str]) -> None:
    url, schema = pg_schema
    _sql(url, f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".users (id int)')
    with pytest.raises(RegistryError, match=r"not a pitstore registry.*users"):
        PostgresRegistry(url, "p", schema=schema)


def test_postgres_unreachable_fails_fast_without_secrets() -> None:
    started = time.perf_counter()
    with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1:1/reg") as caught:
        PostgresRegistry("postgresql://u:hunter2@127.0.0.1:1/reg", "p", connect_timeout_s=0.5)
    assert time.perf_counter() - started < 3
    assert "hunter2" not in str(caught.value) and caught.value.__cause__ is not None


def test_postgres_bad_schema_and_dsn_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="schema"):
        PostgresRegistry("postgresql://127.0.0.1:1/x", "p", schema="a-b")
    with pytest.raises(ConfigError, match="dsn") as caught:
        PostgresRegistry("password=hunter2 nonsense", "p")
    assert "hunter2" not in str(caught.value)


def test_postgres_recovers_after_connections_drop(pg_schema: tuple[str, str]) -> None:
    url, schema = pg_schema
    registry = PostgresRegistry(url, "p", schema=schema)
    try:
        registry.apply(plan_to(registry, specs(entity("driver"))), "a")
        _sql(
            url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'pitstore-registry' AND query LIKE %s",
            f"%{schema}%",
        )
        assert [o.name for o in registry.list_objects()] == ["driver"]
    finally:
        registry.close()


def test_postgres_missing_database_is_a_config_error_at_once() -> None:
    """It waited the whole connect timeout, then said 'unavailable... a retry may succeed';
    the server's reason was only in a log line."""
    from urllib.parse import urlsplit, urlunsplit

    url = urlsplit(postgres_url())
    missing = f"pitstore_no_such_db_{uuid.uuid4().hex[:8]}"
    dsn = urlunsplit(url._replace(path=f"/{missing}"))
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        PostgresRegistry(dsn, "p", connect_timeout_s=10)
    assert time.perf_counter() - started < 5
    message = str(caught.value)
    assert f'database "{missing}" does not exist' in message and f"createdb {missing}" in message
    assert "retry" not in message and "registry.dsn" in message
    if url.password:
        assert url.password not in message
