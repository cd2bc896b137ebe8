"""The online store conformance suite over every store in the core package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pitstore.online.base import OnlineStore, ViewRead
from pitstore.online.memory import MemoryOnlineStore
from pitstore.online.sqlite import SqliteOnlineStore
from pitstore.testing import OnlineStoreConformance


class TestMemoryOnlineStore(OnlineStoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[OnlineStore]:
        store = MemoryOnlineStore()
        yield store
        store.close()


class TestSqliteOnlineStore(OnlineStoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[OnlineStore]:
        store = SqliteOnlineStore(str(tmp_path / "online.db"))
        yield store
        store.close()


class TestPostgresOnlineStore(OnlineStoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[OnlineStore]:
        from test_postgres import fresh_schema  # the Postgres store's own test module

        with fresh_schema() as (url, schema):
            from pitstore.online.postgres import PostgresOnlineStore

            store = PostgresOnlineStore(url, schema=schema, max_connections=4)
            store.read([ViewRead("warm_up", (), [b"k"])])  # connect before Hypothesis draws
            yield store
            store.close()


class TestRedisOnlineStore(OnlineStoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[OnlineStore]:
        from test_redis import fresh_prefix  # the Redis store's own test module

        with fresh_prefix() as (url, prefix):
            from pitstore.online.redis import RedisOnlineStore

            store = RedisOnlineStore(url, key_prefix=prefix, max_connections=4)
            yield store
            store.close()
