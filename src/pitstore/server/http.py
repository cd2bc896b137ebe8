"""The request and response objects the handlers see (the ASGI details stay in app.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pitstore.server.auth import Principal
from pitstore.server.codec import dumps

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


@dataclass(slots=True)
class Response:
    """Status, body bytes and headers."""

    body: bytes
    status: int = 200
    content_type: bytes = JSON
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as a JSON response."""
    return Response(dumps(data), status)


async def send_asgi(
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    response: Response,
    base_headers: Sequence[tuple[bytes, bytes]],
) -> None:
    """Send ``response`` over ASGI, ``base_headers`` before its own."""
    headers = [
        (b"content-type", response.content_type),
        (b"content-length", str(len(response.body)).encode()),
        *base_headers,
        *response.headers,
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
