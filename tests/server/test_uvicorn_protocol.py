"""uvicorn's protocol with one write per response (pitstore.server.uvicorn_protocol): the joins
happen, and the bytes on the wire are what uvicorn's own protocol sends, in order, on time."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
import uvloop

from pitstore.server.uvicorn_protocol import (
    JOIN_BYTES,
    JoiningTransport,
    OneWriteHttpToolsProtocol,
)

Scope = MutableMapping[str, Any]


class CountingTransport:
    """A real transport that also counts the writes reaching it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


@asynccontextmanager
async def joined_pair() -> AsyncIterator[tuple[JoiningTransport, CountingTransport, socket.socket]]:
    """A JoiningTransport over a real socket transport, and the socket at the other end."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    counting = CountingTransport(transport)  # type: ignore[arg-type]
    try:
        yield JoiningTransport(counting, loop), counting, theirs
    finally:
        transport.abort()
        theirs.close()


async def read_until_eof(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    chunks = []
    while chunk := await asyncio.wait_for(loop.sock_recv(sock, 65536), 5):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[Any]], Any]:
    def runner(coroutine: Awaitable[Any]) -> Any:
        if request.param == "uvloop":
            return uvloop.run(coroutine)  # type: ignore[arg-type]
        return asyncio.run(coroutine)  # type: ignore[arg-type]

    return runner


def test_the_writes_of_one_turn_leave_in_one_write_at_its_end(run: Any) -> None:
    async def main() -> None:
        async with joined_pair() as (joined, counting, peer):
            joined.write(b"HTTP/1.1 200 OK\r\n\r\n")
            joined.write(bytearray(b"body"))
            assert counting.writes == []  # held until the turn ends
            assert joined.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
            await asyncio.sleep(0)
            assert counting.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
            joined.write(b"next")
            await asyncio.sleep(0)
            assert counting.writes[1:] == [b"next"]  # a later turn: a write of its own
            joined.close()
            assert await read_until_eof(peer) == b"HTTP/1.1 200 OK\r\n\r\nbodynext"

    run(main())


def test_a_large_write_goes_straight_to_the_transport_after_what_is_pending(run: Any) -> None:
    async def main() -> None:
        async with joined_pair() as (joined, counting, peer):
            big = b"x" * (JOIN_BYTES + 1)
            joined.write(b"head")
            joined.write(big)  # not copied into a join: sent now, after the head
            assert counting.writes == [b"head", big]
            joined.write(b"tail")
            await asyncio.sleep(0)
            assert counting.writes[2:] == [b"tail"]
            joined.close()
            assert await read_until_eof(peer) == b"head" + big + b"tail"

    run(main())


def test_a_mutable_buffer_is_copied_when_written(run: Any) -> None:
    async def main() -> None:
        async with joined_pair() as (joined, _, peer):
            buffer = bytearray(b"abc")
            joined.write(buffer)
            buffer[:] = b"xyz"  # reused by the writer before the turn ends
            joined.close()
            assert await read_until_eof(peer) == b"abc"

    run(main())


def test_close_and_write_eof_send_what_is_pending_first(run: Any) -> None:
    async def main() -> None:
        async with joined_pair() as (joined, _, peer):
            joined.write(b"last words")
            joined.close()  # in the same turn as the write
            assert await read_until_eof(peer) == b"last words"
        async with joined_pair() as (joined, _, peer):
            joined.writelines([b"a", b"b"])
            joined.write_eof()
            assert await read_until_eof(peer) == b"ab"

    run(main())


def test_abort_drops_what_is_pending_and_a_late_flush_is_harmless(run: Any) -> None:
    async def main() -> None:
        async with joined_pair() as (joined, counting, peer):
            joined.write(b"never sent")
            joined.abort()
            await asyncio.sleep(0)  # the scheduled flush finds nothing to send
            assert counting.writes == []
            assert await read_until_eof(peer) == b""
        async with joined_pair() as (joined, counting, _):
            joined.write(b"to a closed connection")
            counting.transport.close()  # the peer left in this turn: no write, no error
            await asyncio.sleep(0)
            assert counting.writes == []

    run(main())


# --- through a real uvicorn server ------------------------------------------------------------


def make_app(go: asyncio.Event) -> Callable[[Scope, Any, Any], Awaitable[None]]:
    """Answers /stream in two body chunks, the second once ``go`` is set; the rest at once."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        head = [(b"content-type", b"text/plain")]
        if scope["path"] == "/flood":  # 1 MiB chunks with no wait of its own in between
            await send({"type": "http.response.start", "status": 200, "headers": head})
            for _ in range(FLOOD_CHUNKS):
                await send({"type": "http.response.body", "body": MIB, "more_body": True})
                FLOODED.append(1)
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": head})
            await send({"type": "http.response.body", "body": b"first|", "more_body": True})
            await go.wait()
            await send({"type": "http.response.body", "body": b"second"})
            return
        body = scope["path"].encode()
        head.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": body})

    return app


FLOOD_CHUNKS = 200
MIB = b"x" * (1 << 20)
FLOODED: list[int] = []


@asynccontextmanager
async def uvicorn_server(go: asyncio.Event | None = None) -> AsyncIterator[int]:
    app = make_app(go or asyncio.Event())
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = int(listener.getsockname()[1])
        config = uvicorn.Config(
            app, http=OneWriteHttpToolsProtocol, log_level="warning", timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        task = asyncio.ensure_future(server.serve(sockets=[listener]))
        while not server.started:
            await asyncio.sleep(0.01)
        try:
            yield port
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await asyncio.wait_for(reader.readexactly(length), 5)


def test_pipelined_requests_get_whole_responses_in_order(run: Any) -> None:
    async def main() -> None:
        async with uvicorn_server() as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"".join(f"GET /r{i} HTTP/1.1\r\nhost: x\r\n\r\n".encode() for i in range(5))
            )
            for i in range(5):
                response = await read_response(reader)
                assert response.startswith(b"HTTP/1.1 200 OK\r\n")
                assert response.endswith(f"\r\n\r\n/r{i}".encode())
            writer.close()

    run(main())


def test_a_response_with_connection_close_arrives_whole_before_the_close(run: Any) -> None:
    async def main() -> None:
        async with uvicorn_server() as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /bye HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            everything = await asyncio.wait_for(reader.read(), 5)  # up to the server's close
            assert everything.startswith(b"HTTP/1.1 200 OK\r\n")
            assert everything.endswith(b"\r\n\r\n/bye")
            writer.close()

    run(main())


def test_a_streamed_chunk_is_not_held_back_until_the_response_ends(run: Any) -> None:
    async def main() -> None:
        go = asyncio.Event()  # set once the client has read the first chunk
        async with uvicorn_server(go) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
            await asyncio.wait_for(reader.readuntil(b"first|\r\n"), 5)  # would time out if held
            go.set()
            assert (
                await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5)
                == b"6\r\nsecond\r\n0\r\n\r\n"
            )
            writer.close()

    run(main())


def test_a_client_that_reads_nothing_pauses_a_streaming_app(run: Any) -> None:
    async def main() -> None:
        FLOODED.clear()
        async with uvicorn_server() as port:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /flood HTTP/1.1\r\nhost: x\r\n\r\n")
            await asyncio.sleep(0.5)  # reading nothing: the socket buffers fill up
            # the transport's flow control paused the app after a few MiB (joined writes
            # hid them from it: all 200 MiB went to memory)
            assert 0 < len(FLOODED) < 50
            writer.close()

    run(main())
