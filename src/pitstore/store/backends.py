"""Building the configured registry, offline engine and online store.

The one place that maps a config ``type`` to a backend class; each backend module is imported
only when it is configured, so unused drivers are never loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pitstore.config import ProjectConfig

if TYPE_CHECKING:
    from pitstore.offline.base import OfflineEngine
    from pitstore.online.base import OnlineStore
    from pitstore.registry.base import Registry


def _in_repo(repo: Path, path: str) -> str:
    return str(path if Path(path).is_absolute() else repo / path)


def open_registry(config: ProjectConfig, repo: Path) -> Registry:
    """The registry named by ``config.registry``."""
    from pitstore.registry.sqlite import SqliteRegistry

    return SqliteRegistry(_in_repo(repo, config.registry.path), config.project)


def open_offline_engine(config: ProjectConfig, repo: Path) -> OfflineEngine:
    """The offline engine named by ``config.offline_engine``."""
    from pitstore.offline.duckdb.engine import DuckDBEngine

    engine = config.offline_engine
    temp = _in_repo(repo, engine.temp_directory) if engine.temp_directory else None
    return DuckDBEngine(
        memory_limit=engine.memory_limit, temp_directory=temp, threads=engine.threads
    )


def open_online_store(config: ProjectConfig, repo: Path) -> OnlineStore:
    """The online store named by ``config.online_store``."""
    from pitstore.online.sqlite.store import SqliteOnlineStore

    path = Path(_in_repo(repo, config.online_store.path))
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteOnlineStore(str(path))
