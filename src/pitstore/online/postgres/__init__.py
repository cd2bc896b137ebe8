"""The PostgreSQL online store: :class:`PostgresOnlineStore`.

Importing this package is cheap; the store module (and psycopg) load on first use.
Install the driver with ``pip install 'pitstore[postgres]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["PostgresOnlineStore"]

if TYPE_CHECKING:
    from pitstore.online.postgres.store import PostgresOnlineStore


def __getattr__(name: str) -> Any:
    if name == "PostgresOnlineStore":
        from pitstore.online.postgres.store import PostgresOnlineStore

        return PostgresOnlineStore
    raise AttributeError(f"module 'pitstore.online.postgres' has no attribute {name!r}")
