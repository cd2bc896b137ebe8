"""Reading an ASGI request body (shared by the API and the web UI): chunks, limit, disconnect;
the declared Content-Length."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pytest

from pitstore.server.errors import ApiError
from pitstore.server.http import read_asgi_body


def _receiver(messages: list[dict[str, Any]]) -> Callable[[], Awaitable[MutableMapping[str, Any]]]:
    pending = iter(messages)

    async def receive() -> MutableMapping[str, Any]:
        return next(pending)

    return receive


def _read(messages: list[dict[str, Any]], limit: int) -> bytes:
    over = ApiError(413, "over", "too big")
    return asyncio.run(read_asgi_body(_receiver(messages), limit, lambda: over))


def _part(body: bytes, more: bool = True) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


def test_chunks_are_joined_up_to_the_limit() -> None:
    assert _read([_part(b"ab"), _part(b""), _part(b"cd", more=False)], limit=4) == b"abcd"
    assert _read([{"type": "http.request"}], limit=4) == b""


def test_a_body_over_the_limit_raises_the_callers_error_before_the_rest_is_read() -> None:
    messages = [_part(b"abc"), _part(b"de")]  # a third receive() would fail the test
    with pytest.raises(ApiError) as caught:
        _read(messages, limit=4)
    assert (caught.value.status, caught.value.code) == (413, "over")


def test_a_client_gone_mid_body_is_a_400() -> None:
    with pytest.raises(ApiError) as caught:
        _read([_part(b"ab"), {"type": "http.disconnect"}], limit=100)
    assert (caught.value.status, caught.value.code) == (400, "client_disconnected")


@pytest.mark.parametrize(
    ("declared", "status"),
    [(b"9" * 5000, 413), (b"1025", 413), (b"0" * 40 + b"1024", None), (b"12x", 400)],
)
def test_declared_lengths(declared: bytes, status: int | None) -> None:
    """Over the limit is a 413 even past the 4,300 digits that int() reads; leading zeros
    do not make a length longer."""
    from pitstore.server.app import check_declared_length

    if status is None:
        check_declared_length(declared, 1024)
        return
    with pytest.raises(ApiError) as refused:
        check_declared_length(declared, 1024)
    assert refused.value.status == status
