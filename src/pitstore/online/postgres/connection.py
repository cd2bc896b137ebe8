"""Connections to PostgreSQL: the pool, a printable server name, and driver error translation.

Secrets never leave this module: errors and reprs name the server as ``host:port/dbname``,
and a password that a driver message might echo is masked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from pitstore.dsn import describe, mask
from pitstore.errors import ConfigError, StoreUnavailableError

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

#: How long the pool keeps retrying a connection it failed to make (once, a second later)
#: before it gives up and leaves the next try to the next demand for a connection. The store's
#: breaker asks for one every second while the server is down; psycopg_pool's default, five
#: minutes of retries backing off to minutes apart, kept the pool's one growing slot busy, so
#: a server that came back could wait minutes to be used.
RECONNECT_S: Final = 1.0


def make_pool(
    dsn: str,
    *,
    name: str,
    min_size: int,
    max_size: int,
    connect_timeout_s: float,
    statement_timeout_s: float,
    on_connect: Callable[[BaseException | None], None],
    on_give_up: Callable[[int], None],
) -> ConnectionPool[Connection[Any]]:
    """An open pool of autocommit connections, filled in the background.

    Getting a connection waits at most ``connect_timeout_s``; libpq gives up connecting after
    the same time (rounded up to whole seconds, at least 2: libpq's minimum); statements are
    cancelled by the server after ``statement_timeout_s``. The pool does not test connections
    on checkout (a round trip per call): callers discard a broken one and :meth:`check` the
    others instead. ``on_connect`` hears how each connection attempt ended (None: it worked);
    ``on_give_up`` hears when the pool gave up connecting, with the number of connections it
    still has (open or being opened).
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
        connection_class=_reporting_connection(on_connect),
        kwargs=kwargs,
        min_size=min_size,
        max_size=max_size,
        timeout=connect_timeout_s,
        name=name,
        reconnect_timeout=RECONNECT_S,
        reconnect_failed=lambda pool: on_give_up(pool.get_stats()["pool_size"]),
        open=True,
    )


def _reporting_connection(
    on_connect: Callable[[BaseException | None], None],
) -> type[Connection[Any]]:
    """A connection class that reports how each attempt to connect ended (the pool connects
    in its own threads and keeps the error to itself: only its log says why)."""
    from psycopg import Connection, OperationalError

    class ReportingConnection(Connection[Any]):
        @classmethod
        def connect(cls, *args: Any, **kwargs: Any) -> Any:
            try:
                conn = super().connect(*args, **kwargs)
            except OperationalError as exc:
                on_connect(exc)
                raise
            on_connect(None)
            return conn

    return ReportingConnection


def is_broken(conn: Connection[Any]) -> bool:
    """True when ``conn`` lost its server (a retry on another connection may work)."""
    return bool(conn.closed or conn.broken)


def unavailable(
    what: str, exc: BaseException, parts: dict[str, Any], *, connect_error: BaseException | None
) -> StoreUnavailableError:
    """The pitstore error for a driver error that a retry may fix (raise it ``from exc``);
    ``connect_error``: why the pool's last attempt to connect failed, if it did."""
    from psycopg import errors
    from psycopg_pool import PoolTimeout

    where = describe(parts)
    message = detail(exc, parts)
    if isinstance(exc, errors.QueryCanceled):
        reason = f"a statement timed out ({message})"
    elif isinstance(exc, PoolTimeout):
        why = message if connect_error is None else detail(connect_error, parts)
        reason = f"no connection could be made in time ({why})"
    else:
        reason = message
    return StoreUnavailableError(
        f"{what} at {where} is unavailable: {reason}. A retry may succeed; check that the "
        "server is running and reachable, or raise the timeouts."
    )


def failing_fast(
    what: str, reason: BaseException, parts: dict[str, Any], down_s: float, retry_s: float
) -> StoreUnavailableError:
    """The error of a call refused at once: the server was unreachable ``down_s`` ago and
    no connection has worked since (raise it ``from reason``)."""
    return StoreUnavailableError(
        f"{what} at {describe(parts)} is unavailable: no connection has worked for "
        f"{down_s:.1f} s ({detail(reason, parts)}). Calls fail at once until one works again "
        f"(tried every {retry_s:g} s in the background); check that the server is running "
        "and reachable."
    )


def detail(exc: BaseException, parts: dict[str, Any]) -> str:
    """The message of ``exc`` with any password of ``parts`` masked."""
    return mask(str(exc).strip(), parts) or type(exc).__name__
