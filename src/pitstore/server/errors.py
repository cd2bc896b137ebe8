"""Errors as HTTP responses: the one place that maps pitstore's error classes to statuses.

Every error leaves the server as ``{"error": {"code", "message", "details"}}``. A client never
sees a stack trace: an unexpected exception becomes a 500 with a generic message, and its
traceback goes to the server log.
"""

from __future__ import annotations

from typing import Any, Final

from pitstore.errors import (
    ConfigError,
    ConflictError,
    DefinitionError,
    NotFoundError,
    PitstoreError,
    RegistryError,
    SchemaError,
    StoreUnavailableError,
)


class ApiError(Exception):
    """An error response: HTTP status, stable code, message and details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or []

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


#: pitstore error class -> HTTP status, most specific first (the first match wins).
STATUS_BY_CLASS: Final[tuple[tuple[type[PitstoreError], int], ...]] = (
    (NotFoundError, 404),  # unknown view, feature or service: the message has closest names
    (SchemaError, 422),  # ragged entity lists, missing join keys, wrong value types
    (DefinitionError, 422),  # features and feature_service both given, name clashes
    (ConflictError, 409),
    (StoreUnavailableError, 503),  # transient: a retry may succeed
    (RegistryError, 503),
    (ConfigError, 500),  # the server's own configuration: not the client's fault
)

INTERNAL_MESSAGE: Final = "internal server error; the server log has the details"


def from_exception(exc: BaseException) -> ApiError:
    """The response for any exception raised while handling a request."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, PitstoreError):
        status = next((s for cls, s in STATUS_BY_CLASS if isinstance(exc, cls)), 500)
        if status == 500:
            return ApiError(500, "internal_error", INTERNAL_MESSAGE)
        headers = [(b"retry-after", b"1")] if status == 503 else []
        return ApiError(status, exc.code, str(exc), _details(exc), headers)
    return ApiError(500, "internal_error", INTERNAL_MESSAGE)


def _details(exc: PitstoreError) -> dict[str, Any]:
    if isinstance(exc, NotFoundError):
        return {"kind": exc.what, "name": exc.name, "closest": exc.closest}
    return {}


def invalid(message: str, field: str | None = None) -> ApiError:
    """422: the body is JSON but not a valid request."""
    return ApiError(422, "invalid_request", message, {"field": field} if field else None)


def too_large(code: str, message: str, limit: int) -> ApiError:
    """413: the body or the number of entities is over the configured limit."""
    return ApiError(413, code, message, {"limit": limit})
