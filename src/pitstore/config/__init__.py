"""Config: the feature repo's ``pitstore.yaml``, typed (layer 3)."""

from __future__ import annotations

from pitstore.config.loader import CONFIG_FILE, find_repo, load_config, parse_config
from pitstore.config.models import (
    DuckDBEngineConfig,
    ProjectConfig,
    SqliteOnlineConfig,
    SqliteRegistryConfig,
)

__all__ = [
    "CONFIG_FILE",
    "DuckDBEngineConfig",
    "ProjectConfig",
    "SqliteOnlineConfig",
    "SqliteRegistryConfig",
    "find_repo",
    "load_config",
    "parse_config",
]
