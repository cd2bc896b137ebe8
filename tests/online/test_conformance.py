"""The online store conformance suite over every store in the core package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pitstore.online.base import OnlineStore
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
