"""The feature server on RSGI, the interface of granian (``server.engine: granian``).

granian parses HTTP and writes responses in Rust threads; over RSGI the app gets a request
object and answers with one call, instead of ASGI's message dicts and awaited sends. Under
concurrent connections that serves more requests per second than uvicorn over ASGI
(bench/RESULTS.md). The API itself is the transport-neutral :meth:`PitstoreApp.respond`; the
web UI, an ASGI app off the hot path, is reached through a small ASGI bridge.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from pitstore.server.app import (
    BASE_HEADERS,
    PitstoreApp,
    app_from_env,
    body_too_large,
    check_declared_length,
    is_ui,
)

if TYPE_CHECKING:
    import asyncio

    from granian._granian import RSGIHTTPProtocol as HTTPProtocol
    from granian.rsgi import Scope

_BASE: Final = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in BASE_HEADERS]


class RsgiApp:
    """:class:`PitstoreApp` as an RSGI application (``__rsgi__`` and its start/stop hooks)."""

    def __init__(self, app: PitstoreApp) -> None:
        self.app = app
        self._limit = app.settings.max_body_bytes

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.app.startup()

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.app.shutdown()

    async def __rsgi__(self, scope: Scope, proto: Any) -> None:
        if scope.proto != "http":
            proto.close(1008)  # no websockets
            return
        if is_ui(scope.path):
            await call_asgi(self.app.web_ui(), scope, proto)
            return
        await self._http(scope, proto)

    async def _http(self, scope: Scope, proto: HTTPProtocol) -> None:
        began = time.perf_counter()
        headers = scope.headers
        method, path = scope.method, scope.path
        endpoint, response, principal = await self.app.respond(
            method,
            path,
            _wire(scope.query_string),
            _bytes(headers.get("authorization")),
            _bytes(headers.get("origin")),
            _bytes(headers.get("idempotency-key")),
            lambda: self._body(proto, headers.get("content-length")),
        )
        out = [("content-type", response.content_type.decode("latin-1")), *_BASE]
        out += [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers]
        # To HEAD, granian sends the Content-Length of this body, and not the body.
        proto.response_bytes(response.status, out, response.body)
        client = scope.client.rpartition(":")[0] or scope.client
        self.app.record(endpoint, method, path, response, began, principal, client)

    async def _body(self, proto: HTTPProtocol, declared: str | None) -> bytes:
        """The whole body within the limit: refused from its declared length when there is
        one, else counted while it streams in."""
        if declared is not None:
            check_declared_length(declared.encode("latin-1"), self._limit)
            return await proto()
        chunks = []
        size = 0
        async for chunk in proto:
            size += len(chunk)
            if size > self._limit:
                raise body_too_large(self._limit, part_read=True)
            chunks.append(chunk)
        return b"".join(chunks)


def _bytes(value: str | None) -> bytes | None:
    return None if value is None else _wire(value)


def _wire(text: str) -> bytes:
    """Text granian decoded back to bytes: latin-1 (HTTP's own) when it can hold it, else
    UTF-8 (a raw € in a query string; latin-1 raised, a bare 500 before any routing)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


async def call_asgi(
    app: Callable[[Any, Any, Any], Awaitable[None]], scope: Scope, proto: HTTPProtocol
) -> None:
    """Run an ASGI app for one RSGI request (whole responses only: enough for the web UI).

    The body reaches the app chunk by chunk as it arrives, so the app's own size limit
    refuses a body that is too large before the rest of it is read."""
    host, _, port = scope.client.rpartition(":")
    asgi_scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": scope.http_version,
        "method": scope.method,
        "scheme": scope.scheme,
        "path": scope.path,
        "raw_path": scope.path.encode("utf-8"),
        "query_string": _wire(scope.query_string),
        "root_path": "",
        "headers": [(_wire(k.lower()), _wire(v)) for k, v in scope.headers.items()],
        "client": (host, int(port)) if port.isdigit() else None,
        "server": None,
    }
    chunks = aiter(proto)
    ended = False

    async def receive() -> dict[str, Any]:
        nonlocal ended
        if ended:
            return {"type": "http.disconnect"}
        try:
            return {"type": "http.request", "body": await anext(chunks), "more_body": True}
        except StopAsyncIteration:
            ended = True
            return {"type": "http.request", "body": b"", "more_body": False}

    start: dict[str, Any] = {}
    parts: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app(asgi_scope, receive, send)
    # granian sets Content-Length from the body, but keeps the app's in a reply to HEAD (its
    # body is empty: the GET's length is the app's to tell).
    head = scope.method == "HEAD"
    headers = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in start.get("headers", [])
        if head or k.lower() != b"content-length"
    ]
    proto.response_bytes(start.get("status", 500), headers, b"".join(parts))


def rsgi_app_from_env() -> RsgiApp:
    """Factory for granian workers: the repo comes from ``PITSTORE_SERVE_REPO``."""
    return RsgiApp(app_from_env())
