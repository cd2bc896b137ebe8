"""The SQLite online store (the embedded default): :class:`SqliteOnlineStore`.

Importing this package is cheap; the store module (and :mod:`sqlite3`) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["SqliteOnlineStore"]

if TYPE_CHECKING:
    from pitstore.online.sqlite.store import SqliteOnlineStore


def __getattr__(name: str) -> Any:
    if name == "SqliteOnlineStore":
        from pitstore.online.sqlite.store import SqliteOnlineStore

        return SqliteOnlineStore
    raise AttributeError(f"module 'pitstore.online.sqlite' has no attribute {name!r}")
