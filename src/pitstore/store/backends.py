"""Building the configured registry, offline engine and online store.

The one place that maps a config ``type`` to a backend class; each backend module is imported
only when it is configured, so unused drivers are never loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pitstore.config import ProjectConfig
from pitstore.config.models import (
    PostgresOnlineConfig,
    PostgresRegistryConfig,
    RedisOnlineConfig,
    SparkEngineConfig,
)

if TYPE_CHECKING:
    from pitstore.offline.base import OfflineEngine
    from pitstore.online.base import OnlineStore
    from pitstore.registry.base import Registry


def _in_repo(repo: Path, path: str) -> str:
    return str(path if Path(path).is_absolute() else repo / path)


def open_registry(config: ProjectConfig, repo: Path) -> Registry:
    """The registry named by ``config.registry``."""
    registry = config.registry
    if isinstance(registry, PostgresRegistryConfig):
        from pitstore.registry.postgres import PostgresRegistry

        return PostgresRegistry(
            registry.dsn,
            config.project,
            schema=registry.schema_name,
            connect_timeout_s=registry.connect_timeout_s,
        )
    from pitstore.registry.sqlite import SqliteRegistry

    return SqliteRegistry(_in_repo(repo, registry.path), config.project)


def open_offline_engine(config: ProjectConfig, repo: Path) -> OfflineEngine:
    """The offline engine named by ``config.offline_engine``."""
    engine = config.offline_engine
    if isinstance(engine, SparkEngineConfig):
        from pitstore.offline.spark.engine import SparkEngine

        # The session (a JVM) starts on the engine's first use, not here.
        return SparkEngine(master=engine.master, conf=engine.conf, app_name=engine.app_name)
    from pitstore.offline.duckdb.engine import DuckDBEngine

    temp = _in_repo(repo, engine.temp_directory) if engine.temp_directory else None
    return DuckDBEngine(
        memory_limit=engine.memory_limit, temp_directory=temp, threads=engine.threads
    )


def open_online_store(config: ProjectConfig, repo: Path) -> OnlineStore:
    """The online store named by ``config.online_store``."""
    store = config.online_store
    if isinstance(store, RedisOnlineConfig):
        from pitstore.online.redis.store import RedisOnlineStore

        return RedisOnlineStore(
            store.url,
            key_prefix=store.key_prefix or config.project,
            socket_timeout_s=store.socket_timeout_s,
            max_connections=store.max_connections,
        )
    if isinstance(store, PostgresOnlineConfig):
        from pitstore.online.postgres.store import PostgresOnlineStore

        return PostgresOnlineStore(
            store.dsn,
            # One schema per project by default, as Redis keys get the project as prefix.
            schema=store.schema_name or f"pitstore_online_{config.project}",
            min_connections=store.min_connections,
            max_connections=store.max_connections,
            connect_timeout_s=store.connect_timeout_s,
        )
    from pitstore.online.sqlite.store import SqliteOnlineStore

    path = Path(_in_repo(repo, store.path))
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteOnlineStore(str(path))
