"""Connections to PostgreSQL: the pool, a printable server name, and driver error translation.

Secrets never leave this module: errors and reprs name the server as ``host:port/dbname``,
and a password that a driver message might echo is masked.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pitstore.dsn import describe, mask
from pitstore.errors import ConfigError, StoreUnavailableError

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool


def make_pool(
    dsn: str,
    *,
    name: str,
    min_size: int,
    max_size: int,
    connect_timeout_s: float,
    statement_timeout_s: float,
) -> ConnectionPool[Connection[Any]]:
    """An open pool of autocommit connections, filled in the background.

    Getting a connection waits at most ``connect_timeout_s``; libpq gives up connecting after
    the same time (rounded up to whole seconds, at least 2: libpq's minimum); statements are
    cancelled by the server after ``statement_timeout_s``. The pool does not test connections
    on checkout (a round trip per call): callers discard a broken one and :meth:`check` the
    others instead.
    """
    from psycopg_pool import ConnectionPool

    if min_size > max_size:
        raise ConfigError(
            f"min_connections ({min_size}) is greater than max_connections ({max_size})",
            key="min_connections",
        )
    kwargs: dict[str, Any] = {
        "autocommit": True,
        "connect_timeout": max(2, math.ceil(connect_timeout_s)),
        "options": f"-c statement_timeout={max(1, round(statement_timeout_s * 1000))}",
        "application_name": "pitstore",
        "client_encoding": "UTF8",
        # Hot statements are prepared on first use: the read path skips parse and plan.
        "prepare_threshold": 0,
    }
    return ConnectionPool(
        dsn,
        kwargs=kwargs,
        min_size=min_size,
        max_size=max_size,
        timeout=connect_timeout_s,
        name=name,
        open=True,
    )


def is_broken(conn: Connection[Any]) -> bool:
    """True when ``conn`` lost its server (a retry on another connection may work)."""
    return bool(conn.closed or conn.broken)


def unavailable(what: str, exc: BaseException, parts: dict[str, Any]) -> StoreUnavailableError:
    """The pitstore error for a driver error that a retry may fix (raise it ``from exc``)."""
    from psycopg import errors
    from psycopg_pool import PoolTimeout

    where = describe(parts)
    detail = mask(str(exc).strip(), parts) or type(exc).__name__
    if isinstance(exc, errors.QueryCanceled):
        reason = f"a statement timed out ({detail})"
    elif isinstance(exc, PoolTimeout):
        reason = f"no connection could be made in time ({detail})"
    else:
        reason = detail
    return StoreUnavailableError(
        f"{what} at {where} is unavailable: {reason}. A retry may succeed; check that the "
        "server is running and reachable, or raise the timeouts."
    )
