"""The request and response objects the handlers see (the ASGI details stay in app.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pitstore.server.auth import Principal
from pitstore.server.codec import dumps
from pitstore.server.errors import ApiError

JSON: Final = b"application/json"


@dataclass(slots=True)
class Request:
    """One HTTP request, with its body read and its caller authenticated."""

    method: str
    path: str
    query: bytes
    body: bytes
    principal: Principal
    params: tuple[str, ...] = ()
    """Path segments matched by a route pattern (e.g. the name in /catalog/entities/NAME)."""
    idempotency_key: str | None = None
    """The Idempotency-Key header, if sent."""


@dataclass(slots=True)
class Response:
    """Status, body bytes and headers."""

    body: bytes
    status: int = 200
    content_type: bytes = JSON
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def routed_method(method: str) -> str:
    """The method a request is routed by: HEAD as GET. RFC 9110 (section 9.3.2) asks the
    same status and headers of both; only the body is left out, by the sender."""
    return "GET" if method == "HEAD" else method


def allow_header(methods: Collection[str]) -> bytes:
    """The Allow header's value for a resource taking ``methods`` (HEAD wherever GET is)."""
    listed = [*methods, "HEAD"] if "GET" in methods and "HEAD" not in methods else list(methods)
    return ", ".join(sorted(listed)).encode()


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as a JSON response."""
    return Response(dumps(data), status)


async def read_asgi_body(
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    limit: int,
    over_limit: Callable[[], Exception],
) -> bytes:
    """The whole body of an ASGI request; ``over_limit()`` is raised as soon as more than
    ``limit`` bytes have arrived, and a 400 when the client goes away first."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "client_disconnected", "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise over_limit()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_asgi(
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    response: Response,
    base_headers: Sequence[tuple[bytes, bytes]],
    method: str,
) -> None:
    """Send ``response`` to a ``method`` request over ASGI, ``base_headers`` before its own.

    The reply to HEAD has no body but the Content-Length of the GET's (uvicorn would drop
    the body itself; another ASGI server, or a test client, may not)."""
    headers = [
        (b"content-type", response.content_type),
        (b"content-length", str(len(response.body)).encode()),
        *base_headers,
        *response.headers,
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    body = b"" if method == "HEAD" else response.body
    await send({"type": "http.response.body", "body": body})
