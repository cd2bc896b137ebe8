"""Message payloads to rows: one JSON object per message (orjson when installed)."""

from __future__ import annotations

from typing import Any


class DecodeError(ValueError):
    """A payload that is not a row (the message is dead-lettered with this reason)."""


def decode_json(data: bytes) -> dict[str, Any]:
    """The row in ``data``: a JSON object of columns, e.g. ``{"driver_id": 1, ...}``."""
    try:
        import orjson

        value = orjson.loads(data)
    except ImportError:  # pragma: no cover - orjson comes with the server extra
        import json

        try:
            value = json.loads(data)
        except ValueError as exc:
            raise DecodeError(f"not JSON: {exc}") from None
    except ValueError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise DecodeError(f"a message must be one JSON object (a row), got {type(value).__name__}")
    return value


DECODERS = {"json": decode_json}
