"""The project file's typed model: ``pitstore.yaml``.

Store configs are discriminated by ``type``, so a new backend adds one model to a union. Unknown
keys are errors (a typo must not be ignored silently). Paths are relative to the repo folder.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

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


class SparkEngineConfig(_Strict):
    """The Apache Spark offline engine (``pip install 'pitstore[spark]'``, Java 17+)."""

    type: Literal["spark"] = "spark"
    master: str = Field(
        default="local[2]",
        description="Spark master URL: local[N], spark://host:7077, yarn, k8s://...",
    )
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="Spark settings, e.g. spark.executor.memory: 8g; use ${VAR} for secrets.",
    )
    app_name: str = Field(default="pitstore", min_length=1)


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
    native_expiry: bool = Field(
        default=False,
        description="Let Redis expire rows older than their view's TTL (saves memory; reads "
        "with a `now` in the past then miss expired rows).",
    )


class PostgresOnlineConfig(_Strict):
    """The online store in PostgreSQL."""

    type: Literal["postgres"] = "postgres"
    dsn: str = Field(description="libpq connection string or URL; use ${VAR} for secrets.")
    schema_name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Schema of the view tables; default pitstore_online_<project>, one per "
        "project (view tables are named by view: projects must not share a schema).",
    )
    min_connections: int = Field(default=1, ge=0)
    max_connections: int = Field(
        default=8,
        ge=2,
        description="At least 2: a push to an aggregated view holds one connection for its "
        "merge lock while it writes through another.",
    )
    connect_timeout_s: float = Field(default=5.0, gt=0)


RegistryConfig = Annotated[
    SqliteRegistryConfig | PostgresRegistryConfig, Field(discriminator="type")
]
OfflineEngineConfig = Annotated[DuckDBEngineConfig | SparkEngineConfig, Field(discriminator="type")]
OnlineStoreConfig = Annotated[
    SqliteOnlineConfig | RedisOnlineConfig | PostgresOnlineConfig, Field(discriminator="type")
]


class RedisBrokerConfig(_Strict):
    """A Redis server whose streams ``pitstore ingest`` consumes (consumer groups)."""

    type: Literal["redis"] = "redis"
    url: str = Field(default="redis://127.0.0.1:6379/0", description="redis:// or rediss:// URL.")
    batch_size: int = Field(default=500, ge=1, le=100_000, description="Most messages a batch.")
    max_wait_ms: int = Field(
        default=50, ge=0, description="Longest wait to fill a batch once it has a message."
    )
    claim_idle_ms: int = Field(
        default=60_000,
        ge=0,
        description="Messages another consumer received but did not ack for this long are "
        "taken over (XAUTOCLAIM): that consumer is presumed dead.",
    )


class NatsBrokerConfig(_Strict):
    """A NATS server with JetStream whose subjects ``pitstore ingest`` consumes."""

    type: Literal["nats"] = "nats"
    url: str = Field(default="nats://127.0.0.1:4222", description="nats:// URL (or several).")
    batch_size: int = Field(default=500, ge=1, le=100_000, description="Most messages a batch.")
    max_wait_ms: int = Field(
        default=50, ge=0, description="Longest wait to fill a batch once it has a message."
    )
    ack_wait_s: float = Field(
        default=30.0,
        gt=0,
        description="JetStream redelivers a message not acked for this long (a batch must be "
        "written within it).",
    )


BrokerConfig = Annotated[RedisBrokerConfig | NatsBrokerConfig, Field(discriminator="type")]


class ServerTokenConfig(_Strict):
    """One bearer token of the HTTP server and what it may do."""

    token: SecretStr = Field(
        min_length=16, description="The secret; write ${VAR} to read it from the environment."
    )
    name: str = Field(default="token", description="Shown in the access log, never the secret.")
    projects: list[str] | None = Field(
        default=None, description="Projects this token may read; default: any."
    )
    feature_services: list[str] | None = Field(
        default=None,
        description="Only these feature services may be read (no feature lists, catalog or "
        "metrics); default: anything.",
    )
    push: bool = Field(default=False, description="Whether this token may push rows.")


class ServerAuthConfig(_Strict):
    """Bearer-token auth of the HTTP server: off while ``tokens`` is empty."""

    tokens: list[ServerTokenConfig] = Field(default_factory=list)
    sign_in_failures: int = Field(
        default=10,
        ge=1,
        description="Failed web UI sign-ins a client address may make in a window (each "
        "sign-in counts as it starts; a success gives its own try back); then its sign-ins "
        "are refused (429) until the window closes.",
    )
    sign_in_window_seconds: float = Field(
        default=300,
        gt=0,
        le=86_400,
        description="The window of sign_in_failures, from an address's first counted sign-in.",
    )


class ServerConfig(_Strict):
    """``pitstore serve``: the HTTP feature server."""

    host: str = "127.0.0.1"
    port: int = Field(default=6566, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    engine: Literal["granian", "uvicorn"] = Field(
        default="uvicorn",
        description="The HTTP server: uvicorn (all on one thread per worker) or granian (HTTP "
        "in Rust threads: more requests per second than uvicorn at 64 connections, fewer at "
        "8). See docs/server.md.",
    )
    registry_refresh_seconds: float = Field(default=5.0, gt=0)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_entities: int = Field(default=10_000, ge=1)
    auth: ServerAuthConfig = Field(default_factory=ServerAuthConfig)
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS ('*' for any); default: none."
    )
    access_log: bool = Field(default=False, description="One JSON line per request on stderr.")
    offload_reads: bool | Literal["auto"] = Field(
        default="auto",
        description="Read the online store in a worker thread (true) or on the event loop "
        "(false). auto: in a thread for PostgreSQL, whose reads may wait for a pooled "
        "connection; on the loop for SQLite and Redis, whose reads take ~0.1 ms and fail fast "
        "(a thread hop cost a third of the throughput on Redis).",
    )
    secure_cookies: bool = Field(
        default=False,
        description="Mark the web UI's sign-in cookie Secure (sent over HTTPS only). The "
        "server speaks plain HTTP: turn this on when a TLS proxy serves it as https://.",
    )


class ProjectConfig(_Strict):
    """Everything in ``pitstore.yaml``."""

    project: str = Field(pattern=NAME_PATTERN)
    registry: RegistryConfig = Field(default_factory=SqliteRegistryConfig)
    offline_engine: OfflineEngineConfig = Field(default_factory=DuckDBEngineConfig)
    online_store: OnlineStoreConfig = Field(default_factory=SqliteOnlineConfig)
    entity_timestamp_column: str = Field(default="event_timestamp", pattern=NAME_PATTERN)
    server: ServerConfig = Field(default_factory=ServerConfig)
    brokers: dict[str, BrokerConfig] = Field(
        default_factory=dict,
        description="Message brokers of stream sources, by name (StreamSource(broker=name)).",
    )

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

    @model_validator(mode="after")
    def _separate_sqlite_files(self) -> ProjectConfig:
        # apply clears a changed view's online rows inside the registry's write transaction:
        # in one file, the online store would wait for the lock that very transaction holds.
        registry, online = self.registry, self.online_store
        if (
            isinstance(registry, SqliteRegistryConfig)
            and isinstance(online, SqliteOnlineConfig)
            and os.path.normpath(registry.path) == os.path.normpath(online.path)
        ):
            raise ValueError(
                f"registry and online_store are the same SQLite file {online.path!r}; give "
                "each its own file (e.g. data/registry.db and data/online.db)"
            )
        return self


_DEFAULT_TYPES = {"registry": "sqlite", "offline_engine": "duckdb", "online_store": "sqlite"}
