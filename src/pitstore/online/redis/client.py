"""Round trips to one Redis server: the connection pool, scripts, and error translation.

:class:`RedisClient` sends a list of commands in one pipelined round trip on a pooled
connection and returns the replies. It bypasses redis-py's ``Pipeline`` object (about half of
the client time of a small read) but uses the driver's own connections, pool and RESP packer
and parser (hiredis when installed).

Failure behaviour: connection failures, timeouts and a server that is loading or busy raise
:class:`~pitstore.errors.StoreUnavailableError` naming ``host:port/db`` (never the password),
chained from the driver error. Nothing is retried: the caller (a request, a materialization
with its watermark) decides. The connection that failed is dropped; the pool reconnects on the
next call, and checks a pooled connection before handing it out (a server restart closes
every socket, which the pool notices), so the same store works again once Redis is back.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NoReturn

from pitstore.errors import ConfigError, PitstoreError, StoreUnavailableError

if TYPE_CHECKING:
    import socket

Command = tuple[Any, ...]

#: Error codes that say "try again later" rather than "your command is wrong".
_TRANSIENT_CODES: Final = frozenset(
    {"BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "OOM", "LOADING"}
)
#: Bytes asked of the socket per read (a reply of a large read arrives in several).
_READ_BYTES: Final = 65536


class ReplyError(Exception):
    """An error reply: the server refused one command (the connection stays usable)."""

    @property
    def code(self) -> str:
        """The error's code, its first word (``NOSCRIPT``, ``BUSY``, ``ERR``...)."""
        return str(self).split(" ", 1)[0]


class Script:
    """A Lua script run by its SHA1 (``EVALSHA``), loaded on the first ``NOSCRIPT`` reply."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def call(self, keys: Sequence[Any], args: Sequence[Any]) -> Command:
        """The ``EVALSHA`` command running this script."""
        return ("EVALSHA", self.sha, len(keys), *keys, *args)


class RedisClient:
    """A connection pool to one Redis server and pipelined round trips over it."""

    def __init__(
        self,
        url: str,
        *,
        socket_timeout_s: float,
        max_connections: int,
        health_check_interval_s: float,
    ) -> None:
        import redis

        try:
            import hiredis  # noqa: F401  (the round trip's packer and parser)
        except ImportError:
            raise ConfigError(
                "the Redis online store needs hiredis: pip install 'pitstore[redis]' (or hiredis)"
            ) from None
        try:
            # A blocking pool: when every connection is busy a caller waits (up to the socket
            # timeout) instead of failing at once with "Too many connections". RESP2: replies
            # only ever answer commands (RESP3 lets a server push messages of its own, which
            # _round_trip would take for replies).
            self.pool = redis.BlockingConnectionPool.from_url(
                url,
                protocol=2,
                max_connections=max_connections,
                timeout=socket_timeout_s,
                socket_timeout=socket_timeout_s,
                socket_connect_timeout=socket_timeout_s,
                health_check_interval=health_check_interval_s,
            )
        except ValueError as exc:
            raise ConfigError(
                f"bad Redis URL ({exc}). Hint: redis://[[user]:password@]host[:port][/db], "
                "rediss:// for TLS, or unix:///path/to/socket",
                key="url",
            ) from None
        self.server = server_name(self.pool.connection_kwargs)
        self._password = self.pool.connection_kwargs.get("password")

    def execute(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` in one round trip; error replies come back as exceptions (values).

        Raises StoreUnavailableError when the server cannot be reached or does not answer in
        time; the connection is then closed, never reused half-read.
        """
        import hiredis
        import redis

        try:
            conn = self.pool.get_connection()  # type: ignore[no-untyped-call]
        except redis.AuthenticationError as exc:
            raise ConfigError(
                f"Redis at {self.server} refused the credentials: {self._scrub(str(exc))}. "
                "Hint: check the user and password in the URL (write it as ${VAR} in "
                "pitstore.yaml to keep the secret out of the file).",
                key="url",
            ) from exc
        except (redis.RedisError, OSError) as exc:  # also a reply that is not RESP
            self._unavailable(exc)
        try:
            # A PING first when the connection sat idle past the interval; any error there,
            # an error reply too (BUSY while a script runs), leaves the server unusable now.
            conn.check_health()
            # the pool's connection is connected (its socket set) and checked for stray data
            replies = _round_trip(conn._sock, commands)
            conn.next_health_check = time.monotonic() + conn.health_check_interval
        except (redis.RedisError, OSError, hiredis.ProtocolError) as exc:
            conn.disconnect()
            self._unavailable(exc)
        except BaseException:
            conn.disconnect()  # e.g. KeyboardInterrupt mid-read: the replies are out of step
            raise
        finally:
            self.pool.release(conn)  # type: ignore[no-untyped-call]
        return replies

    def run_scripts(self, scripts: Sequence[Script], commands: list[Command]) -> list[Any]:
        """:meth:`execute` ``EVALSHA`` commands, loading ``scripts`` and resending on NOSCRIPT.

        Other error replies raise (translated, see :meth:`check`).
        """
        replies = self.execute(commands)
        missing = [i for i, reply in enumerate(replies) if _code(reply) == "NOSCRIPT"]
        if missing:
            # A server restart or SCRIPT FLUSH forgot the scripts: NOSCRIPT means nothing ran.
            loads: list[Command] = [("SCRIPT", "LOAD", s.source) for s in scripts]
            again = self.execute([*loads, *(commands[i] for i in missing)])
            for i, reply in zip(missing, again[len(loads) :], strict=True):
                replies[i] = reply
        for reply in replies:
            self.check(reply)
        return replies

    def check(self, reply: Any) -> Any:
        """``reply``, or the translated error when it is an error reply."""
        if isinstance(reply, ReplyError):
            message = self._scrub(str(reply))
            if reply.code in _TRANSIENT_CODES:
                raise StoreUnavailableError(
                    f"Redis at {self.server} cannot serve the online store now: {message}"
                ) from reply
            raise PitstoreError(f"Redis at {self.server} refused a command: {message}") from reply
        return reply

    def close(self) -> None:
        """Close every connection of the pool."""
        self.pool.disconnect()

    def _unavailable(self, exc: BaseException) -> NoReturn:
        raise StoreUnavailableError(
            f"the Redis online store at {self.server} is unavailable: {type(exc).__name__}: "
            f"{self._scrub(str(exc))}. Hint: check that Redis is running and reachable; the "
            "store reconnects by itself on the next call."
        ) from exc

    def _scrub(self, text: str) -> str:
        if self._password:
            text = text.replace(str(self._password), "***")
        return text


def _round_trip(sock: socket.socket, commands: Sequence[Command]) -> list[Any]:
    """One write of ``commands``, then one reply per command (error replies as values).

    The socket keeps the timeout redis-py gave it: a server that stops answering raises
    ``TimeoutError`` here, and the caller drops the connection.
    """
    import hiredis

    sock.sendall(b"".join([hiredis.pack_command(c) for c in commands]))
    reader = hiredis.Reader(replyError=ReplyError)
    replies: list[Any] = []
    while len(replies) < len(commands):
        reply = reader.gets()
        if reply is False:  # the reply is not complete yet
            chunk = sock.recv(_READ_BYTES)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            reader.feed(chunk)
        else:
            replies.append(reply)
    return replies


def _code(reply: Any) -> str | None:
    return reply.code if isinstance(reply, ReplyError) else None


def server_name(kwargs: dict[str, Any]) -> str:
    """``host:port/db`` (or the socket path) from connection settings; never a password."""
    if kwargs.get("path"):
        return f"unix:{kwargs['path']}/{kwargs.get('db', 0)}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
