"""Optional bearer-token auth: tokens from the config (``${VAR}`` reads the environment).

Each presented token is compared with every configured one by :func:`hmac.compare_digest`
(constant time, and no early exit), so response timing tells nothing about a token's bytes.
A token may be limited to some projects (a server serves one: a token without it is refused
outright) and to some feature services (a model's token: only those services can be read).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final

from pitstore.config.models import ServerTokenConfig
from pitstore.server.errors import ApiError

_CHALLENGE: Final = [(b"www-authenticate", b'Bearer realm="pitstore"')]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling and what they may do."""

    name: str
    feature_services: frozenset[str] | None
    """None: any features; else only these feature services."""
    push: bool

    @property
    def unrestricted(self) -> bool:
        return self.feature_services is None


ANONYMOUS: Final = Principal("anonymous", None, True)


@dataclass(frozen=True, slots=True)
class _Token:
    secret: bytes
    principal: Principal
    project_allowed: bool


class Authenticator:
    """Turns an ``Authorization`` header into a :class:`Principal` (or a 401/403)."""

    def __init__(self, tokens: list[ServerTokenConfig], project: str) -> None:
        self._tokens = [
            _Token(
                t.token.get_secret_value().encode("utf-8"),
                Principal(
                    t.name,
                    None if t.feature_services is None else frozenset(t.feature_services),
                    t.push,
                ),
                t.projects is None or project in t.projects,
            )
            for t in tokens
        ]
        self.project = project

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def authenticate(self, header: bytes | None) -> Principal:
        """The caller of a request with this ``Authorization`` header."""
        if not self._tokens:
            return ANONYMOUS
        if header is None:
            raise ApiError(
                401, "unauthorized", "send 'Authorization: Bearer <token>'", headers=_CHALLENGE
            )
        scheme, _, presented = header.partition(b" ")
        if scheme.lower() != b"bearer" or not presented.strip():
            raise ApiError(
                401,
                "unauthorized",
                "use the Bearer scheme: 'Authorization: Bearer <token>'",
                headers=_CHALLENGE,
            )
        match = None
        for token in self._tokens:  # no early exit: every token is compared
            if hmac.compare_digest(token.secret, presented.strip()):
                match = token
        if match is None:
            raise ApiError(401, "unauthorized", "invalid token", headers=_CHALLENGE)
        if not match.project_allowed:
            raise ApiError(
                403,
                "forbidden",
                f"token {match.principal.name!r} may not read project {self.project!r}",
            )
        return match.principal


def forbid(principal: Principal, what: str) -> ApiError:
    """403 for ``principal`` doing ``what``."""
    return ApiError(403, "forbidden", f"token {principal.name!r} may not {what}")
