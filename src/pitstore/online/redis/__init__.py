"""The Redis online store: :class:`RedisOnlineStore` (install ``pitstore[redis]``).

Importing this package is cheap; the store module (and the redis driver) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["RedisOnlineStore"]

if TYPE_CHECKING:
    from pitstore.online.redis.store import RedisOnlineStore


def __getattr__(name: str) -> Any:
    if name == "RedisOnlineStore":
        from pitstore.online.redis.store import RedisOnlineStore

        return RedisOnlineStore
    raise AttributeError(f"module 'pitstore.online.redis' has no attribute {name!r}")
