"""The project file's typed model: ``pitstore.yaml``.

Store configs are discriminated by ``type``, so a new backend adds one model to a union. Unknown
keys are errors (a typo must not be ignored silently). Paths are relative to the repo folder.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pitstore.names import NAME_PATTERN


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqliteRegistryConfig(_Strict):
    """The registry in a SQLite file (the default)."""

    type: Literal["sqlite"] = "sqlite"
    path: str = "data/registry.db"


class DuckDBEngineConfig(_Strict):
    """The embedded DuckDB offline engine (the default)."""

    type: Literal["duckdb"] = "duckdb"
    memory_limit: str | None = Field(
        default=None, description="DuckDB memory limit, e.g. '4GB'; beyond it DuckDB spills."
    )
    temp_directory: str | None = Field(
        default=None, description="Where DuckDB spills; default: DuckDB's own choice."
    )
    threads: int | None = Field(default=None, ge=1)


class SqliteOnlineConfig(_Strict):
    """The online store in a SQLite file (the default)."""

    type: Literal["sqlite"] = "sqlite"
    path: str = "data/online.db"


class PostgresRegistryConfig(_Strict):
    """The registry in a PostgreSQL database (for teams)."""

    type: Literal["postgres"] = "postgres"
    dsn: str = Field(description="libpq connection string or URL; use ${VAR} for secrets.")
    schema_name: str = Field(default="pitstore", pattern=NAME_PATTERN)
    connect_timeout_s: float = Field(default=5.0, gt=0)


class RedisOnlineConfig(_Strict):
    """The online store in Redis."""

    type: Literal["redis"] = "redis"
    url: str = Field(default="redis://127.0.0.1:6379/0", description="redis:// or rediss:// URL.")
    key_prefix: str = Field(default="", description="Prefix of every key (several projects).")
    socket_timeout_s: float = Field(default=2.0, gt=0)
    max_connections: int = Field(default=32, ge=1)


class PostgresOnlineConfig(_Strict):
    """The online store in PostgreSQL."""

    type: Literal["postgres"] = "postgres"
    dsn: str = Field(description="libpq connection string or URL; use ${VAR} for secrets.")
    schema_name: str = Field(default="pitstore_online", pattern=NAME_PATTERN)
    min_connections: int = Field(default=1, ge=0)
    max_connections: int = Field(default=8, ge=1)
    connect_timeout_s: float = Field(default=5.0, gt=0)


RegistryConfig = Annotated[
    SqliteRegistryConfig | PostgresRegistryConfig, Field(discriminator="type")
]
OfflineEngineConfig = Annotated[DuckDBEngineConfig, Field(discriminator="type")]
OnlineStoreConfig = Annotated[
    SqliteOnlineConfig | RedisOnlineConfig | PostgresOnlineConfig, Field(discriminator="type")
]


class ProjectConfig(_Strict):
    """Everything in ``pitstore.yaml``."""

    project: str = Field(pattern=NAME_PATTERN)
    registry: RegistryConfig = Field(default_factory=SqliteRegistryConfig)
    offline_engine: OfflineEngineConfig = Field(default_factory=DuckDBEngineConfig)
    online_store: OnlineStoreConfig = Field(default_factory=SqliteOnlineConfig)
    entity_timestamp_column: str = Field(default="event_timestamp", pattern=NAME_PATTERN)

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        # `registry: path/to/file.db` is short for `registry: {type: sqlite, path: ...}`.
        if isinstance(data, dict):
            data = dict(data)
            for key in ("registry", "online_store"):
                if isinstance(data.get(key), str):
                    data[key] = {"type": "sqlite", "path": data[key]}
            for key in ("registry", "offline_engine", "online_store"):
                if isinstance(data.get(key), dict) and "type" not in data[key]:
                    data[key] = {"type": _DEFAULT_TYPES[key], **data[key]}
        return data


_DEFAULT_TYPES = {"registry": "sqlite", "offline_engine": "duckdb", "online_store": "sqlite"}
