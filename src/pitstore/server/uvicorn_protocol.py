"""uvicorn's httptools protocol, sending each response in one write.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start``, then the body on ``http.response.body``: two ``send`` system calls
(and two TCP segments) per response. Here every write a connection makes in one turn of the
event loop is joined and sent once, at the end of that turn: the app sends both messages in
the same turn, so a response leaves in one write. On Redis at 8 connections that took a
request from 65 to 58 us of server CPU, 11% more requests per second (bench/RESULTS.md).

Nothing waits longer than the turn it was written in, and ``close`` sends what is pending
first, so the bytes and their order on the wire are unchanged. Only small writes are joined:
one that would take the pending bytes past :data:`JOIN_BYTES` goes to the transport at once
(after what is pending), so a large body is not copied, and the transport's flow control
sees it in the write itself (it pauses a streaming app whose client reads slowly).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Pending bytes past which a write is not joined (headers and a JSON body are far below it).
JOIN_BYTES: Final = 64 * 1024


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` over a transport that joins the writes of one loop turn."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(JoiningTransport(transport, self.loop))  # type: ignore[arg-type]


class JoiningTransport:
    """A transport whose writes of one event-loop turn leave in one write at its end; every
    other attribute is the wrapped transport's."""

    __slots__ = ("_loop", "_pending", "_size", "_transport")

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._size + len(data) > JOIN_BYTES:
            self.flush()
            self._transport.write(data)
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))  # a copy of a mutable buffer, as a transport makes
        self._size += len(data)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Send what is pending now (a no-op once the transport is closing: the peer left)."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending.clear()
        self._size = 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return int(self._transport.get_write_buffer_size()) + self._size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
